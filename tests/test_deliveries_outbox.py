"""The outbox delivery: standard .eml files that parse back to the same message."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
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
