"""A consistent copy of the state database while it is in use, with SQLite's online backup API.

What `backup` promises:

- **Consistent.** Every page is copied in one step of the backup API, that is inside one read
  transaction. The store is always in WAL mode, where a reader sees one committed state and never
  blocks a writer: a run, `pipeline schedule` or `pipeline serve` goes on writing meanwhile, and the
  copy holds exactly what was committed when it began, and nothing of a transaction still open.
  (Copying a few pages per step would restart whenever another connection wrote, and might never
  finish on a busy database.) No run lock is needed, so none is taken: a backup never waits for a run.
- **Read-only on the source.** It is opened with `mode=ro`, as `pipeline status` opens it (`store.open_read_only`: a
  state folder mounted read-only too): never migrated, checkpointed or written
  (as any reader in WAL mode, it may leave the `-wal` and `-shm` files SQLite keeps beside it).
- **Whole or absent.** The copy is written beside `dest` under a temporary name, switched to a
  rollback journal (one self-contained file, no `-wal` beside it), flushed to disk and checked with
  `PRAGMA integrity_check`; only then is it given its name. A copy that fails the check is deleted.
- **Without the site's manifest.** What `out/` was made from (`pipeline/state/site.py`, caches) is left out of the
  copy, so the first run after it is put back makes every page again from what the copy holds, not from what
  the live database had made since.
- **No overwriting by accident.** An existing `dest` is replaced only with `replace=True`; without it,
  a file that appears at `dest` while the copy is made is not overwritten either. The copy is
  readable by its owner only (it holds the subscribers' addresses).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError, StateError
from pipeline.state.access import cannot_open
from pipeline.state.store import open_read_only

NO_COPY = "no backup was made"


@dataclass(frozen=True)
class BackupResult:
    source: Path
    path: Path
    bytes: int
    pages: int
    integrity: str  # "ok": what PRAGMA integrity_check said of the copy
    seconds: float


def backup(source_path: Path, dest_path: Path, *, replace: bool = False) -> BackupResult:
    """Copy the SQLite database `source_path` to the new file `dest_path`, whose folder must exist."""
    started = time.monotonic()
    source_path, dest_path = Path(source_path), Path(dest_path)
    if _is_part_of(dest_path, source_path):
        raise PipelineError(f"{dest_path}: that is the state database itself; give another file or a folder")
    if dest_path.exists() and not replace:
        raise PipelineError(f"{dest_path}: already exists; give another name or a folder, or pass --force "
                            f"to replace it")
    if dest_path.exists() and not dest_path.is_file():
        raise PipelineError(f"{dest_path}: exists and is not a regular file; give another name or a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dest_path.name}.", suffix=".partial", dir=dest_path.parent)
    except OSError as exc:
        raise PipelineError(f"{dest_path.parent}: cannot write there ({exc.strerror}); "
                            f"give a folder you can write to") from None
    os.close(fd)
    partial = Path(name)
    try:
        pages, integrity = _copy(source_path, partial)
        _flush(partial)
        _name(partial, dest_path, replace)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(source_path, dest_path, dest_path.stat().st_size, pages, integrity,
                        time.monotonic() - started)


def _is_part_of(dest_path: Path, source_path: Path) -> bool:
    """Whether `dest_path` is the database or one of the files SQLite keeps beside it (-wal, -shm, -journal)."""
    if dest_path.exists() and source_path.exists() and os.path.samefile(source_path, dest_path):
        return True
    names = {source_path.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    return (dest_path.name in names and dest_path.parent.is_dir() and source_path.parent.is_dir()
            and os.path.samefile(dest_path.parent, source_path.parent))


def _copy(source_path: Path, partial: Path) -> tuple[int, str]:
    """Copy into `partial` and check the copy: (its page count, "ok")."""
    try:  # as `pipeline status` reads it: a state folder mounted read-only too (a snapshot, ReadOnlyPaths)
        source = open_read_only(source_path)
    except sqlite3.Error as exc:
        raise cannot_open(source_path, exc, NO_COPY) or PipelineError(
            f"{source_path}: cannot open the state database ({exc}); check that it exists and that you may read it "
            f"and its folder") from None
    try:
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            try:
                source.backup(target)  # pages=-1: all of them in one step, one read transaction
                target.execute("PRAGMA journal_mode=DELETE")
                _without_site_manifest(target)
                pages = target.execute("PRAGMA page_count").fetchone()[0]
                problems = [row[0] for row in target.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as exc:
                raise _copy_error(exc, source_path, partial) from None
        finally:
            target.close()
    finally:
        source.close()
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        raise StateError(f"{source_path}: the copy fails SQLite's integrity check ({shown}), so the state "
                         f"database itself is damaged; no backup was kept: put back the last good one (README, "
                         f"\"Operations\")")
    return pages, "ok"


SITE_MANIFEST = ("site_pages", "site_editions", "site_items")  # pipeline/state/site.py: caches of what out/ holds


def _without_site_manifest(target: sqlite3.Connection) -> None:
    """Empty the copy's record of what the site's files were made from: once the copy is put back, out/ still holds
    what the live database had made (an issue made since, say), and a manifest that matched the copy would have the
    first run keep those pages. Without it, that run makes every page again from the database put back. They are
    caches, each rebuilt from the items and issues."""
    tables = {row[0] for row in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    target.execute("BEGIN")
    for table in SITE_MANIFEST:
        if table in tables:
            target.execute(f"DELETE FROM {table}")
    target.execute("COMMIT")


def _copy_error(exc: sqlite3.DatabaseError, source_path: Path, partial: Path) -> PipelineError:
    """A source that cannot be read (said as every command says it: a damaged file, exit 2; a folder in its place,
    a file this user may not read), no room for the copy, or anything else, in one line."""
    code = getattr(exc, "sqlite_errorname", "")
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or source_path.is_dir():  # not the copy's: the source's
        return cannot_open(source_path, exc, NO_COPY) or StateError(f"{source_path}: {exc}; {NO_COPY}")
    if code == "SQLITE_FULL":
        return PipelineError(f"{partial.parent}: no room for the copy ({exc}); free some space or give another "
                             f"folder")
    return PipelineError(f"cannot copy {source_path} to {partial.parent} ({exc}); check both are readable and "
                         f"writable, then try again")


def _flush(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _name(partial: Path, dest_path: Path, replace: bool) -> None:
    """Give the finished copy its name: a link refuses a `dest` made meanwhile; a rename replaces one."""
    try:
        if replace:
            os.replace(partial, dest_path)
        else:
            try:
                os.link(partial, dest_path)
            except FileExistsError:
                raise PipelineError(f"{dest_path}: appeared while the copy was made; give another name, "
                                    f"or pass --force to replace it") from None
            except OSError:  # a file system without hard links
                if dest_path.exists():
                    raise PipelineError(f"{dest_path}: appeared while the copy was made; give another name, "
                                        f"or pass --force to replace it") from None
                os.replace(partial, dest_path)
    except OSError as exc:
        raise PipelineError(f"{dest_path}: cannot name the copy ({exc.strerror}); give another name") from None
    folder = os.open(dest_path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the new name survives a power cut too
    finally:
        os.close(folder)
