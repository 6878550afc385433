"""Writing the site incrementally: a page is rendered only when what it is made from changed, written
only when its bytes changed; a file this sink wrote that no longer belongs to the site is removed.

The files a run changes are all written under temporary names first, and put in place together only when
every one of them is written (`pipeline.files.Staged`): a full disk, or a page that fails to render, leaves
the whole site as the last run made it, never new indexes linking to item pages that were not written. What a
run killed meanwhile left of them (no `finally` runs then) is removed by the next one that plans the site.

Each planned file has a `key`: a hash of everything it is made from (the items' fingerprints, the
templates, the settings, the page's place in its list). The state database remembers the key and
a hash of the bytes of every file written (`pipeline/state/site.py`). A refresh with nothing
changed renders nothing and writes nothing; a file deleted or edited by hand is made again. It also
remembers each file's size, times and inode as last seen (`stat_text`), so a file is read to check it only
when those changed (or were too recent to trust: `RACY_NS`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import site
from pipeline.config import Project
from pipeline.files import Staged, remove_leftovers
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
    seen = site_state.file_stats(store, sink)
    done = Published(files=len(planned))
    rows: list[tuple[str, str, str]] = []
    checked: list[tuple[str, str, str]] = []  # (site path, file, digest): their stats are kept
    remove_leftovers(site.file(project, page.path) for page in planned)  # of a run killed while it staged them
    with Staged() as staged:
        _write_changed(project, planned, known, seen, staged, done, rows, checked)
    wanted = {page.path for page in planned}
    stale = [path for path in known if path not in wanted]
    for path in stale:
        _remove(project, path, done)
    site_state.record_pages(store, sink, rows, stale)
    site_state.record_stats(store, sink, seen_now(checked, seen), stale)
    return done


def _write_changed(project: Project, planned: list[Planned], known: dict[str, tuple[str, str]], seen: dict[str, str],
                   staged: Staged, done: Published, rows: list[tuple[str, str, str]],
                   checked: list[tuple[str, str, str]]) -> None:
    """Render each planned file whose key changed (or that is not as written) and stage those whose bytes changed;
    add to `done`, `rows` (site path, key, digest) and `checked` (site path, file, digest)."""
    root = f"{project.core.out_dir}/"
    for page in planned:
        before = known.get(page.path)
        name = root + (page.path + "index.html" if page.path == "" or page.path.endswith("/") else page.path)
        if before is not None and before[0] == page.key:
            recorded = seen.get(page.path)
            if recorded and recorded == stat_text(name, before[1]):
                continue  # made from the same, and still there as written (as site.file places it)
            if holds(name, before[1]):
                checked.append((page.path, name, before[1]))
                continue
        target = site.file(project, page.path)
        data = page.make()
        data = data.encode("utf-8") if isinstance(data, str) else data
        digest = digest_of(data)
        done.rendered += 1
        if before is None or before[1] != digest or not holds(name, digest, seen.get(page.path)):
            staged.write(target, data)
            done.written.append(str(target))
        rows.append((page.path, page.key, digest))
        checked.append((page.path, name, digest))


RACY_NS = 3_000_000_000  # a file changed this recently may change again unseen within its time's resolution


def stat_text(name: str, digest: str, now: int | None = None) -> str | None:
    """What site_stats keeps of the file `name` holding `digest`: its size, times and inode; None when it is not
    there. With `now` (time.time_ns()), '' when it changed too recently to trust: an edit within the resolution
    of its times (a tick; two seconds on FAT) would leave them as they are, so it is read next time."""
    try:
        stat = os.stat(name)
    except OSError:
        return None
    if now is not None and max(stat.st_mtime_ns, stat.st_ctime_ns) > now - RACY_NS:
        return ""
    return f"{digest} {stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns} {stat.st_ino}"


def holds(name: str, digest: str, recorded: str | None = None) -> bool:
    """Whether the file `name` holds bytes of `digest`: as `recorded` (`stat_text`) says, or else as read."""
    if recorded and recorded == stat_text(name, digest):
        return True
    try:
        with open(name, "rb") as file:
            return digest_of(file.read()) == digest
    except OSError:
        return False


def seen_now(checked: list[tuple[str, str, str]], seen: dict[str, str]) -> list[tuple[str, str]]:
    """(site path, `stat_text`) of each (site path, file, digest) checked or written, where it differs from `seen`."""
    now = time.time_ns()
    fresh = []
    for path, name, digest in checked:
        text = stat_text(name, digest, now)
        if text is not None and text != seen.get(path):
            fresh.append((path, text))
    return fresh


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
