"""Transforming and saving what the sources bring, as each source finishes.

Only items that are new, or changed since they were saved (their fingerprint differs), are
transformed. Each source's new items join a queue, and while the other sources still download:

- when the transforms may run in the worker processes (pipeline/transforming.py), the queue is handed
  to the workers `CHUNK_ITEMS` at a time (two chunks per worker at once: one in work while the other's
  rows are saved here, and a large feed's parsing never waits behind many). The workers send back
  each item as the row the store keeps, and each chunk is saved as it comes back;
- when they may, but there is one worker (or the run turns out small), each chunk is transformed here,
  on the run's background thread, so that the main thread still keeps the sources' deadlines;
- when there are no transforms, the items are saved at once.

A chunk that was in the workers' pool when a worker died is done again in a worker of its own
(`RunContext.run_alone`), also from the background thread.

Each transform's `apply` is stopped at its deadline (`[transforms.NAME] deadline`, see
pipeline/time_limits.py). A chunk stuck past every transform's deadline and `GRACE` more (in C code
that no interrupt reaches) is given up here: its worker processes are ended and its items are saved
untransformed, or, on the background thread, the thread is left to itself and its items are not
saved at all (it may still be changing them); either way the next run transforms them again. That
second deadline counts from when the chunk was handed over, or came first in flight, whichever is
later: not from when a worker took it up, which this process does not learn. It is a backstop.

So the transforms overlap the fetching, and a long run never holds every new item at once. Only a
transform that must see the whole run makes every new item wait until all sources are done, for one
plain `apply(items, run)`.

The sources' validators (ETags) are recorded only after everything is saved (`RunContext.saved`), and
only if every transform succeeded: an item whose transform failed is saved to be transformed again,
which it can only be if its feed is read again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from pipeline import jsontext, watchdog
from pipeline.components import Transform
from pipeline.errors import exception_text
from pipeline.item_checks import as_found
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.run_report import RunReport, StageResult, items_text, timed
from pipeline.state.store import ItemRow, item_row
from pipeline.transforming import (
    MIN_ITEMS,
    Made,
    Unfit,
    apply_each,
    apply_within,
    can_run_in_workers,
    chunk_deadline,
    saveable_rows,
    specs,
    transform_rows,
    undoing,
)

CHUNK_ITEMS = 250  # items per trip to a worker: small enough that few are in memory at once
CHUNKS_PER_WORKER = 2  # chunks handed over at once, per worker
Progress = Callable[[str, int, int], None]
WORKER_ENDED = "its worker process was ended, and the next run transforms them again"


@dataclass
class InFlight:
    """A chunk handed over, to the workers or to the background thread."""

    future: Future
    chunk: list[Item]
    retried: bool = False  # done again alone after its pool broke (`run_alone` keeps its deadline)
    since: float = field(default_factory=time.monotonic)


def unfit_line(item: object, position: int, exc: Exception | str,
               then: str = "; item skipped; fix the source, its other items are saved") -> str:
    """What a source's item the host cannot take is said with (after "source NAME: "): named by its id and its title
    (or else its link), or by its place in what the source gave when it has no id; what is wrong; what then."""
    ident, title, url = (getattr(item, name, None) for name in ("id", "title", "url"))
    named = f"item {ident!r}" if isinstance(ident, str) and ident else f"item #{position}"
    also = repr(title) if isinstance(title, str) and title.strip() else url if isinstance(url, str) and url else ""
    text = exc if isinstance(exc, str) else exception_text(exc).removeprefix(f"item {ident!r}: ")
    if isinstance(exc, Exception) and not isinstance(exc, (TypeError, ValueError)):
        text = f"{type(exc).__name__}: {text}"
    return f"{named}{f' ({also})' if also else ''}: {text}{then}"


def fingerprint(item: Item, transforms_key: str) -> str:
    """Changes when the item or the transforms' settings change, so only then is it transformed again."""
    data = jsontext.dumps(item.to_dict(), sort_keys=True) + transforms_key
    return hashlib.sha256(data.encode()).hexdigest()[:24]


class Ingest:
    """Takes each source's items as it finishes (`take`), and transforms and saves them (`finish`)."""

    def __init__(self, ctx: RunContext, report: RunReport, progress: Progress):
        self.ctx, self.report, self.progress = ctx, report, progress
        self.key = ctx.transforms_key
        self.seen_at = datetime.now(ctx.project.tz)  # by the clock, even under --as-of: it orders what was seen when
        self.prints: dict[str, str] = {}  # fingerprint of each changed item, saved with it
        self.waiting: list[Item] = []  # changed items not yet transformed
        self.unchanged: list[str] = []
        self.in_flight: list[InFlight] = []  # in the order handed over, and saved in that order
        transforms = ctx.project.transforms
        # Chunk by chunk: transforms that may each see part of the run, in the workers when worth it.
        self.in_chunks = bool(transforms) and all(getattr(t, "in_workers", False) for t in transforms)
        self.to_workers = can_run_in_workers(transforms, MIN_ITEMS, ctx.project.core.workers)
        self.chunk_deadline = chunk_deadline(transforms)
        self.first_since = 0.0  # when the chunk first in flight came first (it may have waited behind others)
        self.given_up: list[list[Item]] = []  # each chunk left to a thread given up on (kept, so never a new one's id)
        self.clock: dict[str, float] = {}  # seconds per transform, for chunks transformed here
        self.handed_over = 0  # items handed over in chunks
        self.failures: list[str] = []
        self.started: float | None = None
        self.seen: dict[str, tuple[str, str, str]] = {}  # each id taken: its item's title, fingerprint and source

    def take(self, items: list[Item], source: str) -> int:
        """One source's items (`source`: its table's name), fetched and checked. An id given twice keeps its
        first item; a different item under it is skipped and reported under the source that gave it, with the
        one that gave it first when that is another (the same item twice, as a feed may list it, is not). An item
        that cannot be saved (a value that is not JSON) is skipped and said; how many were is returned."""
        prints: dict[str, str] = {}
        kept: list[Item] = []
        unfit = 0
        for position, item in enumerate(items, 1):
            try:
                made = fingerprint(item, self.key)
            except (TypeError, ValueError) as exc:  # a value that is not JSON (a set): this item alone is skipped
                unfit += 1
                with self.ctx.source_scope(source):  # one of the source's records skipped, as if said by it
                    self.ctx.problem(f"source {source}", unfit_line(item, position, f"cannot be saved: {exc}"))
                continue
            if item.id not in self.seen:
                self.seen[item.id] = (item.title, made, source)
                prints[item.id] = made
                kept.append(item)
            elif self.seen[item.id][1] != made:
                first, _, giver = self.seen[item.id]
                other = f" from source {giver}" if giver != source else ""
                self.ctx.problem(f"source {source}", f"item {item.title!r} has the id of {first!r}{other} "
                                                     f"({item.id}); give each its own id, item skipped")
        items = kept
        stored = self.ctx.store.fingerprints(prints)
        for item in items:
            if stored.get(item.id) == prints[item.id]:
                self.unchanged.append(item.id)
            else:
                self.prints[item.id] = prints[item.id]
                self.waiting.append(item)
        if not self.ctx.project.transforms:
            waiting, self.waiting = self.waiting, []
            self._store(waiting, all_ok=True)
        self.save_finished()
        return unfit

    def finish(self) -> None:
        """Every source is done: transform what is left, save everything, then let the sources record what
        they saw."""
        if self.in_chunks:
            if self.to_workers and not self.handed_over and len(self.waiting) < MIN_ITEMS:
                self.to_workers = False  # a small run: not worth the trip to the workers
            while self.waiting or self.in_flight:
                self._hand_over_some(whole_chunks_only=False)
                self._save_first(block=True)
            self._report(f" in {self.ctx.project.core.workers} worker processes" if self.to_workers else "")
        elif self.ctx.project.transforms:
            self._transform_here(self.waiting)
        if self.unchanged:
            self.ctx.store.touch_items(self.unchanged, self.seen_at)
        self.ctx.saved(transformed=not self.failures and not self.report.failed("transform"))

    # -- a chunk at a time -------------------------------------------------------------------------

    def save_finished(self) -> None:
        """Save the chunks that are done, in order, and hand over more (never waits: the fetch loop calls
        this between its checks of the sources' deadlines). Nothing for transforms that must see every
        item at once, in `finish`."""
        if not self.in_chunks:
            return
        while self.in_flight and (self.in_flight[0].future.done() or self._overdue()):  # in order: never waits
            self._save_first()
        self._hand_over_some()

    def _hand_over_some(self, whole_chunks_only: bool = True) -> None:
        """Hand over chunks of what is waiting, but never more than two per worker at a time (one to work on
        while the other's rows are saved here, so a worker never waits for this process; and the large
        feeds still downloading, parsed by the same workers, never queue behind every chunk): to the
        workers, or else to the run's background thread, which transforms them here."""
        workers = self.ctx.project.core.workers if self.to_workers else 1
        limit, least = CHUNKS_PER_WORKER * workers, CHUNK_ITEMS if whole_chunks_only else 1
        while len(self.in_flight) < limit and len(self.waiting) >= least:
            chunk, self.waiting = self.waiting[:CHUNK_ITEMS], self.waiting[CHUNK_ITEMS:]
            if self.started is None:
                self.started = time.perf_counter()
            if self.to_workers:
                future = self.ctx.submit_to_workers(transform_rows, specs(self.ctx.project.transforms), chunk)
            else:
                future = self.ctx.in_background(self._transform_rows_here, chunk)
            self.in_flight.append(InFlight(future, chunk))
            self.handed_over += len(chunk)

    def _transform_rows_here(self, chunk: list[Item]) -> Made:
        """`transform_rows`, in this process (on the background thread), with the rows of the items the transforms
        left unfit to save as their sources gave them."""
        project = self.ctx.project
        given = _rows_of(chunk)  # as the source gave them: the transforms change the items in place
        found = as_found(chunk)
        failed = apply_each([(t.instance, partial(self._unless_wanted, t, chunk),
                              project.transform_deadline_of(t.instance)) for t in project.transforms],
                            chunk, self.ctx, self.clock)
        if self._given_up(chunk):
            return [], [], failed, []
        self.ctx.forget_texts()
        rows, unfit = saveable_rows(chunk, found)
        return rows + _as_given(given, unfit), [], failed, unfit

    def _unless_wanted(self, transform: Transform, chunk: list[Item]) -> Transform:
        if self.ctx.closed or self._given_up(chunk):  # no need to go on with the chunk under way
            raise RuntimeError("the run has ended, or gave this chunk up")
        return transform

    def _given_up(self, chunk: list[Item]) -> bool:
        return any(chunk is left for left in self.given_up)

    def _due(self, entry: InFlight) -> float:
        """When a chunk is past its deadline, counted from when it came first in flight, or was handed over."""
        return max(entry.since, self.first_since) + self.chunk_deadline

    def _overdue(self) -> bool:
        """Whether the first chunk in flight is past its deadline (one done again alone keeps its own)."""
        return not self.in_flight[0].retried and time.monotonic() >= self._due(self.in_flight[0])

    def _save_first(self, block: bool = False) -> None:
        """Save the first chunk in flight; with `block`, wait for it first, until its deadline at most."""
        first = self.in_flight[0]
        if block:
            left = self.chunk_deadline if first.retried else max(0.0, self._due(first) - time.monotonic())
            watchdog.beat(next_within=left)  # a wait its deadline ends (one done again alone keeps its own)
            wait([first.future], timeout=None if first.retried else left)
        self.in_flight.pop(0)
        self.first_since = time.monotonic()
        if first.future.done():
            self._save_chunk(first)
        else:
            self._give_up(first)

    def _save_chunk(self, entry: InFlight) -> None:
        """Save what was made of a chunk. If the workers' pool broke (a worker killed for memory, a crash in
        C code, a worker ended for a chunk stuck past its deadline), the chunk goes back to be done again
        in a worker of its own (on the background thread, so nothing waits for it here); if that dies too,
        or the chunk could not be sent, its items are saved untransformed, to be transformed by the next
        run, and it counts as every transform's failure, so the sources record nothing and the run says so."""
        try:
            result = entry.future.result()
        except Exception as exc:
            self.ctx.workers_failed(exc)
            if isinstance(exc, BrokenProcessPool) and not entry.retried and self.to_workers:
                alone = partial(self.ctx.run_alone, timeout=self.chunk_deadline)
                again = self.ctx.in_background(alone, transform_rows, specs(self.ctx.project.transforms), entry.chunk)
                self.in_flight.insert(0, InFlight(again, entry.chunk, retried=True))
                return
            if isinstance(exc, TimeoutError):
                reason = self._stuck(entry.chunk, WORKER_ENDED)
            else:
                where = "worker process failed" if self.to_workers else "transforming failed"
                reason = f"{where}: {type(exc).__name__}: {exception_text(exc)}".rstrip(": ")
            self.failures.extend(f"{t.instance}: {reason}" for t in self.ctx.project.transforms)
            self._store(entry.chunk, all_ok=False)
            return
        rows, problems, failed, unfit = result
        if unfit and (self.to_workers or entry.retried):  # made in a worker: here they are as sent, as given
            sent = {item.id: item for item in entry.chunk}
            rows = rows + [item_row(sent[ident]) for ident, _ in unfit]
        self._save(rows, problems, failed, unfit, {item.id: item.title for item in entry.chunk})

    def _give_up(self, entry: InFlight) -> None:
        """A chunk stuck past its deadline, where no interrupt reaches: in the workers, they are ended (what
        else was in their pool is done again alone) and its items saved untransformed; on the background
        thread, the thread is left to itself, the chunks queued for it go to a new one, and its items are
        not saved, since that thread may still change them."""
        if not self.to_workers:
            self.ctx.abandon_background()
            for other in self.in_flight:  # cancelled with the thread they were queued for
                if other.future.cancelled():
                    other.future = self.ctx.in_background(self._transform_rows_here, other.chunk)
                    other.since = time.monotonic()
        if entry.future.done():  # it ended just now, after all
            self._save_chunk(entry)
            return
        if self.to_workers:
            self.ctx.stop_workers()
            reason = self._stuck(entry.chunk, WORKER_ENDED)
            self._store(entry.chunk, all_ok=False)
        else:
            self.given_up.append(entry.chunk)  # so that the thread, if it ever goes on, stops there
            reason = self._stuck(entry.chunk, "it was left running and its items were not saved; the next run "
                                              "reads them again")
        self.failures.extend(f"{t.instance}: {reason}" for t in self.ctx.project.transforms)

    def _stuck(self, chunk: list[Item], what_then: str) -> str:
        return (f"the transforms did not finish {items_text(len(chunk))} within {self.chunk_deadline:g} s, "
                f"even when stopped; {what_then}")

    def _save(self, rows: list[ItemRow], problems: list[str], failed: list[str], unfit: list[Unfit],
              titles: dict[str, str]) -> None:
        """Save what was made of a chunk: `rows` (with what a failed transform changed undone; those of the items
        the transforms left unfit to save, `unfit`, as their sources gave them)."""
        self.failures.extend(failed)
        self.failures.extend(f"{t.instance}: {why}" for _, why in unfit for t in self.ctx.project.transforms)
        for problem in problems:
            where, _, message = problem.partition(": ")
            self.ctx.problem(where, message)
        self._say_unfit(unfit, titles)
        # An empty fingerprint, where a transform failed, has the next run transform the item again.
        again = {ident for ident, _ in unfit}
        self.ctx.store.save_rows(((row, "" if failed or row[0] in again else self.prints[row[0]]) for row in rows),
                                 self.seen_at)

    def _say_unfit(self, unfit: list[Unfit], titles: dict[str, str]) -> None:
        """One line for each item the transforms left unfit to save, saved as its source gave it instead."""
        names = [t.instance for t in self.ctx.project.transforms]
        where = f"transform{'s' if len(names) > 1 else ''} {', '.join(names)}"
        for ident, why in unfit:
            title = titles.get(ident, "")
            self.ctx.problem(where, f"item {ident!r}{f' ({title!r})' if title else ''}: "
                                    f"{why.removeprefix(f'item {ident} ')}; saved as its source gave it; the next run "
                                    f"transforms it again", skipped=False)

    def _report(self, where: str) -> None:
        """One result per transform for the chunks: its first failure, or how many items it had."""
        elapsed = 0.0 if self.started is None else time.perf_counter() - self.started
        transforms = self.ctx.project.transforms
        for n, transform in enumerate(transforms, 1):
            failed = [f.partition(": ")[2] for f in self.failures if f.partition(": ")[0] == transform.instance]
            summary = failed[0] if failed else f"{items_text(self.handed_over)}{where}"
            self.report.results.append(StageResult("transform", transform.instance, not failed, summary,
                                                   elapsed if self.given_up else self.clock.get(transform.instance,
                                                                                               elapsed),
                                                   0 if failed else self.handed_over))
            self.progress("transforms", n, len(transforms))

    # -- every item at once ---------------------------------------------------------------------------

    def _transform_here(self, items: list[Item]) -> None:
        """Every transform over every item at once. What a transform that fails changed is undone (`undoing`), and
        an item left unfit to save is saved as its source gave it; either way every item is saved, to be
        transformed again by the next run."""
        transforms = self.ctx.project.transforms
        given = _rows_of(items)  # as the sources gave them: the transforms change the items in place
        found = as_found(items)
        for n, transform in enumerate(transforms, 1):
            def work(transform=transform) -> tuple[str, int]:
                undoing(items, partial(apply_within, transform, items, self.ctx,
                                       self.ctx.project.transform_deadline_of(transform.instance)))
                return items_text(len(items)), len(items)

            self.report.results.append(timed("transform", transform.instance, work))
            self.progress("transforms", n, len(transforms))
        self.ctx.forget_texts()
        rows, unfit = saveable_rows(items, found)
        if unfit:  # each saved as its source gave it, and every transform failed, as for a chunk
            instances = {transform.instance for transform in transforms}
            for result in self.report.results:
                if result.stage == "transform" and result.name in instances and result.ok:
                    result.ok, result.count = False, 0
                    result.summary = unfit[0][1] + (f" (and {len(unfit) - 1} more)" if len(unfit) > 1 else "")
            self._say_unfit(unfit, {item.id: item.title for item in items})
        again, all_ok = {ident for ident, _ in unfit}, not self.report.failed("transform")
        self.ctx.store.save_rows(((row, self.prints[row[0]] if all_ok and row[0] not in again else "")
                                  for row in rows + _as_given(given, unfit)), self.seen_at)

    def _store(self, items: list[Item], all_ok: bool) -> None:
        # A failed transform leaves an empty fingerprint, so the next run transforms those items again.
        self.ctx.store.save_items(((item, self.prints[item.id] if all_ok else "") for item in items), self.seen_at)


def _rows_of(items: list[Item]) -> dict[str, ItemRow]:
    """Each item's row as it is now (the JSON the store keeps, fit to save: the source's items were checked), to save
    it so if the transforms leave it unfit. Not a pickled copy: a value pickle refuses (a str subclass a plugin made
    in a function) is text in JSON, and an item holding one would end the run."""
    return {item.id: item_row(item) for item in items}


def _as_given(given: dict[str, ItemRow], unfit: list[Unfit]) -> list[ItemRow]:
    """The rows of the items `unfit` names as they were before any transform (`given`: `_rows_of` them then)."""
    return [given[ident] for ident, _ in unfit if ident in given]
