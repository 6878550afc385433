"""Writing output files so that a reader (a web server, a mail client) never sees half a file."""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False, private: bool = False) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`; text is UTF-8 with \\n. With `durable`,
    the file's bytes and then its name are on the disk when this returns (fsync of the file and of its folder), so a
    power cut cannot leave it empty or gone once it is counted on (an email recorded as delivered to the outbox).
    With `private` (a subscriber's email), the file is its owner's alone (0600), and so is a folder made for it."""
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
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a write on a full disk names no file
            exc.filename = str(path)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


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
