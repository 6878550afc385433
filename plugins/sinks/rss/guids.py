"""Each item's guid in the feeds: given once, the first time the item is in a feed, and kept.

A new item's guid is its own URL when no other item has that guid (a permalink, as readers like),
else its id. Once given it is stored (`feed_guids` in the state database) and never worked out
again, so it stays the same in every feed and every run: when a newer item with the same link
arrives, when the item's link changes (an event's booking link, a partner moving to https), or when
the item that had the link leaves the feed. A feed reader shows an item again as new whenever its
guid changes.
"""

from __future__ import annotations

from pipeline.state.store import Store


class Guids:
    """The guids given so far (`load`), and those this run gives (`given`, for `save`)."""

    def __init__(self, kept: dict[str, str] | None = None):
        self.kept = dict(kept or {})  # item id -> guid
        self.taken = set(self.kept.values())
        self.given: dict[str, str] = {}

    @classmethod
    def load(cls, store: Store) -> Guids:
        return cls(dict(store._rows("SELECT item, guid FROM feed_guids")))

    def of(self, item_id: str, own_url: str) -> str:
        """The item's guid: the one it was given, else its own URL when no other item has that, else its id."""
        guid = self.kept.get(item_id)
        if guid is None:
            guid = own_url if own_url and own_url not in self.taken else item_id
            self.kept[item_id] = self.given[item_id] = guid
            self.taken.add(guid)
        return guid

    def save(self, store: Store) -> None:
        """Keep the guids this run gave (in one transaction)."""
        if self.given:
            with store.transaction() as db:
                db.executemany("INSERT OR IGNORE INTO feed_guids (item, guid) VALUES (?, ?)", self.given.items())
            self.given = {}
