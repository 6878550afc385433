"""The outbox delivery: standard .eml files that parse back to the same message."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, timedelta
from email import policy

import pytest

from pipeline.run_context import RunContext
from pipeline.state import Store
from plugins.deliveries.outbox import file_name
from plugins.sinks.email.render import RenderedEdition
from tests.mail_fixtures import build_messages

RENDERED = RenderedEdition("Test Network: issue 2, February 2016 – café",
                           "<!doctype html><html><body><p>" + "Long line of HTML. " * 100 + "</p></body></html>",
                           "Plain text, with a pound sign: £125\n")
MOMENT = datetime(2016, 2, 1, tzinfo=UTC)
TOML = """
[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
unsubscribe = "mailto:news@network.example.org?subject=unsubscribe"
{delivery}
"""


@pytest.fixture
def outbox(project_from, tmp_path):
    """outbox(delivery_toml) -> (deliverer, run)."""
    stores = []

    def make(delivery: str = ""):
        project = project_from(TOML.format(delivery=delivery), files={"subscribers.csv": "email,name\n"})
        stores.append(Store(tmp_path / "s.sqlite"))
        return project.sinks[0].deliverer, RunContext(project, stores[-1], date(2016, 2, 1), MOMENT)

    yield make
    for store in stores:
        store.close()


def messages(*emails: str):
    return build_messages(RENDERED, 2, MOMENT, [(e, "Zoë Reader") for e in emails])


def test_writes_one_eml_per_recipient_that_parses_back(outbox, tmp_path):
    deliverer, run = outbox()

    results = deliverer.send(messages("ann@example.org", "bob@example.org"), run)

    path = tmp_path / "outbox" / "issue-2" / file_name("ann@example.org")
    assert [(d.recipient, d.ok, d.reference) for d in results] == [
        ("ann@example.org", True, str(path)),
        ("bob@example.org", True, str(path.with_name(file_name("bob@example.org"))))]
    raw = path.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # SMTP line endings throughout
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == RENDERED.subject
    assert str(parsed["To"]) == "Zoë Reader <ann@example.org>"
    assert parsed["X-Newsletter-Edition"] == "2"
    assert parsed["List-Unsubscribe"] == "<mailto:news@network.example.org?subject=unsubscribe>"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    text, html = (parsed.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))
    assert text == RENDERED.text
    assert html.rstrip("\n") == RENDERED.html


def test_folder_is_relative_to_the_project(outbox, tmp_path):
    deliverer, run = outbox('delivery = { type = "outbox", folder = "mail/ready" }')

    [result] = deliverer.send(messages("ann@example.org"), run)

    assert result.ok
    assert (tmp_path / "mail" / "ready" / "issue-2" / file_name("ann@example.org")).is_file()


def test_a_folder_that_cannot_be_written_fails_each_message(outbox, tmp_path):
    (tmp_path / "blocked").write_text("a file where the folder should be")
    deliverer, run = outbox('delivery = { type = "outbox", folder = "blocked" }')

    [result] = deliverer.send(messages("ann@example.org"), run)

    assert not result.ok
    assert result.error.startswith("cannot write") and "blocked" in result.error


def test_addresses_that_look_alike_once_made_safe_get_files_of_their_own(outbox, tmp_path):
    deliverer, run = outbox()
    lookalikes = ("jö@x.org", "jä@x.org", "a!b@x.org", "a_b@x.org")

    results = deliverer.send(messages(*lookalikes), run)

    paths = [d.reference for d in results]
    assert all(d.ok for d in results) and len(set(paths)) == 4
    assert file_name("a!b@x.org").startswith("a_b@x.org-")  # still readable
    for recipient, path in zip(lookalikes, paths, strict=True):
        parsed = email.message_from_bytes(open(path, "rb").read(), policy=policy.default)
        assert parsed["Message-ID"] == messages(recipient)[0]["Message-ID"]  # each file is its own message


@pytest.mark.parametrize("delivery, kept_issues, old_message_kept", [
    ("", [5, 15, 16], False),  # defaults: issues 5 to 16 (12), 90 days
    ("[sinks.newsletter.delivery]\ntype = \"outbox\"\nkeep_issues = 2\nkeep_message_days = 0", [15, 16], True),
    ("[sinks.newsletter.delivery]\ntype = \"outbox\"\nkeep_issues = 0", [1, 2, 3, 4, 5, 15, 16], False),
])
def test_an_issue_sent_deletes_the_outbox_files_kept_past_their_use(outbox, tmp_path, delivery, kept_issues,
                                                                    old_message_kept):
    """Each file holds an address, a name and that reader's own links: when issue 16 is sent, the folders of issues
    `keep_issues` or more before it go, and the messages older than `keep_message_days`; 0 keeps them. Nothing else
    in the folder is touched, and nothing outside it through a link."""
    deliverer, run = outbox(delivery)
    folder = tmp_path / "outbox"
    for number in (1, 2, 3, 4, 5, 15):
        deliverer.send(build_messages(RENDERED, number, MOMENT, [("ann@example.org", "Ann")]), run)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.eml").write_text("not the outbox's")
    (folder / "issue-3").rename(folder / "issue-3-moved")
    (folder / "issue-3").symlink_to(elsewhere)
    old = datetime.now() - timedelta(days=91)
    messages_dir = folder / "messages"
    messages_dir.mkdir()
    (messages_dir / f"{old:%Y%m%d-%H%M%S-%f}-cy@example.org-0.eml").write_text("old confirmation")
    (messages_dir / f"{datetime.now():%Y%m%d-%H%M%S-%f}-dee@example.org-0.eml").write_text("new confirmation")
    (messages_dir / "README.txt").write_text("the organiser's note")

    deliverer.open_batch(16)
    deliverer.send(build_messages(RENDERED, 16, MOMENT, [("ann@example.org", "Ann")]), run)

    assert sorted(int(p.name[6:]) for p in folder.glob("issue-*") if p.name[6:].isdigit() and not p.is_symlink()) == [
        n for n in kept_issues if n != 3]
    assert (folder / "issue-3").is_symlink() == (3 in kept_issues)
    assert (elsewhere / "keep.eml").read_text() == "not the outbox's"
    assert (folder / "issue-3-moved").is_dir()
    assert any(messages_dir.glob("*cy@example.org*")) == old_message_kept
    assert any(messages_dir.glob("*dee@example.org*")) and (messages_dir / "README.txt").exists()
