"""The sources' own files the site publishes as they are (`Source.site_files`: the blog's images and PDFs)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path, PurePosixPath

from pipeline import site
from pipeline.run_report import failure_reason
from pipeline.state import journal
from plugins.sinks.archive.builder import Site
from plugins.sinks.archive.writer import Planned, digest_of, key

_LINK = re.compile(r'(?:href|src)="([^"]*)"')  # in sanitised HTML, every attribute value is in double quotes


def plan_files(built: Site, planned: list[Planned], known: dict[str, tuple[str, str]]) -> list[Planned]:
    """Each file a source names that an item of it on the site links (its lead image, a picture or a link in its
    body): one only a withdrawn post or a draft linked leaves the site with it, unless it is the lead image of an item
    in an issue already mailed, which the emails sent show from the site. Not where a page of the site is, nor
    in a folder of one (or of a folder the site keeps for itself: `site.file_path`). One that cannot be published
    is a problem of the run, named, and the rest go on. A file moved or renamed (the same bytes published under
    another address) stays at its old addresses too (`known`: what the sink wrote, with a digest of its bytes):
    the emails already sent show or link it there."""
    run, taken = built.run, {page.path for page in planned}
    folders = {path[:at] for path in taken for at in range(len(path)) if path[at] == "/"}  # "blog/x/" has "blog/x"
    files = []
    for source in built.project.sources:
        try:
            named = list(source.site_files())
        except Exception as exc:  # a third-party source's own method: reported by name, the site still made
            run.problem(f"source {source.instance}", f"site_files() raised {failure_reason(exc)}; its files are "
                                                      f"not published")
            continue
        if not named:
            continue
        linked = _linked(built, source.instance)
        for address, file in named:
            if str(address) not in linked:
                continue
            path = site.file_path(built.project, str(address))
            if path is None or path in taken or path in folders or _inside(path, taken):
                run.problem(f"source {source.instance}", f"{address}: not published, since it is not an image or a "
                            f"PDF under site_url, or a page of the site (or its folder) is there", skipped=False)
                continue
            file = file if Path(file).is_absolute() else built.project.root / file
            try:
                stat = file.stat()
            except OSError as exc:
                run.problem(str(file), f"cannot be read ({exc.strerror}); not published", skipped=False)
                continue
            taken.add(path)
            # its size and times, and its inode: a copy of the same size put in its place with its times (`cp -p`)
            # has another change time, which no one can set
            made_from = key(built.version, "file", file, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
            files.append(Planned(path, made_from, file.read_bytes, listed=False))
    return files + _left(files, known, taken, folders)


def _left(files: list[Planned], known: dict[str, tuple[str, str]], taken: set[str], folders: set[str]) -> list[Planned]:
    """Where a file published before was, when a file published now has its bytes: the same again there."""
    left = {path: digest for path, (_, digest) in known.items() if path not in taken and path not in folders
            and PurePosixPath(path).suffix.lower() in site.FILE_SUFFIXES and not _inside(path, taken)}
    if not left:
        return []
    by_digest = {}
    for planned in files:  # a file made from what it was made from last time has the digest recorded then
        before = known.get(planned.path)
        made = before[1] if before and before[0] == planned.key else digest_of(planned.make())
        by_digest.setdefault(made, planned)
    return [Planned(path, by_digest[digest].key, by_digest[digest].make, listed=False)
            for path, digest in sorted(left.items()) if digest in by_digest]


def _linked(built: Site, source: str) -> set[str]:
    """Every address the items of `source` on the site link (fragments left off), and the lead image of each of
    its items in an issue already mailed, withdrawn since or not: the emails sent show it from the site."""
    ids = built.store.ids_of(source)
    items = built.items([item_id for item_id in ids if item_id in built.facts])
    found = {item.image for item in items}
    found.update(unescape(link) for item in items for link in _LINK.findall(item.body_html))
    mailed = journal.mailed_editions(built.store)
    shown = {item_id for issue in built.issues if issue.record.number in mailed for item_id in issue.record.item_ids}
    found.update(item.image for item in built.items([item_id for item_id in ids if item_id in shown]))
    return {address.partition("#")[0] for address in found if address}


def _inside(path: str, taken: set[str]) -> bool:
    """Whether a folder of `path` is a file of the site ("feed.xml/x.png")."""
    parts = path.split("/")
    return any("/".join(parts[:n]) in taken for n in range(1, len(parts)))
