"""The handlers of `pipeline run`, `refresh`, `check`, `plugins` and `schedule`, and the run report.

Imported only when one of them runs, so `pipeline --help` stays quick.
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timedelta

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pipeline.config import Project, load_plugins, load_project
from pipeline.run_report import RunReport, StageResult
from pipeline.runner import run, state_path
from pipeline.scheduler import build_scheduler, next_monthly
from pipeline.state import Store


def _console(stderr: bool = False) -> Console:
    """A console for this call; lines are not wrapped when output goes to a file or a pipe (logs, cron)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, stderr=stderr, highlight=False, width=None if stream.isatty() else 10_000)


def cmd_run(args) -> int:
    project = load_project(args.config)
    report = _run_with_progress(project, args.as_of, "run", dry_run=args.dry_run)
    return _print_report(report)


def cmd_refresh(args) -> int:
    project = load_project(args.config)
    return _print_report(_run_with_progress(project, args.as_of, "refresh"))


def cmd_check(args) -> int:
    console = _console()
    project = load_project(args.config)
    loaded = len(project.host.pm.get_plugins())
    counts = (f"{len(project.sources)} sources, {len(project.transforms)} transforms, "
              f"{len(project.sinks)} sinks, {loaded} plugins")
    console.print(f"{escape(str(args.config))}: OK — {counts}")
    return 0


def cmd_plugins(args) -> int:
    console = _console()
    host, registry = load_plugins(args.config)
    table = Table("plugin", "components", "from", box=None)
    provided: dict[str, list[str]] = {}
    for category, name, registered in registry.all():
        provided.setdefault(registered.plugin, []).append(f"{category} {name}")
    for plugin, origin in sorted(host.origins.items()):
        listed = escape(", ".join(provided.get(plugin, [])) or "-")
        components = "[red]BROKEN[/red]" if plugin in host.broken else listed
        table.add_row(escape(plugin), components, escape(origin))
    console.print(table)
    for plugin, reason in sorted(host.broken.items()):
        console.print(f"[red]broken:[/red] plugin {escape(repr(plugin))} {escape(reason)}", soft_wrap=True)
    for problem in registry.problems:
        console.print(f"[red]conflict:[/red] {escape(problem)}", soft_wrap=True)
    return 2 if host.broken or registry.problems else 0


def cmd_schedule(args) -> int:
    console = _console()
    project = load_project(args.config)
    now = datetime.now(project.tz)
    console.print(f"monthly edition: next at {next_monthly(project, now):%Y-%m-%d %H:%M %Z}")
    console.print(f"refresh every {project.schedule.refresh_minutes} min: next at "
                  f"{now + timedelta(minutes=project.schedule.refresh_minutes):%Y-%m-%d %H:%M %Z}")
    if args.list:
        return 0

    def job(as_of: date | None, mode: str) -> None:
        try:  # the config is read afresh each time, so edits apply without a restart
            _print_report(_run_with_progress(load_project(args.config), as_of, mode))
        except Exception as exc:  # keep the schedule alive; the next run may succeed
            for line in str(exc).splitlines() or [type(exc).__name__]:
                _console(stderr=True).print(f"[red]error ({mode}):[/red] {escape(line)}", soft_wrap=True)

    project.core.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(state_path(project))
    # No --as-of: a scheduled run uses the clock, and makes the edition of the newsletter day that is due.
    scheduler = build_scheduler(project, lambda as_of: job(None, "run"), lambda: job(None, "refresh"), store)
    console.print("running; press Ctrl-C to stop")
    try:
        while True:
            scheduler.run_pending()
            time.sleep(min(30, max(1, scheduler.idle_seconds or 1)))
    finally:
        store.close()


def _run_with_progress(project: Project, as_of: date | None, mode: str, dry_run: bool = False) -> RunReport:
    console = _console()
    if not console.is_terminal:
        return run(project, as_of=as_of, mode=mode, dry_run=dry_run)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        return run(project, as_of=as_of, mode=mode, progress=progress, dry_run=dry_run)


def _print_report(report: RunReport) -> int:
    console = _console()
    console.print(_report_table(report.results), soft_wrap=True, highlight=False)
    for problem in report.problems:
        console.print(f"[yellow]skipped:[/yellow] {escape(problem)}", soft_wrap=True)
    failed_sources = [r.name for r in report.failed("source")]
    if failed_sources:
        names = escape(", ".join(failed_sources))
        console.print(f"[red]sources that failed:[/red] {names} (the others reached the sinks)")
    edition = f"issue {report.edition}" if report.edition else "no new issue"
    outcome = {0: "done", 1: "FAILED (a sink or transform failed)", 3: "done, with problems"}[report.exit_code]
    console.print(f"{report.mode} as of {report.as_of}: {edition}; {outcome}")
    return report.exit_code


MANY_SOURCES = 20  # with more sources than this, those that succeeded are counted on one line


def _report_table(results: list) -> str:
    """The run table as aligned text (Rich's Table takes a quarter of a second over 200 rows)."""
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
        cells = [escape(cell) + " " * (width - len(cell)) for cell, width in zip(row[:4], widths, strict=True)]
        if n and row[2]:
            cells[2] = f"[green]{cells[2]}[/green]" if row[2] == "ok" else f"[red]{cells[2]}[/red]"
        lines.append(" " + "  ".join([*cells, row[4].rjust(7)]))
    return "\n".join(lines)
