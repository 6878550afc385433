"""Writing output files so that a reader (a web server, a mail client) never sees half a file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`; text is UTF-8 with \\n."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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
