"""Writing the site incrementally: a page is rendered only when what it is made from changed, written
only when its bytes changed, always atomically; a file this sink wrote that no longer belongs to
the site is removed.

Each planned file has a `key`: a hash of everything it is made from (the items' fingerprints, the
templates, the settings, the page's place in its list). The state database remembers the key and
a hash of the bytes of every file written (`pipeline/state/site.py`). A refresh with nothing
changed renders nothing and writes nothing; a file deleted by hand is made again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import site
from pipeline.config import Project
from pipeline.files import write_atomic
from pipeline.state import Store
from pipeline.state import site as site_state


@dataclass
class Planned:
    """One file of the site: where it goes, what it is made from, and how to make it."""

    path: str  # site path (pipeline/site.py)
    key: str
    make: Callable[[], str | bytes]
    listed: bool = True  # a page for sitemap.xml (not a stylesheet, a script, a feed or a calendar)


@dataclass
class Published:
    files: int = 0  # files the site has
    written: list[str] = field(default_factory=list)  # files written this time
    removed: list[str] = field(default_factory=list)
    rendered: int = 0  # made again (written or not)


def key(*parts: object) -> str:
    """A short hash of `parts` (each turned to text)."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def digest_of(data: bytes) -> str:
    """What the state database keeps of a file's bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


def publish(project: Project, store: Store, sink: str, planned: list[Planned],
            known: dict[str, tuple[str, str]] | None = None) -> Published:
    """Bring out_dir in line with `planned`; return what was done. `known`: `pages_written`, when read already."""
    known = site_state.pages_written(store, sink) if known is None else known
    done = Published(files=len(planned))
    rows: list[tuple[str, str, str]] = []
    root = f"{project.core.out_dir}/"
    for page in planned:
        before = known.get(page.path)
        if before is not None and before[0] == page.key and os.path.isfile(
                root + (page.path + "index.html" if page.path == "" or page.path.endswith("/") else page.path)):
            continue  # made from the same, and still there (as site.file places it)
        target = site.file(project, page.path)
        data = page.make()
        data = data.encode("utf-8") if isinstance(data, str) else data
        digest = digest_of(data)
        done.rendered += 1
        if before is None or before[1] != digest or not target.is_file():
            write_atomic(target, data)
            done.written.append(str(target))
        rows.append((page.path, page.key, digest))
    wanted = {page.path for page in planned}
    stale = [path for path in known if path not in wanted]
    for path in stale:
        _remove(project, path, done)
    site_state.record_pages(store, sink, rows, stale)
    return done


def _remove(project: Project, path: str, done: Published) -> None:
    """Delete a file this sink wrote, and the folders it leaves empty (never out_dir itself)."""
    root = project.core.out_dir.resolve()
    target = site.file(project, path)
    if not target.resolve().is_relative_to(root):
        return
    if target.is_file():
        target.unlink()
        done.removed.append(str(target))
    folder: Path = target.parent
    while folder.resolve() != root and folder.resolve().is_relative_to(root):
        try:
            folder.rmdir()  # only if empty: another sink's file (a theme's feed) keeps it
        except OSError:
            break
        folder = folder.parent
