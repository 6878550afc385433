"""The whole flow, as a subscriber lives it: subscribe on the form, confirm from the email in the outbox,
receive the next issue with their own one-click link, leave with it, and get nothing after."""

from __future__ import annotations

import email
import re
from datetime import UTC, date, datetime
from email import policy

import httpx
import pytest

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.config import load_project
from pipeline.runner import run
from tests.conftest import make_item
from tests.serve_fixtures import SERVE_TOML, LiveServer


class Posts:
    """One post a month, in February, March and April 2016."""

    @hookimpl
    def register_sources(self, register):
        class Monthly(Source):
            name = "monthly"

            def fetch(self, run):
                return [make_item(title=f"Peer support news {m}", themes=["peer support"],
                                  published=datetime(2016, m, 10, tzinfo=UTC)) for m in (2, 3, 4)]

        register(Monthly)


def messages(folder, pattern: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob(pattern))]


@pytest.fixture
def network(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SERVE_SECRET", "a-long-enough-secret-for-the-flow-test")
    (tmp_path / "pipeline.toml").write_text(SERVE_TOML + '\n[sources.posts]\ntype = "monthly"\n', encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("posts", Posts())])
    server = LiveServer(project).start()
    yield project, server
    server.stop()


def test_subscribe_confirm_receive_and_leave_with_one_click(network):
    project, server = network
    outbox = project.root / "outbox"
    assert run(project, as_of=date(2016, 3, 1)).exit_code == 0  # issue 1, before she joins

    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/subscribe").text
        token = re.search(r'name="form" value="([^"]+)"', form).group(1)
        answer = browser.post("/subscribe", data={"form": token, "email": "fay@example.org", "name": "Fay",
                                                  "theme": "peer support"})
        assert answer.status_code == 200
    confirmation = server.wait_for_message("fay@example.org")  # it goes out just after the response
    assert len(messages(outbox / "messages", "*fay@example.org*")) == 1
    link = re.search(r"https://network\.example\.org(/confirm/\S+)", confirmation.get_body(("plain",)).get_content())
    assert httpx.post(server.url + link.group(1)).status_code == 200

    assert run(project, as_of=date(2016, 4, 1)).exit_code == 0  # issue 2 reaches her
    [issue] = messages(outbox / "issue-2", "fay@example.org*")
    own = re.match(r"<https://network\.example\.org(/unsubscribe/[^>]+)>", issue["List-Unsubscribe"]).group(1)
    assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert own in issue.get_body(("html",)).get_content()  # the footer's link is hers too

    left = httpx.post(server.url + own, content=b"List-Unsubscribe=One-Click",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert left.status_code == 200 and "set-cookie" not in left.headers and not left.is_redirect

    assert run(project, as_of=date(2016, 5, 1)).exit_code == 0  # issue 3: not to her
    assert messages(outbox / "issue-3", "fay@example.org*") == []
    assert messages(outbox / "issue-3", "*.eml") == []  # she was the only subscriber


def test_the_consent_record_keeps_the_wording_shown_on_the_form_and_above_the_button(network):
    """Consent must be shown to have been informed (UK GDPR art. 7(1)): the record keeps, with the request and with
    the confirmation, the plain text of what the form and the page with the button said about the data. An
    invitation's reader, who never saw the form, is told it above the button."""
    from pipeline.runner import state_path
    from pipeline.state import Store
    from pipeline.state import subscribers as subs

    project, server = network
    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/subscribe").text
        token = re.search(r'name="form" value="([^"]+)"', form).group(1)
        assert browser.post("/subscribe", data={"form": token, "email": "fay@example.org"}).status_code == 200
    confirmation = server.wait_for_message("fay@example.org")
    link = re.search(r"https://network\.example\.org(/confirm/\S+)", confirmation.get_body(("plain",)).get_content())
    page = httpx.get(server.url + link.group(1)).text
    assert "Privacy: Test Network keeps your address" in page and "news@network.example.org" in page
    assert httpx.post(server.url + link.group(1)).status_code == 200

    store = Store(state_path(project))
    try:
        record = subs.history(store, subs.find_subscriber(store, "fay@example.org").id)
    finally:
        store.close()
    assert [(event.status, event.how) for event in record] == [("pending", "form"), ("active", "confirmation")]
    assert record[0].wording == record[1].wording
    assert record[0].wording.startswith("Privacy: Test Network keeps your address, your name, the themes you choose")
    assert "write to news@network.example.org" in record[0].wording and "<" not in record[0].wording
