"""Running the transforms over many items in the worker processes, in chunks.

A transform whose class says `in_workers = True` promises that `apply` needs nothing of the run but
`run.text_of` and `run.problem`, and nothing of the project but its own settings: it can then be
rebuilt in a worker from its class and settings and run on a chunk of items there. When every
transform of a project says so, `[pipeline] workers` is above 1 and a run has enough items, the
chunks are spread over the workers (pickled there and back); otherwise they run here, in order.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.components import Transform
from pipeline.errors import is_stop
from pipeline.item_checks import AsFound, as_found, bodies_cleaned, checked_again
from pipeline.logs import show_traceback
from pipeline.models import Item, check_dates
from pipeline.run_report import failure_reason, items_text
from pipeline.state.store import ItemRow, item_row
from pipeline.texts import BodyTexts

MIN_ITEMS = 400  # fewer than this are not worth the trip to a worker
GRACE = 10.0  # seconds a transform stopped at its deadline has to end before its worker or thread is given up
Spec = tuple[str, str, str, dict[str, Any], str, str, float]  # module, class, instance, settings, root, file, deadline


def can_run_in_workers(transforms: Sequence[Transform], items: int, workers: int) -> bool:
    return workers > 1 and items >= MIN_ITEMS and bool(transforms) and all(
        getattr(t, "in_workers", False) for t in transforms)


def specs(transforms: Sequence[Transform]) -> list[Spec]:
    return [(type(t).__module__, type(t).__qualname__, t.instance, t.settings.model_dump(mode="json"),
             str(t.project.root), getattr(sys.modules.get(type(t).__module__), "__file__", None) or "",
             t.project.transform_deadline_of(t.instance))
            for t in transforms]


def chunk_deadline(transforms: Sequence[Transform]) -> float:
    """Seconds a chunk may take in all: each transform's deadline, and time for a stopped one to end."""
    return sum(t.project.transform_deadline_of(t.instance) for t in transforms) + GRACE


@dataclass
class WorkerRun:
    """What a transform may use of the run in a worker: the body's text, and a place for problems."""

    problems: list[str] = field(default_factory=list)
    texts: BodyTexts = field(default_factory=BodyTexts)

    def text_of(self, item: Item) -> str:
        return self.texts.text_of(item)

    def problem(self, where: str, message: str, *, skipped: bool = True) -> None:
        self.problems.append(f"{where}: {message}")


_built: dict[str, Transform] = {}  # per worker process: each transform is built once


def apply_each(transforms: Sequence[tuple[str, Callable[[], Transform], float]], items: list[Item], run: Any,
               clock: dict[str, float] | None = None) -> list[str]:
    """Every transform over `items`, in order, each `(instance, get, deadline)` made by `get()` and stopped
    after `deadline` seconds; a transform that raises, runs out of time (or cannot be made) is a failure
    ('instance: error'), and the next still runs. With `clock`, each transform's seconds are added to it."""
    failures = []
    for instance, get, deadline in transforms:
        started = time.perf_counter()
        try:
            undoing(items, lambda get=get, deadline=deadline: apply_within(get(), items, run, deadline))
        except BaseException as exc:  # reported like any failing component (see `timed`)
            if is_stop(exc):
                raise
            show_traceback(f"transform {instance}", exc)
            failures.append(f"{instance}: {failure_reason(exc)}")
        if clock is not None:
            clock[instance] = clock.get(instance, 0.0) + time.perf_counter() - started
    return failures


def undoing(items: list[Item], work: Callable[[], Any]) -> None:
    """`work()`, which changes `items` in place; when it raises, the items are put back as they were before it (none
    of its changes is kept, not half of them: the next transform, and the store, see them as it found them), and the
    exception goes on. Items that cannot be copied so (a value a transform set that pickle refuses) stay as left."""
    try:
        kept = pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
    except Exception:
        kept = None
    try:
        work()
    except BaseException:
        if kept is not None:
            items[:] = pickle.loads(kept)
        raise


def apply_within(transform: Transform, items: list[Item], run: Any, deadline: float) -> None:
    """`transform.apply(items, run)`, stopped after `deadline` seconds, then each body it set cleaned for the next
    (`bodies_cleaned`). One that returns something else than the list it was given (a filtered copy, say) fails:
    what it returns would be ignored, and the run would say ok."""
    from pipeline.time_limits import call_within

    bodies = [getattr(item, "body_html", None) for item in items]  # (an item a transform before replaced: any)
    returned = call_within(deadline, out_of_time(transform.instance, deadline, len(items)), transform.apply, items, run)
    if returned is not None and returned is not items:  # (the very list it was given, changed in place, is no loss)
        raise TypeError(f"apply() returned {type(returned).__name__}, which is ignored: a transform changes the items "
                        f"it is given in place and returns nothing")
    bodies_cleaned(items, bodies)


def out_of_time(instance: str, deadline: float, items: int) -> str:
    return (f"did not finish within {deadline:g} s ({items_text(items)}); the next run transforms them again "
            f"(raise [transforms.{instance}] deadline if it needs longer)")


def apply_chunk(transform_specs: list[Spec], items: list[Item]) -> tuple[list[Item], list[str], list[str]]:
    """In a worker: every transform over `items`, in order; (items, problems, failures as 'instance: error')."""
    run = WorkerRun()
    failures = apply_each([(spec[2], partial(_built_from, spec), spec[6]) for spec in transform_specs], items, run)
    return items, run.problems, failures


def _built_from(spec: Spec) -> Transform:
    key = repr(spec)
    if key not in _built:
        module, qualname, instance, settings, root, file, _ = spec
        cls = getattr(_module(module, file), qualname)
        made = cls.Settings.model_validate(settings, context={"base_dir": root})
        _built[key] = cls(instance, made, None)
    return _built[key]


def _module(name: str, file: str):
    """The transform's module in a worker: imported by name, or, for a plugin file of the project's
    `plugins_dir` (which only its path finds), loaded from that file as the main process loaded it."""
    if name in sys.modules:
        return sys.modules[name]
    from pipeline.plugins import LOCAL_PREFIX, import_file

    if name.startswith(LOCAL_PREFIX) and file:
        return import_file(Path(file))
    return importlib.import_module(name)


Unfit = tuple[str, str]  # an item the transforms left unfit to save: its id, and "item <id> cannot be saved ...: why"
Made = tuple[list[ItemRow], list[str], list[str], list[Unfit]]  # rows, problems, failures, unfit: what a chunk made


def transform_rows(transform_specs: list[Spec], items: list[Item]) -> Made:
    """In a worker: `apply_chunk`, then each item as the row the store keeps, so its JSON is made here and
    strings, not items with their evidence, go back to the main process (a fifth of the pickling). The rows of the
    items the transforms left unfit to save are not made: the main process has them as it sent them."""
    found = as_found(items)
    items, problems, failures = apply_chunk(transform_specs, items)
    rows, unfit = saveable_rows(items, found)
    return rows, problems, failures, unfit


def saveable_rows(items: list[Item], found: AsFound) -> tuple[list[ItemRow], list[Unfit]]:
    """The rows (`item_row`) of the items the transforms left fit to save, each checked again by the host for what
    they changed since `found` (`as_found`: a body they set is cleaned again), and each one they did not leave fit
    (a set where a list belongs, a value that is not JSON, an event's time with no zone, a title that is not text, a
    date past the end of time in UTC, JSON nested too deep to write, or a value whose own code raises when it is read:
    themes that raise KeyError when listed)."""
    rows, unfit = [], []
    for item in items:
        try:
            checked_again(item, found)
            check_dates(item)
            rows.append(item_row(item))
        except Exception as exc:  # this item alone, whatever a transform's value raised: saved as its source gave it
            said = str(exc) if isinstance(exc, (TypeError, ValueError, AttributeError, OverflowError, RecursionError)) \
                else f"{type(exc).__name__}: {exc}"
            unfit.append((item.id, f"item {item.id} cannot be saved as the transforms left it: {said}"))
    return rows, unfit
