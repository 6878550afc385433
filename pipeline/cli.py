"""The `pipeline` command: run, refresh, check, plugins, preview, send-test, deliveries, schedule,
subscribers, serve."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pipeline import __version__
from pipeline.config import Project, load_plugins, load_project
from pipeline.errors import PipelineError
from pipeline.memory import limit_malloc_arenas
from pipeline.run_report import RunReport
from pipeline.runner import run, state_path
from pipeline.scheduler import build_scheduler, next_monthly
from pipeline.state import Store

DEBUG_ENV = "PIPELINE_DEBUG"


def _console(stderr: bool = False) -> Console:
    """A console for this call; lines are not wrapped when output goes to a file or a pipe (logs, cron)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, stderr=stderr, highlight=False, width=None if stream.isatty() else 10_000)


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any thread starts
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except PipelineError as exc:
        errors = _console(stderr=True)
        for line in str(exc).splitlines():
            errors.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, ours or a plugin's: one line, the traceback on request
        if os.environ.get(DEBUG_ENV):
            raise
        _console(stderr=True).print(f"[red]error:[/red] unexpected {type(exc).__name__}: {escape(str(exc))} "
                                    f"(set {DEBUG_ENV}=1 to see the traceback)", soft_wrap=True)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description="Newsletter, RSS feed and archive from many sources.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--config", "-c", type=Path, default=Path("pipeline.toml"),
                         help="the configuration file (default: ./pipeline.toml)")
        sub.set_defaults(command=handler)
        return sub

    run_cmd = command("run", cmd_run, "run every stage and make the edition for a date")
    run_cmd.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                         help="the edition date; the run then behaves as at midnight that day "
                              "(default: the latest newsletter day, by the clock)")
    run_cmd.add_argument("--dry-run", action="store_true",
                         help="fetch, transform and write files, but store no new issue and send nothing")
    refresh = command("refresh", cmd_refresh, "fetch sources and update the feed and archive; no new edition")
    refresh.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="behave as on this day")
    command("check", cmd_check, "validate pipeline.toml and the plugins; fetch and write nothing")
    command("plugins", cmd_plugins, "list plugins, their components and where they come from")
    preview = command("preview", cmd_preview, "render the issue (HTML and text) without sending or recording it")
    preview.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="the issue date (default: the latest)")
    test = command("send-test", cmd_send_test, "send the issue to one address, marked [TEST]; nothing recorded")
    test.add_argument("--to", required=True, metavar="ADDRESS", help="where to send the test")
    test.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="the issue date (default: the latest)")
    sent = command("deliveries", cmd_deliveries, "per issue: how many sent, in flight, unknown and failed")
    sent.add_argument("--issue", type=int, metavar="N", help="one issue, with the recipients not yet sent")
    sent.add_argument("--resend", choices=("unknown", "failed", "all"),
                      help="send the latest issue again to these (with --issue N); unknown ones may get two copies")
    explain = command("explain", cmd_explain, "why an item has its themes (the evidence) and its summary")
    explain.add_argument("item", metavar="ITEM-ID-OR-URL", help="the item's id or its link")
    sched = command("schedule", cmd_schedule, "run the monthly edition and the regular refresh on a schedule")
    sched.add_argument("--list", action="store_true", help="print the next run times and exit")
    from pipeline.commands import serve, subscribers

    subscribers.register(command)
    serve.register(command)
    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2016-02-01") from None


def cmd_run(args) -> int:
    project = load_project(args.config)
    report = _run_with_progress(project, args.as_of, "run", dry_run=args.dry_run)
    return _print_report(report)


def cmd_preview(args) -> int:
    from pipeline.commands import mail
    return mail.preview(args.config, args.as_of, _console())


def cmd_send_test(args) -> int:
    from pipeline.commands import mail
    return mail.send_test(args.config, args.to, args.as_of, _console())


def cmd_explain(args) -> int:
    from pipeline.commands.explain import explain
    return explain(args.config, args.item, _console())


def cmd_deliveries(args) -> int:
    from pipeline.commands import mail
    return mail.deliveries(args.config, args.issue, args.resend, _console())


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


if __name__ == "__main__":
    sys.exit(main())
