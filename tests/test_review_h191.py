"""Review h191: the subscriber list as it stands now, from the point of view of data protection (UK GDPR, PECR), as its
controller and as a person on it (the last such reviews: h106, h133).

Each test is one problem found, and fails while the problem is there.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.state import journal
from pipeline.state import subscribers as subs
from tests.newsletter_network import newsletter_toml
from tests.serve_fixtures import SERVE_TOML
from tests.test_review_h106 import POST, cli, opened


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """SERVE_TOML's project (themes, an email sink through the outbox), its secret made in its state folder."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    path = tmp_path / "pipeline.toml"
    path.write_text(SERVE_TOML, encoding="utf-8")
    return path


def _everything_in(database: Path) -> str:
    """Every value of every row of every table, as text: where a person's data may still be."""
    db = sqlite3.connect(database)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))
    finally:
        db.close()


# -- Article 17: an erasure leaves no trace of the person in the log -------------------------------------------

def test_forget_of_an_address_not_on_the_list_writes_no_address_to_the_log(config, tmp_path, capsys):
    """Bob, who was never on the list, writes: "erase whatever you hold about me". The organiser, who keeps a log
    file (`--log-file`, as under systemd), runs `pipeline subscribers forget bob@example.org`. Nothing was held about
    him, and the command says so; but the log file now holds "bob@example.org: not on the list": the erasure request
    itself has made the controller store his address, in the one place `forget` can never reach (the README: "rotate
    it"). `forget`'s own line for a failed deletion already leaves the address out, for that reason; its refusals
    should too. The terminal still says what happened."""
    log = tmp_path / "pipeline.log"
    code = cli(config, "forget", "bob@example.org", "--log-file", str(log))
    err = capsys.readouterr().err
    assert code == 2 and "not on the list" in err, (code, err)
    assert "bob@example.org" not in log.read_text(encoding="utf-8"), log.read_text(encoding="utf-8")


def test_forget_refused_while_a_send_is_in_flight_writes_no_address_to_the_log(write_project, tmp_path, capsys):
    """Cat asks to be erased while the issue is being sent to her (a run killed mid-send left her delivery in flight).
    `forget` rightly refuses until the send settles, but its refusal, "cat@example.org: a send to it is in flight",
    goes to the log file whole: the address of a person who asked to be forgotten, kept for as long as the log is."""
    files = {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"),
             "subscribers.csv": "email,name,themes\nann@example.org,Ann Example,\n"}
    config = write_project(newsletter_toml(), files)
    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    assert cli(config, "add", "cat@example.org", "--name", "Cat") == 0
    store = opened(config)
    try:
        claimed = journal.begin_batch(store, batch="killed", edition=1, channel="outbox",
                                      recipients=["cat@example.org"], send_at=None, at=datetime.now(UTC))
    finally:
        store.close()
    assert claimed == ["cat@example.org"]
    capsys.readouterr()
    log = tmp_path / "pipeline.log"
    code = cli(config, "forget", "cat@example.org", "--log-file", str(log))
    err = capsys.readouterr().err
    assert code == 2 and "in flight" in err, (code, err)
    assert "cat@example.org" not in log.read_text(encoding="utf-8"), log.read_text(encoding="utf-8")


# -- Article 17 and 5(1)(c): what an erasure keeps ---------------------------------------------------------

def test_an_erased_person_is_kept_as_the_address_alone_not_the_day_they_joined(config):
    """Ann joined on 5 January 2016 and asks, years later, to be erased. `forget` promises "the address alone is
    kept, so no list adds it back", and the README's table says so too; but her row keeps `created_at`, the moment
    she joined, which the suppression needs no more than her name. After the erasure, no table should hold the day
    she joined."""
    joined = datetime(2016, 1, 5, 10, 0, tzinfo=UTC)
    store = opened(config)
    try:
        subs.add(store, "ann@example.org", "Ann Example", ["research"], how="cli", at=joined)
        subs.forget(store, "ann@example.org", at=datetime(2026, 11, 1, 10, 0, tzinfo=UTC))
    finally:
        store.close()
    held = _everything_in(config.parent / "state" / "pipeline.sqlite")
    assert "ann@example.org" in held  # the suppression
    assert "2016-01-05" not in held, [line for line in held.splitlines() if "2016-01-05" in line]


# -- Article 15: `show` gives what `forget` would erase ---------------------------------------------------------

def test_show_names_the_mail_the_outbox_keeps_to_the_person(config, capsys):
    """Dee filled in the form this morning (the real app, under uvicorn) and has not confirmed yet; she writes
    asking for everything held about her (UK GDPR art. 15). The README's answer is `pipeline subscribers show EMAIL`,
    "everything held about the person". It prints her pending request and her consent record, but not that the
    outbox keeps a copy of the email sent to her (`outbox/messages/…-confirmation-dee@example.org-….eml`: her
    address and her own confirmation link), which `forget` knows of and deletes ("1 files of mail to it"). What
    `show` gives should cover what `forget` erases: it should name each file of mail to her the delivery keeps."""
    import re

    import httpx

    from pipeline.config import load_project
    from tests.serve_fixtures import LiveServer

    server = LiveServer(load_project(config)).start()
    try:
        with httpx.Client(base_url=server.url) as browser:
            token = re.search(r'name="form" value="([^"]+)"', browser.get("/subscribe").text).group(1)
            answer = browser.post("/subscribe", data={"form": token, "email": "dee@example.org", "name": "Dee"})
            assert answer.status_code == 200
        server.wait_for_message("dee@example.org")
        server.settled()
    finally:
        server.stop()
    [kept] = (config.parent / "outbox" / "messages").glob("*dee@example.org*")
    capsys.readouterr()
    assert cli(config, "show", "dee@example.org") == 0
    out = capsys.readouterr().out
    assert "request of" in out  # her request is there
    assert kept.name in out.replace("\n", ""), out


# -- Article 5(1)(e): an unconfirmed request is deleted, not left in the file -----------------------------------

def test_an_expired_request_is_overwritten_in_the_database_after_an_erasure_in_the_same_connection(config):
    """Bo asks to be erased; in the same process (`subscribers import` replays an erasure from the suppression log,
    then expires the week-old requests, with one connection) a stranger's unconfirmed request, made with someone
    else's address and a name, is deleted after its 7 days, as the README promises. `forget` set SQLite's
    `secure_delete` on for itself, then *off* for the rest of the connection, whatever it was (this build's SQLite
    has it on by default; many have it off), so the expired row's address and name are left in the file's free pages,
    where `strings state/pipeline.sqlite` reads them. The database holds personal data: every connection should
    overwrite what it deletes, and an erasure should not turn that off."""
    from datetime import timedelta

    t = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    store = opened(config)
    try:
        assert store.db.execute("PRAGMA secure_delete").fetchone() == (1,)  # whatever the build's default
        for n in range(200):  # enough rows that the deleted one's page is not the only one
            subs.add(store, f"reader{n}@example.org", f"Reader number {n}", [], how="cli", at=t)
        subs.request_subscription(store, "stranger.typed@example.org", "Quentin Unconfirmed", ["peer support"],
                                  how="form", at=t)
        subs.add(store, "bo@example.org", "Bo", [], how="cli", at=t)
        subs.forget(store, "bo@example.org", at=t)
        assert subs.expire_pending(store, at=t + timedelta(days=8)) == ["stranger.typed@example.org"]
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    on_disk = b"".join(path.read_bytes() for path in (config.parent / "state").glob("pipeline.sqlite*"))
    assert b"stranger.typed@example.org" not in on_disk and b"Quentin Unconfirmed" not in on_disk


# -- Article 13: what the form says is kept after leaving is what is kept -----------------------------------------

def test_the_form_says_truly_what_is_kept_of_someone_who_leaves(config):
    """Eve reads the form (the real app, under uvicorn): "Every issue has a link to leave at once; then only your
    address is kept, so that we never write to you again." She subscribes, confirms and leaves with one click. What
    is kept of her then is her address *and* her whole consent record (when she asked, confirmed and left, with the
    wording she was shown: `pipeline subscribers show` prints it, `export --status all` carries it), and the
    delivery journal's row of each issue sent to her: as the README says ("someone who leaves keeps only their address
    and consent record"), and as a controller should, to show the consent it relied on (art. 7(1)). The wording she
    consented under, kept in that very record, says otherwise: the information given when the data are collected
    must be true (art. 13)."""
    import re

    import httpx

    from pipeline.config import load_project
    from tests.serve_fixtures import LiveServer

    server = LiveServer(load_project(config)).start()
    try:
        with httpx.Client(base_url=server.url) as browser:
            form = browser.get("/subscribe").text
            token = re.search(r'name="form" value="([^"]+)"', form).group(1)
            assert browser.post("/subscribe", data={"form": token, "email": "eve@example.org"}).status_code == 200
        confirmation = server.wait_for_message("eve@example.org")
        body = confirmation.get_body(("plain",)).get_content()
        link = re.search(r"https://network\.example\.org/confirm/(\S+)", body)
        assert httpx.post(f"{server.url}/confirm/{link[1]}").status_code == 200
        store = opened(config)
        try:
            eve = subs.find_subscriber(store, "eve@example.org")
            own = server.app.state.web.links.tokens.make("unsubscribe", eve.id)
        finally:
            store.close()
        left = httpx.post(f"{server.url}/unsubscribe/{own}", data={"List-Unsubscribe": "One-Click"})
        assert left.status_code == 200
    finally:
        server.stop()
    store = opened(config)
    try:
        kept = subs.history(store, subs.find_subscriber(store, "eve@example.org").id)
    finally:
        store.close()
    assert [event.how for event in kept] == ["form", "confirmation", "one-click unsubscribe"]  # her record stays
    text = " ".join(re.sub(r"<[^>]+>", " ", form).split())
    after_leaving = re.search(r"Every issue has a link to leave[^.]*\.", text)[0]
    assert "record" in after_leaving, after_leaving
