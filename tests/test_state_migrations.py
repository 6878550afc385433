"""A state database made by an earlier version is brought up to date when it is opened, its rows kept."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from pipeline.models import Kind
from pipeline.state import Store
from tests.conftest import make_item

ITEMS_BEFORE_THEMES_COLUMN = """
CREATE TABLE items (id TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, published TEXT NOT NULL,
                    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, fingerprint TEXT NOT NULL, data TEXT NOT NULL);
"""


def database_of_version_2(path, item) -> None:
    """A state database as version 2 left it (no themes column), holding `item`."""
    seen = item.published.date().isoformat()
    with sqlite3.connect(path) as db:
        db.executescript(ITEMS_BEFORE_THEMES_COLUMN)
        db.execute("INSERT INTO items VALUES (?, ?, 'test', ?, ?, ?, 'fp', ?)",
                   (item.id, item.kind.value, item.published.isoformat(), seen, seen, json.dumps(item.to_dict())))
        db.execute("PRAGMA user_version = 2")
    db.close()


def test_items_saved_before_the_themes_column_keep_their_themes(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    item = make_item(Kind.NEWS, "Peer support news", themes=["peer support", "recovery"],
                     published=datetime(2016, 1, 20, tzinfo=UTC))
    database_of_version_2(path, item)

    store = Store(path)
    try:
        assert store.recent_themes(datetime(2016, 5, 1, tzinfo=UTC)) == [
            (item.id, item.published, ["peer support", "recovery"])]
        assert store.get_items([item.id]) == [item]
        later = make_item(Kind.NEWS, "Later", themes=["space"], published=datetime(2016, 2, 1, tzinfo=UTC))
        store.save_items([(later, "fp2")], datetime(2016, 2, 1, tzinfo=UTC))
        assert [themes for _, _, themes in store.recent_themes(datetime(2016, 5, 1, tzinfo=UTC))] == [
            ["space"], ["peer support", "recovery"]]
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] >= 3



def test_the_feeds_list_of_items_is_read_from_an_index_in_an_older_database_too(tmp_path):
    from pipeline.state.store import RECENT_THEMES

    path = tmp_path / "pipeline.sqlite"
    database_of_version_2(path, make_item(Kind.NEWS, "Old news", published=datetime(2016, 1, 20, tzinfo=UTC)))
    with sqlite3.connect(path) as db:
        db.execute("CREATE INDEX items_published ON items (published)")  # as every version up to 9 made it
    db.close()
    Store(path).close()
    with sqlite3.connect(path) as db:
        plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {RECENT_THEMES}", ("2016-05-01",)))
    db.close()
    assert "COVERING INDEX items_recent" in plan and "TEMP B-TREE" not in plan, plan
    with sqlite3.connect(path) as db:  # the one index by date: each item saved writes one, not two
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'items' AND "
                                                  "type = 'index' AND sql IS NOT NULL")}
    db.close()
    assert indexes == {"items_recent"}

# -- items_digest: what the feeds are made from, without reading every item --------------------------------

APRIL, MAY = datetime(2016, 4, 1, tzinfo=UTC), datetime(2016, 5, 1, tzinfo=UTC)


def test_the_items_digest_changes_with_every_change_to_an_item_and_only_then(tmp_path):
    store = Store(tmp_path / "pipeline.sqlite")
    try:
        item = make_item(Kind.NEWS, "Peer support news", themes=["peer support"], published=APRIL)
        seen = [store.items_digest(MAY)]
        store.save_items([(item, "fp1")], APRIL)
        seen.append(store.items_digest(MAY))  # added
        store.touch_items([item.id], MAY)
        assert store.items_digest(MAY) == seen[-1]  # seen again, unchanged: the feeds stand
        for change in ({"fingerprint": "fp2"}, {"themes": ["recovery"]}, {"title": "Peer support, revised"}):
            fingerprint = change.pop("fingerprint", "fp2")
            for name, value in change.items():
                setattr(item, name, value)
            store.save_items([(item, fingerprint)], APRIL)
            seen.append(store.items_digest(MAY))
        with store.transaction() as db:  # a write from anywhere, not only through save_items
            db.execute("DELETE FROM items WHERE id = ?", (item.id,))
        seen.append(store.items_digest(MAY))
        assert len(set(seen)) == len(seen), seen
    finally:
        store.close()


def test_the_items_digest_changes_when_time_brings_a_stored_item_in(tmp_path):
    store = Store(tmp_path / "pipeline.sqlite")
    try:
        store.save_items([(make_item(Kind.NEWS, "Now", published=APRIL), "a"),
                          (make_item(Kind.EVENT, "Later", published=datetime(2016, 6, 1, tzinfo=UTC)), "b")], APRIL)
        before = store.items_digest(MAY)
        assert store.items_digest(MAY) == before
        assert store.items_digest(datetime(2016, 7, 1, tzinfo=UTC)) != before
    finally:
        store.close()


def test_a_database_from_before_the_change_count_gets_it(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    item = make_item(Kind.NEWS, "Old news", published=APRIL)
    database_of_version_2(path, item)
    store = Store(path)
    try:
        before = store.items_digest(MAY)
        store.save_items([(make_item(Kind.NEWS, "New news", published=APRIL), "fp")], APRIL)
        assert store.items_digest(MAY) != before
        assert store.get_items([item.id]) == [item]
    finally:
        store.close()


def test_a_database_that_lost_its_change_count_gets_it_back_and_its_feeds_made_again(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    store = Store(path)
    item = make_item(Kind.NEWS, "Kept news", published=APRIL)
    store.save_items([(item, "fp1")], APRIL)
    before = store.items_digest(MAY)
    store.close()
    with sqlite3.connect(path) as db:  # as a salvaged copy may come back: the same user_version, no triggers
        for trigger in ("item_added", "item_removed", "item_changed"):
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("DELETE FROM counters")
    db.close()

    store = Store(path)
    try:
        after = store.items_digest(MAY)
        assert after != before  # counted as a change: whatever happened meanwhile, the feeds are made again
        store.save_items([(item, "fp2")], APRIL)
        assert store.items_digest(MAY) != after  # counting again
    finally:
        store.close()


def test_saving_an_item_again_as_it_was_changes_nothing(tmp_path):
    store = Store(tmp_path / "pipeline.sqlite")
    try:
        item = make_item(Kind.NEWS, "Peer support news", published=APRIL)
        store.save_items([(item, "")], APRIL)  # a failed transform: saved again by every run until it works
        before = store.items_digest(MAY)
        store.save_items([(item, "")], MAY)
        assert store.items_digest(MAY) == before
    finally:
        store.close()


# -- subscriber ids, given once only ----------------------------------------------------------------------

SUBSCRIBERS_BEFORE_AUTOINCREMENT = """
CREATE TABLE subscribers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    themes TEXT NOT NULL DEFAULT '[]', requested_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX subscribers_status ON subscribers (status);
CREATE INDEX subscribers_sending ON subscribers (status, themes, id);
CREATE TABLE subscriber_events (id INTEGER PRIMARY KEY,
    subscriber INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE, at TEXT NOT NULL, status TEXT NOT NULL,
    how TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX subscriber_events_subscriber ON subscriber_events (subscriber);
CREATE TABLE subscription_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE, name TEXT NOT NULL DEFAULT '',
    themes TEXT NOT NULL DEFAULT '[]', at TEXT NOT NULL);
"""


def test_subscriber_ids_are_never_given_again_and_an_older_database_keeps_every_row(tmp_path):
    from datetime import timedelta

    from pipeline.state import subscribers as subs
    from pipeline.subscribers.signing import Tokens

    path = tmp_path / "pipeline.sqlite"
    asked = datetime.now(UTC) - timedelta(days=8)
    with sqlite3.connect(path) as db:  # as version 7 left it: ann, bob, and cy's request, about to expire
        themed = ITEMS_BEFORE_THEMES_COLUMN.replace("data TEXT NOT NULL", "data TEXT NOT NULL, themes TEXT")
        db.executescript(themed + SUBSCRIBERS_BEFORE_AUTOINCREMENT)  # items as version 3 on left them
        for n, (email, status) in enumerate([("ann@example.org", "active"), ("bob@example.org", "unsubscribed"),
                                             ("cy@example.org", "pending")], 1):
            db.execute("INSERT INTO subscribers VALUES (?, ?, ?, ?, '[\"research\"]', ?, ?, ?)",
                       (n, email, email[:3].title(), status, asked.isoformat() if status == "pending" else None,
                        asked.isoformat(), asked.isoformat()))
            db.execute("INSERT INTO subscriber_events (subscriber, at, status, how) VALUES (?, ?, ?, 'form')",
                       (n, asked.isoformat(), status))
        db.execute("INSERT INTO subscription_requests (subscriber, name, at) VALUES (3, 'Cy', ?)", (asked.isoformat(),))
        db.execute("PRAGMA user_version = 7")
        before = [db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                  for table in ("subscribers", "subscriber_events", "subscription_requests")]
    db.close()

    store = Store(path)
    try:
        assert [store._rows(f"SELECT * FROM {table} ORDER BY id")
                for table in ("subscribers", "subscriber_events", "subscription_requests")] == before
        assert store._rows("PRAGMA foreign_keys") == [(1,)]  # on again after the migration
        assert store._rows("PRAGMA foreign_key_check") == []
        for child in ("subscriber_events", "subscription_requests"):  # expire_pending relies on the cascade
            assert {(row[2], row[6]) for row in store._rows(f"PRAGMA foreign_key_list({child})")} == {
                ("subscribers", "CASCADE")}
        assert {name for (name,) in store._rows("SELECT name FROM sqlite_master WHERE tbl_name = 'subscribers' "
                                                "AND type = 'index' AND sql IS NOT NULL")} == {
            "subscribers_status", "subscribers_sending"}
        cys_link = Tokens(b"a secret of sixteen characters").make("confirm", 3)

        assert len(subs.expire_pending(store, at=datetime.now(UTC))) == 1  # cy, the highest id, is forgotten
        dan = subs.request_subscription(store, "dan@example.org", "", [], how="form", at=datetime.now(UTC))
        assert dan.subscriber.id not in (1, 2, 3)  # not cy's 3: the link mailed to cy names nobody now
        assert subs.get_subscriber(store, Tokens(b"a secret of sixteen characters").read("confirm", cys_link)) is None
        store.close()
        store = Store(path)  # and not after opening it again, nor in a database made new
        assert len(subs.expire_pending(store, at=datetime.now(UTC) + timedelta(days=8))) == 1
        assert subs.add(store, "eve@example.org", "", [], how="cli", at=datetime.now(UTC)).id not in (
            1, 2, 3, dan.subscriber.id)
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] >= 8

    fresh = Store(tmp_path / "fresh.sqlite")
    try:
        first = subs.request_subscription(fresh, "fay@example.org", "", [], how="form", at=asked)
        subs.expire_pending(fresh, at=datetime.now(UTC))
        assert subs.add(fresh, "gus@example.org", "", [], how="cli", at=datetime.now(UTC)).id != first.subscriber.id
    finally:
        fresh.close()
# -- item revisions: the calendars' SEQUENCE, DTSTAMP and LAST-MODIFIED ---------------------------------------

def test_an_items_revision_counts_changes_to_what_is_stored_and_only_those(tmp_path):
    from pipeline.state import Revision

    store = Store(tmp_path / "pipeline.sqlite")
    try:
        item = make_item(Kind.EVENT, "Seminar 3", published=APRIL)
        store.save_items([(item, "fp1")], datetime(2016, 4, 2, tzinfo=UTC))
        assert store.revisions([item.id, "never-stored"]) == {item.id: Revision(0, datetime(2016, 4, 2, tzinfo=UTC))}
        store.save_items([(item, "fp1")], datetime(2016, 4, 3, tzinfo=UTC))  # saved again as it was
        store.save_items([(item, "fp2")], datetime(2016, 4, 4, tzinfo=UTC))  # new transform settings, same item
        store.touch_items([item.id], datetime(2016, 4, 5, tzinfo=UTC))  # seen again
        assert store.revisions([item.id]) == {item.id: Revision(0, datetime(2016, 4, 2, tzinfo=UTC))}
        item.event.venue = "York"  # moved: a significant revision (its text alone moves only the time)
        store.save_items([(item, "fp3")], datetime(2016, 4, 6, 9, tzinfo=UTC))
        assert store.revisions([item.id]) == {item.id: Revision(1, datetime(2016, 4, 6, 9, tzinfo=UTC))}
        with store.transaction() as db:  # a write from anywhere, not only through save_items
            db.execute("UPDATE items SET data = json_set(data, '$.event.venue', 'Leeds'), last_seen = ? WHERE id = ?",
                       ("2016-04-07T00:00:00+00:00", item.id))
            db.execute("DELETE FROM items WHERE id = ?", (item.id,))
        store.save_items([(item, "fp3")], datetime(2016, 4, 8, tzinfo=UTC))  # back again: never counts down
        assert store.revisions([item.id]) == {item.id: Revision(3, datetime(2016, 4, 8, tzinfo=UTC))}
        news = make_item(Kind.NEWS, "No calendar, no revisions kept", published=APRIL)
        store.save_items([(news, "fp1")], datetime(2016, 4, 9, tzinfo=UTC))
        assert store.revisions([news.id]) == {}
    finally:
        store.close()


def test_items_stored_before_revisions_were_kept_count_as_unrevised_since_first_seen(tmp_path):
    from pipeline.state import Revision

    path = tmp_path / "pipeline.sqlite"
    item = make_item(Kind.EVENT, "Old seminar", published=datetime(2016, 1, 20, tzinfo=UTC))
    database_of_version_2(path, item)  # first seen on 20 January
    store = Store(path)
    try:
        assert store.revisions([item.id]) == {item.id: Revision(0, datetime(2016, 1, 20, tzinfo=UTC))}
        item.event.venue = "Room 2"
        store.save_items([(item, "fp2")], APRIL)
        assert store.revisions([item.id]) == {item.id: Revision(1, APRIL)}
    finally:
        store.close()


# What a salvaged copy (`sqlite3 pipeline.sqlite .recover`) may have lost: the rows of a page it could not read, or
# a whole table whose rows it put in lost_and_found; its user_version is the same. Then the revision the next run
# gives the event, saved as it was (fetched again, if it was lost): never lower than it was.
SALVAGE_LOSSES = {
    "the revisions' table and triggers": (["DROP TRIGGER item_revision_added", "DROP TRIGGER item_revision_changed",
                                           "DROP TABLE item_revisions"], (2, datetime(2016, 4, 4, tzinfo=UTC))),
    "the revisions' rows": (["DELETE FROM item_revisions"], (2, datetime(2016, 4, 4, tzinfo=UTC))),
    "the event's row": (["DELETE FROM items"], (3, MAY)),  # added again: what changed meanwhile is not known
}


@pytest.mark.parametrize("lost", SALVAGE_LOSSES)
def test_a_salvaged_database_that_lost_an_events_revision_or_the_event_counts_on_and_never_down(tmp_path, lost):
    from pipeline.state import Revision

    path = tmp_path / "pipeline.sqlite"
    item = make_item(Kind.EVENT, "Seminar 3", published=APRIL)
    store = Store(path)
    try:
        store.save_items([(item, "fp")], APRIL)
        for n, venue in enumerate(["Leeds", "York"], 2):
            item.event.venue = venue
            store.save_items([(item, "fp")], datetime(2016, 4, n, tzinfo=UTC))
        item.summary = "Now in York."  # not significant: only the time moves
        store.save_items([(item, "fp")], datetime(2016, 4, 4, tzinfo=UTC))
        assert store.revisions([item.id]) == {item.id: Revision(2, datetime(2016, 4, 4, tzinfo=UTC))}
    finally:
        store.close()
    statements, (number, updated) = SALVAGE_LOSSES[lost]
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()

    store = Store(path)
    try:
        store.save_items([(item, "fp")], MAY)
        assert store.revisions([item.id]) == {item.id: Revision(number, updated)}
        item.event.venue = "Hull"
        store.save_items([(item, "fp")], datetime(2016, 5, 2, tzinfo=UTC))
        assert store.revisions([item.id]) == {item.id: Revision(number + 1, datetime(2016, 5, 2, tzinfo=UTC))}
    finally:
        store.close()


def schema_of(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    db.close()
    return found


def test_a_database_that_counted_every_change_keeps_its_counts_and_counts_only_new_times_and_places(tmp_path):
    from pipeline.state import Revision
    from pipeline.state.schema import ITEM_REVISIONS, STEPS, _significant_revisions

    path = tmp_path / "pipeline.sqlite"
    item = make_item(Kind.EVENT, "Seminar 3", published=APRIL)
    Store(tmp_path / "fresh.sqlite").close()
    store = Store(path)
    store.save_items([(item, "fp")], APRIL)
    store.close()
    with sqlite3.connect(path) as db:  # as version 10 left it: every change of its data counted, twice so far
        db.execute("DROP TRIGGER item_revision_changed")
        db.execute(ITEM_REVISIONS[2])
        db.execute("UPDATE item_revisions SET revision = 2")
        db.execute(f"PRAGMA user_version = {STEPS.index(_significant_revisions)}")
    db.close()

    store = Store(path)
    try:
        assert store.revisions([item.id]) == {item.id: Revision(2, APRIL)}  # never down
        with store.transaction() as db:  # and copied beside the event: a salvage losing the row loses no count
            db.execute("DELETE FROM item_revisions")
        assert store.revisions([item.id]) == {item.id: Revision(2, APRIL)}
        item.themes, item.summary = ["peer support"], "A new summary."
        store.save_items([(item, "fp")], MAY)
        assert store.revisions([item.id]) == {item.id: Revision(2, MAY)}
        item.event.venue = "York"
        store.save_items([(item, "fp")], datetime(2016, 5, 2, tzinfo=UTC))
        assert store.revisions([item.id]) == {item.id: Revision(3, datetime(2016, 5, 2, tzinfo=UTC))}
    finally:
        store.close()
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite")  # brought up to date: as a new one is made


def test_an_event_that_moved_while_it_was_not_an_event_counts_a_new_time_when_it_is_one_again(tmp_path):
    # Its source's kind set to news and back: while it was news nothing was counted and no calendar showed it, and
    # meanwhile it moved. What the calendars showed last is not known, so becoming an event again is a significant
    # revision (as an event added again is), never the new time and place at the SEQUENCE of the old.
    import dataclasses
    from datetime import timedelta

    from pipeline.state import Revision

    store = Store(tmp_path / "pipeline.sqlite")
    event = make_item(Kind.EVENT, "Seminar 3", published=APRIL)
    try:
        store.save_items([(event, "fp")], APRIL)
        assert store.revisions([event.id])[event.id].number == 0
        moved = dataclasses.replace(event.event, start=event.event.start + timedelta(days=1), venue="York")
        as_news = dataclasses.replace(event, kind=Kind.NEWS, event=moved)
        store.save_items([(as_news, "fp")], datetime(2016, 4, 2, tzinfo=UTC))
        store.save_items([(dataclasses.replace(event, event=moved), "fp")], datetime(2016, 4, 3, tzinfo=UTC))
        assert store.revisions([event.id])[event.id] == Revision(1, datetime(2016, 4, 3, tzinfo=UTC))
    finally:
        store.close()


@pytest.mark.parametrize("version", [10, 12])
def test_a_database_of_an_older_version_keeps_its_counts_and_ends_as_a_new_one_is_made(tmp_path, version):
    # Made as that version's code made it (its steps alone: no column or trigger of a later one), an event moved
    # twice by its triggers; then brought up to date: the counts kept, a kind changed and back counted, and the
    # schema exactly a new database's.
    import dataclasses

    from pipeline.state import Revision, schema
    from pipeline.state.store import item_row

    path = tmp_path / "pipeline.sqlite"
    event = make_item(Kind.EVENT, "Seminar 3", published=APRIL)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(schema.CORE)
        for step in schema.STEPS[:version]:
            step(db)
        db.execute(f"PRAGMA user_version = {version}")
        db.executescript(schema.TABLES)
        ident, kind, source, published, data, themes = item_row(event)
        db.execute("INSERT INTO items (id, kind, source, published, first_seen, last_seen, fingerprint, data, themes) "
                   "VALUES (?, ?, ?, ?, ?, ?, 'fp', ?, ?)",
                   (ident, kind, source, published, APRIL.isoformat(), APRIL.isoformat(), data, themes))
        for day, venue in ((2, "Leeds"), (3, "York")):
            db.execute("UPDATE items SET data = json_set(data, '$.event.venue', ?), last_seen = ? WHERE id = ?",
                       (venue, datetime(2016, 4, day, tzinfo=UTC).isoformat(), ident))
    finally:
        db.close()

    Store(tmp_path / "fresh.sqlite").close()
    store = Store(path)
    try:
        assert store.revisions([event.id]) == {event.id: Revision(2, datetime(2016, 4, 3, tzinfo=UTC))}
        moved = dataclasses.replace(event.event, venue="Hull")
        store.save_items([(dataclasses.replace(event, kind=Kind.NEWS, event=moved), "fp")],
                         datetime(2016, 4, 4, tzinfo=UTC))
        store.save_items([(dataclasses.replace(event, event=moved), "fp")], datetime(2016, 4, 5, tzinfo=UTC))
        assert store.revisions([event.id]) == {event.id: Revision(3, datetime(2016, 4, 5, tzinfo=UTC))}
    finally:
        store.close()
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite")
