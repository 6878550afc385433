"""The shipped pipeline.toml and content, run as the README's first command runs them."""

from __future__ import annotations

import email
import shutil
import xml.etree.ElementTree as ET
from email import policy
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.state import Store, journal

ROOT = Path(__file__).parent.parent
GMAIL_CLIP_BYTES = 102 * 1024


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A copy of the shipped project, run for 1 February and 1 May 2016."""
    root = tmp_path_factory.mktemp("shipped")
    shutil.copy(ROOT / "pipeline.toml", root)
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copytree(ROOT / "local_plugins", root / "local_plugins")
    codes = [main(["run", "-c", str(root / "pipeline.toml"), "--as-of", day]) for day in ("2016-02-01", "2016-05-01")]
    return root, codes


def test_both_runs_succeed(shipped):
    _, codes = shipped
    assert codes == [0, 0]


def test_the_two_issues_hold_all_four_kinds(shipped):
    root, _ = shipped
    store = Store(root / "state" / "pipeline.sqlite")
    editions = {e.number: store.get_items(e.item_ids) for e in store.editions()}
    store.close()
    kinds = {n: {i.kind.value for i in items} for n, items in editions.items()}
    assert kinds[1] == {"news", "job", "event"}
    assert kinds[2] == {"post", "news"}
    titles = {n: [i.title for i in items] for n, items in editions.items()}
    assert "Open Dialogue UK 2016 Conference" in titles[1]
    assert "Seminar 3: Contemporary Developments in Healthcare Practice" in titles[1]
    assert "Administrator for the new Open Dialogue UK centre in London" in titles[1]
    assert "April blog post: some ideas on co-production" in titles[2]
    assert not set(titles[1]) & set(titles[2])  # nothing repeated: the job closed, the events are over


def test_the_newsletter_shows_what_readers_care_about(shipped):
    root, _ = shipped
    february = (root / "out" / "newsletter" / "issue-1.html").read_text()
    for text in ("£125", "£112.50", "£85", "£35", "£25", "14 February 2016", "Jaakko Seikkula",
                 "St Catherine", "Open Dialogue", "peer support"):
        assert text in february, text
    may_text = (root / "out" / "newsletter" / "issue-2.txt").read_text()
    assert "Pamela Fisher" in may_text and "power-sharing" in may_text
    for number in (1, 2):
        assert (root / "out" / "newsletter" / f"issue-{number}.html").stat().st_size < GMAIL_CLIP_BYTES


def test_one_eml_per_subscriber_per_issue(shipped):
    root, _ = shipped
    subscribers = (root / "content" / "subscribers.csv").read_text().strip().splitlines()[1:]
    for number in (1, 2):
        files = sorted((root / "outbox" / f"issue-{number}").glob("*.eml"))
        assert len(files) == len(subscribers)
        message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
        assert f"issue {number}" in message["Subject"]
        assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None


def test_feed_and_archive(shipped):
    root, _ = shipped
    channel = ET.parse(root / "out" / "feed.xml").getroot().find("channel")
    store = Store(root / "state" / "pipeline.sqlite")
    # 7 stored (the job and its news are one); by May the job has closed and both events are over
    assert len(channel.findall("item")) == 3 and store.count_items() == 7
    store.close()
    index = (root / "out" / "archive" / "index.html").read_text()
    assert index.index("issue-2.html") < index.index("issue-1.html")  # newest first
    assert (root / "out" / "archive" / "issue-1.html").is_file()


def test_a_rerun_sends_nothing_twice(shipped):
    root, _ = shipped
    store = Store(root / "state" / "pipeline.sqlite")
    before = len(journal.delivered_to(store, 1))
    store.close()
    assert main(["run", "-c", str(root / "pipeline.toml"), "--as-of", "2016-02-01"]) == 0
    store = Store(root / "state" / "pipeline.sqlite")
    assert len(journal.delivered_to(store, 1)) == before == 4 and len(store.editions()) == 2
    store.close()


def test_re_making_an_older_issue_sends_nothing_to_new_subscribers(shipped):
    root, _ = shipped
    subscribers = root / "content" / "subscribers.csv"
    subscribers.write_text(subscribers.read_text() + "new.reader@example.org,New Reader\n")
    assert main(["run", "-c", str(root / "pipeline.toml"), "--as-of", "2016-02-01"]) == 0
    assert not list((root / "outbox" / "issue-1").glob("new.reader*"))
    assert main(["run", "-c", str(root / "pipeline.toml"), "--as-of", "2016-05-01"]) == 0
    assert len(list((root / "outbox" / "issue-2").glob("new.reader*"))) == 1
