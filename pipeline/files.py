"""Writing output files so that a reader (a web server, a mail client) never sees half a file."""

from __future__ import annotations

import contextlib
import errno
import filecmp
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False, private: bool = False) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`; text is UTF-8 with \\n. With `durable`,
    the file's bytes and then its name are on the disk when this returns (fsync of the file and of its folder), so a
    power cut cannot leave it empty or gone once it is counted on (an email recorded as delivered to the outbox).
    With `private` (a subscriber's email), the file is its owner's alone (0600), and so is a folder made for it."""
    temp = _written_beside(path, data, durable=durable, private=private)
    _put_in_place(temp, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically unless the file already holds exactly that; True if written. A file left
    alone keeps its inode and times, so a sync of out/ to the host (rsync, an upload by modification time) does not
    send it again."""
    try:
        if path.read_bytes() == data:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    write_atomic(path, data)
    return True


class Staged:
    """Files written under temporary names beside their places (`write`), then all put in place together
    (`commit`), or none (`discard`), so that a reader meets the old set of files or the new one: a site's index
    never links to a page that a full disk kept from being written. As a context manager, it commits when the
    block ends and discards when it raises."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []  # (temporary file, its place)
        self._made: list[Path] = []  # the folders made for them, each after the folder it is in

    def write(self, path: Path, data: str | bytes) -> None:
        """Write `data` (text as UTF-8) for `path`, under a temporary name until `commit`."""
        missing = []
        for folder in path.parents:
            if os.path.lexists(folder):
                break
            missing.append(folder)
        self._made += reversed(missing)
        self._staged.append((_written_beside(path, data), path))

    def commit(self) -> None:
        """Rename every file written into its place, in the order written. A rename that fails (a folder made by
        hand where a file goes) does not stop the others; the first such error is raised once all are done. Nor
        does an interrupt (Ctrl-C, SIGTERM, a deadline): once the renames begin, they all take place (each takes
        no time), so the site is never left part new and part old with the rest of the temporary files in it;
        the interrupt is raised then."""
        staged, self._staged, self._made = self._staged, [], []
        _each(staged, _rename)

    def discard(self) -> None:
        """Remove every file written and not committed, and the folders made for them: each place keeps what it
        had, and none is left an empty folder. Every one, even when an interrupt comes meanwhile (raised once all
        are removed)."""
        (staged, self._staged), (made, self._made) = (self._staged, []), (self._made, [])
        try:
            _each(staged, _unlink)
        finally:
            for folder in reversed(made):  # those inside first
                with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
                    folder.rmdir()

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


_TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}")  # `tempfile.mkstemp(prefix=".NAME.")`, as `_written_beside` names one


def remove_leftovers(places: Iterable[Path]) -> list[Path]:
    """Remove the temporary files (`.NAME.XXXXXXXX`) that a process killed while it wrote `places` (SIGKILL, a power
    cut: no `finally` runs) left beside them; the files removed. Only for files no other process writes meanwhile
    (a run's, under the run lock): one being written would be removed under it."""
    by_folder: dict[Path, set[str]] = {}
    for place in places:
        by_folder.setdefault(place.parent, set()).add(place.name)
    removed = []
    for folder, names in by_folder.items():
        try:
            with os.scandir(folder) as entries:
                found = [entry for entry in entries if entry.name.startswith(".")]
        except OSError:  # not there (yet): nothing left in it
            continue
        for entry in found:
            match = _TEMPORARY.fullmatch(entry.name)
            if match and match[1] in names and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def _written_beside(path: Path, data: str | bytes, *, durable: bool = False, private: bool = False) -> str:
    """A temporary file beside `path` (its folder made if need be) holding `data`, with the mode `path` will have;
    its name. A write that fails removes it, and its error names `path`."""
    if private and not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:  # it names the temporary file, which nobody knows: the folder it could not be made in
        exc.filename = str(path.parent)
        raise
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temp, 0o600 if private else 0o644)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        _name(exc, path)
        raise
    return temp


def _put_in_place(temp: str, path: Path) -> None:
    try:
        _replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _replace(temp: str, path: Path) -> None:
    """Rename `temp` to `path`; one that fails removes `temp`."""
    try:
        os.replace(temp, path)
    except OSError as exc:  # it names the temporary file, which nobody knows, then `path`: `path` alone, as a
        # new error (one whose `filename2` is set to None still prints "-> None")
        Path(temp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)).with_traceback(exc.__traceback__) from None


def _rename(temp: str, path: Path, again: bool) -> None:
    """`_replace`; done `again` (an interrupt landed in it), nothing when `temp` is gone: it was renamed then."""
    if not again or os.path.lexists(temp):
        _replace(temp, path)


def _unlink(temp: str, path: Path, again: bool) -> None:
    Path(temp).unlink(missing_ok=True)


def _each(staged: list[tuple[str, Path]], act) -> None:
    """`act(temp, path, again)` for every staged file, though one raises OSError or an interrupt (a BaseException:
    Ctrl-C, SIGTERM, a deadline's, which comes again each second) lands in it: that one is done `again`. Then the
    first interrupt is raised, or else the first OSError."""
    at, again, stopped, failed = 0, False, None, None
    while at < len(staged):
        try:
            while at < len(staged):
                try:
                    act(*staged[at], again)
                except OSError as exc:
                    failed = failed or exc
                at, again = at + 1, False
        except BaseException as exc:
            stopped, again = stopped or exc, True
    if stopped is not None or failed is not None:
        raise stopped or failed


def _name(exc: BaseException, path: Path) -> None:
    if isinstance(exc, OSError) and exc.filename is None:  # a write on a full disk names no file
        exc.filename = str(path)


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be a folder (a file stands where it, or a folder above it, would be; or it cannot be
    looked at), or None when it is one or could be made."""
    for place in (path, *path.parents):
        try:
            found = os.stat(place)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.islink(place):
                return f"{place} is a link to {os.readlink(place)}, which is not there"
            continue
        except OSError as exc:
            return f"cannot look at {place} ({exc.strerror})"
        if stat.S_ISDIR(found.st_mode):
            return None
        return f"{place} is a file" + ("" if place == path else f", so {path} cannot be a folder")
    return None


def move_folder(old: Path, new: Path) -> None:
    """Move folder `old` to `new` so that every file is whole, at every moment, in one place or the other.

    Within one file system it is one rename. Across two (Docker volumes, systemd's ReadWritePaths) it goes
    file by file: each is copied whole under a temporary name beside its new place, flushed to disk, renamed
    into place, and only then removed from `old`. When `new` is already there, what `old` holds is added to
    it. A file in both with the same bytes is one file (a move stopped between the copy and the removal);
    with other bytes, nothing is moved at all: FileExistsError, naming the first of them. After a crash it
    carries on where it stopped. `old` is removed once empty. A `new` that is `old` itself or inside it (through
    a link, say) is refused (EINVAL, as a rename refuses it): merged so, each file would be removed as its own copy."""
    if os.path.lexists(new) and new.resolve().is_relative_to(old.resolve()):
        raise OSError(errno.EINVAL, "the folder to move to is the folder moved, or inside it", str(new))
    if os.path.lexists(new) and not new.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(new))
    if clash := _clash(old, new):
        raise FileExistsError(errno.EEXIST, "in both folders, with other contents", str(clash))
    if not os.path.lexists(new):
        new.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(old, new)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        new.mkdir()
        shutil.copymode(old, new)
    _merge(old, new)


def _clash(old: Path, new: Path) -> Path | None:
    """The first file of `old` that `new` also holds with other contents (or as a folder), or None."""
    if not os.path.lexists(new):
        return None
    if not new.is_dir():
        return new
    for entry in sorted(old.iterdir()):
        target = new / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if clash := _clash(entry, target):
                return clash
        elif os.path.lexists(target) and not (target.is_file() and filecmp.cmp(entry, target, shallow=False)):
            return target
    return None


def _merge(old: Path, new: Path) -> None:
    for entry in sorted(old.iterdir()):
        target = new / entry.name
        if entry.is_dir() and not entry.is_symlink():
            move_folder(entry, target)
        elif os.path.lexists(target):  # the same bytes (_clash): the copy of a move that was stopped
            entry.unlink()
        else:
            try:
                os.rename(entry, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                _copy_whole(entry, target)
                entry.unlink()
    old.rmdir()


def _copy_whole(source: Path, target: Path) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(source, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the new name is on disk before the old file goes
    finally:
        os.close(folder)
