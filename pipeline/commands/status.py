"""`pipeline status`: the last runs, each source's health (and the records its latest run skipped), the next scheduled
times and the latest issue's deliveries.

It only reads: no lock is taken (SQLite in WAL mode lets it read while a run writes), and a state
folder that does not exist yet is not created. `status_data` gives what both the table and `--json` show.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from pipeline import scheduler
from pipeline.alerts import SPAM_ALERT_RATE
from pipeline.cli import write_json
from pipeline.commands.core import _console
from pipeline.config import Project, load_project
from pipeline.errors import ConfigError, PipelineError
from pipeline.redact import redact_text
from pipeline.runner import LOCK_FILE, state_path
from pipeline.scheduler import due, missed, next_slot
from pipeline.state import Store, alerts, history, journal, provider_reports, suppression_log
from pipeline.state import store as store_state
from pipeline.state.access import unopenable
from pipeline.state.store import damaged, is_damage
from pipeline.state.suppression_log import LOG_FILE, SuppressionLog

STATUSES = (journal.SENT, journal.IN_FLIGHT, journal.UNKNOWN, journal.FAILED)
SKIPPED_SHOWN = 10  # a source's skipped records listed in the table's view (--json: every one), as its alert lists


def cmd_status(args) -> int:
    data = status_data(load_project(args.config), runs=args.runs)
    if getattr(args, "json_out", None):
        write_json(args.json_out, data)
    else:
        _print_status(data)
    return 0


def status_data(project: Project, *, runs: int = 10, now: datetime | None = None) -> dict:
    """Everything `pipeline status` shows, as plain data (times in the project's time zone, ISO 8601)."""
    now = now or datetime.now(project.tz)
    path = state_path(project)
    data: dict = {"project": project.core.name, "state": str(path), "latest_issue": None, "issue": None,
                  "deliveries": None, "never_sent": 0, "runs": [], "latest": {}, "running": False, "sources": [],
                  "next": _next_times(project, None, now),
                  "problems": [], "reapplied": None, "unchecked_suppressions": 0, "provider": None}
    found: dict[str, history.SourceHealth] = {}
    skipped: dict[str, list[str]] = {}
    if path.exists():
        with read_only_store(path) as store:
            data["runs"] = [_run(record, project) for record in history.last_runs(store, runs)]
            # the latest monthly run however many refreshes came after it (and the latest refresh)
            data["latest"] = {mode: _run(record, project) for mode in ("run", "refresh")
                              if (record := history.latest_run_of_mode(store, mode, finished=False)) is not None}
            found = history.source_health(store)
            skipped = history.skipped_records(store)
            latest = store.latest_edition()
            if latest is not None:
                counts = journal.counts(store, latest.number).get(latest.number, Counter())
                data["latest_issue"] = latest.number
                data["issue"] = {"number": latest.number, "as_of": latest.as_of.isoformat(), "title": latest.title,
                                 "created_at": _local(latest.created_at, project)}
                data["deliveries"] = {status: counts.get(status, 0) for status in STATUSES}
                data["never_sent"] = len(scheduler.never_sent(store, project, latest))
            data["next"] = _next_times(project, store, now)
            data["provider"] = _provider(store, project, latest, now)
            if (replayed := suppression_log.last_replay(store._rows)) is not None:  # after a backup was put back
                data["reapplied"] = {"count": replayed[1], "at": _local(replayed[0], project)}
            # Entries of the log this database has not been checked against (it was just put back): nothing is read
            # but the log, and nothing written; the next command that writes applies them
            unread = SuppressionLog(project.core.state_dir / LOG_FILE, lambda make: None).unchecked(store._rows)
            data["unchecked_suppressions"] = ((len(unread[0]) if unread else 0)
                                              + len(suppression_log.waiting(store._rows)))  # for their secret
            data["problems"] = [{"key": alert.key, "subject": redact_text(alert.subject),
                                 "since": _local(alert.opened_at, project), "told": _local(alert.notified_at, project)}
                                for alert in alerts.open_alerts(store)]
    # a source renamed since the last run (`renamed_from`): its history so far, under the name it had
    data["sources"] = []
    for source in project.sources:
        names = (source.instance, *project.former_names(source.instance))
        shown = _health(source.instance, next(filter(None, (found.get(name) for name in names)), None), project)
        shown["skipped"] = [redact_text(line) for line in next(filter(None, (skipped.get(name) for name in names)),
                                                               [])]  # by its latest run, each with its problem
        data["sources"].append(shown)
    data["running"] = _running(project)
    return data


def _provider(store: Store, project: Project, latest, now: datetime) -> dict:
    """Who left how since the latest issue went out and over the last 30 days, that issue's spam-report rate (of
    those it reached), and when SendGrid's Event Webhook was last heard and a serve began listening for it."""
    read = store._rows
    sent = journal.counts(store, latest.number).get(latest.number, Counter())[journal.SENT] if latest else 0
    spam = provider_reports.complaints(read, latest.number, latest.created_at) if latest else 0
    return {"left_since_latest_issue": provider_reports.departures(read, latest.created_at) if latest else None,
            "left_last_30_days": provider_reports.departures(read, now - timedelta(days=30)),
            "spam_reports": spam, "spam_rate": round(spam / sent, 6) if sent else None,
            "last_event": _local(provider_reports.last_heard(read), project),
            "webhook_listening_since": _local(provider_reports.listening_since(read), project),
            "sendgrid": bool(latest and provider_reports.first_sent(read, latest.number, "sendgrid"))}


def _print_provider(console, data: dict) -> None:
    shown = data.get("provider")
    if not shown:
        return

    def left(counts: dict) -> str:
        return (f"{counts['bounced']} bounced, {counts['complained']} reported spam, {counts['unsubscribed']} "
                f"unsubscribed")

    since = data["issue"]
    lines = [f"since issue {since['number']} went out: {left(shown['left_since_latest_issue'])}"] if since else []
    lines.append(f"last 30 days: {left(shown['left_last_30_days'])}")
    rate = shown["spam_rate"]
    if rate is not None and shown["spam_reports"]:
        lines.append(f"spam-report rate of the latest issue {rate:.2%} (alert above {SPAM_ALERT_RATE:.1%})")
    said = f"left the list: {'; '.join(lines)}"
    if shown["sendgrid"] or shown["last_event"] or shown["webhook_listening_since"]:
        said += f". SendGrid's last event: {_short(shown['last_event']) if shown['last_event'] else 'never'}"
    console.print(said, soft_wrap=True)


def _running(project: Project) -> bool:
    """Whether a run holds the state folder's lock now (its run is going, not killed)."""
    import fcntl

    try:
        with open(project.core.state_dir / LOCK_FILE) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


@contextlib.contextmanager
def read_only_store(path: Path) -> Iterator[Store]:
    """The state database at `path`, read only, with no run lock (`status`, and `deliveries` counting while a send
    runs): an older one is read from an up-to-date copy in memory; what stops it being read said in one line."""
    try:
        store = Store(path, read_only=True)
    except (OSError, sqlite3.Error) as exc:
        if is_damage(exc):
            raise damaged(path, str(exc), "nothing was changed") from None
        if _locked(exc):
            raise _still_locked(path, exc) from None
        if (denied := unopenable(path, exc)) is not None:  # a sound file this user may not read: never restore it
            raise denied from None
        raise ConfigError(f"{path}: cannot open the state database ({exc}); restore the file from a backup, "
                          f"or check [pipeline] state_dir") from None
    try:
        yield store
    except sqlite3.OperationalError as exc:
        if not _locked(exc):
            raise
        raise _still_locked(path, exc) from None
    finally:
        store.close()


def _locked(exc: BaseException) -> bool:
    """Whether SQLite gave up waiting for another connection's lock (not a damaged or missing file)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _still_locked(path, exc: BaseException) -> PipelineError:
    return PipelineError(f"{path}: another program kept the state database locked for {store_state.READ_WAIT:g} s "
                         f"({exc}), so it could not be read; nothing was changed: try again in a moment")


def _next_times(project: Project, store: Store | None, now: datetime) -> dict:
    """What `pipeline schedule` would do now (`due`, a `missed` slot), its next newsletter slot, and
    its next refresh: `refresh_minutes` after the last run or refresh finished (now, if that is past)."""
    every = timedelta(minutes=project.schedule.refresh_minutes)
    finished = [record.finished for record in (history.latest_run_of_mode(store, mode) for mode in ("run", "refresh"))
                if record is not None] if store else []
    last_refresh = max(finished, default=None)
    now_due = due(store, project, now, last_refresh=last_refresh) if store else []
    return {"edition": _local(next_slot(project, now), project),
            "refresh": _local(max(now, last_refresh + every) if last_refresh else now, project),
            "refresh_minutes": project.schedule.refresh_minutes, "last_refresh": _local(last_refresh, project),
            "due_now": [{"kind": d.kind, "as_of": d.as_of.isoformat() if d.as_of else None, "why": d.why}
                        for d in now_due],
            "missed": missed(store, project, now) if store else None}


def _run(record: history.RunRecord, project: Project) -> dict:
    return {"id": record.id, "started": _local(record.started, project), "finished": _local(record.finished, project),
            "mode": record.mode, "as_of": record.as_of.isoformat(), "edition": record.edition,
            "exit_code": record.exit_code, "outcome": redact_text(record.outcome) if record.finished else "unfinished",
            "seconds": round(record.seconds, 3) if record.seconds is not None else None}


def _health(name: str, health: history.SourceHealth | None, project: Project) -> dict:
    if health is None:
        return {"name": name, "last_success": None, "failures_in_a_row": 0, "last_error": "", "last_failure": None,
                "never_run": True}
    return {"name": name, "last_success": _local(health.last_success, project),
            "failures_in_a_row": health.failures_in_a_row, "last_error": redact_text(health.last_error),
            "last_failure": _local(health.last_failure, project), "never_run": False}


def _local(moment: datetime | None, project: Project) -> str | None:
    return moment.astimezone(project.tz).isoformat(timespec="seconds") if moment else None


def _short(text: str | None) -> str:
    """'2016-02-01T09:00:00+00:00' -> '2016-02-01 09:00'."""
    return text[:16].replace("T", " ") if text else "-"


def print_due(console, upcoming: dict) -> None:
    """The edition or send `pipeline schedule` would start now, and a slot it missed (`status_data`'s "next")."""
    for item in upcoming["due_now"]:
        if item["kind"] != "refresh":
            console.print(f"[yellow]due now:[/yellow] {item['kind']} {item['as_of']}: {escape(item['why'])}",
                          soft_wrap=True)
    if upcoming["missed"]:
        console.print(f"[red]missed:[/red] {escape(upcoming['missed'])}", soft_wrap=True)


def _print_status(data: dict) -> None:
    console = _console()
    console.print(f"{escape(data['project'])}: {escape(data['state'])}", soft_wrap=True)
    issue, counts = data["issue"], data["deliveries"]
    if issue is None:
        console.print("latest issue: none yet")
    else:
        sent = ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in STATUSES)
        never = data.get("never_sent") or 0
        if never:  # a send cut short: no delivery of it at all, so in no count above
            sent += (f"; {never} subscriber{'s' if never != 1 else ''} on the list when its send began never sent it "
                     f"(`pipeline run --as-of {issue['as_of']}` sends to them, and to anyone who joined since)")
        console.print(f"latest issue: {issue['number']} ({issue['as_of']}); deliveries: {sent}", soft_wrap=True)
    upcoming = data["next"]
    console.print(f"next edition: {_short(upcoming['edition'])}; next refresh: {_short(upcoming['refresh'])} "
                  f"(every {upcoming['refresh_minutes']} min, while `pipeline schedule` runs)")
    print_due(console, upcoming)
    if data.get("reapplied"):
        again = data["reapplied"]
        console.print(f"re-applied {again['count']} from the suppression log on {_short(again['at'])}: "
                      f"{'an address' if again['count'] == 1 else 'addresses'} that left after the copy the database "
                      f"was put back from was made (unsubscribed, bounced, complained or erased: `pipeline "
                      f"subscribers list` shows each with how)", soft_wrap=True)
    if data.get("unchecked_suppressions"):
        count = data["unchecked_suppressions"]
        console.print(f"[yellow]suppression log:[/yellow] {count} {'entry' if count == 1 else 'entries'} of people who "
                      f"left not yet checked against this database (put back from a backup?): the next run, `serve` "
                      f"or `subscribers` command takes whoever they name off the list again first", soft_wrap=True)
    _print_provider(console, data)
    for problem in data["problems"]:
        told = f"organisers told {_short(problem['told'])}" if problem["told"] else "organisers not told yet"
        console.print(f"[red]problem:[/red] {escape(problem['subject'])} (since {_short(problem['since'])}; {told})",
                      soft_wrap=True)

    monthly = data["latest"].get("run")
    if monthly is not None and monthly["finished"] is None and data.get("running"):
        console.print(f"the latest run (as of {monthly['as_of']}, started {_short(monthly['started'])}) is running",
                      soft_wrap=True)
    elif monthly is not None and monthly["exit_code"] not in (0, 3):  # a failed or unfinished monthly run stays seen
        console.print(f"[red]the latest run (as of {monthly['as_of']}, started {_short(monthly['started'])}) "
                      f"{'failed' if monthly['finished'] else 'did not finish'}:[/red] {escape(monthly['outcome'])}",
                      soft_wrap=True)
    if data["runs"]:
        runs = Table("started", "mode", "as of", "issue", "outcome", "seconds", box=None, title="last runs",
                     title_justify="left")
        for run in data["runs"]:
            outcome = run["outcome"]
            shown = (f"[yellow]{escape(outcome)}[/yellow]" if run["finished"] is None else
                     escape(outcome) if run["exit_code"] == 0 else f"[red]{escape(outcome)}[/red]")
            runs.add_row(_short(run["started"]), escape(run["mode"]), run["as_of"],
                         str(run["edition"]) if run["edition"] else "-", shown,
                         f"{run['seconds']:.1f}" if run["seconds"] is not None else "-")
        console.print(runs)
    else:
        console.print("no runs recorded yet")

    if data["sources"]:
        sources = Table("source", "last success", "failures in a row", "last error", box=None, title="sources",
                        title_justify="left")
        for source in data["sources"]:
            failing = source["failures_in_a_row"]
            success = "never run" if source["never_run"] else _short(source["last_success"])
            error = source["last_error"] or "-"
            if source["last_error"] and not failing:  # kept for the record: not what is wrong now
                error = f"{_short(source['last_failure'])}, put right since: {error}"
            sources.add_row(escape(source["name"]), success, f"[red]{failing}[/red]" if failing else "0",
                            escape(error))
        console.print(sources)
        for source in data["sources"]:  # records left out until put right: each, with what is wrong
            lines = source.get("skipped") or []
            for line in lines[:SKIPPED_SHOWN]:
                console.print(f"[yellow]skipped by {escape(source['name'])} in its last run:[/yellow] {escape(line)}",
                              soft_wrap=True)
            if len(lines) > SKIPPED_SHOWN:
                console.print(f"[yellow]skipped by {escape(source['name'])} in its last run:[/yellow] and "
                              f"{len(lines) - SKIPPED_SHOWN} more (`pipeline status --json` lists every one)",
                              soft_wrap=True)
