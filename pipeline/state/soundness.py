"""When a run may trust the state database without reading all of it again.

`PRAGMA quick_check` reads every page: about 60 ms for a year of 200 partner feeds (85 MB) from the page
cache, and a second when the file is not in it. A run checks the database before it writes to it, so a
file damaged from outside (a bad copy or restore, a full disk, another program) is never written to. It
need not check a file that nothing has touched since a sound run closed it: SQLite writes it safely, and
a page gone bad on the disk later is found by SQLite when read (and by the full check, which is still made
at least every `CHECK_EVERY`).

So when a checked store closes with no sign of damage, `remember` records the file's identity, size and
time of change, and the write-ahead log's (`pipeline.sqlite-checked` beside it), with when the last full
check was made. `last_check` gives that time back only while both files are exactly as recorded, and the
check is not yet `CHECK_EVERY` old; anything else (a run killed part-way, `pipeline serve` writing a
subscriber, a file put back from a backup) means a full check.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.files import write_atomic

CHECK_EVERY = timedelta(hours=24)


def record_path(database: Path) -> Path:
    return database.with_name(database.name + "-checked")


def _signature(database: Path) -> list:
    """The database file's and its write-ahead log's device, inode, size and time of change (None: no file)."""
    found = []
    for path in (database, database.with_name(database.name + "-wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            found.append(None)
        else:
            found.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
    return found


def last_check(database: Path, now: datetime | None = None) -> datetime | None:
    """When the database was last checked in full, if it is exactly as a sound run left it since, and that
    was less than `CHECK_EVERY` ago; otherwise None (check it now)."""
    try:
        record = json.loads(record_path(database).read_text(encoding="utf-8"))
        checked_at = datetime.fromisoformat(record["checked_at"])
        same = record["files"] == _signature(database)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    age = (now or datetime.now(UTC)) - checked_at
    return checked_at if same and timedelta(0) <= age < CHECK_EVERY else None


def remember(database: Path, checked_at: datetime) -> None:
    """Record the database as a sound run closed it (call once it is closed), last checked in full at
    `checked_at`."""
    record = {"checked_at": checked_at.isoformat(), "files": _signature(database)}
    write_atomic(record_path(database), json.dumps(record))


def forget(database: Path) -> None:
    """The next run checks the database in full (damage was seen, or the record cannot be trusted)."""
    record_path(database).unlink(missing_ok=True)
