"""A state database made by an earlier version is brought up to date when it is opened, its rows kept."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

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
        db.execute("INSERT INTO items VALUES (?, 'news', 'test', ?, ?, ?, 'fp', ?)",
                   (item.id, item.published.isoformat(), seen, seen, json.dumps(item.to_dict())))
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
