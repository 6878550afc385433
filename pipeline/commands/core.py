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
from pipeline.run_report import RunReport
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
    table = Table("stage", "name", "", "result", "seconds", box=None)
    for result in report.results:
        mark = "[green]ok[/green]" if result.ok else "[red]FAILED[/red]"
        table.add_row(escape(result.stage), escape(result.name), mark, escape(result.summary), f"{result.seconds:.2f}")
    console.print(table, soft_wrap=True)
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
