"""No subscriber id or request id is given twice, even by a database salvaged with `.recover` that lost
sqlite_sequence's rows (AUTOINCREMENT's mark): every mailed link's token names the id, and unsubscribe and
preferences links never expire. The mark is kept a second time in `counters` (schema.py, user_version 15)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import httpx
import pytest

from pipeline.runner import state_path
from pipeline.state import Store, schema
from pipeline.state import subscribers as subs
from pipeline.subscribers.signing import Tokens, signing_secret
from tests.serve_fixtures import LiveServer, serve_project

NOW = datetime.now(UTC)
# ann's mailbox under two spellings (3 becomes an alias of 1 at user_version 14), bob, and cy, who asked and was
# forgotten when the request lapsed: of the ids given, 3 is named by an alias alone and 4 by no row at all.
SUBSCRIBERS = [(1, "ann@example.org", "active"), (2, "bob@example.org", "active"),
               (3, "ann@exam\u00adple.org", "active"), (4, "cy@example.org", "pending")]


def database_of_version(path, version: int) -> None:
    """A database as `version`'s code left it (its steps alone, run on `SUBSCRIBERS`), cy and cy's request
    (id 1) deleted as `expire_pending` deletes them."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(schema.CORE + schema.JOURNAL + schema.SUBSCRIBERS + schema.REQUESTS)
        for ident, email, status in SUBSCRIBERS:
            db.execute("INSERT INTO subscribers (id, email, status, themes, requested_at, created_at, updated_at) "
                       "VALUES (?, ?, ?, '[]', ?, ?, ?)", (ident, email, status, NOW.isoformat() if status == "pending"
                                                           else None, NOW.isoformat(), NOW.isoformat()))
            db.execute("INSERT INTO subscriber_events (subscriber, at, status, how) VALUES (?, ?, ?, 'cli')",
                       (ident, NOW.isoformat(), status))
        db.execute("INSERT INTO subscription_requests (subscriber, at) VALUES (4, ?)", (NOW.isoformat(),))
        for table, column in (("subscription_requests", "subscriber"), ("subscriber_events", "subscriber"),
                              ("subscribers", "id")):
            db.execute(f"DELETE FROM {table} WHERE {column} = 4")
        for step in schema.STEPS[:version]:
            step(db)
        db.execute(f"PRAGMA user_version = {version}")
    finally:
        db.close()


def salvage(path, *statements: str) -> None:
    """What a copy salvaged with `sqlite3 pipeline.sqlite .recover` may have lost; its user_version is the same."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def marks(store: Store) -> list[tuple]:
    """(name, sqlite_sequence's value, the counter's) of each table whose ids are never given twice."""
    return store._rows("SELECT name, seq, (SELECT value FROM counters WHERE counters.name = "
                       "CASE sqlite_sequence.name WHEN 'subscribers' THEN 'subscriber ids' ELSE 'request ids' END) "
                       "FROM sqlite_sequence ORDER BY name")


def schema_of(path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        db.close()


LOST_SEQUENCE = "DELETE FROM sqlite_sequence"
LOST_TRIGGERS = ("DROP TRIGGER IF EXISTS subscriber_id_given", "DROP TRIGGER IF EXISTS request_id_given")


@pytest.mark.parametrize("lost", [(LOST_SEQUENCE,), (LOST_SEQUENCE, *LOST_TRIGGERS)],
                         ids=["sqlite_sequence's rows", "and the triggers"])
def test_a_salvaged_database_gives_no_id_again_and_old_links_never_reach_the_new_subscriber(tmp_path, monkeypatch,
                                                                                            lost):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    project = serve_project(tmp_path / "project")
    path = state_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    database_of_version(path, 13)
    Store(path).close()  # brought up to date: ann's second spelling (3) is an alias of 1
    tokens = Tokens(signing_secret(project))
    anns_old, cys_old = tokens.make("unsubscribe", 3), tokens.make("preferences", 4)  # cy's, from the confirm page
    salvage(path, *lost)

    store = Store(path)
    try:
        dan = subs.request_subscription(store, "dan@example.org", "Dan", [], how="form", at=NOW)
        assert (dan.subscriber.id, dan.id) == (5, 2)  # above every id ever given: the alias's, cy's, cy's request's
        assert subs.confirm(store, dan.subscriber.id, how="confirmation", at=NOW, request=dan.id)
        assert marks(store) == [("subscribers", 5, 5), ("subscription_requests", 2, 2)]
    finally:
        store.close()

    live = LiveServer(project).start()
    try:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            assert http.get(f"/preferences/{cys_old}").status_code == 404  # names nobody
            for token in (cys_old, anns_old):
                assert http.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
            assert (live.status("ann@example.org"), live.status("dan@example.org")) == ("unsubscribed", "active")
            dans = tokens.make("unsubscribe", 5)
            assert http.post(f"/unsubscribe/{dans}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
            assert live.status("dan@example.org") == "unsubscribed"
    finally:
        live.stop()
    left = [(row[1], row[4]) for row in live.snapshot()[1] if row[3] == "unsubscribed"]
    assert left == [(1, "one-click unsubscribe"), (5, "one-click unsubscribe")]  # each by their own link alone


def test_a_salvage_that_lost_both_marks_still_gives_no_id_a_row_names(tmp_path):
    # sqlite_sequence's rows, the counters and their triggers all lost: the ids a row names are given no more
    # (the alias 3), though one no row names (cy's 4, deleted) can be given again.
    path = tmp_path / "pipeline.sqlite"
    database_of_version(path, 13)
    Store(path).close()
    salvage(path, LOST_SEQUENCE, *LOST_TRIGGERS, "DELETE FROM counters WHERE name != 'item changes'")

    store = Store(path)
    try:
        eve = subs.add(store, "eve@example.org", "", [], how="cli", at=NOW)
        assert eve.id == 4  # not 3, whose links ann's mailbox answers to
        assert subs.get_subscriber(store, 3).email == "ann@example.org"
        assert subs.get_subscriber(store, eve.id) == eve
        assert marks(store)[0] == ("subscribers", 4, 4)
    finally:
        store.close()


@pytest.mark.parametrize(("salvaged", "seeded"), [(False, (4, 1)), (True, (3, 0))],
                         ids=["as it was", "salvaged before the upgrade"])
def test_a_database_of_version_14_keeps_its_highest_ids_a_second_time(tmp_path, salvaged, seeded):
    # The highest ids given: cy's 4 and cy's request's 1, deleted; salvaged before the upgrade (sqlite_sequence's
    # rows lost), the highest a row names: the alias 3, and no request.
    path = tmp_path / "pipeline.sqlite"
    database_of_version(path, 14)
    if salvaged:
        salvage(path, LOST_SEQUENCE)
    Store(tmp_path / "fresh.sqlite").close()

    store = Store(path)
    try:
        assert store._rows("SELECT id, subscriber FROM subscriber_aliases") == [(3, 1)]
        assert marks(store) == [(table, mark, mark) for table, mark in zip(
            ("subscribers", "subscription_requests"), seeded, strict=True) if mark]
    finally:
        store.close()
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite")
    store = Store(path)
    try:
        assert store.db.total_changes == 0  # a sound database is opened without a write
    finally:
        store.close()

    salvage(path, LOST_SEQUENCE)  # a later salvage: the second copy gives the marks back
    store = Store(path)
    try:
        assert subs.add(store, "eve@example.org", "", [], how="cli", at=NOW).id == seeded[0] + 1
        assert subs.request_subscription(store, "fay@example.org", "", [], how="form", at=NOW).id == seeded[1] + 1
    finally:
        store.close()
