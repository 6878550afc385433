"""Each item's guid in the RSS feeds (`feed_guids`; plugins/sinks/rss/guids.py says how one is chosen).

A guid is kept from the first feed the item was in, and follows the item when its id changes while the item stays
the same (a post whose slug or file name changed: `pipeline/state/successors.py`).
"""

from __future__ import annotations

from pipeline.state.store import Store


def kept(store: Store) -> dict[str, str]:
    """item id -> the guid it was given."""
    return dict(store._rows("SELECT item, guid FROM feed_guids"))


def record(store: Store, given: dict[str, str], handed: dict[str, str]) -> None:
    """Keep the guids given (item id -> guid) and those handed on (new item id -> the withdrawn id that had the guid),
    in one transaction."""
    if given or handed:
        with store.transaction() as db:
            db.executemany("UPDATE feed_guids SET item = ? WHERE item = ?", handed.items())
            db.executemany("INSERT OR IGNORE INTO feed_guids (item, guid) VALUES (?, ?)", given.items())
