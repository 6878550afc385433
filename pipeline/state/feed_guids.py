"""Each item's guid in the RSS feeds (`feed_guids`; plugins/sinks/rss/guids.py says how one is chosen).

A guid is kept from the first feed the item was in, and follows the item when its id changes while the item stays
the same: a post whose slug or file name changed is a new id of the same source, kind, title and date, and the old
id is withdrawn (the rule the site uses to lead the old page on to the new one, plugins/sinks/archive/items.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.state.store import Store

# What makes an item under a new id the one withdrawn: (source, kind, published, title).
Identity = tuple[str, str, str, str]
_IDENTITY = "source, kind, published, json_extract(data, '$.title')"


def kept(store: Store) -> dict[str, str]:
    """item id -> the guid it was given."""
    return dict(store._rows("SELECT item, guid FROM feed_guids"))


def withdrawn_with_guids(store: Store) -> dict[Identity, str]:
    """identity -> the id of the withdrawn item that has it and a guid (of two alike, neither: they cannot be told
    apart)."""
    found: dict[Identity, str | None] = {}
    for source, kind, published, title, item in store._rows(
            f"SELECT {_IDENTITY}, i.id FROM items i JOIN withdrawn w ON w.item = i.id "
            f"JOIN feed_guids g ON g.item = i.id"):
        key = (source, kind, published, title)
        found[key] = None if key in found else item
    return {key: item for key, item in found.items() if item is not None}


def identities(store: Store, ids: Iterable[str]) -> dict[str, Identity]:
    """item id -> its identity, for those of `ids` that are stored."""
    wanted = list(ids)
    found: dict[str, Identity] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for item, *identity in store._rows(f"SELECT id, {_IDENTITY} FROM items WHERE id IN "
                                           f"({','.join('?' * len(chunk))})", tuple(chunk)):
            found[item] = tuple(identity)
    return found


def record(store: Store, given: dict[str, str], handed: dict[str, str]) -> None:
    """Keep the guids given (item id -> guid) and those handed on (new item id -> the withdrawn id that had the guid),
    in one transaction."""
    if given or handed:
        with store.transaction() as db:
            db.executemany("UPDATE feed_guids SET item = ? WHERE item = ?", handed.items())
            db.executemany("INSERT OR IGNORE INTO feed_guids (item, guid) VALUES (?, ?)", given.items())
