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
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial

from pipeline import jsontext
from pipeline.components import Transform
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.run_report import RunReport, StageResult, items_text, timed
from pipeline.state.store import ItemRow, item_row
from pipeline.transforming import MIN_ITEMS, apply_each, can_run_in_workers, specs, transform_rows

CHUNK_ITEMS = 250  # items per trip to a worker: small enough that few are in memory at once
CHUNKS_PER_WORKER = 2  # chunks handed over at once, per worker
Progress = Callable[[str, int, int], None]


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
        self.in_flight: list[tuple[Future, list[Item], bool]] = []  # each chunk handed over: future, items, retried
        transforms = ctx.project.transforms
        # Chunk by chunk: transforms that may each see part of the run, in the workers when worth it.
        self.in_chunks = bool(transforms) and all(getattr(t, "in_workers", False) for t in transforms)
        self.to_workers = can_run_in_workers(transforms, MIN_ITEMS, ctx.project.core.workers)
        self.clock: dict[str, float] = {}  # seconds per transform, for chunks transformed here
        self.handed_over = 0  # items handed over in chunks
        self.failures: list[str] = []
        self.started: float | None = None
        self.seen: set[str] = set()

    def take(self, items: list[Item]) -> None:
        """One source's items, fetched and checked."""
        items = [item for item in items if item.id not in self.seen and not self.seen.add(item.id)]  # kept once
        prints = {item.id: fingerprint(item, self.key) for item in items}
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

    def finish(self) -> None:
        """Every source is done: transform what is left, save everything, then let the sources record what
        they saw."""
        if self.in_chunks:
            if self.to_workers and not self.handed_over and len(self.waiting) < MIN_ITEMS:
                self.to_workers = False  # a small run: not worth the trip to the workers
            while self.waiting or self.in_flight:
                self._hand_over_some(whole_chunks_only=False)
                self._save_chunk(*self.in_flight.pop(0))
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
        while self.in_flight and self.in_flight[0][0].done():  # in order, so saving never waits here
            self._save_chunk(*self.in_flight.pop(0))
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
            self.in_flight.append((future, chunk, False))
            self.handed_over += len(chunk)

    def _transform_rows_here(self, chunk: list[Item]) -> tuple[list[ItemRow], list[str], list[str]]:
        """`transform_rows`, in this process (on the background thread). An item a transform left unfit to
        save (a set where a list belongs, say) is not saved, and counts as every transform's failure."""
        failed = apply_each([(t.instance, partial(self._unless_stopped, t)) for t in self.ctx.project.transforms],
                            chunk, self.ctx, self.clock)
        self.ctx.forget_texts()
        rows = []
        for item in chunk:
            try:
                rows.append(item_row(item))
            except (TypeError, ValueError) as exc:
                failed += [f"{t.instance}: item {item.id} cannot be saved as the transforms left it: {exc}"
                           for t in self.ctx.project.transforms]
        return rows, [], failed

    def _unless_stopped(self, transform: Transform) -> Transform:
        if self.ctx.closed:  # the run was stopped: no need to go on with the chunk under way
            raise RuntimeError("the run has ended")
        return transform

    def _save_chunk(self, future: Future, chunk: list[Item], retried: bool) -> None:
        """Save what was made of `chunk`. If the workers' pool broke (a worker killed for memory, a crash in
        C code), the chunk goes back to be done again in a worker of its own (on the background thread, so
        nothing waits for it here); if that dies too, or the chunk could not be sent, its items are saved
        untransformed, to be transformed by the next run, and it counts as every transform's failure, so
        the sources record nothing and the run says so."""
        try:
            result = future.result()
        except Exception as exc:
            self.ctx.workers_failed(exc)
            if isinstance(exc, BrokenProcessPool) and not retried and self.to_workers:
                again = self.ctx.in_background(self.ctx.run_alone, transform_rows,
                                               specs(self.ctx.project.transforms), chunk)
                self.in_flight.insert(0, (again, chunk, True))
                return
            where = "worker process failed" if self.to_workers else "transforming failed"
            reason = f"{where}: {type(exc).__name__}: {exc}".rstrip(": ")
            self.failures.extend(f"{t.instance}: {reason}" for t in self.ctx.project.transforms)
            self._store(chunk, all_ok=False)
            return
        self._save(*result)

    def _save(self, rows: list[ItemRow], problems: list[str], failed: list[str]) -> None:
        self.failures.extend(failed)
        for problem in problems:
            where, _, message = problem.partition(": ")
            self.ctx.problem(where, message)
        # A failed transform leaves an empty fingerprint, so the next run transforms those items again.
        self.ctx.store.save_rows(((row, "" if failed else self.prints[row[0]]) for row in rows), self.seen_at)

    def _report(self, where: str) -> None:
        """One result per transform for the chunks: its first failure, or how many items it had."""
        elapsed = 0.0 if self.started is None else time.perf_counter() - self.started
        transforms = self.ctx.project.transforms
        for n, transform in enumerate(transforms, 1):
            failed = [f.partition(": ")[2] for f in self.failures if f.partition(": ")[0] == transform.instance]
            summary = failed[0] if failed else f"{items_text(self.handed_over)}{where}"
            self.report.results.append(StageResult("transform", transform.instance, not failed, summary,
                                                   self.clock.get(transform.instance, elapsed),
                                                   0 if failed else self.handed_over))
            self.progress("transforms", n, len(transforms))

    # -- every item at once ---------------------------------------------------------------------------

    def _transform_here(self, items: list[Item]) -> None:
        transforms = self.ctx.project.transforms
        for n, transform in enumerate(transforms, 1):
            def work(transform=transform) -> tuple[str, int]:
                transform.apply(items, self.ctx)
                return items_text(len(items)), len(items)

            self.report.results.append(timed("transform", transform.instance, work))
            self.progress("transforms", n, len(transforms))
        self.ctx.forget_texts()
        self._store(items, all_ok=not self.report.failed("transform"))

    def _store(self, items: list[Item], all_ok: bool) -> None:
        # A failed transform leaves an empty fingerprint, so the next run transforms those items again.
        self.ctx.store.save_items(((item, self.prints[item.id] if all_ok else "") for item in items), self.seen_at)
