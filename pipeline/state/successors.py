"""An item withdrawn because it is back under a new id: a post whose slug or file name changed.

A blog post's id is its slug, so a new slug is a new item, and the old one is withdrawn (`Store.withdraw_missing`).
The item that took its place is the one of the same source and kind, with the same title and date, that is not
withdrawn, and that was not first seen while the withdrawn one was listed: first seen after it was last seen (it came
when that one went), or before it was first seen (the withdrawn one was its copy: `pipeline/state/renames.py`). The
site's old pages lead on to it (plugins/sinks/archive/items.py), and it keeps the old one's guid in the feeds
(plugins/sinks/rss/guids.py). Changed together with its title or date, it is taken for another post; an item of
another source (another organisation's job of the same title and day) is never taken for it, nor is one that came
while it was listed (a series of drop-ins put in the file at once under one title: one cancelled is not the next).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pipeline.state.store import Store

# Of each withdrawn item, each other item stored with its source, kind, date and title, first seen after it was last
# seen or before it was first seen, and whether that one is withdrawn too.
_CANDIDATES = """
SELECT o.id, n.id, n.id IN (SELECT item FROM withdrawn) FROM withdrawn w
JOIN items o ON o.id = w.item
JOIN items n ON n.source = o.source AND n.kind = o.kind AND n.published = o.published AND n.id != o.id
     AND json_extract(n.data, '$.title') IS json_extract(o.data, '$.title')
     AND (julianday(n.first_seen) > julianday(o.last_seen) OR julianday(n.first_seen) < julianday(o.first_seen))
ORDER BY o.id, n.id
"""


def successors(store: Store) -> dict[str, str]:
    """withdrawn item id -> the id of the item that took its place (see the module's docstring); of two such items
    not withdrawn, neither. Several withdrawn items may lead to one (a slug changed twice)."""
    return successors_in(store._rows)


def successors_in(read: Callable[[str], Iterable[tuple]]) -> dict[str, str]:
    """`successors`, of the rows `read(sql)` gives (a schema step's connection: `lambda sql: db.execute(sql)`)."""
    found: dict[str, str | None] = {}
    for old, new, gone in read(_CANDIDATES):
        if not gone:
            found[old] = None if old in found else new
    return {old: new for old, new in found.items() if new is not None}


def taken_by_withdrawn(store: Store, ids: set[str]) -> dict[str, set[str]]:
    """Of each of `ids` (withdrawn, no item on the site in its place), the other withdrawn items whose place it had
    while it was listed (the one such item not withdrawn, or it): an event whose id was corrected, then cancelled,
    with the id it had before, whose calendar UID it kept."""
    candidates: dict[str, list[tuple[str, bool]]] = {}
    for old, new, gone in store._rows(_CANDIDATES):
        candidates.setdefault(old, []).append((new, gone))
    found: dict[str, set[str]] = {item_id: set() for item_id in ids}
    for old, options in candidates.items():
        for item_id in ids & {new for new, _ in options}:
            if [new for new, gone in options if not gone or new == item_id] == [item_id]:
                found[item_id].add(old)
    return {item_id: olds for item_id, olds in found.items() if olds}


def first_stored(store: Store, groups: dict[str, set[str]]) -> dict[str, str]:
    """Of each group of ids (an item and those it took the place of), the one stored first (in the order rows were
    added to the items table, which a withdrawal and a return leave alone): what an event under a new id keeps its
    calendar UID from (pipeline/calendars.py), its original id, even after the correction is undone."""
    every = {item_id for group in groups.values() for item_id in group}
    order = dict(store._rows_for("SELECT id, rowid FROM items WHERE id IN ({marks})", every))
    return {key: min(group, key=lambda item_id: (order.get(item_id, float("inf")), item_id))
            for key, group in groups.items()}
