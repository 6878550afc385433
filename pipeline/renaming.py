"""Sources renamed in pipeline.toml: `renamed_from = "old-name"` in the renamed table.

At the start of each run, before anything is fetched, what is stored under each name a source had is moved to its
name now (`state.renames.rename_source`, one transaction each), and every source is given the name its item ids are
made under (`models.SourceName`): the first it had. So a source renamed keeps every item's id, page address and feed
guid, the issues and withdrawals that name them, its feed's ETag and its run history, and nothing is stored twice.
A rename done is recorded: the key may stay, or go, and running again moves nothing.

A `renamed_from` that finds nothing stored under a name (misspelt, or a database that never had it) stops the run
at start-up, as `pipeline check` does, with a line naming the file, the table and what to do.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from datetime import UTC, datetime

from pipeline.config import Project
from pipeline.errors import ConfigError, PipelineError
from pipeline.models import Item, SourceName
from pipeline.run_report import items_text
from pipeline.state.renames import (
    every_rename,
    has_stored,
    id_namespaces,
    look_alikes,
    never_fetched,
    others_stored,
    rename_source,
    renamed_to,
)
from pipeline.state.store import Store

log = logging.getLogger("pipeline.run")


def planned(project: Project, store: Store) -> list[tuple[str, str]]:
    """Each (old name, new name) still to move; a ConfigError, a line per table, for a `renamed_from` naming nothing
    stored, a name another source now has, or two names each with items of their own."""
    done, every = renamed_to(store), every_rename(store)
    configured = {source.instance for source in project.sources}
    found: dict[tuple[str, str], bool] = {}  # (table, name given): something found under it, for a source of it
    moves: dict[str, list[str]] = {}  # new name -> the old names to move to it
    problems = []
    for source in project.sources:
        table = project.listed_in.get(source.instance, source.instance)
        for given, former in zip(project.renamed_from.get(table, ()), project.former_names(source.instance),
                                 strict=True):
            old = _now_named(former, done)
            if old != source.instance and source.instance in _names_since(former, every):
                old = source.instance  # renamed on since, and its name given to a new source renamed too
            if old not in (source.instance, former) and has_stored(store, former):
                old = former  # a source given the name once it was renamed away: its own, to move
            if old == source.instance:  # moved already
                found[table, given] = True
            elif old in configured:
                problems.append(f"{_where(project, table)}: renamed_from: {given!r} was renamed to [sources.{old}], "
                                f"which is in {project.config_path.name}; remove the key, or that table")
                found[table, given] = True
            elif has_stored(store, old):
                found[table, given] = True
                moves.setdefault(source.instance, []).append(old)
            else:
                found.setdefault((table, given), False)
    for (table, given), any_found in found.items():
        if not any_found:
            problems.append(f"{_where(project, table)}: renamed_from: nothing is stored under {given!r} in "
                            f"{store.path} (no items, feed state or runs); check the name it had, or remove the key")
    for new, olds in moves.items():
        if len(set(olds)) > 1:
            problems.append(f"{_where(project, project.listed_in.get(new, new))}: renamed_from: "
                            f"{', '.join(map(repr, sorted(set(olds))))} each have items of their own, and a source "
                            f"keeps the ids of one; name only the one it was last run as")
    claimed: dict[str, str] = {}
    for new, olds in moves.items():
        for old in olds:
            if claimed.setdefault(old, new) != new:
                problems.append(f"{_where(project, project.listed_in.get(new, new))}: renamed_from: {old!r} is "
                                f"named by [sources.{project.listed_in.get(claimed[old], claimed[old])}] too; keep "
                                f"the key in the table that took its place only")
    problems += _ids_shared(project, store, moves)
    if problems:
        raise ConfigError(*dict.fromkeys(problems))
    return [(olds[0], new) for new, olds in moves.items()]


def _ids_shared(project: Project, store: Store, moves: dict[str, list[str]]) -> list[str]:
    """A line for each source named as another renamed one was first: that one's item ids are made under the name,
    so the two would make the same ids, each taking the other's items."""
    namespaces = id_namespaces(store)
    namespaces.update({new: namespaces.get(olds[0], olds[0]) for new, olds in moves.items()})
    configured = {source.instance for source in project.sources}
    return [f"{_where(project, project.listed_in.get(name, name))}: {name!r} is the name [sources."
            f"{project.listed_in.get(other, other)}] was first stored under, and its item ids are still made under "
            f"it, so the two would share ids; give this source another name"
            for other, name in namespaces.items() if other != name and {other, name} <= configured]


def settle(project: Project, store: Store) -> dict[str, str]:
    """Move what each renamed source had stored (`planned`), then name each source's ids; {source: a few words on
    what was moved, for its line of the run's report}."""
    told = {}
    for old, new in planned(project, store):
        moved = rename_source(store, old, new, datetime.now(UTC))
        told[new] = f"renamed from {old}: {items_text(moved.items)} kept, ids and pages as they were"
        if moved.withdrawn:
            told[new] += (f"; the {items_text(moved.withdrawn)} stored as {new} before were withdrawn as copies "
                          f"(their pages lead on to the items kept), and its feed is read whole")
        log.info("source %s: %s", new, told[new])
    name_ids(project, store)
    return told


def name_ids(project: Project, store: Store) -> None:
    """Give each renamed source the name its item ids are made under (the first it had)."""
    namespaces = id_namespaces(store)
    for source in project.sources:
        name = str(source.instance)
        ids = namespaces.get(name, name)
        source.instance = SourceName(name, ids) if ids != name else name


def check(project: Project) -> None:
    """`planned`, for `pipeline check`: read from the state database without writing to it (none: nothing stored)."""
    path = project.core.state_dir / "pipeline.sqlite"
    if not path.is_file() and not project.renamed_from:
        return
    if not path.is_file():
        raise ConfigError(*(f"{_where(project, table)}: renamed_from: nothing is stored under {names[0]!r}, since "
                            f"{path} does not exist yet; remove the key, or point state_dir at the state folder"
                            for table, names in project.renamed_from.items()))
    try:
        store = Store(path, read_only=True)
    except (OSError, sqlite3.Error, PipelineError):  # damaged, locked or newer: the run says so, and what to do
        return
    try:
        planned(project, store)
    except sqlite3.Error:
        return
    finally:
        store.close()


def _now_named(name: str, done: dict[str, str]) -> str:
    """What source `name` is called now, following each rename recorded."""
    seen = set()
    while name in done and name not in seen:
        seen.add(name)
        name = done[name]
    return name


def _names_since(name: str, every: dict[str, set[str]]) -> set[str]:
    """Each name a source of `name` was renamed to, and on (`every_rename`)."""
    found, todo = set(), [name]
    while todo:
        for new in every.get(todo.pop(), ()):
            if new not in found:
                found.add(new)
                todo.append(new)
    return found


def _where(project: Project, table: str) -> str:
    return f"{project.config_path.name}: [sources.{table}]"


Seen = tuple[tuple[str, str, str], str]  # an item fetched: (its link, title and date (ISO, UTC)), and its id


def first_fetches(project: Project, store: Store) -> dict[str, None]:
    """The sources no run has fetched an item from yet, each to be given what it fetched (`seen`), while an item is
    stored under a source no longer in pipeline.toml (one of them may be it, renamed: `renamed_without_saying`);
    none else, so a run keeps nothing for it (the first run of a project, and every run but one after a rename)."""
    names = [str(source.instance) for source in project.sources]
    never = never_fetched(store, names)
    return dict.fromkeys(never) if never and others_stored(store, names) else {}


def seen(items: list[Item]) -> list[Seen]:
    """What `renamed_without_saying` needs of the items of a source's first fetch."""
    return [((item.url, item.title, item.published.astimezone(UTC).isoformat()), item.id) for item in items]


def renamed_without_saying(project: Project, store: Store, firsts: dict[str, list[Seen]]) -> list[tuple[str, str]]:
    """(where, what) for each source fetched for the first time (`firsts`: its items, `seen`) that half of whose
    items, or more, are stored already under one source no longer in pipeline.toml: most likely that source renamed
    without `renamed_from`, each item now stored twice."""
    keys = {name: [key for key, _ in listed] for name, listed in firsts.items()}
    if not keys:
        return []
    fetched: dict[tuple[str, str, str], set[str]] = {}  # (an item this fetch stored under a name not configured is
    for listed in firsts.values():                       # no copy: a source may give items another's name)
        for key, ident in listed:
            fetched.setdefault(key, set()).add(ident)
    found = look_alikes(store, [str(source.instance) for source in project.sources], fetched)
    said = []
    for name, listed in keys.items():
        counts = Counter(old for key in set(listed) for old in set(found.get(key, ())))
        if not counts or (best := max(counts.items(), key=lambda pair: (pair[1], pair[0])))[1] * 2 < len(listed):
            continue
        old, count = best
        table = project.listed_in.get(name, name)
        said.append((_where(project, table), f"{items_text(count)} of its first fetch are stored already under "
                     f"{old!r}, which is no longer in {project.config_path.name}, so each is stored twice, with a page "
                     f"of its own; "
                     + _what_to_do(project, name, old)))
    return said


def _what_to_do(project: Project, name: str, old: str) -> str:
    """The advice for source `name`, whose first fetch `old` had stored: the `renamed_from` that moves it, when one
    can (a list's table names the list it was, so a feed moved into a list, or out of one still configured, cannot)."""
    table = project.listed_in.get(name, name)
    suffix = name[len(table):]
    old_table = old[:-len(suffix)] if suffix and old.endswith(suffix) else old
    if not suffix or (old.endswith(suffix) and old_table not in {*project.listed_in.values(), *map(str, (
            source.instance for source in project.sources))}):
        return (f"if this is that source renamed, add renamed_from = \"{old_table}\" to its table (the copies are "
                f"then withdrawn, their pages leading on to the items kept)")
    if old.startswith(f"{table}/"):  # renamed_from cannot help: the list's table kept its name
        return (f"if this is that feed, its name in [sources.{table}]'s list changed (its outline's text, or another "
                f"feed of that name added or taken out); to keep its items' ids and pages, give the list back what "
                f"named it {old!r}")
    return (f"if this is that source, renamed_from cannot move its items to a feed of [sources.{table}]'s list (it "
            f"names the list's table as it was); to keep their ids and pages, give it back the place it had, as "
            f"{old!r}")
