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


def test_items_saved_before_the_themes_column_keep_their_themes(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    item = make_item(Kind.NEWS, "Peer support news", themes=["peer support", "recovery"],
                     published=datetime(2016, 1, 20, tzinfo=UTC))
    with sqlite3.connect(path) as db:
        db.executescript(ITEMS_BEFORE_THEMES_COLUMN)
        db.execute("INSERT INTO items VALUES (?, 'news', 'test', ?, ?, ?, 'fp', ?)",
                   (item.id, item.published.isoformat(), "2016-01-20", "2016-01-20", json.dumps(item.to_dict())))
        db.execute("PRAGMA user_version = 2")
    db.close()

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
