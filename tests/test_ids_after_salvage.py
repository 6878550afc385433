"""No subscriber id or request id is given twice, even by a database that forgot ids it gave: a copy salvaged with
`.recover` that lost sqlite_sequence's rows, a backup put back, a list moved to a new database signed with the same
secret. Every mailed link's token names the id, and unsubscribe and preferences links never expire, so a new id is
drawn at random (`subscribers.ID_RANGE`), never counted on from the highest stored: an old link names nobody, and
the page says it is not valid, rather than acting on a stranger."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta

import httpx

from pipeline.cli import main
from pipeline.runner import state_path
from pipeline.state import Store, schema
from pipeline.state import subscribers as subs
from pipeline.state.backup import backup
from pipeline.subscribers.signing import Tokens, signing_secret
from tests.serve_fixtures import LiveServer, serve_project

NOW = datetime.now(UTC)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
# ann's mailbox under two spellings (3 becomes an alias of 1 at user_version 14), bob, and cy, who asked and was
# forgotten when the request lapsed: of the ids given, 3 is named by an alias alone and 4 by no row at all.
SUBSCRIBERS = [(1, "ann@example.org", "active"), (2, "bob@example.org", "active"),
               (3, "ann@exam\u00adple.org", "active"), (4, "cy@example.org", "pending")]


def database_of_version_13(path) -> None:
    """A database as version 13's code left it (its steps alone, run on `SUBSCRIBERS`), cy and cy's request
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
        for step in schema.STEPS[:13]:
            step(db)
        db.execute("PRAGMA user_version = 13")
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


def put_back(copy, path) -> None:
    """README's restoring: the database and the files beside it moved out of the way, the copy put in its place."""
    aside = path.parent / "aside"
    aside.mkdir()
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        if (path.parent / name).exists():
            (path.parent / name).rename(aside / name)
    shutil.copyfile(copy, path)


def statuses(live: LiveServer) -> dict[str, str]:
    return {row[1]: row[3] for row in live.snapshot()[0]}


def test_a_salvaged_database_gives_no_id_again_and_old_links_never_reach_the_new_subscriber(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    project = serve_project(tmp_path / "project")
    path = state_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    database_of_version_13(path)
    Store(path).close()  # brought up to date: ann's second spelling (3) is an alias of 1
    tokens = Tokens(signing_secret(project))
    anns_old, cys_old = tokens.make("unsubscribe", 3), tokens.make("preferences", 4)  # cy's, from the confirm page
    salvage(path, "DELETE FROM sqlite_sequence")  # SQLite would give the highest id stored + 1 again: 3

    store = Store(path)
    try:
        dan = subs.request_subscription(store, "dan@example.org", "Dan", [], how="form", at=NOW)
        eve = subs.add(store, "eve@example.org", "", [], how="cli", at=NOW)
        # none of the ids any row, alias or deleted row had: 1 and 2, the alias 3, cy's 4, cy's request's 1
        assert {dan.subscriber.id, eve.id}.isdisjoint({1, 2, 3, 4}) and dan.id != 1
        assert subs.confirm(store, dan.subscriber.id, how="confirmation", at=NOW, request=dan.id)
        assert subs.get_subscriber(store, 3).email == "ann@example.org"
    finally:
        store.close()

    live = LiveServer(project).start()
    try:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            page = http.get(f"/preferences/{cys_old}")
            assert page.status_code == 404 and "This link is not valid" in page.text  # names nobody
            assert http.post(f"/unsubscribe/{cys_old}", data=ONE_CLICK).status_code == 404
            assert http.post(f"/unsubscribe/{anns_old}", data=ONE_CLICK).status_code == 200  # ann's own, merged
            assert statuses(live) == {"ann@example.org": "unsubscribed", "bob@example.org": "active",
                                      "dan@example.org": "active", "eve@example.org": "active"}
            dans = tokens.make("unsubscribe", dan.subscriber.id)
            assert http.post(f"/unsubscribe/{dans}", data=ONE_CLICK).status_code == 200
            assert live.status("dan@example.org") == "unsubscribed"
    finally:
        live.stop()
    left = [(row[1], row[4]) for row in live.snapshot()[1] if row[3] == "unsubscribed"]
    assert sorted(left) == sorted([(1, "one-click unsubscribe"), (dan.subscriber.id, "one-click unsubscribe")])


def test_a_backup_put_back_gives_no_id_of_whoever_joined_after_it_again(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)  # the secret in state/secret, kept with the folder
    project = serve_project(tmp_path / "project")
    path = state_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(path)
    try:
        ann = subs.add(store, "ann@example.org", "", [], how="cli", at=NOW)
        asked = subs.request_subscription(store, "bob@example.org", "", [], how="form", at=NOW)
    finally:
        store.close()
    copy = tmp_path / "backups" / "state.sqlite3"
    copy.parent.mkdir()
    backup(path, copy)
    store = Store(path)
    try:  # after the backup: cy joins, and bob confirms
        cy = subs.add(store, "cy@example.org", "", [], how="cli", at=NOW + timedelta(hours=1))
        assert subs.confirm(store, asked.subscriber.id, how="confirmation", at=NOW + timedelta(hours=1),
                            request=asked.id)
    finally:
        store.close()
    tokens = Tokens(signing_secret(project))
    cys_link = tokens.make("unsubscribe", cy.id)  # in the issue cy got before the copy was put back

    put_back(copy, path)
    store = Store(path)
    try:  # the restored database knows ann and bob's request; dan joins, and bob asks again
        dan = subs.add(store, "dan@example.org", "", [], how="cli", at=NOW + timedelta(days=1))
        again = subs.request_subscription(store, "bob@example.org", "", [], how="form", at=NOW + timedelta(days=1))
        assert dan.id not in (ann.id, asked.subscriber.id, cy.id) and again.id != asked.id
    finally:
        store.close()

    live = LiveServer(project).start()
    try:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            assert http.post(f"/unsubscribe/{cys_link}", data=ONE_CLICK).status_code == 404
            page = http.get(f"/unsubscribe/{cys_link}")
            assert page.status_code == 404 and "This link is not valid" in page.text
            assert statuses(live) == {"ann@example.org": "active", "bob@example.org": "pending",
                                      "dan@example.org": "active"}
    finally:
        live.stop()


def test_a_list_moved_to_a_new_database_with_the_same_secret_leaves_its_old_links_naming_nobody(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEST_SERVE_SECRET", "one secret, set in the environment of both")
    first, second = serve_project(tmp_path / "first"), serve_project(tmp_path / "second")
    store = Store(state_path(first))
    try:
        joined = [subs.add(store, f"{name}@example.org", name.title(), [], how="cli", at=NOW + timedelta(hours=n))
                  for n, name in enumerate(("ann", "bob", "cy", "dee"))]
        assert subs.unsubscribe(store, joined[3].id, how="one-click unsubscribe", at=NOW + timedelta(hours=5))
        assert [s.email for s, _ in subs.listing(store)] == [s.email for s in joined]  # in the order they joined
    finally:
        store.close()
    tokens = Tokens(signing_secret(first))
    old_links = [f"/{purpose}/{tokens.make(purpose, who.id)}" for who in joined
                 for purpose in ("unsubscribe", "preferences")]

    exported = tmp_path / "list.csv"
    assert main(["subscribers", "export", str(exported), "--status", "all", "--config", str(first.config_path)]) == 0
    assert main(["subscribers", "import", str(exported), "--config", str(second.config_path)]) == 0
    capsys.readouterr()
    store = Store(state_path(second))
    try:
        eve = subs.add(store, "eve@example.org", "", [], how="cli", at=NOW + timedelta(days=1))
        moved = {s.email: s for s, _ in subs.listing(store)}
        assert set(moved) == {"ann@example.org", "bob@example.org", "cy@example.org", "dee@example.org",
                              "eve@example.org"}
        assert {s.id for s in moved.values()}.isdisjoint(s.id for s in joined) and eve == moved["eve@example.org"]
    finally:
        store.close()

    live = LiveServer(second).start()
    try:
        before = live.snapshot()
        with httpx.Client(base_url=live.url, timeout=10) as http:
            for link in old_links:
                page = http.get(link)
                assert page.status_code == 404 and "This link is not valid" in page.text, link
                assert http.post(link, data=ONE_CLICK if "unsubscribe" in link else {"action": "leave"}
                                 ).status_code == 404
            ann = tokens.make("unsubscribe", moved["ann@example.org"].id)  # the new database's link: it works
            assert live.snapshot() == before
            assert http.post(f"/unsubscribe/{ann}", data=ONE_CLICK).status_code == 200
        assert live.status("ann@example.org") == "unsubscribed" and live.status("bob@example.org") == "active"
    finally:
        live.stop()
