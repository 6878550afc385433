"""Each item's guid in the feeds: given once, the first time the item is in a feed, and kept.

A new item's guid is its own URL when no other item has that guid (a permalink, as readers like),
else its id. Once given it is stored (`feed_guids` in the state database) and never worked out
again, so it stays the same in every feed and every run: when a newer item with the same link
arrives, when the item's link changes (an event's booking link, a partner moving to https), or when
the item that had the link leaves the feed; and when the item is given a new id, as a post whose slug
or file name changed is (`pipeline/state/feed_guids.py`). A feed reader shows an item again as new
whenever its guid changes.
"""

from __future__ import annotations

from pipeline.state import feed_guids
from pipeline.state.store import Store
from pipeline.state.successors import successors


class Guids:
    """The guids given so far (`load`), and those this run gives (`given`, for `save`)."""

    def __init__(self, kept: dict[str, str] | None = None, store: Store | None = None):
        self.kept = dict(kept or {})  # item id -> guid
        self.taken = set(self.kept.values())
        self.given: dict[str, str] = {}
        self.handed: dict[str, str] = {}  # item id -> the withdrawn id whose guid it took
        self._store = store
        self._before: dict[str, str] | None = None  # item id -> the withdrawn id it took the place of, read once

    @classmethod
    def load(cls, store: Store) -> Guids:
        return cls(feed_guids.kept(store), store)

    def of(self, item_id: str, own_url: str) -> str:
        """The item's guid: the one it was given, else the one of the withdrawn item it is under a new id, else its
        own URL when no other item has that, else its id (else its id and a number, when a new id of it took its id
        as guid and it is listed again beside that one)."""
        guid = self.kept.get(item_id)
        if guid is None:
            old = self._was(item_id)
            if old is not None:
                guid = self.kept[item_id] = self.kept.pop(old)
                self.handed[item_id] = old
                return guid
            guid = own_url if own_url and own_url not in self.taken else item_id
            tries = 1
            while guid in self.taken:  # its id is the guid a new id of it took over, and it is listed again beside
                tries += 1  # that one: both stay in the feeds, each under a guid of its own
                guid = f"{item_id}#{tries}"
            self.kept[item_id] = self.given[item_id] = guid
            self.taken.add(guid)
        return guid

    def _was(self, item_id: str) -> str | None:
        """The withdrawn item, with a guid, whose place this one took (a post whose slug changed)."""
        if self._store is None:
            return None
        if self._before is None:
            self._before = {new: old for old, new in successors(self._store).items() if old in self.kept}
        old = self._before.pop(item_id, None)
        return old if old in self.kept else None

    def save(self, store: Store) -> None:
        """Keep the guids this run gave and handed on (in one transaction)."""
        feed_guids.record(store, self.given, self.handed)
        self.given, self.handed = {}, {}
