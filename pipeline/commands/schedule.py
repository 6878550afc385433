"""`pipeline schedule`: run forever, doing what `pipeline.scheduler.due` says is due.

What is due is worked out afresh from the state database and the calendar at start and at least
once a minute, and `pipeline.toml` is read afresh each time, so edits apply without a restart.
A run that fails (the state folder locked by another run, the network down, any error) is
reported on one line of standard error and tried again after 1, 2, 4 … minutes (at most 30),
until the catch-up window closes. An error while checking is reported the same way; the loop
goes on. A run that left a send's batch in flight, its delivery never having returned, ends it
with exit 1: only the process's end lets go of that batch (`pipeline/mail/sending.py`), and a
supervisor starts it again (systemd's `Restart=on-failure`). A state folder or database this user cannot
use (`errors.StateAccessError`: its rights, a read-only mount, a folder where the file should be) ends it
with exit 2 and the line every command gives: no wait puts it right. The organisers are told once, outside the
database, which keeps the other alerts (`alerts.state_unusable`). Otherwise only a signal ends it:
SIGTERM, Ctrl-C or SIGHUP while waiting ends it at once; during a run, the run finishes first (a second
signal stops the run at once, safely: the journal settles a send in flight on the next run).
The exit code is 128 + the signal (143, 130, 129).

The memory the loop keeps only saves work: a run that finished is not repeated by this process
(a month with nothing new, a resume that reached everyone it could); a restart forgets it, and
then at most re-runs an issue's date, which sends nobody anything twice.

Test hook only: `PIPELINE_FAKE_NOW` (an ISO time with its offset) starts this process's clock at
that time, and `PIPELINE_FAKE_SPEED` (default 1) makes it run that many times faster; waits are
shortened to match. Runs are then made with `--as-of` the fake date. Never set them in production.

With the real clock, the issue of the latest newsletter day is made (and its send resumed) as `pipeline run`
without `--as-of` makes it: as at the time it runs, not at midnight that day (what `--as-of` does), so a job
closed or an event over by then, that morning or when a missed slot is caught up, is not in it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from rich.markup import escape

from pipeline import alerts, logs, renaming, watchdog
from pipeline.commands.core import _console, _print_report, _run_with_progress
from pipeline.config import load_project
from pipeline.errors import ConfigError, NewerState, PipelineError, StateAccessError, exception_text, is_stop
from pipeline.logs import SHOWN
from pipeline.run_report import failure_reason
from pipeline.runner import edition_date, state_path
from pipeline.scheduler import EDITION, REFRESH, RESUME, Due, after, due, latest_slot, missed, next_slot, utc
from pipeline.state import Store
from pipeline.state.access import unopenable
from pipeline.state.store import Damaged, damaged, is_damage
from pipeline.time_limits import given_up

SCHEDULE_LOCK = "schedule.lock"  # in state_dir: held by the project's one `pipeline schedule` while it runs
FAKE_NOW, FAKE_SPEED = "PIPELINE_FAKE_NOW", "PIPELINE_FAKE_SPEED"
log = logging.getLogger("pipeline.schedule")
CHECK_EVERY = 60.0  # seconds between checks, at most
FIRST_RETRY, LONGEST_RETRY = 60.0, 1800.0
Check = Callable[[datetime, datetime | None], tuple[list[Due], list[str]]]


class Clock:
    """The real clock, or (test hook) a fake one from PIPELINE_FAKE_NOW and PIPELINE_FAKE_SPEED."""

    def __init__(self, tz, environ=os.environ):
        self.tz = tz
        start = environ.get(FAKE_NOW)
        self.fake = bool(start)
        self.speed = float(environ.get(FAKE_SPEED) or 1) if start else 1.0
        self._start = datetime.fromisoformat(start) if start else None
        self._zero = time.monotonic()

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(self.tz)
        return (self._start + timedelta(seconds=(time.monotonic() - self._zero) * self.speed)).astimezone(self.tz)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)


class Signals:
    """SIGTERM, SIGINT and SIGHUP: at once while waiting; after the current run while one runs."""

    def __init__(self, warn: Callable[[str], None]):
        self.warn = warn
        self.running = False
        self.received: int | None = None
        self.stopped_a_run = False

    def handle(self, number, frame) -> None:
        from pipeline.cli import Stopped

        if self.running and self.received is None:
            self.received = number
            self.warn(f"{signal.Signals(number).name}: stopping when the current run ends "
                      f"(send it again to stop the run now)")
            return
        self.stopped_a_run = self.running
        raise Stopped(number)

    def install(self) -> dict:
        numbers = [signal.SIGTERM, signal.SIGINT]
        if signal.getsignal(signal.SIGHUP) not in (signal.SIG_IGN, None):  # not under nohup
            numbers.append(signal.SIGHUP)
        return {number: signal.signal(number, self.handle) for number in numbers}


def backoff(attempts: int) -> timedelta:
    """The wait before attempt `attempts` + 1: 1, 2, 4 … minutes, at most 30, however many attempts there were (a
    refresh may fail for weeks: 2 ** 1024 is no float, so the doubling stops once it has passed the cap)."""
    doublings = min(attempts - 1, 16)  # 60 s * 2 ** 16 is far past the cap already
    return timedelta(seconds=min(FIRST_RETRY * 2 ** doublings, LONGEST_RETRY))


def run_loop(check: Check, execute: Callable[[Due], bool], *, now: Callable[[], datetime],
             sleep: Callable[[float], None], warn: Callable[[str], None],
             stop: Callable[[], int | None] = lambda: None) -> int:
    """Check what is due and run it, until `stop()` returns an exit code (checked after each run and
    each wait). `execute(due)` returns True when the run finished, False (or raises) when it is to
    be tried again later."""
    last_refresh: datetime | None = None
    finished: set[tuple] = set()
    retry: dict[tuple, tuple[datetime, int]] = {}
    told: set[str] = set()
    while True:
        watchdog.beat()
        moment = now()
        try:
            items, notes = check(moment, last_refresh)
        except (StateAccessError, Outdated) as exc:  # no waiting puts it right: someone must, or a restart
            return _ends(exc, warn)
        except BaseException as exc:  # a damaged database, a broken pipeline.toml, a plugin's failure: said, again
            if is_stop(exc):
                raise
            items, notes = [], [f"error checking what is due: {_one_line(exc)}"]
        else:  # a check that worked: an error that comes back later is said again
            told = {note for note in told if not note.startswith("error checking what is due: ")}
        for note in notes:
            if note not in told:
                told.add(note)
                warn(note)
        ran_edition = False
        for item in items:
            if item.key in finished or (item.kind == REFRESH and ran_edition):
                continue
            if item.key in retry and utc(retry[item.key][0]) > utc(moment):
                continue
            try:
                ok = execute(item)
                why = "a sink failed"
            except StateAccessError as exc:
                return _ends(exc, warn)
            except BaseException as exc:  # a plugin's own BaseException too (`sys.exit("...")`): a failed run, retried
                if is_stop(exc):  # Ctrl-C, SIGTERM (the CLI's Stopped), a deadline: stops the scheduler
                    raise
                ok, why = False, _one_line(exc)
            watchdog.beat()
            if ok:
                retry.pop(item.key, None)
                last_refresh = now()
                if item.kind != REFRESH:
                    ran_edition = True
                    finished.update({(EDITION, item.as_of), (RESUME, item.as_of)})
            else:
                attempts = retry.get(item.key, (moment, 0))[1] + 1
                at = after(now(), backoff(attempts))
                retry[item.key] = (at, attempts)
                what = f"{item.kind} {item.as_of}" if item.as_of else item.kind
                in_time = item.until is None or utc(at) <= utc(item.until)
                later = f"trying again at {at:%Y-%m-%d %H:%M}" if in_time else \
                    f"the catch-up window closes at {item.until:%Y-%m-%d %H:%M} first, so not tried again"
                warn(f"error ({what}, attempt {attempts}): {why}; {later}")
            code = stop()
            if code is not None:
                return code
        waits = [CHECK_EVERY] + [(utc(at) - utc(now())).total_seconds() for at, _ in retry.values()]
        watchdog.beat(next_within=max(1.0, min(waits)))
        sleep(max(1.0, min(waits)))
        code = stop()
        if code is not None:
            return code


class Outdated(Exception):
    """A newer version brought the state database up to date after this scheduler started: it runs the version
    before, and only a new process runs the new one (systemd and Docker start it again after exit 1)."""

    exit_code = 1


def _ends(exc: StateAccessError | Outdated, warn: Callable[[str], None]) -> int:
    """The scheduler ends on a state folder or database this user cannot use, with the line every command gives and
    its exit code (2: under systemd, left stopped until someone puts it right and starts it again); or on one a newer
    version brought up to date since it started (1: started again, with that version)."""
    if isinstance(exc, Outdated):
        warn(f"error: {exc}; the scheduler ends (exit 1) so that it is started again with the new version (systemd "
             f"does so 30 s later; started by hand, start it again)")
    else:
        warn(f"error: {_one_line(exc)}; the scheduler ends (exit {exc.exit_code}): start it again once that is done")
    return exc.exit_code


def cmd_schedule(args) -> int:
    project = load_project(args.config)
    clock = Clock(project.tz)
    console = _console()
    now = clock.now()
    every = project.schedule.refresh_minutes
    say = console.print if args.list or not logs.quiet() else (lambda *args, **kwargs: None)  # -q: errors only
    say(f"monthly edition: next at {next_slot(project, now):%Y-%m-%d %H:%M %Z}; a missed one is made "
        f"up to {project.schedule.catch_up_hours} hours late")
    at_start = f"refresh every {every} min: next at {now:%Y-%m-%d %H:%M %Z} (at start), then every {every} min"
    if args.list:  # and what is due at once: a slot missed but still in its window, a send to resume
        from pipeline.commands.status import print_due, status_data

        runner = _runner(project)
        try:
            upcoming = status_data(project, runs=0, now=now)["next"]
        except PipelineError as exc:  # reads only: a locked or damaged database is said, the times stand
            say(at_start)
            if runner:
                say(runner)
            console.print(f"state database not read: {escape(str(exc))}", soft_wrap=True)
            return 0
        if runner and runner.startswith("a ") and upcoming["refresh"]:  # one runs: its own next refresh
            moment = datetime.fromisoformat(upcoming["refresh"]).astimezone(project.tz)
            say(f"refresh every {every} min: next at {moment:%Y-%m-%d %H:%M %Z}, then every {every} min")
        else:
            say(at_start)
        if runner:
            say(runner)
        print_due(console, upcoming)
        return 0
    say(at_start)

    def warn(line: str) -> None:  # a run that failed, or what is due could not be worked out: errors (even -q)
        log.log(logging.ERROR if line.startswith("error") else logging.WARNING, "schedule: %s", line)

    loaded, broken = [project], [False]  # the last pipeline.toml that loaded (whom to tell), and whether it broke

    def check(moment: datetime, last_refresh: datetime | None) -> tuple[list[Due], list[str]]:
        try:
            current = load_project(args.config)  # read afresh: edits apply without a restart
            renaming.check(current)  # a `renamed_from` naming nothing stored: each run would refuse it
        except ConfigError as exc:  # nothing runs until it is put right: the organisers hear of it at once
            alerts.between_runs(loaded[0], alerts.broken_config(loaded[0], " ".join(str(exc).split())))
            broken[0] = True
            raise
        loaded[0] = current
        if broken[0]:  # put right: the alert closes
            alerts.between_runs(current, None, key=alerts.CONFIG)
            broken[0] = False
        path = state_path(current)
        try:
            current.core.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # made in a folder this user may not write in: the line a run gives, and the end
            raise unopenable(path, exc) or exc from None
        store = None
        try:
            # Read only, from a copy when the file is from an older version: the migration is a run's, once it has
            # checked the file (a damaged one is never written to) and holds the lock.
            try:
                store = Store(path, read_only=True) if path.exists() else Store(path)
            except OSError as exc:  # the file made by this user, in a folder it may not write in
                raise unopenable(path, exc) or exc from None
            except NewerState as exc:  # one at start is refused before the loop: this is an upgrade since
                raise Outdated(f"{path}: a newer version of the pipeline brought the state database up to date after "
                               f"this scheduler started (its schema is at step {exc.step}, the version this "
                               f"scheduler runs knows {exc.known}); nothing was changed") from None
            note = missed(store, current, moment)
            if note:
                alerts.between_runs(current, alerts.missed_issue(latest_slot(current, moment).date(), note))
            return due(store, current, moment, last_refresh=last_refresh), [note] if note else []
        except (sqlite3.DatabaseError, Damaged) as exc:
            if not isinstance(exc, Damaged) and not is_damage(exc):
                # the one line every command gives: a full disk is tried again; a file this user may not read, or a
                # folder in its place, ends the scheduler (exit 2, `run_loop`)
                if (plain := unopenable(path, exc)) is not None:
                    raise plain from None
                raise
            error = damaged(path, str(exc))  # said, and the organisers told, as by a run
            alerts.database_damaged(current, str(error))
            raise error from None
        finally:
            if store is not None:
                store.close()

    def told(work: Callable) -> Callable:
        """`work`, telling the organisers when it ends the scheduler on a state it cannot use (they cannot hear of
        it through the database, which keeps the alerts: `alerts.state_unusable`)."""
        def telling(*args):
            try:
                return work(*args)
            except StateAccessError as exc:
                alerts.state_unusable(loaded[0], " ".join(str(exc).split()))
                raise
        return telling

    signals = Signals(warn)

    def execute(item: Due) -> bool:
        as_of: date | None = item.as_of
        if item.kind == REFRESH:
            as_of = clock.now().date() if clock.fake else None
        elif not clock.fake and as_of == edition_date(loaded[0], clock.now().date()):
            # the issue of the latest newsletter day, made (or its send resumed) as a run without --as-of makes it:
            # as at now, not at midnight that day, so a job closed or an event over since then is not mailed
            as_of = None
        what = f"{item.kind} {item.as_of}" if item.kind != REFRESH else item.kind  # the issue's, with as_of None too
        starting = f"{clock.now():%Y-%m-%d %H:%M}: {what} ({item.why})"
        say(escape(starting))
        log.info("schedule: %s", starting, extra=SHOWN)
        signals.running = True
        try:
            code = _print_report(_run_with_progress(load_project(args.config), as_of,
                                                    "refresh" if item.kind == REFRESH else "run"))
        finally:
            signals.running = False
        return code != 1

    def stop() -> int | None:
        if signals.received is not None:
            code = 128 + signals.received
            warn(f"stopped by {signal.Signals(signals.received).name} after the run ended (exit {code})")
            return code
        if given_up():  # only this process's end lets go of the batch's thread, and the state folder's lock
            warn("error: a batch was left in flight by a delivery that did not return (above); the scheduler ends "
                 "(exit 1), so that the state folder is unlocked, and when it is started again (the systemd unit does "
                 "so 30 s later) its next run settles the batch")
            return 1
        return None

    held = _held_alone(project, warn)
    if held is None:
        return 2
    path = state_path(project)
    if path.exists():  # a database a newer version brought up to date is refused at once, as by every command
        try:
            Store(path, read_only=True).close()
        except (sqlite3.DatabaseError, Damaged):
            pass  # damage (or a lock): the loop's first check says so, and tells the organisers
    previous = signals.install()
    say("running; press Ctrl-C to stop")
    dog = watchdog.Watchdog()  # under systemd (Type=notify): ready now, and alive while the loop is
    dog.start()
    try:
        return run_loop(told(check), told(execute), now=clock.now, sleep=clock.sleep, warn=warn, stop=stop)
    except BaseException as exc:
        from pipeline.cli import Stopped

        if isinstance(exc, Stopped) and not signals.stopped_a_run:
            warn(f"stopped by {exc.name} while waiting; nothing was running (exit {exc.exit_code})")
            return exc.exit_code
        raise
    finally:
        dog.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
        held.close()


def _held_alone(project, warn: Callable[[str], None]):
    """The open lock file that makes this the project's one scheduler, held until it is closed (something with a
    `close` in any case); None (and the line said) when another scheduler holds it: two would each do what is due
    between runs, and each tell the organisers the same alert. A state folder that cannot be used yet is no reason to
    refuse (the loop's first check says why), nor a file system that has no locks (NFS without its lock daemon): the
    scheduler runs unguarded, as before there was a lock, and says so."""
    lock_path = project.core.state_dir / SCHEDULE_LOCK
    try:
        if not project.core.state_dir.is_dir():  # as the state database makes it (`Store`): its owner's alone
            project.core.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(lock_path, "a+")
    except OSError:
        return _Unheld()
    try:
        for attempt in range(10):  # (a `schedule --list` looking, `_runner`, holds it for an instant)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 9:
                    raise
                time.sleep(0.1)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        warn(f"error: {lock_path}: another `pipeline schedule` is running on this project"
             f"{f' (pid {holder})' if holder.isdigit() else ''}; the scheduler ends (exit 2): run only one, or stop "
             f"that one first")
        return None
    except OSError as exc:
        handle.close()
        warn(f"warning: {lock_path}: the file system cannot lock it ({exc.strerror or exc}), so nothing stops a second "
             f"`pipeline schedule` on this project; the scheduler runs all the same: make sure only one runs")
        return _Unheld()
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _runner(project) -> str | None:
    """What `schedule --list` says of the scheduler that runs the project: whether one does, with its pid; "" when
    that cannot be told (a lock file it may not read)."""
    try:
        with open(project.core.state_dir / SCHEDULE_LOCK, encoding="ascii", errors="replace") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)  # let go at once, as the file closes
            except BlockingIOError:
                holder = handle.read().strip()
                return (f"a `pipeline schedule` runs this project{f' (pid {holder})' if holder.isdigit() else ''}: "
                        f"another would be refused")
    except FileNotFoundError:
        pass
    except OSError:
        return ""
    return "no `pipeline schedule` runs this project"


class _Unheld:
    """No lock held (`_held_alone`): nothing to let go of."""

    def close(self) -> None:
        pass


def _one_line(exc: BaseException) -> str:
    """`exc` on one line, masked: a PipelineError's message (it says where and what to do), anything else with its
    type (as the CLI says an unexpected error; a plugin's own `BaseException` too)."""
    if isinstance(exc, PipelineError):
        return " ".join(exception_text(exc).split()) or type(exc).__name__
    return " ".join(failure_reason(exc).split())
