"""What the site was last made from: the `archive` sink's manifest, so a refresh re-renders and
rewrites only what changed.

Five tables (schema.py, `SITE`), each a cache the sink can always rebuild from the items and
editions; losing them costs one full build, never a wrong page:

- `site_items`: what the site's lists show of each item (title, page, date, themes, summary…),
  made once per item fingerprint, so a refresh need not read every item's body;
- `site_editions`: each issue's key (a hash of the issue and its items' fingerprints), the ids it
  shows in order and what was merged away into which job or event;
- `site_pages`: every file the sink wrote, with the key it was made from and a hash of its bytes;
- `site_stats`: each of those files' size, times and inode as last seen, so a file deleted or edited by hand
  is found by `os.stat` without reading every file;
- `site_built`: the last build as a whole, a digest of what it was made from
  (plugins/sinks/archive/unchanged.py), so a refresh with nothing new need not plan the site.

Each function that writes is one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.state.store import ISSUE_ITEMS, Store


@dataclass(frozen=True)
class EditionSeen:
    key: str
    shown: list[str]  # ids, in the order the issue shows them
    merged: dict[str, str]  # merged-away id -> the id of the job or event that shows it
    prints: dict[str, dict[str, str]] | None = None  # {"records": {id: fingerprint}, "announcements": {...}}


def items_and_facts(store: Store, until: datetime) -> list[tuple[str, str, str | None, str | None]]:
    """(id, fingerprint, stamp, facts as JSON text) of every item published before `until` or in an issue
    (`ISSUE_ITEMS`), oldest first; stamp and facts are None for an item the site has not read yet."""
    return store._rows("SELECT i.id, i.fingerprint, s.stamp, s.facts FROM items i "
                       f"LEFT JOIN site_items s ON s.id = i.id WHERE (i.published < ? OR i.id IN ({ISSUE_ITEMS})) "
                       "AND i.id NOT IN (SELECT item FROM withdrawn) ORDER BY i.published, i.id",
                       (until.astimezone(UTC).isoformat(),))


def cache_facts(store: Store, rows: Iterable[tuple[str, str, str]], until: datetime, matched: int) -> None:
    """Store (id, stamp, facts JSON) rows; and when the cache holds more rows than the `matched` ones
    `items_and_facts` found, forget those of items no longer stored (or published from `until` on, in no issue)."""
    rows = list(rows)
    stale = store._rows("SELECT COUNT(*) FROM site_items")[0][0] > matched
    if not rows and not stale:
        return
    with store.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO site_items (id, stamp, facts) VALUES (?, ?, ?)", rows)
        if stale:
            db.execute(f"DELETE FROM site_items WHERE id NOT IN (SELECT id FROM items WHERE published < ? "
                       f"OR id IN ({ISSUE_ITEMS}))", (until.astimezone(UTC).isoformat(),))


def editions_seen(store: Store, sink: str) -> dict[int, EditionSeen]:
    rows = store._rows("SELECT number, key, shown, merged FROM site_editions WHERE sink = ?", (sink,))
    return {number: EditionSeen(key, json.loads(shown), json.loads(merged)) for number, key, shown, merged in rows}


def edition_prints(store: Store, sink: str, number: int) -> dict[str, dict[str, str]]:
    """The fingerprints of an issue's jobs and events ("records") and of its other items, as last read."""
    rows = store._rows("SELECT prints FROM site_editions WHERE sink = ? AND number = ?", (sink, number))
    return json.loads(rows[0][0]) if rows else {"records": {}, "announcements": {}}


def record_editions(store: Store, sink: str, seen: dict[int, EditionSeen], drop: Iterable[int] = ()) -> None:
    """Remember how each issue in `seen` was read, and forget the issues in `drop`."""
    drop = [(sink, number) for number in drop]
    if not seen and not drop:
        return
    with store.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO site_editions (sink, number, key, shown, merged, prints) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [(sink, number, e.key, json.dumps(e.shown), json.dumps(e.merged), json.dumps(e.prints or {}))
                        for number, e in seen.items()])
        db.executemany("DELETE FROM site_editions WHERE sink = ? AND number = ?", drop)


def withdrawn_facts(store: Store) -> list[tuple[str, str]]:
    """(id, facts as JSON text) of every withdrawn item the site has shown (`store.withdraw_missing`)."""
    return store._rows("SELECT s.id, s.facts FROM site_items s JOIN withdrawn w ON w.item = s.id ORDER BY s.id")


def record_moved(store: Store, moved: dict[str, str]) -> None:
    """Keep each address (path -> item id) an item's page left; an address taken again names its newest item."""
    if moved:
        with store.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO site_moved (path, item) VALUES (?, ?)", moved.items())


def moved_pages(store: Store) -> dict[str, str]:
    """path -> item id: every address an item's page left (`record_moved`)."""
    return dict(store._rows("SELECT path, item FROM site_moved"))


def theme_moves(store: Store) -> list[tuple[str, str, int]]:
    """(theme lost, theme gained at once or '', how many items did so): every change of an item's themes."""
    return store._rows("SELECT old, new, items FROM theme_moves")


def pages_written(store: Store, sink: str) -> dict[str, tuple[str, str]]:
    """path -> (key, digest) of every file `sink` wrote and has not removed."""
    return {path: (key, digest) for path, key, digest in
            store._rows("SELECT path, key, digest FROM site_pages WHERE sink = ?", (sink,))}


def record_pages(store: Store, sink: str, written: Iterable[tuple[str, str, str]], removed: Iterable[str] = ()) -> None:
    """Record (path, key, digest) of the files just written (or found already right), and forget `removed`."""
    _record(store, "site_pages (sink, path, key, digest)", sink, written, removed)


def written_files(store: Store, sink: str) -> list[tuple[str, str, str, str]]:
    """(path, key, digest, stat) of every file `sink` wrote and has not removed, by path; stat is '' when unknown."""
    return store._rows("SELECT p.path, p.key, p.digest, coalesce(s.stat, '') FROM site_pages p LEFT JOIN site_stats s "
                       "ON s.sink = p.sink AND s.path = p.path WHERE p.sink = ? ORDER BY p.path", (sink,))


def file_stats(store: Store, sink: str) -> dict[str, str]:
    """path -> what `record_stats` kept of the file (`writer.stat_text`)."""
    return dict(store._rows("SELECT path, stat FROM site_stats WHERE sink = ?", (sink,)))


def record_stats(store: Store, sink: str, stats: Iterable[tuple[str, str]], removed: Iterable[str] = ()) -> None:
    """Keep (path, stat) of files just written or read, and forget `removed`."""
    _record(store, "site_stats (sink, path, stat)", sink, stats, removed)


def _record(store: Store, table: str, sink: str, rows: Iterable[tuple[str, ...]], removed: Iterable[str]) -> None:
    """Insert or replace `rows` of `sink` in `table` ("name (sink, path, ...)"), and delete its `removed` paths."""
    rows, removed = [(sink, *row) for row in rows], [(sink, path) for path in removed]
    if not rows and not removed:
        return
    name, columns = table.split(" ", 1)
    marks = ", ".join("?" * (columns.count(",") + 1))
    with store.transaction() as db:
        db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", rows)
        db.executemany(f"DELETE FROM {name} WHERE sink = ? AND path = ?", removed)


@dataclass(frozen=True)
class Build:
    inputs: str
    settled: bool
    timed: list  # [kind, closing, published, finishes] of each job and event
    states: list[str]  # their states at the build's moment
    said: str


def last_build(store: Store, sink: str) -> Build | None:
    rows = store._rows("SELECT inputs, settled, timed, states, said FROM site_built WHERE sink = ?", (sink,))
    if not rows:
        return None
    inputs, settled, timed, states, said = rows[0]
    return Build(inputs, bool(settled), json.loads(timed), json.loads(states), said)


def record_build(store: Store, sink: str, build: Build | None) -> None:
    """Keep `build` as the sink's last (None: forget it, as a build begins)."""
    with store.transaction() as db:
        if build is None:
            db.execute("DELETE FROM site_built WHERE sink = ?", (sink,))
        else:
            db.execute("INSERT OR REPLACE INTO site_built (sink, inputs, settled, timed, states, said) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (sink, build.inputs, int(build.settled), json.dumps(build.timed),
                                                     json.dumps(build.states), build.said))
