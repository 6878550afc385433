"""Transforming and saving what the sources bring, as each source finishes.

Only items that are new, or changed since they were saved (their fingerprint differs), are
transformed. Each source's new items join a queue, and while the other sources still download:

- when the transforms may run in the worker processes (pipeline/transforming.py), the queue is handed
  to the workers `CHUNK_ITEMS` at a time (two chunks per worker at once: one in work while the other's
  rows are saved here, and a large feed's parsing never waits behind them all). The workers send back
  each item as the row the store keeps, and each chunk is saved as it comes back;
- when they may, but there is one worker (or the run turns out small), each chunk is transformed here;
- when there are no transforms, the items are saved at once.

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

from pipeline import jsontext
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.run_report import RunReport, StageResult, items_text, timed
from pipeline.state.store import ItemRow
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
        self.in_flight: list[tuple[Future, list[Item]]] = []  # each chunk handed over, with its future
        transforms = ctx.project.transforms
        self.streaming = can_run_in_workers(transforms, MIN_ITEMS, ctx.project.core.workers)
        # Chunk by chunk here: transforms that may each see part of the run (no transforms, trivially).
        self.in_chunks = all(getattr(t, "in_workers", False) for t in transforms)
        self.clock: dict[str, float] = {}  # seconds per transform, for chunks transformed here
        self.handed_over = 0  # items sent to the workers
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
        if self.streaming:
            self.save_finished()
        elif self.in_chunks:
            whole = CHUNK_ITEMS if self.ctx.project.transforms else 1
            while len(self.waiting) >= whole:
                self._transform_chunk_here()

    def finish(self) -> None:
        """Every source is done: transform what is left, save everything, then let the sources record what
        they saw."""
        if self.streaming and (self.handed_over or len(self.waiting) >= MIN_ITEMS):
            while self.waiting or self.in_flight:
                self._hand_over_some(whole_chunks_only=False)
                self._save_chunk(*self.in_flight.pop(0))
            self._report(f" in {self.ctx.project.core.workers} worker processes")
        elif self.in_chunks:
            while self.waiting:
                self._transform_chunk_here()
            self._report("")
        else:
            self._transform_here(self.waiting)
        if self.unchanged:
            self.ctx.store.touch_items(self.unchanged, self.seen_at)
        self.ctx.saved(transformed=not self.failures and not self.report.failed("transform"))

    # -- in the worker processes ---------------------------------------------------------------------

    def _hand_over_some(self, whole_chunks_only: bool = True) -> None:
        """Give the workers chunks of what is waiting, but never more than two per worker at a time: one to
        work on while the other's rows are saved here, so a worker never waits for this process; and the
        large feeds still downloading, parsed by the same workers, never queue behind every chunk."""
        limit, least = CHUNKS_PER_WORKER * self.ctx.project.core.workers, CHUNK_ITEMS if whole_chunks_only else 1
        while len(self.in_flight) < limit and len(self.waiting) >= least:
            chunk, self.waiting = self.waiting[:CHUNK_ITEMS], self.waiting[CHUNK_ITEMS:]
            if self.started is None:
                self.started = time.perf_counter()
            future = self.ctx.submit_to_workers(transform_rows, specs(self.ctx.project.transforms), chunk)
            self.in_flight.append((future, chunk))
            self.handed_over += len(chunk)

    def save_finished(self) -> None:
        """Save the chunks the workers have finished, in order, and hand them more (never waits). Nothing
        when the transforms run here: they see every item at once, in `finish`."""
        if not self.streaming:
            return
        while self.in_flight and self.in_flight[0][0].done():  # in order, so saving never waits here
            self._save_chunk(*self.in_flight.pop(0))
        self._hand_over_some()

    def _save_chunk(self, future: Future, chunk: list[Item]) -> None:
        """Save what a worker made of `chunk`. If its pool broke (a worker killed for memory, a crash in C
        code), the chunk is transformed again in a worker of its own; if that dies too, or the chunk could
        not be sent, its items are saved untransformed, to be transformed by the next run, and it counts as
        every transform's failure, so the sources record nothing and the run says so."""
        try:
            result = future.result()
        except Exception as exc:
            self.ctx.workers_failed(exc)
            try:
                if not isinstance(exc, BrokenProcessPool):
                    raise
                result = self.ctx.run_alone(transform_rows, specs(self.ctx.project.transforms), chunk)
            except Exception as final:
                reason = f"worker process failed: {type(final).__name__}: {final}".rstrip(": ")
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
        elapsed = time.perf_counter() - (self.started or time.perf_counter())
        transforms = self.ctx.project.transforms
        for n, transform in enumerate(transforms, 1):
            failed = [f.partition(": ")[2] for f in self.failures if f.partition(": ")[0] == transform.instance]
            summary = failed[0] if failed else f"{items_text(self.handed_over)}{where}"
            self.report.results.append(StageResult("transform", transform.instance, not failed, summary,
                                                   self.clock.get(transform.instance, elapsed),
                                                   0 if failed else self.handed_over))
            self.progress("transforms", n, len(transforms))

    # -- here -------------------------------------------------------------------------------------

    def _transform_chunk_here(self) -> None:
        chunk, self.waiting = self.waiting[:CHUNK_ITEMS], self.waiting[CHUNK_ITEMS:]
        transforms = [(t.instance, lambda t=t: t) for t in self.ctx.project.transforms]
        failed = apply_each(transforms, chunk, self.ctx, self.clock)
        self.ctx.forget_texts()
        self.failures.extend(failed)
        self.handed_over += len(chunk)
        self._store(chunk, all_ok=not failed)

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

