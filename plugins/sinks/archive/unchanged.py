"""A refresh with nothing new: the site is left as it is without loading every item and planning every page.

After each build the sink keeps (`pipeline/state/site.py`, `site_built`) a digest of everything the plan is made
from (`inputs`), and what the state of each job and event (open or closed, upcoming or over) depends on. The next
run works the digest out first; the site is not planned again when

- the digest is the one kept: the items (the state's count of item changes, and how many are published before the
  site's horizon: `Store.items_digest`), every issue, the withdrawn items, the addresses pages left, the themes
  moved, the events' revisions, the files the sink wrote (their keys and digests), the sources' own files (their
  list, sizes, times and inodes), the sink's and the project's settings, the sinks and sources there are (and the email
  sink's sender, the calendars' ORGANIZER), the templates (as the loader finds them, a project's own first; with a
  plugin preparing their environment, its code and pipeline.toml), this code and the libraries that render, and the
  day in the project's time zone;
- every job and event is in the state it was in (a job closes, an event ends, at any time of the day; a run with
  an earlier --as-of finds them as they were then);
- the build that kept it was settled: made from those same inputs before and after it ran, it made nothing again,
  removed nothing and met no problem (so it is what a full plan would make again, and a problem is said on every
  run until it is gone). A build that changed the site is followed by one more full plan, which settles it;
- every file the sink wrote is on the disk as written: its size, times and inode as kept (`writer.stat_text`),
  or, for one written too recently to trust those, its bytes read again. A file deleted or edited by hand means a
  full plan, which makes it again.

Anything else, or any doubt (no digest kept, a source's `site_files` raising), means the full plan, as before.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from pipeline import site
from pipeline.components import Sink
from pipeline.current import Horizons, horizons
from pipeline.run_context import RunContext
from pipeline.state import site as site_state
from plugins.sinks.archive.facts import Facts
from plugins.sinks.archive.writer import digest_of, holds, seen_now, stat_text

# *.py in each: the pipeline's own mail/ for how the calendars write their addresses (`site.uri`: `header_link`)
_CODE = [Path(__file__).parent, *(Path(site.__file__).parent / folder for folder in ("", "state", "mail"))]


def inputs_of(sink: Sink, run: RunContext, files: list[tuple[str, str, str, str]]) -> str | None:
    """A digest of everything a plan of the site is made from (but the moment: `timed`), `files` the sink wrote
    (`site_state.written_files`) among them; None when that cannot be known (a source's `site_files` raised: the
    full plan says so)."""
    from plugins.sinks.archive.builder import SITE_VERSION
    from plugins.sinks.archive.facts import FACTS_VERSION
    from plugins.sinks.archive.render import Renderer, libraries

    project, store = run.project, run.store
    core = project.core
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(json.dumps(parts, default=str).encode() + b"\n")

    renderer = Renderer(project, run.templates, main_feed=site.publishes(project, "rss"))
    add("archive inputs 1", SITE_VERSION, FACTS_VERSION, _code(), sys.version, libraries())
    add(renderer.sources(), sink.settings.model_dump(mode="json"), core.model_dump(mode="json"))
    add([(s.instance, s.name) for s in project.sinks], [(s.instance, s.name) for s in project.sources])
    add(site.organizer(project))  # the calendars' ORGANIZER: the email sink's sender
    add(run.moment.astimezone(project.tz).date().isoformat())  # the day where the network is
    editions = store._rows("SELECT * FROM editions ORDER BY number")
    horizon = store.site_horizon(run.moment, keep=not run.dry_run)
    until = max([horizon, *(datetime.fromisoformat(row[3]) for row in editions)])  # as the site's Site takes it
    add(store.items_digest(until))  # not `until`, which the clock moves on each run: which items it lets in
    for row in editions:
        add(*row)
    for table in ("withdrawn", "site_moved", "theme_moves", "item_revisions"):
        add(table, store._rows(f"SELECT * FROM {table} ORDER BY 1, 2"))  # noqa: S608 - the names above
    digest.update("\n".join(f"{path}\0{key}\0{made}" for path, key, made, _ in files).encode())
    for source in project.sources:
        try:
            named = list(source.site_files())
        except Exception:  # noqa: BLE001 - the full plan reports it
            return None
        for address, file in named:
            file = file if Path(file).is_absolute() else project.root / file
            try:
                stat = file.stat()
                add(source.instance, str(address), str(file), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
                    stat.st_ino)  # as plan_files keys it
            except OSError:
                add(source.instance, str(address), str(file), "unreadable")
    return digest.hexdigest()


def unchanged(sink: Sink, run: RunContext, inputs: str | None, files: list[tuple[str, str, str, str]]) -> str | None:
    """'N pages, M files' when the site is as the last settled build left it and would be planned so again;
    None when it must be planned."""
    build = site_state.last_build(run.store, sink.instance)
    if inputs is None or build is None or not build.settled or build.inputs != inputs:
        return None
    if states(build.timed, run.moment, horizons(run.project)) != build.states:
        return None
    return build.said if _as_written(run, sink.instance, files) else None


def remember(sink: Sink, run: RunContext, inputs: str | None, settled: bool, facts: dict[str, Facts],
             said: str) -> None:
    """Keep what the build just made was made from (`inputs`, worked out after it), and whether it was settled."""
    if inputs is None:
        return
    timed = [[entry.kind, entry.closing, entry.published, entry.finishes] for entry in facts.values()
             if entry.kind in ("job", "event")]
    now = states(timed, run.moment, horizons(run.project))
    site_state.record_build(run.store, sink.instance, site_state.Build(inputs, settled, timed, now, said))


def states(timed: list, moment: datetime, horizon: Horizons) -> list[str]:
    """The state of each job and event (`timed`) at `moment`, as its page and the lists take it."""
    from plugins.sinks.archive.builder import state_at

    return [state_at(Facts("", "", kind, "", "", published, "", "", [], "", "", closing=closing, finishes=finishes),
                     moment, horizon) for kind, closing, published, finishes in timed]


def _as_written(run: RunContext, sink: str, files: list[tuple[str, str, str, str]]) -> bool:
    """Whether every file the sink wrote is there, holding what it wrote: as its stats kept say, or as read."""
    root = f"{run.project.core.out_dir}/"
    read = []
    for path, _, digest, stat in files:
        name = root + (path + "index.html" if path == "" or path.endswith("/") else path)
        now = stat_text(name, digest)
        if now is None:
            return False
        if stat and stat == now:
            continue
        if not holds(name, digest):
            return False
        read.append((path, name, digest))  # its stats kept for next time, once old enough to trust
    if read:
        site_state.record_stats(run.store, sink, seen_now(read, {}))
    return True


def _code() -> str:
    """This code and the pipeline's (the plugins preparing the templates' environment: `Renderer.sources`)."""
    digest = hashlib.sha256()
    for file in sorted(file for folder in _CODE for file in folder.glob("*.py")):
        digest.update(f"{file.name}\0".encode())
        try:
            digest.update(digest_of(file.read_bytes()).encode())
        except OSError:
            digest.update(f"unreadable {time.time_ns()}".encode())  # never the same twice: never skipped
    return digest.hexdigest()
