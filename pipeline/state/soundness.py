"""When a run may trust the state database without reading all of it again.

`PRAGMA quick_check` reads every page: about 60 ms for a year of 200 partner feeds (85 MB) from the page
cache, and a second or more when the file is not in it. A run checks the database before it writes to it,
so a file damaged from outside (a bad copy or restore, a full disk, another program) is never written to.
It need not check a file that nothing has touched since a sound run closed it: SQLite writes it safely,
and a page gone bad on the disk later is found by SQLite when read (and by the full check, which is still
made at least every `CHECK_EVERY`).

So when a checked store closes, and no other connection committed to the database nor was the file
replaced while it was open (the store checks; `Store._still_its_own`), `remember` records the file's
identity, size and time of change, and the write-ahead log's (`pipeline.sqlite-checked` beside it), with
when the last full check was made. `last_check` gives that time back only while both files are exactly
as recorded and the check is less than `CHECK_EVERY` old. Anything else (a run killed part-way,
`pipeline serve` adding a subscriber, a file put back from a backup) means a full check, and so does
damage any store reports in use (`distrust` leaves a mark that a store opened before it cannot overwrite);
after that, the full check is `PRAGMA integrity_check`, which also finds an index that disagrees with its
table (the quick check does not), so a run never meets the same damage twice.
A program other than SQLite that writes into the file while a run has it open is not seen, any more
than a page gone bad.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.files import write_atomic

CHECK_EVERY = timedelta(hours=24)
log = logging.getLogger("pipeline.state")


def record_path(database: Path) -> Path:
    return database.with_name(database.name + "-checked")


def _signature(database: Path) -> list:
    """The database file's and its write-ahead log's device, inode, size and time of change. No log and an
    empty one (`pipeline backup` leaves one) are the same: None."""
    found = []
    for path in (database, database.with_name(database.name + "-wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        found.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns] if st and st.st_size else None)
    return found


def _time(text: object) -> datetime:
    """A time with its offset, as recorded; ValueError for anything else."""
    moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"not a time with an offset: {text!r}")
    return moment


def _read(database: Path) -> dict:
    record = json.loads(record_path(database).read_text(encoding="utf-8"))
    if not isinstance(record, dict):
        raise ValueError("not a record")
    return record


def last_check(database: Path, now: datetime | None = None) -> datetime | None:
    """When the database was last checked in full, if it is exactly as a sound run left it since, and that
    was less than `CHECK_EVERY` ago; otherwise None (check it now)."""
    try:
        record = _read(database)
        checked_at = _time(record["checked_at"])
        same = record["files"] == _signature(database)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    age = (now or datetime.now(UTC)) - checked_at
    return checked_at if same and timedelta(0) <= age < CHECK_EVERY else None


def distrusted(database: Path) -> bool:
    """Whether damage was met in use since the last full check (`distrust`): the next check is the thorough one."""
    try:
        return "distrusted_at" in _read(database)
    except (OSError, ValueError):
        return False


def remember(database: Path, checked_at: datetime, opened_at: datetime) -> None:
    """Record the database as a sound store, opened at `opened_at`, left it (call once it is closed), last
    checked in full at `checked_at`; not over damage another store reported since `opened_at`. A record
    that cannot be written costs the next run a full check, nothing more."""
    try:
        try:
            distrusted = _time(_read(database).get("distrusted_at"))
        except (OSError, ValueError, KeyError, TypeError):
            distrusted = None
        if distrusted is not None and distrusted >= opened_at:
            return
        write_atomic(record_path(database), json.dumps({"checked_at": checked_at.isoformat(),
                                                        "files": _signature(database)}))
    except OSError as exc:
        log.warning("%s: cannot record the state database as checked (%s); the next run checks it in full",
                    record_path(database), exc.strerror or exc)


def distrust(database: Path) -> None:
    """Damage was seen: the next run checks the database in full, whatever a store open now records at close."""
    try:
        write_atomic(record_path(database), json.dumps({"distrusted_at": datetime.now(UTC).isoformat()}))
    except OSError as exc:
        try:
            record_path(database).unlink(missing_ok=True)
        except OSError:
            log.warning("%s: cannot mark the state database for a full check (%s); remove this file",
                        record_path(database), exc.strerror or exc)
