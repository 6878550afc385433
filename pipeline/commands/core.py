"""The handlers of `pipeline run`, `refresh`, `check`, `plugins` and `schedule`, and the run report.

Imported only when one of them runs, so `pipeline --help` stays quick. With `--json` (`args.json_out`
is then the real standard output), each prints one JSON document made by the same function that
gives its table its data.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import logs, renaming
from pipeline.cli import write_json
from pipeline.commands.styled import Span, print_lines, styles
from pipeline.config import Project, load_plugins, load_project
from pipeline.errors import ConfigError, StateAccessError
from pipeline.files import folder_problem
from pipeline.run_report import RunReport, StageResult
from pipeline.runner import outcome_of, run

if TYPE_CHECKING:
    from rich.console import Console


def _console(stderr: bool = False) -> Console:
    """A console for this call; lines are not wrapped when output goes to a file or a pipe (logs, cron).
    Rich is loaded here, when something is printed: a quiet run that goes well (every `schedule` refresh)
    never needs its 25 ms."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, stderr=stderr, highlight=False, emoji=False, width=None if stream.isatty() else 10_000)


def cmd_run(args) -> int:
    project = load_project(args.config)
    with _telling_if_unusable(project, "run"):
        report = _run_with_progress(project, args.as_of, "run", dry_run=args.dry_run)
    return _show_report(report, getattr(args, "json_out", None))


def cmd_refresh(args) -> int:
    project = load_project(args.config)
    with _telling_if_unusable(project, "refresh"):
        report = _run_with_progress(project, args.as_of, "refresh")
    return _show_report(report, getattr(args, "json_out", None))


@contextmanager
def _telling_if_unusable(project: Project, command: str) -> Iterator[None]:
    """Tell the organisers, once, when the run ends on a state it cannot use (as cron starts it, nobody else may
    hear; the alerts live in that database: `alerts.state_unusable`)."""
    try:
        yield
    except StateAccessError as exc:
        from pipeline import alerts

        alerts.state_unusable(project, " ".join(str(exc).split()), command)
        raise


def check_data(config, project: Project) -> dict:
    """What `pipeline check` found (it raises a ConfigError before this, when something is wrong, and for an
    output folder that could not be made)."""
    if problem := folder_problem(project.core.out_dir):
        raise ConfigError(f"{project.config_path.name}: [pipeline]: out_dir: {problem}; choose another path")
    english = english_templates(project)
    notes = [f'language = "{project.core.language}", but the shipped templates it uses are written in English, '
             f'their words and dates too, while every page, the email and the form say they are in that language: '
             f'make your own of {", ".join(english)} in templates/ (README, "Templates")'] if english else []
    return {"config": str(config), "ok": True, "exit_code": 0, "sources": len(project.sources),
            "transforms": len(project.transforms), "sinks": len(project.sinks),
            "plugins": len(project.host.pm.get_plugins()), "writes": [str(path) for path in written_folders(project)],
            "notes": notes}


def english_templates(project: Project) -> list[str]:
    """The shipped templates with words in them (all written in English) that a project in another language renders
    and has no copy of its own of: the email's and the form's when it mails, the site's when it has one."""
    from pipeline import site
    from pipeline.templating import SHIPPED_TEMPLATES

    if project.core.language.split("-")[0].lower() == "en":
        return []
    folders = (["email", "web"] if site.publishes(project, "email") else []) + (
        ["site"] if site.publishes(project, "archive") else [])
    own = project.root / "templates"
    return [name for folder in folders for path in sorted((SHIPPED_TEMPLATES / folder).iterdir())
            if path.is_file() and path.suffix != ".css" and not (own / (name := f"{folder}/{path.name}")).is_file()]


def written_folders(project: Project) -> list[Path]:
    """The folders runs write to (the state, the site, each delivery's own folder): what a sandbox such as systemd's
    `ReadWritePaths` must leave writable."""
    from pipeline.mail.transactional import keeping_mail

    found = [project.core.state_dir, project.core.out_dir]
    found += [folder for deliverer in keeping_mail(project) if isinstance(folder := getattr(deliverer, "folder", None),
                                                                          Path)]
    resolved = [path.resolve() for path in found]
    return [path for n, path in enumerate(resolved) if path not in resolved[:n]]


def _shown(path: Path, root: Path) -> str:
    """A folder as `check` names it: from the project's folder when inside it."""
    return f"{path.relative_to(root)}/" if path.is_relative_to(root) else str(path)


def cmd_check(args) -> int:
    project = load_project(args.config)
    _check_state(project)
    renaming.check(project)  # a `renamed_from` naming nothing stored, as a run would refuse it
    if any(hasattr(sink, "deliverer") for sink in project.sinks):  # its links are signed: a secret a send would refuse
        from pipeline.subscribers.signing import environment_secret

        environment_secret(project)
    data = check_data(args.config, project)
    if getattr(args, "json_out", None):
        write_json(args.json_out, data)
        return 0
    from rich.markup import escape

    counts = (f"{data['sources']} sources, {data['transforms']} transforms, "
              f"{data['sinks']} sinks, {data['plugins']} plugins")
    root = project.root.resolve()
    writes = ", ".join(_shown(Path(path), root) for path in data["writes"])
    _console().print(f"{escape(data['config'])}: OK — {counts}")
    _console().print(f"writes: {escape(writes)} (under systemd, each must be in the unit's ReadWritePaths)")
    for note in data["notes"]:
        _console().print(f"note: {escape(note)}", soft_wrap=True)
    return 0


def _check_state(project: Project) -> None:
    """Raise what every run would say of a state database it cannot use (a folder in its place, its rights, damage,
    a newer version's), read only; none yet is fine, and so is one another run holds locked."""
    import sqlite3

    from pipeline.runner import state_path
    from pipeline.state.access import open_read_only

    path = state_path(project)
    if not (path.exists() or path.is_symlink()):
        return
    try:
        open_read_only(path).close()
    except (OSError, sqlite3.Error):  # not a state the operator must mend: a run under way holds it
        return


def plugins_data(host, registry) -> dict:
    """Every plugin (where it comes from, what it registers, the components refused because another plugin has
    their name, why it is broken) and every conflict. A plugin that lost a name is not broken: its other
    components are registered and listed."""
    provided: dict[str, list[dict]] = {}
    for category, name, registered in registry.all():
        provided.setdefault(registered.plugin, []).append({"category": category, "name": name})
    refused: dict[str, list[dict]] = {}
    for taken in registry.refused:
        refused.setdefault(taken.plugin, []).append({"category": taken.category, "name": taken.name,
                                                     "owner": taken.owner, "reason": taken.reason})
    unusable = _unusable_settings(registry)
    plugins = [{"name": plugin, "from": origin, "components": provided.get(plugin, []),
                "refused": refused.get(plugin, []), "broken": host.broken.get(plugin, unusable.get(plugin))}
               for plugin, origin in sorted(host.origins.items())]
    plugins += [{"name": name, "from": origin, "components": [], "refused": [], "broken": reason}
                for name, origin, reason in host.unloaded]
    exit_code = 2 if host.broken or unusable or host.unloaded or registry.problems else 0
    return {"ok": exit_code == 0, "exit_code": exit_code, "plugins": plugins, "conflicts": list(registry.problems)}


def _unusable_settings(registry) -> dict[str, str]:
    """Per plugin, why a component's Settings cannot be used: pydantic builds each model when it is first used
    (`defer_build`), so a run says so only when a table names that component; `pipeline plugins` builds them all."""
    from pydantic import PydanticUserError

    unusable: dict[str, str] = {}
    for category, name, registered in registry.all():
        try:
            registered.component.Settings.model_rebuild()
        except PydanticUserError as exc:
            unusable.setdefault(registered.plugin, f"registers {category} {name!r}, whose settings cannot be used: "
                                                   f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    return unusable


def cmd_plugins(args) -> int:
    data = plugins_data(*load_plugins(args.config))
    if getattr(args, "json_out", None):
        write_json(args.json_out, data)
        return data["exit_code"]
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    table = Table("plugin", "components", "from", box=None)
    for plugin in data["plugins"]:
        listed = escape(", ".join(f"{c['category']} {c['name']}" for c in plugin["components"]) or "-")
        if plugin["refused"]:  # the others are registered; the conflict line under the table says what to do
            listed += "; [yellow]refused:[/yellow] " + escape(", ".join(
                f"{c['category']} {c['name']} ("
                + ("registered twice by this plugin" if c["owner"] == plugin["name"] else
                   f"name taken by plugin {c['owner']!r}") + ")" for c in plugin["refused"]))
        components = "[red]BROKEN[/red]" if plugin["broken"] is not None else listed
        table.add_row(escape(plugin["name"]), components, escape(plugin["from"]))
    console.print(table)
    for plugin in data["plugins"]:
        if plugin["broken"] is not None:
            console.print(f"[red]broken:[/red] plugin {escape(repr(plugin['name']))} {escape(plugin['broken'])}",
                          soft_wrap=True)
    for problem in data["conflicts"]:
        console.print(f"[red]conflict:[/red] {escape(problem)}", soft_wrap=True)
    return data["exit_code"]


def _run_with_progress(project: Project, as_of: date | None, mode: str, dry_run: bool = False) -> RunReport:
    if logs.quiet() or not styles(sys.stdout):
        return run(project, as_of=as_of, mode=mode, dry_run=dry_run)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # on a terminal only

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=_console(), transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        return run(project, as_of=as_of, mode=mode, progress=progress, dry_run=dry_run)


def report_data(report: RunReport) -> dict:
    """A run's report as data: what `run --json` prints, and what the run table's lines say."""
    return {"mode": report.mode, "as_of": report.as_of, "edition": report.edition, "exit_code": report.exit_code,
            "outcome": outcome_of(report),
            "results": [{"stage": r.stage, "name": r.name, "ok": r.ok, "summary": r.summary,
                         "seconds": round(r.seconds, 3), "count": r.count} for r in report.results],
            "failed_sources": [r.name for r in report.failed("source")], "problems": list(report.problems)}


def _show_report(report: RunReport, json_out=None) -> int:
    if json_out is None:
        return _print_report(report)
    write_json(json_out, report_data(report))
    return report.exit_code


def _print_report(report: RunReport) -> int:
    data = report_data(report)
    if logs.quiet() and data["exit_code"] == 0:
        return 0  # --quiet: the table only when something went wrong
    lines = _report_table(report.results)
    for problem in data["problems"]:
        if label := report.label(problem):
            lines.append([(f"{label}:", "yellow"), (f" {problem}", None)])
        else:  # "alerts: ...": the organisers were not told
            head, _, rest = problem.partition(":")
            lines.append([(f"{head}:", "red"), (rest, None)])
    if data["failed_sources"]:
        lines.append([("sources that failed:", "red"),
                      (f" {', '.join(data['failed_sources'])} (the others reached the sinks)", None)])
    edition = f"issue {data['edition']}" if data["edition"] else "no new issue"
    lines.append([(f"{data['mode']} as of {data['as_of']}: {edition}; {data['outcome']}", None)])
    print_lines(lines)
    return data["exit_code"]


MANY_SOURCES = 20  # with more sources than this, those that succeeded are counted on one line


def _report_table(results: list) -> list[list[Span]]:
    """The run table as lines of aligned text (Rich's Table takes a quarter of a second over 200 rows)."""
    sources = [r for r in results if r.stage == "source"]
    shown = list(results)
    if len(sources) > MANY_SOURCES:
        fine = [r for r in sources if r.ok]
        shown = [r for r in results if not (r.stage == "source" and r.ok)]
        if fine:
            items = sum(r.count for r in fine)
            slowest = max(fine, key=lambda r: r.seconds)
            shown.insert(0, StageResult("source", f"{len(fine)} sources", True,
                                        f"{items} item{'s' if items != 1 else ''}; slowest {slowest.name}",
                                        slowest.seconds, items))
    rows = [("stage", "name", "", "result", "seconds")]
    rows += [(r.stage, r.name, "ok" if r.ok else "FAILED", r.summary, f"{r.seconds:.2f}") for r in shown]
    widths = [max(len(row[n]) for row in rows) for n in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell + " " * (width - len(cell)) for cell, width in zip(row[:4], widths, strict=True)]
        status = ("green" if row[2] == "ok" else "red") if n and row[2] else None
        lines.append([(" " + "  ".join(cells[:2]) + "  ", None), (cells[2], status),
                      ("  " + "  ".join([cells[3], row[4].rjust(7)]), None)])
    return lines
