"""Review h156: the changes of h150 (unfit items skipped alone, one rule for what is current, a failing transform's
changes undone) and the feed guids a post under a new id takes over."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.models import Item, Kind
from pipeline.state import Store
from plugins.sinks.rss.guids import Guids

AT = datetime(2016, 2, 1, tzinfo=UTC)
SHARED = "https://example.org/careers"  # every job links to the one careers page, as many lists do


def _job(key: str, title: str) -> Item:
    return Item(id=f"jobs:{key}", kind=Kind.NEWS, source="jobs", title=title,
                published=datetime(2016, 1, 5, tzinfo=UTC), url=SHARED)


def _guids(store: Store, items: list[Item]) -> dict[str, str]:
    guids = Guids.load(store)
    given = {item.id: guids.of(item.id, item.url) for item in items}
    guids.save(store)
    return given


def test_an_old_id_back_beside_the_new_one_that_took_its_guid_gets_a_guid_of_its_own(tmp_path):
    """Before: a withdrawn item's guid went to its new id; when the old id was listed again beside the new one (the
    entry copied, not moved), it was given its id as guid, which the new one now had: both items were in every feed
    under one guid (a reader shows one of them), and the old one's guid was never stored (the table's guid is
    unique; INSERT OR IGNORE dropped it without a word), so every run gave it the same clash."""
    store = Store(tmp_path / "s.sqlite")
    try:
        first, old = _job("first", "Organiser"), _job("old", "Peer worker")
        store.save_items([(first, "a"), (old, "b")], AT)
        before = _guids(store, [first, old])
        assert before[old.id] == old.id  # its link was taken by the first: its id is its guid
        store.withdraw_missing("jobs", [first.id], AT)
        new = _job("new", "Peer worker")  # re-keyed: a new id, the same title and date
        store.save_items([(new, "b")], AT)
        assert _guids(store, [first, new])[new.id] == old.id  # taken over: no reader shows it again
        store.withdraw_missing("jobs", [first.id, new.id, old.id], AT)  # the old one listed again, the new one stays
        now = _guids(store, [first, new, old])
        assert len(set(now.values())) == 3, now
        assert _guids(store, [first, new, old]) == now  # kept, as every guid is
    finally:
        store.close()
