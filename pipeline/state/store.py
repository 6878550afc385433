"""The SQLite connection, and the items, editions and per-source state kept in it.

Every write is a transaction of its own, so a run that fails part-way keeps everything
saved before the failure and never leaves half a write behind. Sources run in threads and
share one connection, so every statement goes through one lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

from pipeline import jsontext
from pipeline.errors import StateError
from pipeline.models import Item
from pipeline.state import soundness
from pipeline.state.schema import COUNT_REVISION, immediate, migrate, newer, up_to_date
from pipeline.state.suppression_log import SuppressionLog


@dataclass(frozen=True)
class EditionRecord:
    number: int
    as_of: date
    period_start: datetime
    period_end: datetime
    title: str
    item_ids: list[str]
    created_at: datetime  # by the clock, never by --as-of


@dataclass(frozen=True)
class Revision:
    """How many significant revisions (a new time or place) an event has had since it was added, and when
    what its calendar entry shows last changed (when it was added, if never): kept by triggers (schema.py,
    `REVISION_TRIGGERS`)."""

    number: int
    updated: datetime  # UTC


class Damaged(Exception):
    """The database fails `PRAGMA quick_check`: `problems` says how. Nothing was written to it."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


CLOSE_WAIT = 10.0  # seconds `close` waits for another thread to finish with the connection
BUSY_WAIT = 10_000  # milliseconds a store waits for another program's lock (SQLite's busy_timeout)
READ_WAIT = 10.0  # seconds a read-only store waits for another program's lock, as the store's busy_timeout
# "database disk image is malformed" (SQLITE_CORRUPT_INDEX and the other extended codes too), "file is not a database"
DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error says the database file is damaged."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF in DAMAGE_CODES


def damaged(path: Path, problem: str, outcome: str = "nothing was fetched or sent", sent: bool = False) -> StateError:
    """The one-line error for a damaged state database: what was found, `outcome`, and how to get a sound one
    back. After sinks that may have sent (`sent`), salvaging comes first: a backup from before would not know
    what they sent, and the next run would send it again."""
    salvage = f"salvage it with `sqlite3 {path.name} .recover` into a new file and put that in its place"
    backup = "put back the latest copy made by `pipeline backup` (README, \"Operations\")"
    way = (f"{salvage}: it keeps the record of what was sent, which a copy from before this run lacks (putting "
           f"one back sends the issue again)" if sent else f"{backup}, or {salvage}")
    return StateError(f"{path}: the state database is damaged ({' '.join(problem.split())[:200]}); {outcome}. "
                      f"Stop `pipeline schedule`, then {way}")


# Read from the index `items_recent` alone (schema.py), never past each item's body to its themes column.
LISTED = "id NOT IN (SELECT item FROM withdrawn)"  # an item not taken out by the organiser (`withdraw_missing`)
# An item of an issue made: sent, so on the site and in the feeds whatever its date says now (one dated after the
# site's horizon since, a post's date put right, keeps its page, which the email links, and its place).
ISSUE_ITEMS = "SELECT value FROM editions, json_each(editions.item_ids)"
# A job whose closing date, or an event whose start or end, is on or after the day given twice (as stored: its day in
# the venue's zone); one with no date is not
_DATED_FROM = ("((kind = 'job' AND json_extract(data, '$.job.closing_date') >= ?) OR (kind = 'event' AND "
               "substr(max(coalesce(json_extract(data, '$.event.end'), ''), "
               "coalesce(json_extract(data, '$.event.start'), '')), 1, 10) >= ?))")
RECENT_THEMES = (f"SELECT id, published, themes FROM items WHERE (published < ? OR id IN ({ISSUE_ITEMS})) AND {LISTED} "
                 f"ORDER BY published DESC, id")


def open_read_only(path: Path) -> sqlite3.Connection:
    """`path` opened read only (`mode=ro`), for `Store(read_only=True)` and `backup`. SQLite reading a WAL database
    so must open or create the -shm beside it. In a folder where it cannot (mounted read-only: a monitoring unit's
    ReadOnlyPaths, a snapshot), no program has it open (one would have made the -shm), so it is read without one:
    with no -wal beside it (nor was one killed leaving commits in it), the file holds everything, and is read as it
    is (`immutable=1`: no lock and no -shm, which SQLite documents for such a database); with a -wal and no -shm (a
    snapshot or copy that left the -shm out), the -wal's commits too, the index of its frames kept in this process's
    memory (`locking_mode=EXCLUSIVE` before the first read, which SQLite documents as WAL without shared memory) and
    no lock taken (`vfs=unix-none`: this read-only connection could take none), as immutable takes none."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=READ_WAIT)
    try:
        db.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.OperationalError as exc:
        wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
        db.close()
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_CANTOPEN or not path.is_file() or os.path.lexists(shm) \
                or os.access(path.parent, os.W_OK) and not _read_only_mount(path.parent):
            raise
        if not os.path.lexists(wal):
            return sqlite3.connect(f"{uri}&immutable=1", uri=True, check_same_thread=False, isolation_level=None,
                                   timeout=READ_WAIT)
        db = sqlite3.connect(f"{uri}&vfs=unix-none", uri=True, check_same_thread=False, isolation_level=None,
                             timeout=READ_WAIT)
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        except BaseException:
            db.close()
            raise
    return db


def _read_only_mount(folder: Path) -> bool:
    """Whether `folder` is on a file system mounted read-only (root may write anywhere else)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class Store:
    def __init__(self, path: Path, *, check: bool = False, read_only: bool = False):
        """Open (and bring up to date) the database at `path`; with `check`, raise `Damaged` first, before
        anything is written to it, when SQLite's quick check finds it damaged. The check is left out when
        the file is exactly as a sound, checked store closed it less than a day ago (state/soundness.py).
        With `read_only` (`pipeline status`), the database must exist and nothing is written to it: it is
        neither switched to WAL nor migrated, and one from an older version is read from an up-to-date copy
        in memory (`schema.up_to_date`), so no write lock is ever waited for. SQLite opens it with `mode=ro`,
        so a -wal left by a killed run is read (its commits are seen) but never checkpointed into the file nor
        removed; as any reader of a database in WAL mode, it may leave an empty -wal and the -shm beside one
        no other program had open (with the database's mode; as root, SQLite gives them its owner too), which the next
        run uses."""
        if not read_only:  # every subscriber's address: its owner's alone, when made here (README: install -d -m 0700)
            if not path.parent.is_dir():
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = path
        self._remembered: dict = {}  # `remembered`: key -> (the item changes count it was made at, value)
        self._lock = threading.RLock()
        self._holding = threading.Lock()  # for the four below (not `_lock`, which a long statement may keep)
        self._holds = 0  # `hold`s not yet released
        self._close_when_released = False
        self._closing = False  # decided: no more holds
        self._on_close: list[Callable[[], None]] = []
        self._checked_at: datetime | None = None  # a checked store's last full check; None once damage is seen
        self._opened: tuple = ()  # when it opened, and what `_still_its_own` compares at close
        self.damage_seen: sqlite3.DatabaseError | None = None  # SQLite said the file is damaged, maybe to a plugin
        # Where an address that leaves is noted (`state/suppression_log.py`), set by whoever opens it for a project
        self.suppressions: SuppressionLog | None = None
        self._scrub = False  # `scrub_after`: the write-ahead log may still hold what a transaction erased
        opened_at = datetime.now(UTC)
        if read_only:  # mode=ro: never creates the file, and never checkpoints a -wal a killed run left beside it
            self.db = open_read_only(path)
            try:
                self.db = up_to_date(self.db)
                self.db.execute("PRAGMA query_only=ON")
            except BaseException:
                self.db.close()
                raise
            return
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if check:
            checked_at = soundness.last_check(path)
            if checked_at is None:
                # After damage met in use, the slower check that also compares every index with its table.
                if found := self.damage(thorough=soundness.distrusted(path)):
                    self.db.close()
                    raise Damaged(found)
                checked_at = datetime.now(UTC)
            self._checked_at = checked_at
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed; only a power cut may lose the last one.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # What is deleted is overwritten, not left in free pages, whatever the build's default: an expired request's
        # address, a leaver's name and themes, an erasure (`subscribers.forget`)
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute(f"PRAGMA busy_timeout={BUSY_WAIT}")  # `serve` and a run may write at the same moment
        migrate(self.db)
        if check:
            self._opened = (opened_at, self._identity())

    def _identity(self) -> tuple:
        """The file this connection has open, and how many commits other connections made to it."""
        st = self.path.stat()
        return st.st_dev, st.st_ino, self.db.execute("PRAGMA data_version").fetchone()[0]

    def _still_its_own(self) -> bool:
        """Whether, since this checked store opened, the file is the same and only this connection wrote to it."""
        try:
            return self._checked_at is not None and self._identity() == self._opened[1]
        except (OSError, sqlite3.Error):
            return False

    def close(self) -> None:
        """Close the connection once no thread is using it (an abandoned source's thread may still be: closing
        under it could crash the process). One stuck for `CLOSE_WAIT` seconds keeps it open, and the
        process's exit ends it. While a `hold` is not released, the closing is left to its release."""
        with self._holding:
            if self._closing:
                return
            if self._holds:
                self._close_when_released = True
                return
            self._closing = True
        self._close_when_free()

    def hold(self) -> Callable[[], None]:
        """Keep the connection open, past `close`, until the function returned is called (then `close`
        closes it): for work a run leaves behind that must still write, such as a stopped send's batches.
        Once the store is being closed, there is none to take: `sqlite3.ProgrammingError`, before that work
        has done anything."""
        with self._holding:
            if self._closing:
                raise sqlite3.ProgrammingError(f"{self.path}: the state database is closed")
            self._holds += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._holding:
                if released:
                    return
                released = True
                self._holds -= 1
                closing = not self._holds and self._close_when_released
                if closing:
                    self._closing = True
            if closing:
                self._close_when_free()

        return release

    def close_with(self, done: Callable[[], None]) -> None:
        """Call `done` once the store is closed (after its last `hold`): a run's lock is let go so."""
        self._on_close.append(done)

    def _close_when_free(self) -> None:
        try:
            if self._lock.acquire(timeout=CLOSE_WAIT):
                try:
                    sound = self._still_its_own()
                    self.db.close()
                finally:
                    self._lock.release()
                if sound:
                    soundness.remember(self.path, self._checked_at, self._opened[0])
        finally:
            calls, self._on_close = self._on_close, []
            for done in calls:
                done()

    def damage(self, limit: int = 3, thorough: bool = False) -> list[str]:
        """What SQLite's `PRAGMA quick_check` (`integrity_check` when `thorough`) finds wrong (at most `limit`
        lines); [] when the file is sound."""
        check = "integrity_check" if thorough else "quick_check"
        with self._lock:
            try:
                found = [row[0] for row in self.db.execute(f"PRAGMA {check}({int(limit)})")]
            except sqlite3.DatabaseError as exc:  # a page too broken to be read through at all
                if not is_damage(exc):
                    raise
                found = [str(exc)]
        return [] if found == ["ok"] else found

    def distrust(self) -> None:
        """Damage was seen: the next run checks the whole database again (checked store or not)."""
        self._checked_at = None
        soundness.distrust(self.path)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction. With `durable`, it is on the disk once committed, a power cut included (SQLite's
        synchronous=FULL for it; every other commit is NORMAL, which a power cut may take back, never corrupt)."""
        with self._lock, self._watching():
            if durable:
                self.db.execute("PRAGMA synchronous=FULL")
            try:
                with immediate(self.db) as db:
                    # Under the write lock, so no upgrade comes in between: a newer version's, since this opened it,
                    # leaves this process's writes to tables it no longer knows as they are (a `serve` not restarted).
                    newer(db, since_opened=True)
                    yield db
                    if self.suppressions is not None:  # on the disk before the commit (suppression_log.py says why)
                        self.suppressions.flush(db)
                if self._scrub:
                    self._empty_log()
            finally:
                if self.suppressions is not None:
                    self.suppressions.discard()
                if durable:
                    self.db.execute("PRAGMA synchronous=NORMAL")

    def scrub_after(self) -> None:
        """Called in a transaction that erases what a person gave (a leaver's name and themes, an unconfirmed
        request): once it commits, the write-ahead log (`-wal`) is emptied, which otherwise keeps the pages as they
        were before, name and all, for as long as the file is open (`serve` keeps it so; a file-level backup of the
        state folder copies it). `secure_delete` does the same for the database file itself."""
        self._scrub = True

    def _empty_log(self) -> None:
        """Checkpoint the -wal into the database and truncate it, without waiting: another program reading or writing
        now (a run) would make it wait, holding up whoever asked for the change, so then it is tried again at this
        store's next read or write (and SQLite empties it when the last connection closes)."""
        self.db.execute("PRAGMA busy_timeout=0")
        try:
            busy = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:  # another program's write lock ("database is locked"), a full disk: the change stands
            busy = 1
        finally:
            self.db.execute(f"PRAGMA busy_timeout={BUSY_WAIT}")
        self._scrub = bool(busy)

    def _rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock, self._watching():
            if self._scrub and not self.db.in_transaction:  # a -wal another program kept from being emptied
                self._empty_log()
            return self.db.execute(sql, params).fetchall()

    @contextmanager
    def _watching(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            exc.database = self.path  # for the one-line error that says what to do (pipeline/cli.py)
            if is_damage(exc):
                self.damage_seen = exc
                self.distrust()
            raise

    # -- items ---------------------------------------------------------------------------------

    def fingerprints(self, ids: Iterable[str]) -> dict[str, str]:
        return dict(self._rows_for("SELECT id, fingerprint FROM items WHERE id IN ({marks})", ids))

    def _rows_for(self, select: str, ids: Iterable[str]) -> Iterator[tuple]:
        """The rows of `select` (its `{marks}` the placeholders of `id IN (...)`) for `ids`, 500 at a time:
        SQLite limits the parameters of one statement."""
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            yield from self._rows(select.format(marks=",".join("?" * len(chunk))), chunk)

    def save_items(self, items: Iterable[tuple[Item, str]], seen_at: datetime) -> None:
        """Insert or update `(item, fingerprint)` pairs; `first_seen` is kept from the first time."""
        self.save_rows(((item_row(item), fp) for item, fp in items), seen_at)

    def save_rows(self, rows: Iterable[tuple[ItemRow, str]], seen_at: datetime) -> None:
        """`save_items` for items already made into rows (`item_row`, done in a worker process)."""
        now = _iso(seen_at)
        rows = ((ident, kind, source, published, now, now, fp, data, themes)
                for (ident, kind, source, published, data, themes), fp in rows)  # one at a time, never all at once
        with self.transaction() as db:
            db.executemany(
                """INSERT INTO items (id, kind, source, published, first_seen, last_seen, fingerprint, data, themes)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET kind=excluded.kind, source=excluded.source,
                     published=excluded.published, last_seen=excluded.last_seen,
                     fingerprint=excluded.fingerprint, data=excluded.data, themes=excluded.themes""",
                rows,
            )

    def site_horizon(self, moment: datetime, *, keep: bool = True) -> datetime:
        """The latest moment any run has made the site and the feeds for, `moment` (this run's) counted: they show
        every item published before it, so a run with an earlier --as-of (an issue made again) takes away no page
        or feed a later run published. With `keep` False (a dry run), `moment` is counted for this run only."""
        stamp = int(moment.timestamp() * 1_000_000)
        rows = self._rows("SELECT value FROM counters WHERE name = 'site horizon'")
        if keep and (not rows or rows[0][0] < stamp):  # written only when it moves: a 304 run writes nothing
            with self.transaction() as db:
                db.execute("INSERT INTO counters (name, value) VALUES ('site horizon', ?) ON CONFLICT (name) DO "
                           "UPDATE SET value = max(value, excluded.value)", (stamp,))
        # In `moment`'s zone (the project's): a job's closing day is a day there, whatever moment is the latest
        return max(moment, datetime.fromtimestamp(rows[0][0] / 1_000_000, UTC).astimezone(moment.tzinfo)) if rows \
            else moment

    def withdraw_missing(self, source: str, listed: Iterable[str], at: datetime,
                         kept: Callable[[Item], bool] = lambda item: False, *, withdraw: bool = True) -> list[str]:
        """`source` lists all of its items (`Source.complete`), `listed` now: each item of it stored before and not
        listed is withdrawn (it leaves the feeds, the site and every issue to come), unless `kept(item)` (taken out
        of the file only because it is over), and each listed one withdrawn before is back, first seen at `at` (by
        the clock), so the next issue takes it as it takes one published late. With `withdraw` False (the source
        skipped a record, which may be one of those not listed), items are only brought back. One transaction; the
        titles of those withdrawn now."""
        listed = set(listed)
        with self.transaction() as db:
            stored = db.execute("SELECT id, json_extract(data, '$.title'), id IN (SELECT item FROM withdrawn) "
                                "FROM items WHERE source = ?", (source,)).fetchall()
            gone = [(item_id, title) for item_id, title, was in stored
                    if withdraw and item_id not in listed and not was]
            if gone:  # what `kept` says the organiser only pruned (an event over, a job closed) stays as it was
                data = dict(db.execute(f"SELECT id, data FROM items WHERE id IN ({','.join('?' * len(gone))})",
                                       [item_id for item_id, _ in gone]).fetchall())
                gone = [(item_id, title) for item_id, title in gone
                        if not kept(Item.from_dict(jsontext.loads(data[item_id])))]
            back = [item_id for item_id, _, was in stored if item_id in listed and was]
            db.executemany("INSERT OR IGNORE INTO withdrawn (item, at) VALUES (?, ?)",
                           [(item_id, _iso(at)) for item_id, _ in gone])
            db.executemany("DELETE FROM withdrawn WHERE item = ?", [(item_id,) for item_id in back])
            db.executemany("UPDATE items SET first_seen = ? WHERE id = ?", [(_iso(at), item_id) for item_id in back])
            # An event's calendar entry is revised by either (its .ics says it was cancelled, then that it is on
            # again): an app keeps the copy with the higher SEQUENCE (RFC 5546 2.1.5). The items' copy follows.
            changed = [{"at": _iso(at), "id": item_id} for item_id in [*(item_id for item_id, _ in gone), *back]]
            for statement in COUNT_REVISION:
                db.executemany(statement, changed)
            if gone or back:  # the feeds and the site are made again (`items_digest`)
                db.execute("UPDATE counters SET value = value + 1 WHERE name = 'item changes'")
        return [title or item_id for item_id, title in gone]

    def ids_of(self, source: str) -> list[str]:
        """The ids of every item stored from `source`."""
        return [item_id for item_id, in self._rows("SELECT id FROM items WHERE source = ? ORDER BY id", (source,))]

    def withdrawn_at(self, item_id: str) -> datetime | None:
        """When the item was withdrawn (`withdraw_missing`), None if it is not."""
        rows = self._rows("SELECT at FROM withdrawn WHERE item = ?", (item_id,))
        return datetime.fromisoformat(rows[0][0]) if rows else None

    def touch_items(self, ids: list[str], seen_at: datetime) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE items SET last_seen = ? WHERE id = ?", [(_iso(seen_at), i) for i in ids])

    def items_published(self, start: datetime, end: datetime) -> list[tuple[Item, datetime]]:
        """(item, first seen) for items published in [start, end), oldest first."""
        rows = self._rows(
            f"SELECT data, first_seen FROM items WHERE published >= ? AND published < ? AND {LISTED} "
            "ORDER BY published, id",
            (_iso(start), _iso(end)),
        )
        return [(Item.from_dict(jsontext.loads(data)), datetime.fromisoformat(seen)) for data, seen in rows]

    def records_before(self, before: datetime, seen: datetime, day: date) -> list[tuple[Item, datetime]]:
        """(item, first seen) for the jobs and events published before `before` that were first seen after `seen`
        (put in late with the date their advert was first posted) or whose closing date, or event's start or end, is
        on or after `day` (as stored: in the venue's zone), oldest first."""
        rows = self._rows(
            f"SELECT data, first_seen FROM items WHERE kind IN ('job', 'event') AND published < ? AND {LISTED} "
            f"AND (julianday(first_seen) > julianday(?) OR {_DATED_FROM}) ORDER BY published, id",
            (_iso(before), _iso(seen), day.isoformat(), day.isoformat()),
        )
        return [(Item.from_dict(jsontext.loads(data)), datetime.fromisoformat(first)) for data, first in rows]

    def records_dated_from(self, day: date, before: datetime) -> list[Item]:
        """The jobs and events published before `before` whose closing date, or whose event's start or end, is on or
        after `day` (as stored: in the venue's zone); not those with no date."""
        rows = self._rows(
            f"SELECT data FROM items WHERE published < ? AND {LISTED} AND {_DATED_FROM} ORDER BY published, id",
            (_iso(before), day.isoformat(), day.isoformat()),
        )
        return [Item.from_dict(jsontext.loads(data)) for (data,) in rows]

    def published_dates(self, ids: list[str]) -> dict[str, datetime]:
        """The stored publication date of each id already seen."""
        return {item_id: datetime.fromisoformat(published)
                for item_id, published in self._rows_for("SELECT id, published FROM items WHERE id IN ({marks})", ids)}

    def recent_items(self, until: datetime, limit: int) -> list[Item]:
        """The newest `limit` items published before `until`, newest first."""
        rows = self._rows(
            f"SELECT data FROM items WHERE published < ? AND {LISTED} ORDER BY published DESC, id LIMIT ?",
            (_iso(until), limit),
        )
        return [Item.from_dict(jsontext.loads(data)) for (data,) in rows]

    def recent_themes(self, until: datetime) -> list[tuple[str, datetime, list[str]]]:
        """(id, published, themes) of every item published before `until` or in an issue (`ISSUE_ITEMS`), newest first:
        what a feed needs to choose its items, without reading each item's body."""
        rows = self._rows(RECENT_THEMES, (_iso(until),))
        return [(item_id, datetime.fromisoformat(published), json.loads(themes or "[]"))
                for item_id, published, themes in rows]

    def items_digest(self, until: datetime) -> str:
        """What changes whenever an item published before `until` is added, changed or removed: how many
        writes have changed items (counted by triggers, `schema.ITEM_CHANGES`), and how many items were
        published before `until` and the latest date among them (which change as time brings stored items
        in). Read from an index and a counter, not from every item."""
        (changes,), = self._rows("SELECT value FROM counters WHERE name = 'item changes'")
        (count, latest), = self._rows(f"SELECT COUNT(*), MAX(published) FROM items WHERE published < ? AND {LISTED}",
                                      (_iso(until),))
        return f"{changes} {count} {latest or ''}"

    def get_items(self, ids: list[str]) -> list[Item]:
        """Items by id, in the order given; ids no longer stored are skipped."""
        found = {item_id: Item.from_dict(jsontext.loads(data))
                 for item_id, data in self._rows_for("SELECT id, data FROM items WHERE id IN ({marks})", ids)}
        return [found[i] for i in ids if i in found]

    def find_items(self, key: str, most: int = 10) -> list[Item]:
        """The item whose id is `key`; else those whose URL is `key`, newest first; else those whose id starts
        with `key` (6 characters at least). At most `most`: more than one means `key` does not say which."""
        rows = self._rows("SELECT data FROM items WHERE id = ?", (key,))
        if not rows:
            rows = self._rows("SELECT data FROM items WHERE json_extract(data, '$.url') = ? "
                              "ORDER BY published DESC, id LIMIT ?", (key, most))
        if not rows and len(key) >= 6:  # a plain comparison: in LIKE, `_` and `%` would match any character
            rows = self._rows("SELECT data FROM items WHERE substr(id, 1, ?) = ? ORDER BY published DESC, id "
                              "LIMIT ?", (len(key), key.lower(), most))
        return [Item.from_dict(jsontext.loads(data)) for data, in rows]

    def revisions(self, ids: Iterable[str]) -> dict[str, Revision]:
        """Each stored event's `Revision`, by id (ids never stored are left out): from item_revisions, or, where a
        salvaged database lost its row there, from the copy the event's own row keeps (schema.py)."""
        ids = list(ids)
        rows = list(self._rows_for("SELECT id, revision, updated_at FROM item_revisions WHERE id IN ({marks})", ids))
        missing = set(ids).difference(item_id for item_id, _, _ in rows)
        if missing:
            rows += self._rows_for("SELECT id, revision, coalesce(revised_at, first_seen) FROM items "
                                   "WHERE kind = 'event' AND id IN ({marks})", list(missing))
        return {item_id: Revision(number, datetime.fromisoformat(updated).astimezone(UTC))
                for item_id, number, updated in rows}

    def remembered(self, key, make):
        """`make()`, made again only once an item has been added, changed or removed since (the `item changes`
        count, `items_digest`): for what is worked out from every item, and asked for more than once a run."""
        (changes,), = self._rows("SELECT value FROM counters WHERE name = 'item changes'")
        kept = self._remembered.get(key)
        if kept is None or kept[0] != changes:
            kept = self._remembered[key] = (changes, make())
        return kept[1]

    def item_pages(self) -> list[tuple[str, str, str, str | None]]:
        """(id, kind, title, own URL) of every item, oldest first (by publication, then id): which item's page
        each site path is (`site.own_pages`)."""
        return self._rows("SELECT id, kind, json_extract(data, '$.title'), json_extract(data, '$.url') FROM items "
                          f"WHERE {LISTED} ORDER BY published, id")

    def count_items(self) -> int:
        return self._rows("SELECT COUNT(*) FROM items")[0][0]

    # -- editions ------------------------------------------------------------------------------

    def edition_on(self, as_of: date) -> EditionRecord | None:
        rows = self._rows("SELECT * FROM editions WHERE as_of = ?", (as_of.isoformat(),))
        return _edition(rows[0]) if rows else None

    def last_edition_before(self, as_of: date) -> EditionRecord | None:
        rows = self._rows("SELECT * FROM editions WHERE as_of < ? ORDER BY as_of DESC LIMIT 1", (as_of.isoformat(),))
        return _edition(rows[0]) if rows else None

    def first_edition(self) -> EditionRecord | None:
        rows = self._rows("SELECT * FROM editions ORDER BY as_of LIMIT 1")
        return _edition(rows[0]) if rows else None

    def latest_edition(self) -> EditionRecord | None:
        rows = self._rows("SELECT * FROM editions ORDER BY as_of DESC LIMIT 1")
        return _edition(rows[0]) if rows else None

    def sent_before(self, as_of: date) -> tuple[set[str], set[str]]:
        """The ids, and the URLs, of every item in an edition dated before `as_of`."""
        rows = self._rows("SELECT item_ids FROM editions WHERE as_of < ?", (as_of.isoformat(),))
        ids = sorted({item_id for (listed,) in rows for item_id in json.loads(listed)})
        urls = {url for (url,) in self._rows_for("SELECT json_extract(data, '$.url') FROM items WHERE id IN ({marks})",
                                                 ids) if url}
        return set(ids), urls

    def announcements(self) -> list[tuple[str, str, str, str, str]]:
        """(id, source, published, url, title) of every news item and blog post not withdrawn: which link one page
        (`duplicates.page_key`), for `pipeline explain`."""
        return self._rows("SELECT id, source, published, coalesce(json_extract(data, '$.url'), ''), "
                          f"json_extract(data, '$.title') FROM items WHERE kind IN ('news', 'post') AND {LISTED}")

    def stored_with_editions(self) -> list[list[tuple[str, str, str, str]]]:
        """Each edition's items, (id, kind, url, source) in the order stored (those no longer stored left out): which
        copy of one page each showed (`duplicates.shown_in_issues`)."""
        editions = [json.loads(listed) for (listed,) in self._rows("SELECT item_ids FROM editions ORDER BY number")]
        rows = {item_id: (item_id, kind, url or "", source) for item_id, kind, url, source in self._rows_for(
            "SELECT id, kind, json_extract(data, '$.url'), source FROM items WHERE id IN ({marks})",
            sorted({item_id for ids in editions for item_id in ids}))}
        return [[rows[item_id] for item_id in ids if item_id in rows] for ids in editions]

    def editions(self) -> list[EditionRecord]:
        """Every edition, newest first."""
        return [_edition(row) for row in self._rows("SELECT * FROM editions ORDER BY number DESC")]

    def create_edition(self, as_of: date, period_start: datetime, period_end: datetime, title_for,
                       item_ids: list[str], created_at: datetime, *, told: Iterable[tuple[str, dict]] = (),
                       changes: Iterable[tuple[str, str, int, dict, dict]] = ()) -> EditionRecord:
        """Give the next number to a new edition; `title_for(number)` makes its title. In the same transaction, what
        it tells (`pipeline/state/told.py`): `told`, (id, facts) of each job and event it sends; `changes`, (id kept
        under, id shown, issue that told `was`, was, now) of each job and event an earlier issue sent that changed."""
        told = list(told)
        with self.transaction() as db:
            number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM editions").fetchone()[0]
            title = title_for(number)
            db.execute("INSERT INTO editions VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (number, as_of.isoformat(), _iso(period_start), _iso(period_end), title,
                        json.dumps(item_ids), _iso(created_at)))
            for position, (item, shown, since, was, now) in enumerate(changes):
                db.execute("INSERT INTO edition_changes (edition, position, item, shown, since, was, now) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", (number, position, item, shown, since,
                                                            json.dumps(was, sort_keys=True),
                                                            json.dumps(now, sort_keys=True)))
                told.append((item, now))  # told now: the next issue compares with it
            db.executemany("INSERT OR REPLACE INTO told (item, edition, facts) VALUES (?, ?, ?)",
                           [(item, number, json.dumps(facts, sort_keys=True)) for item, facts in told])
        return EditionRecord(number, as_of, period_start, period_end, title, item_ids, created_at)

    # -- per-source state (ETags and the like) -------------------------------------------------

    def source_state(self, source: str) -> dict:
        rows = self._rows("SELECT data FROM source_state WHERE source = ?", (source,))
        return json.loads(rows[0][0]) if rows else {}

    def set_source_state(self, source: str, data: dict) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO source_state VALUES (?, ?)", (source, json.dumps(data)))


ItemRow = tuple[str, str, str, str, str, str]  # id, kind, source, published (ISO, UTC), data (JSON), themes (JSON)


def item_row(item: Item) -> ItemRow:
    """What the items table keeps of an item (but its fingerprint and when it was seen)."""
    return (item.id, item.kind.value, item.source, _iso(item.published), jsontext.dumps(item.to_dict()),
            jsontext.dumps(item.themes))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _edition(row: tuple) -> EditionRecord:
    number, as_of, start, end, title, item_ids, created = row
    return EditionRecord(number, date.fromisoformat(as_of), datetime.fromisoformat(start),
                         datetime.fromisoformat(end), title, json.loads(item_ids), datetime.fromisoformat(created))
