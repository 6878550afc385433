"""One run: every source (in parallel), then the transforms, then state, the edition and every sink.

A source that fails is reported and the others go on; a sink that fails is reported, the other
sinks still run, and the run's exit code says so. Items are saved before any sink runs, so a
failing sink never loses what was fetched. One run at a time holds the state folder.

Every run is recorded in the run history (`state/history.py`) once it holds the lock and the store
is open, and finished in a `finally` with every component's result: a run that fails, is refused
or is stopped by a signal is finished too (its outcome says how). Only a process killed outright
(SIGKILL, a power cut) leaves its run unfinished, and `pipeline status` shows it so.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline import alerts, http_client, renaming, watchdog
from pipeline.components import Deliverer, Sink, SinkResult, Source
from pipeline.config import Project
from pipeline.current import horizons
from pipeline.edition import Edition, EditionError, check_date, month_before, prepare_edition, start_of, still_relevant
from pipeline.errors import ConfigError, PipelineError, is_stop
from pipeline.fetching import fetch_all
from pipeline.ingesting import Ingest, unfit_line
from pipeline.item_checks import host_checked
from pipeline.logs import SHOWN
from pipeline.models import Item
from pipeline.plugins import call_each_plugin
from pipeline.run_context import RunContext
from pipeline.run_report import RunReport, StageResult, failure_reason, items_text, timed
from pipeline.state import Store, history
from pipeline.state.access import plainly, unopenable, unwritable
from pipeline.state.store import Damaged, damaged, is_damage
from pipeline.time_limits import call_within

Progress = Callable[[str, int, int], None]  # (what, done, total)
LOCK_FILE = "pipeline.lock"  # in state_dir: held by the run that uses the state folder
HTTP_READY_WAIT = 30.0  # seconds the sources wait for httpx and the CA certificates at most, before starting anyway
log = logging.getLogger("pipeline.run")


def state_path(project: Project) -> Path:
    return project.core.state_dir / "pipeline.sqlite"


def edition_date(project: Project, today: date) -> date:
    """The newsletter date this month, or last month's if this month's has not come yet."""
    day = project.schedule.newsletter_day
    this_month = today.replace(day=day)
    return this_month if today >= this_month else month_before(today).replace(day=day)


def run(project: Project, *, as_of: date | None = None, mode: str = "run",
        progress: Progress | None = None, dry_run: bool = False) -> RunReport:
    """Run the pipeline; `mode` is "run" (make the edition) or "refresh" (no new edition).

    With `as_of`, the run behaves as at midnight that day (reproducible); without it, it uses the
    clock, and "run" makes the edition of the latest newsletter day (`[schedule] newsletter_day`).
    With `dry_run`, items are fetched, transformed and saved and every file is written, but a new
    edition is not stored and nothing is sent or recorded as sent.
    """
    progress = _beating(progress or (lambda what, done, total: None))
    moment = start_of(as_of, project.tz) if as_of else datetime.now(project.tz)
    as_of = as_of or (edition_date(project, moment.date()) if mode == "run" else moment.date())
    report = RunReport(mode=f"{mode} (dry run)" if dry_run else mode, as_of=as_of.isoformat())
    _make_out_dir(project)
    # httpx and the CA certificates load while the database is checked, for sources that download
    tls = http_client.prepare() if any(map(_downloads, project.sources)) else None
    with locked_store(project, replay=not dry_run) as store:
        renamed = renaming.settle(project, store)  # before the run is recorded: a ConfigError stops it, as a typo does
        with plainly(store.path):  # the disk full, or the folder read-only: said so, before anything is fetched
            run_id = history.begin_run(store, mode=report.mode, as_of=as_of, at=datetime.now(UTC))
        log.info("%s %d as of %s: started, %d sources", report.mode, run_id, as_of, len(project.sources))
        try:
            if mode == "run":  # a date that would be refused is refused before anything is fetched
                check_date(store, as_of, datetime.now(project.tz).date())
            elif as_of > datetime.now(project.tz).date():
                raise EditionError(f"{as_of} is in the future; a refresh behaves as on a day that has come "
                                   f"(leave out --as-of for today)")
            ctx = RunContext(project, store, as_of, moment, dry_run=dry_run, mode=mode, tls=tls)
            try:
                ingest = Ingest(ctx, report, progress)
                firsts = renaming.first_fetches(project, store)
                _fetch_all(project.sources, ctx, report, progress, ingest, firsts)
                for result in report.results:
                    if result.name in renamed:
                        result.summary += f"; {renamed[result.name]}"
                for where, line in renaming.renamed_without_saying(project, store, {name: items for name, items
                                                                                    in firsts.items() if items}):
                    ctx.problem(where, line, skipped=False)  # said once: the source has been fetched from now
                ingest.finish()
                if store.damage_seen is not None:  # met by a source, which failed alone: nothing is sent
                    raise store.damage_seen
                edition = prepare_edition(store, as_of, project.tz, project.core.name, moment,
                                          record=not dry_run, horizon=horizons(project)) if mode == "run" else None
                report.edition = edition.number if edition else None
                _write_all(project.sinks, edition, ctx, report, progress)
            finally:
                ctx.close()
                report.problems.extend(ctx.problems)
                report.kept.update(ctx.kept)
                report.skipped = ctx.skipped_by()
                _notify(project, report)
            if store.damage_seen is not None:  # met by a sink, which failed alone: the run ends here
                raise store.damage_seen
        except BaseException as exc:
            if is_damage(exc):  # said as when found before the run, with what to do
                ran = [f"{r.name}: {r.summary}" for r in report.results if r.stage == "sink"]
                outcome = (f"the run stopped at its sinks ({'; '.join(ran)})" if ran else
                           "the run stopped before its sinks: nothing was sent")
                error = damaged(store.path, str(exc), outcome, sent=bool(ran) and not dry_run)
                _log_report(report, run_id)
                alerts.database_damaged(project, str(error))
                _record_finish(store, run_id, report, error)
                raise error from None
            # the disk full, or the folder read-only, as SQLite says it of the state database: which, and what to do
            plain = unwritable(store.path, exc) if isinstance(exc, sqlite3.Error) else None
            if not is_stop(exc) and getattr(plain or exc, "exit_code", 1) != 2 and not dry_run:
                for line in alerts.after_run(project, store, report, plain or exc):  # not a refused date, nor a signal
                    log.warning(line)
            _record_finish(store, run_id, report, plain or exc)
            if plain is not None:
                raise plain from None
            raise
        if not dry_run:  # before the run is recorded, so its outcome counts an alert that could not be sent
            unalerted = alerts.after_run(project, store, report)
            report.problems.extend(unalerted)
            report.unalerted.update(unalerted)
        _record_finish(store, run_id, report, None)
    _log_report(report, run_id)
    return report


def _log_report(report: RunReport, run_id: int) -> None:
    """The run table's lines, for the log file (the terminal has the table itself)."""
    for result in report.results:
        level = logging.INFO if result.ok else logging.ERROR if result.stage != "source" else logging.WARNING
        log.log(level, "%s %s: %s%s (%.2f s)", result.stage, result.name, "" if result.ok else "FAILED: ",
                result.summary, result.seconds, extra=SHOWN)
    for problem in report.problems:
        log.warning("%s%s", f"{label}: " if (label := report.label(problem)) else "", problem, extra=SHOWN)
    log.info("%s %d as of %s: %s%s", report.mode, run_id, report.as_of, outcome_of(report),
             f", issue {report.edition}" if report.edition else "", extra=SHOWN)


OUTCOMES = {0: "done", 1: "FAILED (a sink or transform failed)", 3: "done, with problems"}


def outcome_of(report: RunReport) -> str:
    return OUTCOMES[report.exit_code]


def _record_finish(store: Store, run_id: int, report: RunReport, exc: BaseException | None) -> None:
    """Finish the run's history row: with the report's outcome, or with how the run was cut short."""
    if exc is None:
        exit_code, outcome = report.exit_code, outcome_of(report)
    elif is_stop(exc):  # SIGTERM (the CLI's Stopped) or Ctrl-C
        exit_code, outcome = getattr(exc, "exit_code", 130), f"stopped by {getattr(exc, 'name', 'Ctrl-C')}"
    else:  # a refused date (PipelineError, exit 2), a broken database, a bug (a plugin's `sys.exit("...")` too)
        exit_code, outcome = getattr(exc, "exit_code", 1), f"error: {failure_reason(exc)}"
    try:
        history.finish_run(store, run_id, at=datetime.now(UTC), edition=report.edition, exit_code=exit_code,
                           outcome=outcome, results=report.results, skipped=report.skipped)
    except sqlite3.Error as error:  # the run's own outcome matters more than its history
        if exc is None:
            report.problems.append(f"the run history could not be recorded ({error})")


def _downloads(source: Source) -> bool:
    """`source.uses_http()`; True when a plugin's own method fails (its fetch then runs, and fails or not, alone)."""
    try:
        return bool(source.uses_http())
    except Exception:
        return True


def _make_out_dir(project: Project) -> None:
    """The output folder, made before anything runs: one that cannot be is a configuration error, not every
    sink failing after the fetch."""
    try:
        project.core.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{project.core.out_dir}: cannot use it as the output folder ({exc.strerror}); "
                          f"fix [pipeline] out_dir") from None


@contextmanager
def locked_store(project: Project, *, replay: bool = True) -> Iterator[Store]:
    """The state database, with the run lock held: for commands that send or change deliveries. Each
    delivery is prepared first (`Deliverer.prepare`), under the lock and before anything is settled. Without
    `replay` (a dry run, which changes no subscriber), the suppression log is not replayed into it."""
    with _exclusive(project) as keep_locked:
        _prepare_deliveries(project)
        with _open_store(project, check=True, replay=replay) as store:
            store.close_with(keep_locked())  # work left behind (a stopped send's batches) keeps the folder locked
            yield store


def _prepare_deliveries(project: Project) -> None:
    """Each delivery's `prepare`; one that raises stops the command before anything is settled or sent: its own
    error (a ConfigError) as it is, any other (a `BaseException` of its own too, not a stop) on a line naming the
    plugin, masked as every message is."""
    for deliverer in [getattr(sink, "deliverer", None) for sink in project.sinks] + [project.alert_delivery]:
        if not isinstance(deliverer, Deliverer):
            continue
        try:
            notice = deliverer.prepare()
        except PipelineError:
            raise
        except BaseException as exc:
            if is_stop(exc):
                raise
            registered = project.registry.get("delivery", deliverer.name)
            plugin = registered.plugin if registered is not None else type(deliverer).__module__
            raise PipelineError(f"plugin {plugin!r}: delivery {deliverer.name!r}: prepare() raised "
                                f"{failure_reason(exc)}; nothing was settled or sent") from None
        if notice:
            log.warning("%s", notice)


@contextmanager
def _exclusive(project: Project) -> Iterator[Callable[[], Callable[[], None]]]:
    """Hold a lock on the state folder, so two runs never send the same issue at once. It yields a function
    that keeps the lock past this block, until the function it returns is called."""
    lock_path = project.core.state_dir / LOCK_FILE
    try:
        project.core.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "w")
    except OSError as exc:
        if not project.core.state_dir.is_file() and (denied := unwritable(lock_path, exc)) is not None:
            raise denied from None  # a folder or lock file a run as another user made, or the folder cannot be made
        raise ConfigError(f"{project.core.state_dir}: cannot use it as the state folder ({exc.strerror}); "
                          f"fix [pipeline] state_dir") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(f"{lock_path}: another run is in progress; wait for it to finish") from None

        def keep_locked() -> Callable[[], None]:
            kept = os.dup(handle.fileno())  # the lock belongs to the open file, so it lasts while this is open
            return lambda: os.close(kept)

        yield keep_locked


@contextmanager
def _open_store(project: Project, check: bool = False, replay: bool = True) -> Iterator[Store]:
    """The state database; with `check`, a damaged one stops everything before anything is fetched. Every address
    that leaves through it is noted in the suppression log, whose entries it lacks are applied first (`replay`)."""
    path = state_path(project)
    try:
        store = Store(path, check=check)  # checked before a migration writes to it
    except (Damaged, OSError, sqlite3.Error) as exc:
        # a full disk (nothing to restore, and no setting is wrong), or a sound database this user may not write
        if not isinstance(exc, Damaged) and (denied := unopenable(path, exc)) is not None:
            raise denied from None  # a sound database this user may not write: chown it, never restore a copy
        if not isinstance(exc, Damaged) and not is_damage(exc):
            raise ConfigError(f"{path}: cannot open the state database ({exc}); "
                              f"check [pipeline] state_dir, or restore the file from a backup") from None
        error = damaged(path, str(exc))
        if check:
            alerts.database_damaged(project, str(error))
        raise error from None
    if check:
        alerts.database_sound(project)
        alerts.state_usable(project)  # `pipeline schedule` ending on it later is told again
    try:
        from pipeline.subscribers.suppressions import keep

        keep(store, project, replay=replay)  # before anything is sent: who left after a backup put back stays off
        yield store
    finally:
        store.close()


def _beating(progress: Progress) -> Progress:
    """`progress`, each call a sign of life for the scheduler's watchdog (`pipeline/watchdog.py`) too."""
    def told(what: str, done: int, total: int) -> None:
        watchdog.beat()
        progress(what, done, total)

    return told


def _fetch_all(sources: list[Source], ctx: RunContext, report: RunReport, progress: Progress,
               ingest: Ingest, firsts: dict[str, list[renaming.Seen] | None]) -> None:
    """Every source within its deadline; each one's items go to `ingest` as soon as it has finished, and, for a
    source in `firsts` (never fetched from before), what tells them apart there too (never the items themselves,
    which `ingest` saves and lets go as they come)."""
    fetched: dict[str, list[Item]] = {}
    said: dict[str, str] = {}  # what each source noted of its fetch (`run.note`)
    unfit_in: dict[str, int] = {}  # how many items of each the host's check skipped
    abandoned: set[str] = set()  # sources past their deadline: whatever they return later is ignored

    names = {source.instance for source in sources}
    complete = {source.instance for source in sources if getattr(source, "complete", False)}

    def fetch(source: Source) -> StageResult:
        def work() -> tuple[str, int]:
            items = []
            produced = source.fetch(ctx)
            if produced is None or isinstance(produced, Item) or not hasattr(produced, "__iter__"):
                what = "None" if produced is None else type(produced).__name__  # no return, or one item
                raise TypeError(f"fetch() returned {what}, not Items; return a list of them (or yield each)")
            unfit, first_unfit = 0, ""
            for position, item in enumerate(produced, 1):
                if source.instance in abandoned:  # past its deadline: nothing more is taken from it
                    close = getattr(produced, "close", None)
                    if close is not None:
                        close()  # a generator's `finally` runs now, not never
                    break
                try:
                    items.append(host_checked(item))
                except Exception as exc:  # this item alone: skipped and said, its source's others are saved
                    unfit += 1
                    ctx.problem(f"source {source.instance}", unfit_line(item, position, exc))
                    first_unfit = first_unfit or unfit_line(item, position, exc, then="")
            if unfit and not items:  # nothing it gave could be taken: the source failed, as when it raises
                raise TypeError(first_unfit + (f"; and {items_text(unfit - 1)} more" if unfit > 1 else "")
                                + " (each said below)")
            for item in items:  # under another's name (and so its ids), it would take that source's items; and what a
                # complete source no longer lists is found by its own name
                if item.source != source.instance and (item.source in names or source.instance in complete):
                    whose = "is another source of this project" if item.source in names else \
                        "is not this source's name, by which what it no longer lists is withdrawn"
                    raise TypeError(f"item {item.id!r}: source {item.source!r} {whose}; give every item "
                                    f"source=self.instance and id=item_id(self.instance, key)")
            if source.instance not in abandoned:
                fetched[source.instance] = items
            said[source.instance], unfit_in[source.instance] = ctx.noted(source.instance), unfit
            if unfit:  # what it records of this read (an ETag) is not kept: the next run reads them all again
                ctx.forget_after_save(source.instance)
            return _fetched_text(len(items), unfit, said[source.instance]), len(items)

        with ctx.source_scope(source.instance), ctx.deadline_scope(ctx.project.deadline_of(source.instance)):
            result = timed("source", source.instance, work)
            if not result.ok:
                ctx.forget_after_save(source.instance)
            return result

    progress("sources", 0, len(sources))

    done = []

    def on_result(result: StageResult) -> None:
        done.append(result)
        items = fetched.pop(result.name, [])
        if result.ok and result.name not in abandoned:
            if result.name in firsts:
                firsts[result.name] = renaming.seen(items)
            unfit = ingest.take(items, result.name)  # each said on a line of its own
            if unfit:
                ctx.forget_after_save(result.name)
                result.count -= unfit
                result.summary = _fetched_text(result.count, unfit_in.get(result.name, 0) + unfit,
                                               said.get(result.name, ""))
            # What it no longer lists was taken out; not while a record of it was skipped, which may be one of those
            # (a record kept with a warning, `run.problem(..., skipped=False)`, stops nothing); what it lists again is
            # back either way. What was over by the latest moment any run made the site for was only pruned.
            if result.name in complete:
                over_at, horizon = ctx.store.site_horizon(ctx.moment, keep=False), horizons(ctx.project)
                gone = ctx.store.withdraw_missing(result.name, [item.id for item in items], ingest.seen_at,
                                                  kept=lambda item: not still_relevant(item, over_at, horizon),
                                                  withdraw=not ctx.problems_of(result.name))
                if gone:
                    result.summary += (f"; {items_text(len(gone))} no longer listed, withdrawn: "
                                       + ", ".join(repr(title) for title in gone[:3]) + (" …" if len(gone) > 3 else ""))
        progress("sources", len(done), len(sources))

    def abandon(name: str) -> None:
        abandoned.add(name)
        ctx.abandon(name)

    if ctx.tls is not None:
        # httpx and the CA certificates are still loading on their thread: sources started now would all wait
        # for them, finishing nothing, and the thread ramp (pipeline/fetching.py) would take that for waiting on
        # the network and give them every thread to fight over the GIL with. A failure is each source's to report.
        wait([ctx.tls], timeout=HTTP_READY_WAIT)
    core = ctx.project.core
    report.results.extend(fetch_all(sources, fetch, concurrency=core.fetch_concurrency,
                                    deadline_of=ctx.project.deadline_of, on_result=on_result, abandon=abandon,
                                    meanwhile=ingest.save_finished))


def _fetched_text(count: int, unfit: int, said: str) -> str:
    """A source's line of the report: "3 items; 1 item skipped, unfit to save (below); <what it noted>"."""
    return "; ".join(filter(None, [items_text(count), f"{items_text(unfit)} skipped, unfit to save (below)" if unfit
                                   else "", said]))


def _write_all(sinks: list[Sink], edition: Edition | None, ctx: RunContext, report: RunReport,
               progress: Progress) -> None:
    for n, sink in enumerate(sinks, 1):
        def work(sink=sink) -> tuple[str, int]:
            try:
                return write_within_deadline(sink, edition, ctx).summary, 0
            except sqlite3.Error as exc:  # the disk full, or the folder read-only, met writing the state database
                if _in_state_layer(exc) and (plain := unwritable(ctx.store.path, exc)) is not None:
                    raise plain from None
                raise

        if ctx.store.damage_seen is not None:  # an earlier sink met it: none sends into a damaged file
            report.results.append(StageResult("sink", sink.instance, False, "not run: the state database is damaged",
                                              0.0))
        else:
            report.results.append(timed("sink", sink.instance, work))
        progress("sinks", n, len(sinks))


def _in_state_layer(exc: BaseException) -> bool:
    """Whether `exc` was raised by the state layer's SQL (`pipeline/state`), not by a plugin's own SQLite file."""
    import traceback

    state = str(Path(__file__).parent / "state") + os.sep
    return any(frame.filename.startswith(state) for frame in traceback.extract_tb(exc.__traceback__))


def write_within_deadline(sink: Sink, edition: Edition | None, ctx: RunContext, **options) -> SinkResult:
    """`sink.write(edition, ctx, **options)`, stopped with `OutOfTime` at the sink's deadline."""
    seconds = ctx.project.sink_deadline_of(sink.instance)
    write = functools.partial(sink.write, **options) if options else sink.write
    result = call_within(seconds, f"did not finish within {seconds:g} s and was stopped (raise "
                                  f"[sinks.{sink.instance}] deadline if it needs longer)", write, edition, ctx)
    if not isinstance(result, SinkResult):
        raise TypeError(f"write() returned {type(result).__name__}, not SinkResult; end it with "
                        f"return SinkResult(\"what it did\")")
    return result


def _notify(project: Project, report: RunReport) -> None:
    """Each plugin's `run_finished`; one that raises is said on a line naming it, and does not change the run's
    outcome (the hook's promise): what the run did is done. A warning on the terminal too: the run table, made
    before, does not show it."""
    failures = call_each_plugin(project.host.pm, "run_finished",
                                lambda plugin: {"report": report, "project": project})
    for name, exc in failures.items():
        log.warning("plugin %r: run_finished raised %s; the run's outcome stands", name, failure_reason(exc))


