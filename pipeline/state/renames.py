"""Sources renamed in pipeline.toml (`renamed_from`, pipeline/renaming.py): what is stored under a source's old name
moved to its new one, in one transaction, and the name each source's item ids are made under.

Every table that keeps a source's name moves with it: `items` (its `source` column and the item's own copy in
`data`), `source_state` (a feed's ETag and Last-Modified), the runs' results (`run_results`, for `pipeline status` and
the failures in a row that alerts count), the records its latest run skipped (`skipped_records`) and its open
alerts. Item ids stay as they are: from then on the source makes
them under the name it was first stored under (`source_renames.ids`), so an item's page address, its feed guid, the
issues it was in and its withdrawal all stay its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.state.schema import COUNT_REVISION
from pipeline.state.store import Store

# What a source's name is stored with, besides its items: a name with any of these "has something stored"
_STORED = ("SELECT 1 FROM items WHERE source = :name UNION ALL SELECT 1 FROM source_state WHERE source = :name "
           "UNION ALL SELECT 1 FROM run_results WHERE stage = 'source' AND name = :name LIMIT 1")


# Items `new` stored itself (run under its new name before `renamed_from` was added): those since `old` last ran, and
# any of the kind, title and date of an item of `old` (`old` named back and run since): each a copy of an item `old`
# has under another id. What a source of that name stored before, one taken out, is its own.
_COPIES = ("SELECT id FROM items WHERE source = :new AND id NOT IN (SELECT item FROM withdrawn) AND (first_seen > "
           "COALESCE((SELECT MAX(COALESCE(r.finished, r.started)) FROM run_results x JOIN runs r ON r.id = x.run "
           "WHERE x.stage = 'source' AND x.name = :old), '') OR (kind, json_extract(data, '$.title'), published) IN "
           "(SELECT kind, json_extract(data, '$.title'), published FROM items WHERE source = :old))")


@dataclass(frozen=True)
class Moved:
    """What `rename_source` moved: how many items, and, when the new name had items of its own (it ran under it
    before `renamed_from` was added), how many of those were withdrawn as copies made under the wrong ids."""

    items: int
    withdrawn: int = 0


def renamed_to(store: Store) -> dict[str, str]:
    """{old name: the name it was renamed to} for every rename done."""
    return dict(_recorded(store, "SELECT old, new FROM source_renames"))


def every_rename(store: Store) -> dict[str, set[str]]:
    """{old name: each name it was renamed to}, a name renamed away again once given to a new source included."""
    found: dict[str, set[str]] = {}
    for old, new in _recorded(store, "SELECT old, new FROM source_renames"):
        found.setdefault(old.partition("\0")[0], set()).add(new)
    return found


def id_namespaces(store: Store) -> dict[str, str]:
    """{name: the name its item ids are made under} for every source renamed to a name (the latest rename to it) and
    not renamed away from it since: a source given that name again is a new one, making its ids under its own."""
    return dict(_recorded(store, "SELECT new, ids FROM source_renames WHERE new NOT IN (SELECT old FROM "
                                 "source_renames) ORDER BY at, rowid"))


def _recorded(store: Store, select: str) -> list[tuple]:
    """The rows of `select`; none from a database opened read-only that has no record yet (`pipeline check`)."""
    if not store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'source_renames'"):
        return []
    return store._rows(select)


def _renamed_away(db, name: str) -> bool:
    """Whether a source was renamed away from `name`: one of that name now is a new one, making ids under it."""
    return db.execute("SELECT 1 FROM source_renames WHERE old = ?", (name,)).fetchone() is not None


def has_stored(store: Store, name: str) -> bool:
    """Whether anything is stored under source name `name`: items, a feed's state, or a run's result."""
    return bool(store._rows(_STORED, {"name": name}))


def rename_source(store: Store, old: str, new: str, at: datetime | None = None) -> Moved:
    """Move everything stored under source `old` to `new`, item ids kept, in one transaction, and record it. Items
    `new` stored itself since `old` last ran, or with the kind, title and date of one of `old`'s (it ran under its new
    name first: each item twice) are withdrawn (not those of a source that had the name before), their pages leading
    on to the items they copy (the same kind, title and date), and its feed state is dropped so the next fetch reads
    the feed whole, bringing back under the kept ids anything only the copies had. Done again, it finds nothing to
    move."""
    at_text = (at or datetime.now(UTC)).astimezone(UTC).isoformat()
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM source_renames WHERE old = ? AND new = ?", (old, new)).fetchone() and not \
                db.execute(_STORED, {"name": old}).fetchone():
            return Moved(0)  # done already: what `new` has is its own
        ids = None if _renamed_away(db, old) else db.execute(
            "SELECT ids FROM source_renames WHERE new = ? ORDER BY at DESC, rowid DESC LIMIT 1", (old,)).fetchone()
        copies = [item for item, in db.execute(_COPIES, {"new": new, "old": old})]
        moved = db.execute("UPDATE items SET source = ?, data = json_set(data, '$.source', ?) WHERE source = ?",
                           (new, new, old)).rowcount
        if copies:
            db.executemany("INSERT OR IGNORE INTO withdrawn (item, at) VALUES (?, ?)",
                           [(item, at_text) for item in copies])
            for statement in COUNT_REVISION:  # an event's .ics says it is cancelled, as for any withdrawal
                db.executemany(statement, [{"at": at_text, "id": item} for item in copies])
            db.execute("UPDATE counters SET value = value + 1 WHERE name = 'item changes'")
            db.execute("DELETE FROM source_state WHERE source IN (?, ?)", (old, new))
        else:
            db.execute("UPDATE OR REPLACE source_state SET source = ? WHERE source = ?", (new, old))
        db.execute("UPDATE run_results SET name = ? WHERE stage = 'source' AND name = ?", (new, old))
        db.execute("DELETE FROM skipped_records WHERE source IN (:old, :new) AND run < (SELECT MAX(run) FROM "
                   "skipped_records WHERE source IN (:old, :new))", {"old": old, "new": new})  # the latest run's
        db.execute("UPDATE skipped_records SET source = ? WHERE source = ?", (new, old))
        for kind in ("source", "records"):
            db.execute("UPDATE OR IGNORE alerts SET key = ? WHERE key = ?", (f"{kind}:{new}", f"{kind}:{old}"))
        db.execute("DELETE FROM source_renames WHERE old = ?", (new,))  # renamed back: a name in use again
        # `old` renamed away before, then given to a new source: the earlier record kept under a key no source has
        # (a NUL and its time), for the ids of the source it was renamed to
        db.execute("UPDATE source_renames SET old = old || char(0) || at WHERE old = ? AND new != ?", (old, new))
        db.execute("INSERT OR REPLACE INTO source_renames (old, new, ids, at) VALUES (?, ?, ?, ?)",
                   (old, new, ids[0] if ids else old, at_text))
    return Moved(moved, len(copies))


def never_fetched(store: Store, names: list[str]) -> set[str]:
    """Those of `names` no run has fetched an item from yet (by the run history's index, not the items)."""
    ran = {name for name, in store._rows("SELECT DISTINCT name FROM run_results WHERE stage = 'source' AND name IN "
                                         "(SELECT value FROM json_each(?)) AND ok AND count > 0", (json.dumps(names),))}
    return set(names) - ran


def others_stored(store: Store, configured: list[str]) -> bool:
    """Whether any item not withdrawn is stored under a source no longer in `configured` (what a source fetched for
    the first time could be a renamed copy of)."""
    return bool(store._rows("SELECT 1 FROM items WHERE source NOT IN (SELECT value FROM json_each(?)) AND id NOT IN "
                            "(SELECT item FROM withdrawn) LIMIT 1", (json.dumps(configured),)))


def look_alikes(store: Store, configured: list[str], items: dict[tuple[str, str, str], set[str]]
                ) -> dict[tuple, list[str]]:
    """{(link, title, date (ISO, UTC)) of `items` (each with the ids of the items fetched so): the sources no longer in
    `configured` with a stored item so, under another id}, for those with any: one pass over what such sources
    stored."""
    found: dict[tuple, list[str]] = {}
    for item, source, url, title, published in store._rows(
            "SELECT id, source, json_extract(data, '$.url'), json_extract(data, '$.title'), published FROM items "
            "WHERE source NOT IN (SELECT value FROM json_each(?)) AND id NOT IN (SELECT item FROM withdrawn)",
            (json.dumps(configured),)):
        key = (url or "", title or "", published)
        if key in items and item not in items[key]:
            found.setdefault(key, []).append(source)
    return found
