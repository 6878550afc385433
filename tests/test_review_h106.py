"""Review h106: the list from the point of view of data protection (UK GDPR, PECR) and of the people on it.

Each test is one problem found, and fails while the problem is there.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipeline.cli import main
from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.mail_fixtures import Inbox
from tests.newsletter_network import newsletter_toml
from tests.serve_fixtures import SERVE_TOML, LiveServer, serve_project

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
POST = "---\ntitle: \"{title}\"\ndate: {day}\n---\n\n{title}: what happened, and what comes next.\n"


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """SERVE_TOML's project (themes, an email sink through the outbox), its secret made in its state folder."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    path = tmp_path / "pipeline.toml"
    path.write_text(SERVE_TOML, encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> int:
    """`pipeline subscribers ARGS`; an argparse refusal (an action that does not exist) is its exit status."""
    try:
        return main(["subscribers", *args, "--config", str(config)])
    except SystemExit as exc:
        return int(exc.code or 0)


def opened(config: Path) -> Store:
    return Store(config.parent / "state" / "pipeline.sqlite")


@pytest.fixture
def umask():
    """Set the process's umask for the test, and put the old one back after it."""
    old = os.umask(0o022)
    os.umask(old)

    def set_to(mask: int) -> None:
        os.umask(mask)

    yield set_to
    os.umask(old)


def _everything_in(database: Path) -> str:
    """Every value of every row of every table, as text: where a person's data may still be."""
    db = sqlite3.connect(database)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))
    finally:
        db.close()


def _outbox_run_project(write_project) -> Path:
    files = {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"),
             "subscribers.csv": "email,name,themes\nann@example.org,Ann Example,\n"}
    return write_project(newsletter_toml(), files)


# -- PECR regulation 22: asking for consent by email is itself direct marketing -------------------------------

def test_an_invitation_is_not_mailed_to_an_address_that_unsubscribed(config, capsys):
    """Ann took herself off the list (one-click unsubscribe). Later the organiser, tidying up, runs
    `pipeline subscribers add ann@example.org --invite`. Now `ask_to_subscribe` takes an unsubscribed address to
    pending and mails her "Confirm your subscription to Test Network": the organiser emailing someone who said no, to
    ask her to sign up again. The ICO treats an email asking for consent to marketing as marketing itself (PECR reg.
    22; the Flybe and Honda penalties of 2017 were for exactly this), so it needs the consent she withdrew. `add`
    already refuses such an address ("only its owner can subscribe again, through the form"); `--invite`, the
    organiser's initiative too, should refuse it likewise (exit 2) and mail nothing."""
    assert cli(config, "add", "ann@example.org", "--name", "Ann") == 0
    store = opened(config)
    try:
        ann = subs.find_subscriber(store, "ann@example.org")
        subs.unsubscribe(store, ann.id, how="one-click unsubscribe", at=datetime.now(UTC))
    finally:
        store.close()
    capsys.readouterr()
    code = cli(config, "add", "ann@example.org", "--invite")
    mailed = list((config.parent / "outbox" / "messages").glob("*.eml"))
    assert (code, mailed) == (2, []), f"exit {code}; mailed to the address that unsubscribed: {mailed}"


# -- Article 17: erasure ------------------------------------------------------------------------------------

def test_the_organiser_can_erase_a_person_who_asks_to_be_forgotten(config, capsys):
    """Ann writes: "delete everything you hold about me" (UK GDPR art. 17: she withdrew her consent, the only basis
    for holding her data for the newsletter). Now there is no way to do it: `subscribers remove` keeps her row as
    unsubscribed with her name, themes and whole consent record, and there is no other action (`forget`, `erase`,
    `delete`: argparse refuses each), so the organiser would have to edit the SQLite file by hand (and miss the
    delivery journal, the outbox's `.eml` files named after her address, the backups). There should be an action
    that erases her name, themes, record, requests and journal rows, keeping at most her address as a suppression
    (the ICO accepts a suppression list, so the CSV list can never add her back)."""
    assert cli(config, "add", "ann@example.org", "--name", "Ann Example", "--theme", "peer support") == 0
    codes = {action: cli(config, action, "ann@example.org") for action in ("forget", "erase", "delete")}
    capsys.readouterr()
    assert 0 in codes.values(), f"no action erases a person: {codes}"
    held = _everything_in(config.parent / "state" / "pipeline.sqlite")
    assert "Ann Example" not in held and "peer support" not in held


# -- Article 5(1)(c) and (e): what is kept after someone leaves -------------------------------------------------

def test_a_person_who_left_is_kept_only_as_far_as_a_suppression_needs(config):
    """Ann subscribed through the form with her name and the themes she follows ("peer support": in a mental health
    network, a hint about her), then pressed one-click unsubscribe. Now `_leave` only changes her status: her name and
    themes stay in `subscribers` for ever, although the form told her "We keep your address, your name and when you
    joined, and use them only to send this newsletter", and nothing is sent to her any more. Keeping her address (a
    suppression) so she is never mailed again is what the ICO's direct marketing guidance allows; her name and
    themes serve no purpose after she leaves (data minimisation and storage limitation, UK GDPR art. 5(1)(c), (e)).
    Once she has left, the row should hold no name and no themes."""
    store = opened(config)
    try:
        request = subs.request_subscription(store, "ann@example.org", "Ann Example", ["peer support"],
                                            how="form", at=NOW)
        assert subs.confirm(store, request.subscriber.id, how="confirmation", at=NOW, request=request.id)
        assert subs.unsubscribe(store, request.subscriber.id, how="one-click unsubscribe", at=NOW)
        left = subs.find_subscriber(store, "ann@example.org")
    finally:
        store.close()
    assert left.status == "unsubscribed"
    assert (left.name, left.themes) == ("", frozenset()), f"kept after she left: {left.name!r}, {set(left.themes)}"


# -- Article 15: access --------------------------------------------------------------------------------------

def test_show_gives_what_a_pending_request_holds(config, capsys):
    """Ann asks for everything held about her (UK GDPR art. 15). She filled in the form this morning with her name
    and a theme, and has not pressed the button yet. The organiser runs `pipeline subscribers show
    ann@example.org`, the README's way to print what is held. Now it prints "(no name) … themes: all" and the
    'pending form' line: the name and themes of her request, kept in `subscription_requests`, are left out, so her
    copy is incomplete. `show` should print what each open request holds."""
    store = opened(config)
    try:
        subs.request_subscription(store, "ann@example.org", "Ann Example", ["peer support"], how="form",
                                  at=datetime.now(UTC))
    finally:
        store.close()
    capsys.readouterr()
    assert cli(config, "show", "ann@example.org") == 0
    out = capsys.readouterr().out
    assert "Ann Example" in out and "peer support" in out, out


def test_show_gives_the_issues_sent_to_the_person(write_project, capsys):
    """Ann, on the organiser's list, gets issue 1; then she asks for everything held about her (UK GDPR art. 15).
    `pipeline subscribers show ann@example.org` prints her status and consent record, and nothing of the delivery
    journal, which holds a row for her per issue (sent when, the message id or file, a failure's reason from her
    mail server): personal data about her that her copy leaves out, and no other command gives it by address
    (`pipeline deliveries --issue N` lists only those not yet sent). `show` should list the issues sent to her."""
    config = _outbox_run_project(write_project)
    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    assert list((config.parent / "outbox" / "issue-1").glob("*")), "the issue reached Ann's outbox file"
    capsys.readouterr()
    assert cli(config, "show", "ann@example.org") == 0
    out = capsys.readouterr().out
    assert "issue 1" in out.lower(), out


# -- Article 13: what the form tells people ------------------------------------------------------------------

def test_the_subscribe_form_says_who_holds_the_data_and_where_to_read_more(tmp_path, monkeypatch):
    """A visitor opens /subscribe. The page says what is kept ("your address, your name and when you joined"; not
    the themes ticked, which are kept too) and nothing else: not who the controller is nor how to reach them, how
    long the data is kept, or her rights (UK GDPR art. 13(1)(a), 13(2)(a), (b)). A charity usually meets art. 13
    with a link to its privacy notice, and there is no setting for one, nor any template text that gives it. The
    form should link a privacy notice (or carry that information)."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    server = LiveServer(serve_project(tmp_path / "site")).start()
    try:
        page = httpx.get(server.url + "/subscribe", timeout=10)
    finally:
        server.stop()
    assert page.status_code == 200
    assert "privacy" in page.text.lower(), "the form links no privacy notice"


# -- Article 32: who on the machine can read the list ----------------------------------------------------------

def test_the_outbox_messages_are_readable_by_their_owner_only(config, umask, capsys):
    """The organiser invites Ann (`subscribers add --invite`), as the service user, with `UMask=0077` (or Docker's
    default). The confirmation lands in `outbox/messages/`: her address in its name and headers, and a link that
    confirms her subscription. Now `write_atomic` chmods every file it writes to 0644 whatever the umask, so any
    user of the machine can read every message the outbox holds (each issue's, with the subscriber's name and the
    one-click unsubscribe link too) unless the organiser made `outbox/` 0700 by hand beforehand (a run or `serve`
    makes it, and `messages/`, 0755), while the export, the backup and the secret are 0600 ("a subscriber list is
    personal data"). Mail to one person should be readable by the owner only (UK GDPR art. 32)."""
    umask(0o077)
    assert cli(config, "add", "ann@example.org", "--invite") == 0
    [message] = (config.parent / "outbox" / "messages").glob("*.eml")
    mode = stat.S_IMODE(message.stat().st_mode)
    assert mode & 0o077 == 0, f"{message.name}: mode {mode:o}"


def test_the_state_database_is_readable_by_its_owner_only(config, umask, capsys):
    """A first `pipeline subscribers add` (or run, or serve) in a new project makes `state/` and the database, with
    every subscriber's address, name, themes and consent record. Under the usual umask 022 they are 0755 and 0644:
    readable by every user of the machine, although the copy `pipeline backup` makes of the same file, the export
    and `state/secret` are each made 0600 whatever the umask. The database (and its folder) should be readable by
    the owner only (UK GDPR art. 32), as the README's `install -d -m 0700 state` intends."""
    umask(0o022)
    assert cli(config, "add", "ann@example.org", "--name", "Ann Example") == 0
    database = config.parent / "state" / "pipeline.sqlite"
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (database.parent, database)}
    assert all(mode & 0o077 == 0 for mode in modes.values()), {k: f"{v:o}" for k, v in modes.items()}


# -- addresses where they need not be ------------------------------------------------------------------------

def test_serve_logs_no_address_when_a_confirmation_cannot_be_sent(tmp_path, monkeypatch, caplog):
    """Someone types an address into the public form (perhaps not their own) while the delivery cannot send (here the
    outbox cannot write its file). `_send_confirmation` logs "could not send the confirmation to subscriber <id>",
    deliberately naming the id, not the address; but it appends the PipelineError, whose text is "could not send to
    <address> via outbox: cannot write …/<address>-….eml", so the typed address lands in the journal anyway, once per
    post, kept as long as the journal is, out of reach of any erasure. Anyone on the web can fill the organiser's log
    with third parties' addresses. The line should name the subscriber by id only, as it means to (UK GDPR art.
    5(1)(c), data minimisation)."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    project = serve_project(tmp_path / "site")
    (project.root / "outbox").mkdir()
    (project.root / "outbox" / "messages").write_text("not a folder")  # every confirmation fails to be written
    server = LiveServer(project).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            page = http.get("/subscribe")
            token = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
            with caplog.at_level(logging.INFO, logger="pipeline"):
                sent = http.post("/subscribe", data={"form": token, "email": "someone.else@example.org", "name": ""})
                assert sent.status_code == 200
                deadline = time.monotonic() + 10
                while not any("could not send the confirmation" in r.getMessage() for r in caplog.records):
                    assert time.monotonic() < deadline, "no line about the failed confirmation"
                    time.sleep(0.05)
    finally:
        server.stop()
    lines = [r.getMessage() for r in caplog.records if "could not send the confirmation" in r.getMessage()]
    assert not any("someone.else" in line for line in lines), lines


def test_the_run_history_keeps_no_subscribers_address(write_project, smtp_server, capsys):
    """Issue 1 goes out by SMTP; the server answers "451 try again later" for bob@example.org alone. The run fails
    (exit 1, rightly) and its sink's summary, kept in `run_results` for ever (nothing prunes the run history), says
    "(first, to bob@example.org: the server refused it: …)"; with `[alerts]`, the same text goes into the alert's
    detail, kept in `alerts` for ever and mailed to the organisers. The delivery journal already records who failed
    and why (`pipeline deliveries --issue 1` lists them); the run history is a second copy of subscribers' addresses,
    in free text, never pruned, that an erasure request could not practically find (UK GDPR art. 5(1)(c), (e)). The
    history should count, and point to `pipeline deliveries`, without naming an address."""
    inbox = Inbox(refuse=("bob@example.org",))
    inbox.refusal = "451 4.3.0 Try again later"
    port = smtp_server(inbox)
    config = write_project(newsletter_toml(delivery=f'type = "smtp"\n    host = "127.0.0.1"\n    port = {port}\n'
                                                    f'    starttls = false'),
                           {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"),
              "subscribers.csv": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"})
    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 1
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        history = [summary for (summary,) in db.execute("SELECT summary FROM run_results")]
    finally:
        db.close()
    assert not [summary for summary in history if "bob@example.org" in summary], history


# -- PECR regulation 6: tracking in the email ----------------------------------------------------------------

def test_an_issue_sent_through_sendgrid_turns_off_open_and_click_tracking():
    """Issue 1 goes out through the `sendgrid` delivery. Its Mail Send body (`payload`) says nothing about tracking,
    so the account's settings decide, and SendGrid offers open tracking (an invisible pixel that reports when and
    where each subscriber opened the issue) and click tracking (every link rewritten through SendGrid, the footer's
    unsubscribe and preferences links included), commonly on. The ICO reads PECR regulation 6 as covering tracking
    pixels in email: they need the reader's consent, which the form never asks for, and for a mental health network
    when a service user reads is sensitive. Nothing in the README mentions it. The body should turn both off
    (`tracking_settings`: `open_tracking` and `click_tracking` with `enable: false`), as nothing here uses them."""
    from pipeline.mail.message import Mailing
    from plugins.deliveries.sendgrid import payload

    mailing = Mailing("Issue 1", "news@network.example.org", "Network", "text", "<p>html</p>", NOW, edition=1)
    settings = payload(mailing, None).get("tracking_settings", {})
    assert settings.get("open_tracking", {}).get("enable") is False, settings
    assert settings.get("click_tracking", {}).get("enable") is False, settings


# -- retention: an unconfirmed address ---------------------------------------------------------------------------

def test_an_unconfirmed_address_is_forgotten_from_the_outbox_too(config):
    """Someone types carol@example.org into the form (perhaps not Carol) and nobody confirms. After 7 days
    `expire_pending` deletes her row and its record ("an unconfirmed address is not kept"; the README: "An
    unconfirmed request is forgotten after 7 days"). But with the `outbox` delivery the confirmation stays in
    `outbox/messages/` for ever, her address in its file name and its `To`, although its link stopped working on
    the seventh day: the address of someone who never joined, kept with no purpose (UK GDPR art. 5(1)(e)). When the
    request is forgotten, its confirmation file should go too."""
    from pipeline.config import load_project
    from pipeline.mail.transactional import project_deliverer
    from pipeline.subscribers.confirmation import ask_to_subscribe, send_confirmation
    from pipeline.subscribers.signing import Links

    project = load_project(config)
    store = opened(config)
    try:
        for email in ("carol@example.org", "dan@example.org"):
            request = ask_to_subscribe(store, email, "", [], how="form", at=datetime.now(UTC), deliverer=None)
            send_confirmation(project, request, Links(project))
        assert list((config.parent / "outbox" / "messages").glob("*carol@example.org*"))
        # Dan asks again 8 days on: his request starts afresh, and Carol's, never confirmed, ends
        ask_to_subscribe(store, "dan@example.org", "", [], how="form", at=datetime.now(UTC) + timedelta(days=8),
                         deliverer=project_deliverer(project))
        assert subs.find_subscriber(store, "carol@example.org") is None  # the database forgot her
    finally:
        store.close()
    kept = list((config.parent / "outbox" / "messages").glob("*carol@example.org*"))
    assert kept == [], f"kept after her request was forgotten: {[p.name for p in kept]}"
