"""One spelling per mailbox: a database of the version before (addresses kept as given) brought to it, and then
every way in (the CLI, the CSV import, the webhook) taking an address in that spelling."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pipeline.cli import main
from pipeline.runner import state_path
from pipeline.state import Store, schema
from pipeline.state import subscribers as subs
from pipeline.subscribers import addresses
from pipeline.subscribers.addresses import canonical, checked
from pipeline.subscribers.provider_events import sendgrid_suppressions
from pipeline.subscribers.signing import Tokens, signing_secret
from tests.serve_fixtures import LiveServer, serve_project

BEFORE = 13  # the version before addresses took one spelling
T0 = datetime(2016, 2, 1, tzinfo=UTC)


def database_of_version_13(path, subscribers: list[tuple], deliveries: list[tuple] = ()) -> None:
    """A database as version 13's code made it (its steps alone), with `subscribers` (id, email, status, themes,
    name) written as that code kept them, each with one change in its record, and `deliveries` (recipient, status)
    of issue 1."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(schema.CORE + schema.JOURNAL + schema.SUBSCRIBERS + schema.REQUESTS)
        for step in schema.STEPS[:BEFORE]:
            step(db)
        db.execute(f"PRAGMA user_version = {BEFORE}")
        for ident, email, status, themes, name in subscribers:
            db.execute("INSERT INTO subscribers (id, email, name, status, themes, requested_at, created_at, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (ident, email, name, status, json.dumps(themes), T0.isoformat() if status == "pending" else None,
                        (T0 + timedelta(days=ident)).isoformat(), T0.isoformat()))
            db.execute("INSERT INTO subscriber_events (subscriber, at, status, how) VALUES (?, ?, ?, 'cli')",
                       (ident, (T0 + timedelta(days=ident)).isoformat(), status))
        db.execute("INSERT INTO editions VALUES (1, '2016-02-01', '2016-01-25', '2016-02-01', 'Issue 1', '[]', ?)",
                   (T0.isoformat(),))
        for recipient, status in deliveries:
            db.execute("INSERT INTO deliveries (edition, recipient, channel, status, updated_at) "
                       "VALUES (1, ?, 'outbox', ?, ?)", (recipient, status, T0.isoformat()))
    finally:
        db.close()


def everything(path) -> dict[str, list]:
    db = sqlite3.connect(path)
    try:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in (
            "subscribers", "subscriber_events", "subscription_requests", "subscriber_aliases", "deliveries")}
    finally:
        db.close()


def schema_of(path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        db.close()


def test_an_older_database_takes_one_spelling_per_mailbox_and_keeps_every_record(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    database_of_version_13(path, [
        (1, "ann@exam\u00adple.org", "active", ["research"], "Ann"),  # a soft hyphen: ann@example.org's mailbox
        (2, "ann@example.org", "unsubscribed", [], ""),
        (3, "bob@\uff45xample.org", "active", [], "Bob"),  # a full-width e, alone: re-spelled in place
        (4, "cy@xn--bcher-kva.de", "active", [], ""),  # cy@bücher.de
        (5, "dee@exa\u202emple.org", "active", [], ""),  # a direction mark: IDNA refuses it, no mail reaches it
        (6, "eve@example\u3002org", "active", ["research"], ""),  # an ideographic full stop
        (7, "eve@example.org", "active", ["peer support"], "Eve"),
    ], deliveries=[("ann@exam\u00adple.org", "sent"), ("ann@example.org", "failed"), ("bob@\uff45xample.org", "sent"),
                   ("eve@example\u3002org", "failed"), ("eve@example.org", "unknown")])

    store = Store(path)
    try:
        assert [(s.id, s.email, s.status, sorted(s.themes), s.name) for s, _ in subs.listing(store)] == [
            (2, "ann@example.org", "unsubscribed", [], "Ann"),  # the most restrictive, and the only name
            (3, "bob@example.org", "active", [], "Bob"),
            (4, "cy@bücher.de", "active", [], ""),
            (5, "dee@exa\u202emple.org", "active", [], ""),
            (7, "eve@example.org", "active", ["peer support", "research"], "Eve")]  # both active: both choices
        ann = subs.history(store, 2)
        assert [(e.status, e.how, e.detail) for e in ann] == [
            ("active", "cli", "as 'ann@exam\\xadple.org'"), ("unsubscribed", "cli", ""),
            ("unsubscribed", "database upgrade: one spelling per mailbox",
             "subscriber 1, 'ann@exam\\xadple.org' (active), merged in: the same mailbox")]
        assert subs.history(store, 3)[-1].detail == "was 'bob@\uff45xample.org': the same mailbox"
        assert len(subs.history(store, 5)) == 1  # left as it was
        # The links mailed to a merged-away row name the row it became.
        assert subs.get_subscriber(store, 1).email == "ann@example.org"
        assert subs.get_subscriber(store, 6).email == "eve@example.org"
        assert subs.history(store, 6) == subs.history(store, 7)
        assert store._rows("SELECT id, subscriber, email FROM subscriber_aliases ORDER BY id") == [
            (1, 2, "ann@exam\u00adple.org"), (6, 7, "eve@example\u3002org")]
        # Whichever spelling had the issue, the mailbox had it once, as surely as either row says.
        assert store._rows("SELECT recipient, status FROM deliveries ORDER BY recipient") == [
            ("ann@example.org", "sent"), ("bob@example.org", "sent"), ("eve@example.org", "unknown")]
        assert store._rows("PRAGMA foreign_key_check") == []
    finally:
        store.close()

    migrated = everything(path)
    Store(tmp_path / "fresh.sqlite").close()
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {BEFORE}")  # the step again, on what it made: nothing changes
    db.close()
    Store(path).close()
    assert everything(path) == migrated


@pytest.mark.parametrize(("statuses", "kept"), [
    (("active", "pending"), "active"), (("pending", "bounced"), "bounced"), (("bounced", "active"), "active"),
    (("unsubscribed", "bounced"), "unsubscribed"), (("complained", "active"), "complained"),
    (("pending", "pending"), "pending"),
])
def test_two_spellings_of_one_mailbox_keep_the_most_restrictive_status(tmp_path, statuses, kept):
    path = tmp_path / "pipeline.sqlite"
    database_of_version_13(path, [(1, "ann@exam\u00adple.org", statuses[0], [], ""),
                                  (2, "ann@\uff45xample.org", statuses[1], [], "")])
    db = sqlite3.connect(path)
    with db:
        for ident in (1, 2):
            if statuses[ident - 1] == "pending":
                db.execute("INSERT INTO subscription_requests (subscriber, at) VALUES (?, ?)", (ident, T0.isoformat()))
    db.close()
    store = Store(path)
    try:
        [(ann, _)] = subs.listing(store)
        assert (ann.id, ann.email, ann.status) == (1, "ann@example.org", kept)  # the oldest row, in the one spelling
        assert [e.status for e in subs.history(store, 1)] == [*statuses, kept]
        # A request ends when its address stops being pending; while it is, both rows' requests are its own.
        assert store._rows("SELECT subscriber FROM subscription_requests") == [(1,)] * (2 if kept == "pending" else 0)
    finally:
        store.close()


def test_a_link_mailed_to_a_merged_away_spelling_still_unsubscribes_and_confirms_the_mailbox(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    project = serve_project(tmp_path / "project")
    path = state_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    # Two newsletters to one mailbox (ann), and two requests from one (bob), each mailed its own links.
    database_of_version_13(path, [
        (1, "ann@example.org", "active", [], ""), (2, "ann@exam\u00adple.org", "active", [], ""),
        (3, "bob@example.org", "pending", [], ""), (4, "bob@\uff45xample.org", "pending", [], "")])
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE subscribers SET requested_at = ? WHERE status = 'pending'", (now.isoformat(),))
        request = db.execute("INSERT INTO subscription_requests (subscriber, themes, at) "
                             "VALUES (4, '[\"research\"]', ?)", (now.isoformat(),)).lastrowid
    db.close()
    tokens = Tokens(signing_secret(project))
    unsubscribe, preferences = tokens.make("unsubscribe", 2), tokens.make("preferences", 2)
    confirm = tokens.make("confirm", 4, request)

    live = LiveServer(project).start()  # its store brings the database up to date
    try:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            saved = http.post(f"/preferences/{preferences}", data={"action": "save", "theme": ["research"]})
            assert saved.status_code == 200 and "Your choice is saved" in saved.text
            one_click = http.post(f"/unsubscribe/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
            assert one_click.status_code == 200 and live.status("ann@example.org") == "unsubscribed"
            assert re.search(r"<h1>(.*?)</h1>", http.post(f"/confirm/{confirm}").text).group(1) == "You are subscribed"
        store = Store(path)
        try:
            assert subs.history(store, 1)[-2].detail == "themes: research"  # the merged-away row's link, its save
            bob = subs.find_subscriber(store, "bob@example.org")
            assert (bob.id, bob.status, bob.themes) == (3, "active", frozenset({"research"}))
            assert [s.email for s, _ in subs.listing(store)] == ["ann@example.org", "bob@example.org"]
        finally:
            store.close()
    finally:
        live.stop()


# -- every way in takes the one spelling ---------------------------------------------------------------------

@pytest.mark.parametrize(("given", "spelt"), [
    (" Ann@Exam\u00adple.ORG ", "ann@example.org"), ("ann@\uff45xample.org", "ann@example.org"),
    ("ann@example\u3002org", "ann@example.org"), ("ann@example.org\u200b", "ann@example.org"),
    ("ann@XN--BCHER-KVA.de", "ann@bücher.de"), ("ann@xn--strae-oqa.de", "ann@straße.de"),
    ("ann@Straße.de", "ann@straße.de"), ("ann@exa\u202emple.org", None),
])
def test_one_spelling_and_it_is_its_own(given, spelt):
    assert canonical(given) == spelt
    assert spelt is None or canonical(spelt) == spelt  # so a stored row is found by its own spelling


def test_idna_never_reads_more_than_an_address_can_hold(monkeypatch):
    import idna

    lengths, encode = [], idna.encode
    monkeypatch.setattr(idna, "encode", lambda text, **options: lengths.append(len(text)) or encode(text, **options))
    huge = "ann@" + "\u00e9" * 100_000 + ".org"  # some versions of idna take time growing with its square
    assert checked(huge) == (huge, "")
    assert sendgrid_suppressions([{"email": huge, "event": "bounce"}]) == []
    assert checked("ann@exam\u00adple.org") == ("ann@example.org", None)
    assert lengths and max(lengths) <= 254


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    return serve_project(tmp_path).config_path


def cli(config, *args: str) -> int:
    return main(["subscribers", *args, "--config", str(config)])


def test_the_commands_find_a_subscriber_by_any_spelling_of_its_mailbox(config, capsys):
    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    database_of_version_13(path, [(1, "bob@\uff45xample.org", "active", [], "Bob")])  # stored by an older version
    assert cli(config, "show", "bob@\uff45xample.org") == 0  # as it was stored, and as the list spells it now
    assert cli(config, "show", "Bob@Example.org") == 0
    assert capsys.readouterr().out.count("bob@example.org (Bob): active") == 2

    assert cli(config, "add", "ann@exam\u00adple.org", "--name", "Ann") == 0
    assert "ann@example.org: active" in capsys.readouterr().out
    assert cli(config, "add", "ann@example\u3002org") == 2
    assert "ann@example.org: already subscribed" in capsys.readouterr().err
    assert cli(config, "themes", "ann@\uff45xample.org", "research") == 0
    assert cli(config, "remove", "ANN@EXAMPLE.ORG") == 0
    assert "ann@example.org: now unsubscribed" in capsys.readouterr().out
    assert cli(config, "add", "cy@xn--bcher-kva.de") == 0 and cli(config, "show", "cy@bücher.de") == 0
    assert cli(config, "add", "dee@exa\u202emple.org") == 2
    assert "(no mail server takes its domain)" in capsys.readouterr().err
    store = Store(path)
    try:
        assert [(s.email, s.status, sorted(s.themes)) for s, _ in subs.listing(store)] == [
            ("bob@example.org", "active", []), ("ann@example.org", "unsubscribed", []),
            ("cy@bücher.de", "active", [])]
    finally:
        store.close()


def test_a_csv_list_in_another_spelling_changes_the_row_of_its_mailbox_and_adds_none(config, capsys):
    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    database_of_version_13(path, [(1, "ann@exam\u00adple.org", "active", [], ""),
                                  (2, "bob@\uff45xample.org", "active", [], "")])
    listed = config.parent / "list.csv"
    listed.write_text("email,name,themes,status\nANN@\uff45xample.org,Ann,,\nann@example\u3002org,Ann twice,,\n"
                      "bob@example.org,,,unsubscribed\ncy@exam\u00adple.org,Cy,,\n", encoding="utf-8")
    assert cli(config, "import", str(listed)) == 0
    assert "3 rows; 1 newly active" in capsys.readouterr().out  # cy; ann's second spelling is the same row
    store = Store(path)
    try:
        listed = [(s.id, s.email, s.name, s.status) for s, _ in subs.listing(store)]
        cy = subs.find_subscriber(store, "cy@example.org").id
        assert cy not in (1, 2) and listed == [
            (1, "ann@example.org", "Ann", "active"), (2, "bob@example.org", "", "unsubscribed"),
            (cy, "cy@example.org", "Cy", "active")]
    finally:
        store.close()


def test_a_bounce_or_a_webhook_event_in_another_spelling_suppresses_the_row_of_its_mailbox(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    database_of_version_13(path, [
        (1, "ann@exam\u00adple.org", "active", [], ""), (2, "fritz@straße.de", "active", [], ""),
        (3, "a" * 65 + "@example.org", "active", [], "")])  # stored before the limit on the part before the @
    events = [{"email": "FRITZ@XN--STRAE-OQA.DE", "event": "spamreport"}, {"email": "a" * 65 + "@example.org",
                                                                         "event": "bounce"}]
    found = sendgrid_suppressions(events)
    assert [(s.email, s.status) for s in found] == [("fritz@straße.de", "complained"),
                                                    ("a" * 65 + "@example.org", "bounced")]
    store = Store(path)
    try:
        assert subs.suppress(store, "ann@\uff45xample.org", "bounced", how="smtp delivery: bounce", at=T0)
        for s in found:
            assert subs.suppress(store, s.email, s.status, how=s.how, at=T0)
        assert [(s.id, s.status) for s, _ in subs.listing(store)] == [(1, "bounced"), (2, "complained"),
                                                                       (3, "bounced")]
    finally:
        store.close()


def test_a_csv_list_takes_off_an_address_stored_before_the_limits(config, capsys):
    """A row stored before the limits on a new address (65 characters before the @, an IP address after it) is still
    mailed; the list's status column must still take it off, as a webhook event or `remove` does."""
    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    long = "a" * 65 + "@example.org"
    database_of_version_13(path, [(1, long, "active", [], ""), (2, "bob@192.168.1.1", "active", [], "")])
    listed = config.parent / "list.csv"
    listed.write_text(f"email,name,themes,status\n{long},,,unsubscribed\nbob@192.168.1.1,,,bounced\n"
                      f"{'c' * 65}@example.org,Cy,,\n", encoding="utf-8")
    assert cli(config, "import", str(listed)) == 3  # the new address over the limit is refused, and said so
    err = capsys.readouterr().err
    assert f"'{'c' * 65}@example.org' is not a valid email address" in err and long not in err
    store = Store(path)
    try:
        assert [(s.email, s.status) for s, _ in subs.listing(store)] == [(long, "unsubscribed"),
                                                                          ("bob@192.168.1.1", "bounced")]
    finally:
        store.close()


def test_an_export_read_into_a_fresh_project_keeps_every_member_stored_before_the_limits(config, tmp_path, capsys):
    """`export --status all` then `import` elsewhere: a member whose address a new one could not have (65 characters
    before the @, an IP address after it) is still mailed where they joined, so the move keeps them active, and
    says so once per row as a note, not a problem. A pending request is not moved (nobody confirmed it), said once."""
    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    long, bare = "a" * 65 + "@example.org", "bob@192.168.1.1"
    database_of_version_13(path, [
        (1, long, "active", ["research"], "Ann Long"), (2, bare, "active", ["peer support", "Open Dialogue"], "Bob"),
        (3, "cy@example.org", "active", [], "Cy"), (4, "d" * 65 + "@example.org", "unsubscribed", [], "Dee"),
        (5, "eve@10.0.0.1", "bounced", ["research"], ""), (6, "fay@example.org", "complained", [], "Fay"),
        (7, "gus@example.org", "pending", [], ""), (8, "hal@example.org", "pending", [], "Hal")])
    exported = tmp_path / "list.csv"
    assert cli(config, "export", str(exported), "--status", "all") == 0
    elsewhere = serve_project(tmp_path / "elsewhere").config_path
    capsys.readouterr()

    assert cli(elsewhere, "import", str(exported)) == 0  # nothing in it is a problem

    out, err = capsys.readouterr()
    out, err = " ".join(out.split()), " ".join(err.split())
    assert "skipped" not in err and "not a valid email address" not in err
    assert err.count("note:") == 2
    assert (f"{exported}:2: {long} taken as exported (active), though a new address like it would be refused "
            f"(the part before the @ is longer than 64 characters)") in err
    assert (f"{exported}:3: {bare} taken as exported (active), though a new address like it would be refused "
            f"(mail to an IP address needs brackets") in err
    assert f"{exported}: 6 rows; 3 newly active, 0 left off" in out and "3 suppressed; 0 problems" in out
    assert out.count("pending request") == 1
    assert (f"{exported}: 2 pending requests not imported: they have not confirmed; they can ask again on the form"
            in out)
    moved = Store(elsewhere.parent / "state" / "pipeline.sqlite")
    old = Store(path)
    try:
        assert {s.email: (s.status, s.name, s.themes) for s, _ in subs.listing(moved)} == {
            s.email: (s.status, s.name, s.themes) for s, _ in subs.listing(old) if s.status != "pending"}
        assert [s.email for s in subs.active_subscribers(moved)] == [long, bare, "cy@example.org"]
    finally:
        moved.close()
        old.close()


def test_the_limits_still_refuse_a_new_address_and_only_an_exported_active_row_is_taken_over_them(config, capsys):
    """A list without a status column is new people: over the limits, refused as ever. A row whose domain IDNA refuses
    reaches no one, exported as active or not."""
    long = "a" * 65 + "@example.org"
    hand_made = config.parent / "new.csv"
    hand_made.write_text(f"email,name\n{long},Ann\nbob@192.168.1.1,Bob\ncy@example.org,Cy\n", encoding="utf-8")
    assert cli(config, "import", str(hand_made)) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (f"{hand_made}:2: '{long}' is not a valid email address (the part before the @ is longer than 64 "
            f"characters); correct it or delete the row") in err
    assert f"{hand_made}:3: 'bob@192.168.1.1' is not a valid email address (mail to an IP address" in err
    assert "note:" not in err

    exported = config.parent / "exported.csv"
    exported.write_text(f"email,name,themes,status\n{long},Ann,,active\ndee@exa\u202emple.org,Dee,,active\n",
                        encoding="utf-8")
    assert cli(config, "import", str(exported)) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (f"{exported}:3: 'dee@exa\\u202emple.org' is not a valid email address (no mail server takes its "
            f"domain); correct it or delete the row") in err
    assert f"note: {exported}:2: {long} taken as exported (active)" in err
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        assert [(s.email, s.status) for s, _ in subs.listing(store)] == [("cy@example.org", "active"),
                                                                          (long, "active")]
    finally:
        store.close()


def test_a_webhook_event_naming_no_address_suppresses_nothing():
    """Text IDNA refuses is no address (no mail went to it): it must not become a row of the list."""
    events = [{"email": email, "event": "bounce"} for email in ("not an address \u202e", "\u00e9", "x@y\u202e")]
    assert sendgrid_suppressions(events) == []


def test_a_provider_event_after_the_upgrade_is_judged_by_when_the_mailbox_was_last_subscribed(tmp_path):
    """A bounce from before the upgrade, reported after it (the provider retries what serve missed while it was
    down), still counts: the merge and the upgrade's own entry are not a new subscription."""
    path = tmp_path / "pipeline.sqlite"
    database_of_version_13(path, [(1, "ann@example.org", "active", [], "Ann"),  # active since T0 + 1 day
                                  (2, "ann@\uff45xample.org", "pending", [], ""),  # asked again, T0 + 2 days
                                  (3, "bob@example.org", "active", [], "Bob")])  # active since T0 + 3 days
    store = Store(path)
    try:
        now = datetime.now(UTC)
        assert subs.suppress(store, "ann@example.org", "bounced", how="sendgrid webhook: bounce", at=now,
                             occurred=T0 + timedelta(days=10))  # after she subscribed, before the upgrade
        assert subs.find_subscriber(store, "ann@example.org").status == "bounced"
        # An event from before a subscriber's latest subscription is still old news.
        assert not subs.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: bounce", at=now,
                                 occurred=T0 + timedelta(days=2))
        assert subs.find_subscriber(store, "bob@example.org").status == "active"
    finally:
        store.close()


def test_a_batch_in_flight_across_the_upgrade_is_settled_by_the_spelling_it_was_written_for(config, capsys):
    """A run of the version before was killed after the outbox wrote cy@xn--bcher-kva.de's file; the upgrade spells
    her cy@bücher.de. The batch must be settled by the file written under the spelling it was handed over in, and
    journalled in hers: else the outbox finds no file by her new name, and she is sent the issue again."""
    from pipeline.config import load_project
    from pipeline.mail.message import Mailing, Recipient
    from pipeline.mail.sending import send_issue
    from pipeline.state import journal

    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    database_of_version_13(path, [(1, "cy@xn--bcher-kva.de", "active", [], "Cy"),
                                  (2, "dan@example.org", "active", [], "Dan")])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("INSERT INTO batches (id, edition, channel, state, send_at, created_at) "
               "VALUES ('killed', 1, 'outbox', 'open', NULL, ?)", (T0.isoformat(),))
    db.executemany("INSERT INTO deliveries (edition, recipient, channel, status, batch, updated_at) "
                   "VALUES (1, ?, 'outbox', 'in_flight', 'killed', ?)",
                   [(r, T0.isoformat()) for r in ("cy@xn--bcher-kva.de", "dan@example.org")])
    db.close()
    deliverer = load_project(config).sinks[0].deliverer
    written = deliverer.path_for(1, "cy@xn--bcher-kva.de")  # the killed run wrote hers, not dan's
    written.parent.mkdir(parents=True)
    written.write_bytes(b"To: cy@xn--bcher-kva.de\r\nSubject: Issue 1\r\n\r\nbody\r\n")

    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # settles the batch the kill left
    assert "batch killed left in flight by an interrupted run: 1 sent, 1 to send again, 0 unknown" \
        in capsys.readouterr().out
    store = Store(path)
    try:
        assert journal.statuses(store, 1) == {"cy@bücher.de": "sent"}
        mailing = Mailing("Issue 1", "news@network.example.org", "", "body", None, T0, edition=1)
        report = send_issue(store, deliverer, 1, [(mailing, [Recipient("cy@bücher.de", "Cy"),
                                                            Recipient("dan@example.org", "Dan")])], now=lambda: T0)
        assert (report.sent, report.already) == (1, 1)
        assert store._rows("SELECT recipient, status FROM deliveries ORDER BY recipient") == [
            ("cy@bücher.de", "sent"), ("dan@example.org", "sent")]
    finally:
        store.close()
    assert sorted(p.name for p in written.parent.iterdir()) == sorted([written.name,
                                                                       deliverer.path_for(1, "dan@example.org").name])


def test_a_csv_list_takes_off_an_address_whose_domain_idna_refuses_stored_before(config, capsys):
    """The upgrade leaves dee@exa<direction mark>mple.org as it was, still active and mailed (smtp sends it as it is);
    the organisers' list saying she left must take her off, as `remove` and a bounce do, and a new such address is
    still no row of the list."""
    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    database_of_version_13(path, [(1, "dee@exa\u202emple.org", "active", [], "Dee")])
    listed = config.parent / "list.csv"
    listed.write_text("email,name,themes,status\nDEE@exa\u202emple.org,,,unsubscribed\nfay@y\u202e.org,,,bounced\n"
                      "gus@z\u202e.org,Gus,,\n", encoding="utf-8")
    assert cli(config, "import", str(listed)) == 3  # the one to add is refused, and said so
    err = capsys.readouterr().err
    assert "'gus@z\\u202e.org' is not a valid email address (no mail server takes its domain)" in err
    assert "dee@" not in err and "fay@" not in err
    store = Store(path)
    try:
        assert [(s.email, s.status) for s, _ in subs.listing(store)] == [("dee@exa\u202emple.org", "unsubscribed")]
    finally:
        store.close()


@pytest.mark.parametrize(("address", "counted_as"), [
    ("ann+news@example.org", "ann@example.org"),
    ("ann+a+b@example.org", "ann@example.org"),
    ("+tag@example.org", "+tag@example.org"),  # nothing before the +: the whole name is the mailbox's
    ("a.nn+x@googlemail.com", "ann@gmail.com"),
    ("a.nn@gmail.com", "ann@gmail.com"),
    ("a.nn@example.org", "a.nn@example.org"),  # dots count everywhere else
    ("...@gmail.com", "...@gmail.com"),
])
def test_the_limits_on_one_inbox_count_its_subaddresses_as_one(address, counted_as):
    """`mailbox`: what the per-address limit of the form counts under; the address itself is kept as given."""
    assert addresses.mailbox(address) == counted_as


def test_forget_deletes_the_mail_kept_for_every_spelling_merged_into_the_address(config, capsys):
    """Issue 1 went to ann under two spellings of her mailbox before the upgrade made them one: erasing her deletes
    the outbox's file of each, and no one else's."""
    from pipeline.config import load_project

    path = config.parent / "state" / "pipeline.sqlite"
    path.parent.mkdir()
    database_of_version_13(path, [(1, "ann@example.org", "active", [], "Ann"),
                                  (2, "ann@exam\u00adple.org", "active", [], ""),
                                  (3, "dan@example.org", "active", [], "Dan")])
    deliverer = load_project(config).sinks[0].deliverer
    files = {spelling: deliverer.path_for(1, spelling)
             for spelling in ("ann@example.org", "ann@exam\u00adple.org", "dan@example.org")}
    files["ann@example.org"].parent.mkdir(parents=True)
    for spelling, file in files.items():
        file.write_bytes(f"To: {spelling}\r\nSubject: Issue 1\r\n\r\nbody\r\n".encode())

    assert main(["subscribers", "forget", "ann@example.org", "--config", str(config)]) == 0

    assert "2 files of mail to it" in " ".join(capsys.readouterr().out.split())
    assert [spelling for spelling, file in files.items() if file.exists()] == ["dan@example.org"]
