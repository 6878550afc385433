"""The one-line error for a state database SQLite cannot write to, or this user cannot open.

SQLite says only "database or disk is full", "attempt to write a readonly database" or "unable to open database
file". What the operator needs is which file, and what to do: free some space (exit 1: the next run, a service's
restart included, may find room), or give the state folder back to the user that runs the pipeline, or mount it
read-write (exit 2: it stays so until someone changes it). Never "restore a backup": the database is sound, and
putting an older copy in its place would lose everything since. Either way SQLite took back the write under way,
so whatever was stored before stays stored. SQLite says SQLITE_FULL of its temporary files too (it sorts there what
does not fit in memory), which are in another folder (`temp_folder`), and does not say which filled: when that folder
is on another disk, the line names both, with the room on each now.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import PipelineError, StateAccessError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DENIED_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
DENIED_CODES = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH)
KEPT = "what the state database held is as it was"
DBMOVED = getattr(sqlite3, "SQLITE_READONLY_DBMOVED", 1032)  # (SQLITE_READONLY | 4 << 8)


def _code(exc: BaseException) -> int:
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def is_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the database's room on it) is full."""
    return _code(exc) == sqlite3.SQLITE_FULL or getattr(exc, "errno", None) in FULL_ERRNOS


def unwritable(path: Path, exc: BaseException) -> PipelineError | None:
    """The error to show for `exc`, met using the state database at `path`, when it says the disk is full or a file
    is not writable (or not readable) by this user; None for any other error (a damaged file, a lock, a bug)."""
    said = " ".join(str(exc).split())
    if is_full(exc):
        temp = temp_folder()
        if temp is None or not _apart(temp, path.parent):
            return PipelineError(f"{path}: the disk is full ({said}); free some space on it, then run again: {KEPT}, "
                                 f"only the change under way was not made")
        # SQLite says SQLITE_FULL of its temporary files too, on another disk: it does not say which filled
        return PipelineError(f"{path}: the disk is full ({said}); free some space on it ({path.parent}, "
                             f"{_room(path.parent)}) or on the disk of SQLite's temporary folder ({temp}, "
                             f"{_room(temp)}), where it sorts what does not fit in memory (SQLite does not say which "
                             f"was full; SQLITE_TMPDIR, else TMPDIR, chooses that folder), then run again: {KEPT}, "
                             f"only the change under way was not made")
    if getattr(exc, "sqlite_errorcode", None) == DBMOVED:  # read-only to SQLite, not to this user: no chown helps
        return PipelineError(f"{path}: the state database file was moved or replaced while this process had it open "
                             f"(a backup put back under it, say), so SQLite no longer writes to it ({said}); start the "
                             f"command (or the service) again, so that it opens the file now in place")
    code = _code(exc)
    if code not in DENIED_CODES and getattr(exc, "errno", None) not in DENIED_ERRNOS:
        return None
    user = _user(os.geteuid())
    if (unmade := _unmade(path.parent, user, said)) is not None:
        return unmade
    for part in _parts(path):
        if _read_only_mount(part):
            return StateAccessError(f"{part}: on a file system mounted read-only, so the state database cannot be "
                                    f"written ({said}); {KEPT}: mount it read-write (under systemd, list the state "
                                    f"folder in ReadWritePaths), then run again")
        wanted = os.W_OK | (os.X_OK if part.is_dir() else os.R_OK)
        if part.exists() and not os.access(part, wanted):
            st = part.stat()
            owner = _user(st.st_uid)
            fix = (f"let its owner write it again (`chmod -R u+rwX {path.parent}`)" if st.st_uid == os.geteuid() else
                   f"give the state folder and its files to the user that runs the pipeline (`chown -R {user} "
                   f"{path.parent}`, as root), or run it as {owner}")
            may = "write in" if part.is_dir() else "read and write"
            return StateAccessError(f"{part}: user {user} may not {may} it "
                                    f"(owner {owner}, mode {st.st_mode & 0o7777:04o}), so the state database cannot "
                                    f"be used ({said}); {KEPT}: {fix}")
    if code == sqlite3.SQLITE_CANTOPEN:  # not a matter of rights: a missing folder, say; said as before
        return None
    return StateAccessError(f"{path}: the state database cannot be written ({said}); {KEPT}: check that the state "
                            f"folder and every file in it belong to the user that runs the pipeline (user {user}), and "
                            f"that its file system is mounted read-write")


def unopenable(path: Path, exc: BaseException) -> PipelineError | None:
    """`unwritable`, and a folder where the database file should be (SQLite says only "unable to open database file"
    or "disk I/O error"): the error to show when opening the state database at `path` raised `exc`; None for any
    other error (a damaged file, a lock, a bug)."""
    if (error := unwritable(path, exc)) is not None:
        return error
    if isinstance(exc, (OSError, sqlite3.Error)) and path.is_dir():
        said = " ".join(str(exc).split())
        return StateAccessError(f"{path}: a folder is where the state database file should be, so it cannot be "
                                f"opened ({said}); nothing was read or changed: move that folder out of the way (a "
                                f"state database is one file), or point [pipeline] state_dir at the state folder, "
                                f"then run again")
    return None


def cannot_open(path: Path, exc: BaseException, outcome: str = "nothing was changed") -> PipelineError | None:
    """The one line every command gives when opening the state database at `path` raised `exc`: `unopenable` (its
    rights, a read-only mount, a folder where the file should be), or a damaged file (`store.damaged`, with `outcome`:
    what the command did not do); None for any other error (a lock, a bug)."""
    from pipeline.state.store import damaged, is_damage

    if (error := unopenable(path, exc)) is not None:
        return error
    return damaged(path, str(exc), outcome) if is_damage(exc) else None


def open_read_only(path: Path):
    """The state database at `path` opened to read only (`Store(path, read_only=True)`); an error opening it that
    `cannot_open` explains raised as that one line, any other (a lock held too long, say) as it is."""
    from pipeline.state.store import Store

    try:
        return Store(path, read_only=True)
    except (OSError, sqlite3.Error) as exc:
        if (refused := cannot_open(path, exc)) is not None:  # the one line: its rights, a folder in its place, damage
            raise refused from None
        raise


@contextmanager
def plainly(path: Path) -> Iterator[None]:
    """Raise an SQLite error that says the state database cannot be written as its one-line error (`unwritable`)."""
    try:
        yield
    except sqlite3.Error as exc:  # (an OSError may be of another file: the suppression log's, say)
        error = unwritable(path, exc)
        if error is None:
            raise
        raise error from None


def temp_folder() -> Path | None:
    """The folder SQLite makes its temporary files in, as it chooses one on Unix (os_unix.c, `unixTempFileDir`): the
    first of SQLITE_TMPDIR, TMPDIR, /var/tmp, /usr/tmp, /tmp and the current folder that is a folder this user may
    write in; None when none is."""
    for candidate in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp", "."):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(os.path.abspath(candidate))
    return None


def _apart(one: Path, other: Path) -> bool:
    """Whether two folders are on different file systems (False when either cannot be looked at)."""
    try:
        return os.stat(one).st_dev != os.stat(other).st_dev
    except OSError:
        return False


def _room(folder: Path) -> str:
    """'1.5 GB free' on the file system of `folder` now (for this user), or 'room unknown'."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return "room unknown"
    free = float(st.f_bavail * st.f_frsize)
    for unit in ("bytes", "KB", "MB", "GB"):
        if free < 1024 or unit == "GB":
            return f"{free:.0f} {unit} free" if unit == "bytes" else f"{free:.1f} {unit} free"
        free /= 1024
    return "room unknown"


def _unmade(folder: Path, user: str, said: str) -> StateAccessError | None:
    """The state folder not made yet, in a folder this user may not write in (or one mounted read-only): which, and
    what to do; None when the folder exists, or the first one above it that does may be written in."""
    if os.path.lexists(folder):
        return None
    above = next((part for part in folder.parents if os.path.isdir(part)), None)
    if above is None:
        return None
    fix = (f"nothing was read or changed: make the state folder as README's \"Under systemd\" does (`install -d -o "
           f"{user} -m 0700 {folder}`, as root), or point [pipeline] state_dir at a folder {user} may write in, then "
           f"run again")
    if _read_only_mount(above):
        return StateAccessError(f"{folder}: the state folder cannot be made in {above}, which is on a file system "
                                f"mounted read-only ({said}); {fix}")
    if os.access(above, os.W_OK | os.X_OK):
        return None
    st = above.stat()
    return StateAccessError(f"{folder}: the state folder cannot be made in {above}, which user {user} may not write "
                            f"in (owner {_user(st.st_uid)}, mode {st.st_mode & 0o7777:04o}) ({said}); {fix}")


def _parts(path: Path) -> list[Path]:
    """The folder, then the database and the files SQLite keeps beside it: what it must be able to write."""
    return [path.parent, path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _read_only_mount(path: Path) -> bool:
    try:
        return path.is_dir() and bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)  # as `chown` takes it
