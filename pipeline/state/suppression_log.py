"""The suppression log: one line for each address that leaves the list, kept beside the database and outliving it.

A state database put back from a backup knows nothing of the people who left after the copy was made: they would
be active again, and get the next issue (PECR, UK GDPR art. 21). So each time an address leaves by any path
(`unsubscribe`, `remove`, `suppress`, `import_suppressed`, `forget` in `state/subscribers.py`), one line is added to
`<state_dir>/suppressions.log`, which a restore does not touch (README, "Restoring"):

    2026-03-02T10:15:00.123456+00:00 unsubscribed 3f2a…(16 hex) 9c1e…(64 hex)

when (UTC, as the consent record has it), the status it left with (`forgotten` for an erasure), the fingerprint of
the secret the line was written under, and HMAC-SHA256 of the address's stored spelling (`addresses.canonical`)
under a key made from the project's signing secret. No address is written: the file does not undo `forget`, and
whoever reads it learns nothing of the list without the secret.

Each time a command that writes opens the database (`pipeline.subscribers.suppressions.keep`), the lines it has
not checked yet (`SuppressionLog.unchecked`) are replayed (`suppressions.replay_into`): an entry newer than
everything in that address's consent record, for an address still on the list (active or pending), is applied again
(`subscribers.reapply`); a `forgotten` one erases the person again while anything recorded before it remains.
Someone who came back after leaving, before the copy was made, has a newer change and is left alone. The database
keeps how far it checked (`suppression_log`: the size read, and the hash of the line ending there), so an open with
nothing new costs a `stat` and one short read; a copy put back holds an older row, and the lines after it are
checked again. An entry that matches no address is kept in the database (`keep_unmatched`, the table
`suppression_log_unmatched`), never read from the log again: one written under a secret not at hand (none, or
another: the secret was changed) waits for it, and is matched at the first start that has it (`waiting`); one whose
address the copy does not hold (it joined after the copy was made) keeps the organiser's list and `subscribers add`
from making that address active again (`left_unknown`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

LOG_FILE = "suppressions.log"
STATUSES = ("unsubscribed", "bounced", "complained", "forgotten")
TAIL = 512  # bytes read back to find the line before an offset: a line is about 130
log = logging.getLogger("pipeline.subscribers")

# The secret, or None when there is none (and `make` is False); raises (ConfigError, OSError) when it cannot be had.
SecretSource = Callable[[bool], bytes | None]


@dataclass(frozen=True)
class Entry:
    at: datetime
    status: str
    key: str  # the fingerprint of the secret it was written under
    digest: str  # HMAC-SHA256 of the address, hex


@dataclass(frozen=True)
class Key:
    """The key of one secret: the fingerprint each line carries, and the hash of an address."""

    secret: bytes

    @property
    def id(self) -> str:  # as `signing.fingerprint` names a secret, so the two can be compared
        return hmac.new(self.secret, b"pipeline-fingerprint", "sha256").hexdigest()[:16]

    @cached_property
    def _hashing(self) -> bytes:  # made once: a replay hashes every address on the list
        return hmac.new(self.secret, b"pipeline-suppression-log", "sha256").digest()

    def digest(self, email: str) -> str:
        return hmac.new(self._hashing, email.encode("utf-8"), "sha256").hexdigest()


class SuppressionLog:
    """The log at `path`, hashed with the secret `secret` gives."""

    def __init__(self, path: Path, secret: SecretSource):
        self.path = path
        self._secret = secret
        self._key: Key | None = None
        self._pending: list[tuple[str, str, datetime]] = []  # (address, status, when) of the open transaction

    def key(self, make: bool) -> Key | None:
        if self._key is None:
            secret = self._secret(make)
            self._key = Key(secret) if secret is not None else None
        return self._key

    # -- writing -----------------------------------------------------------------------------

    def note(self, email: str, status: str, at: datetime) -> None:
        """`email` leaves with `status` at `at`, inside the transaction that records it: its line is written by
        `flush`, which `Store.transaction` calls just before that transaction commits."""
        self._pending.append((email, status, at))

    def discard(self) -> None:
        """The transaction ended (committed, its lines flushed, or rolled back, and then they are not written)."""
        self._pending.clear()

    def flush(self, db: sqlite3.Connection) -> None:
        """Write the lines `note` gathered in the transaction `db` is in, all at once, before it commits.

        They are on the disk (written, fsynced) before that transaction commits, never after: a crash between the
        two then leaves a line for a change that did not commit, which a replay applies (the person asked to leave,
        or bounced) or, if they came back since, leaves alone as older than their latest change; the other order
        could leave the database saying they left with no line, and a backup put back would then send to them
        again. Every writer holds the database's write lock here, so lines never interleave.
        Lines that cannot be written (no secret, no room) are one warning; the change itself still commits, since
        the person's wish counts first.
        """
        if not self._pending:
            return
        try:
            key = self.key(make=True)
            assert key is not None
            lines = [f"{_iso(at)} {status} {key.id} {key.digest(email)}\n".encode("ascii")
                     for email, status, at in self._pending]
            before, after = self._append(b"".join(lines))  # the file's size before and after
        except Exception as exc:  # ConfigError (the secret), OSError (the disk)
            log.warning("%s: could not add the line for %d %s that left (%s); %s off the list, but a backup put "
                        "back would not know %s left", self.path, len(self._pending),
                        "address" if len(self._pending) == 1 else "addresses", _reason(exc),
                        "it is" if len(self._pending) == 1 else "they are", "it" if len(self._pending) == 1 else
                        "they")
            return
        finally:
            self._pending.clear()
        marker = _marker(db)
        if (marker is None and before == 0) or (marker is not None and marker[0] == before
                                                and _line_hash(self.path, before) == marker[1]):
            _set_marker(db, after, hashlib.sha256(lines[-1]).hexdigest())  # nothing unchecked lay before them

    def _append(self, lines: bytes) -> tuple[int, int]:
        made = not self.path.exists()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            before = os.fstat(descriptor).st_size
            # After a line a crash cut short, ours starts on a line of its own (that one is skipped, with a warning)
            start = b"\n" if before and _last_byte(self.path, before) != b"\n" else b""
            os.write(descriptor, start + lines)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if made:
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return before, before + len(start) + len(lines)

    # -- replaying ---------------------------------------------------------------------------

    def unchecked(self, read: Callable[[str, tuple], list[tuple]]) -> tuple[list[Entry], int, str] | None:
        """The entries after the database's marker, with the size and last line's hash to mark once they are
        applied; None when there are none (the usual case: a `stat` and one short read). A missing or unreadable
        log, and each damaged line, is one warning."""
        there = read(f"SELECT {_TABLE_THERE}", ())[0][0]
        rows = read("SELECT size, last_line FROM suppression_log WHERE id = 1", ()) if there else []
        marker = rows[0] if rows else None
        try:
            size = self.path.stat().st_size
            if marker is not None and marker[0] == size and _line_hash(self.path, size) == marker[1]:
                return None
            data = self.path.read_bytes()
        except FileNotFoundError:
            if marker is not None and marker[0] > 0:
                log.warning("%s is missing: whoever left after this database's copy was made cannot be taken off "
                            "the list again; put the file back if you moved it (README, \"Restoring\")", self.path)
            return None
        except OSError as exc:
            log.warning("%s: cannot be read (%s); whoever left after this database's copy was made is not taken off "
                        "the list again until it can", self.path, _reason(exc))
            return None
        start = 0
        if marker is not None and marker[0] <= len(data) and _hash_before(data, marker[0]) == marker[1]:
            start = marker[0]
        # What follows the last newline is a line not finished yet (another process appending): read once it is
        end = max(start, data.rfind(b"\n") + 1)
        if end == start and marker is not None and start == marker[0]:
            return None
        entries = []
        number = data.count(b"\n", 0, start)
        for raw in data[start:end].split(b"\n"):
            number += 1
            if not raw.strip():
                continue
            entry = _parse(raw)
            if isinstance(entry, str):
                log.warning("%s: line %d: %s; skipped", self.path, number, entry)
            else:
                entries.append(entry)
        return entries, end, _hash_before(data, end)


def mark(db: sqlite3.Connection, size: int, last_line: str, reapplied: int, at: datetime) -> None:
    """Remember that the log was checked up to `size`, and how many entries were re-applied then (if any)."""
    _set_marker(db, size, last_line)
    if reapplied:
        db.execute("UPDATE suppression_log SET replayed_at = ?, reapplied = ? WHERE id = 1", (_iso(at), reapplied))


def keep_unmatched(db: sqlite3.Connection, entries: list[Entry], *, waiting: bool) -> None:
    """Keep the `entries` that matched no address here (the latest of each address): `waiting` for their secret,
    or under the current one, naming an address this database does not hold (for `left_unknown`)."""
    for entry in entries:
        db.execute("INSERT INTO suppression_log_unmatched (digest, key, status, at, waiting) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (digest) DO UPDATE SET status = CASE WHEN excluded.at > at THEN excluded.status "
                   "ELSE status END, at = MAX(at, excluded.at), waiting = excluded.waiting",
                   (entry.digest, entry.key, entry.status, _iso(entry.at), int(waiting)))


def drop_unmatched(db: sqlite3.Connection, entries: list[Entry]) -> None:
    """The `entries`, kept waiting for their secret, are matched now: their rows go."""
    db.executemany("DELETE FROM suppression_log_unmatched WHERE digest = ?", [(entry.digest,) for entry in entries])


def waiting(read: Callable[[str, tuple], list[tuple]]) -> list[Entry]:
    """The entries kept waiting for the secret they were written under (`keep_unmatched`), oldest first."""
    if not read(f"SELECT {_THERE.format('suppression_log_unmatched')}", ())[0][0]:
        return []
    return [Entry(datetime.fromisoformat(at), status, key, digest) for digest, key, status, at in
            read("SELECT digest, key, status, at FROM suppression_log_unmatched WHERE waiting = 1 ORDER BY at", ())]


def left_unknown(db: sqlite3.Connection, suppressions: SuppressionLog | None, email: str
                 ) -> tuple[str, datetime] | None:
    """The status and time the log gives `email`, an address this database did not hold when the log was checked
    (`keep_unmatched`); None otherwise. Nothing is hashed while no such entry is kept (every ordinary open)."""
    if suppressions is None or not db.execute("SELECT EXISTS (SELECT 1 FROM suppression_log_unmatched "
                                              "WHERE waiting = 0)").fetchone()[0]:
        return None
    key = suppressions.key(make=False)
    if key is None:
        return None
    found = db.execute("SELECT status, at FROM suppression_log_unmatched WHERE digest = ? AND key = ? AND waiting = 0",
                       (key.digest(email), key.id)).fetchone()
    return (found[0], datetime.fromisoformat(found[1])) if found else None


def last_replay(read: Callable[[str, tuple], list[tuple]]) -> tuple[datetime, int] | None:
    """When entries of the log were last re-applied to this database, and how many; None if never."""
    if not read(f"SELECT {_TABLE_THERE}", ())[0][0]:
        return None
    rows = read("SELECT replayed_at, reapplied FROM suppression_log WHERE id = 1 AND replayed_at IS NOT NULL", ())
    return (datetime.fromisoformat(rows[0][0]), rows[0][1]) if rows else None


# A database last opened by a version before the log, read without writing (`pipeline status`), has no such table
_THERE = "EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{}')"
_TABLE_THERE = _THERE.format("suppression_log")


def _parse(raw: bytes) -> Entry | str:
    """The entry on one line, or why it is not one."""
    try:
        at, status, key, digest = raw.decode("ascii").split()
        when = datetime.fromisoformat(at)
    except (UnicodeDecodeError, ValueError):
        return "not a line of this log (time, status, key, hash)"
    if when.tzinfo is None:
        return "its time has no offset from UTC"
    if status not in STATUSES:  # not repeated: a line written by hand may hold an address
        return "its status is none of " + ", ".join(STATUSES)
    if len(key) != 16 or len(digest) != 64 or not _hex(key + digest):
        return "its key or hash is cut short or altered"
    return Entry(when.astimezone(UTC), status, key, digest)


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _marker(db: sqlite3.Connection) -> tuple[int, str] | None:
    return db.execute("SELECT size, last_line FROM suppression_log WHERE id = 1").fetchone()


def _set_marker(db: sqlite3.Connection, size: int, last_line: str) -> None:
    db.execute("INSERT INTO suppression_log (id, size, last_line) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE "
               "SET size = excluded.size, last_line = excluded.last_line", (size, last_line))


def _hash_before(data: bytes, end: int) -> str:
    """sha256 of the line ending at `end` (its newline included); of nothing at the start."""
    start = data.rfind(b"\n", 0, end - 1) + 1 if end > 0 else 0
    return hashlib.sha256(data[start:end]).hexdigest()


def _line_hash(path: Path, end: int) -> str:
    """`_hash_before` of the file at `path`, reading only its last `TAIL` bytes before `end`."""
    start = max(0, end - TAIL)
    with open(path, "rb") as handle:
        handle.seek(start)
        tail = handle.read(end - start)
    if start and b"\n" not in tail[:-1]:  # a line longer than TAIL: no line of this log is
        return ""
    return _hash_before(tail, len(tail))


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")  # as the consent record writes it
