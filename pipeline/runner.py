"""One run: every source (in parallel), then the transforms, then state, the edition and every sink.

A source that fails is reported and the others go on; a sink that fails is reported, the other
sinks still run, and the run's exit code says so. Items are saved before any sink runs, so a
failing sink never loses what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

from pipeline.components import Sink, Source
from pipeline.config import Project
from pipeline.edition import Edition, prepare_edition, start_of
from pipeline.models import Item
from pipeline.plugins import call_each_plugin
from pipeline.run_context import RunContext
from pipeline.run_report import RunReport, StageResult
from pipeline.state import Store

Progress = Callable[[str, int, int], None]  # (what, done, total)
MAX_PARALLEL_SOURCES = 8


def state_path(project: Project):
    return project.core.state_dir / "pipeline.sqlite"


def run(project: Project, *, as_of: date | None = None, mode: str = "run",
        progress: Progress | None = None) -> RunReport:
    """Run the pipeline; `mode` is "run" (make this month's edition) or "refresh" (no new edition)."""
    progress = progress or (lambda what, done, total: None)
    moment = start_of(as_of, project.tz) if as_of else datetime.now(project.tz)
    as_of = as_of or moment.date()
    store = Store(state_path(project))
    ctx = RunContext(project, store, as_of, moment)
    report = RunReport(mode=mode, as_of=as_of.isoformat())
    try:
        items = _fetch_all(project.sources, ctx, report, progress)
        _transform_and_save(items, ctx, report, progress)
        edition = prepare_edition(store, as_of, project.tz, project.core.name, datetime.now(project.tz)) \
            if mode == "run" else None
        report.edition = edition.number if edition else None
        _write_all(project.sinks, edition, ctx, report, progress)
    finally:
        report.problems.extend(ctx.problems)
        ctx.close()
        _notify(project, report)
        store.close()
    return report


def _fetch_all(sources: list[Source], ctx: RunContext, report: RunReport, progress: Progress) -> list[Item]:
    results: dict[str, list[Item]] = {}
    done = 0
    progress("sources", 0, len(sources))
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SOURCES, max(1, len(sources)))) as pool:
        futures = {pool.submit(_fetch_one, source, ctx): source for source in sources}
        for future in futures:
            source = futures[future]
            result, items = future.result()
            report.results.append(result)
            results[source.instance] = items
            done += 1
            progress("sources", done, len(sources))
    unique: dict[str, Item] = {}
    for source in sources:  # in config order, so the first source to name an item wins
        for item in results[source.instance]:
            unique.setdefault(item.id, item)
    return list(unique.values())


def _fetch_one(source: Source, ctx: RunContext) -> tuple[StageResult, list[Item]]:
    started = time.perf_counter()
    try:
        items = list(source.fetch(ctx))
        bad = [i for i in items if not isinstance(i, Item)]
        if bad:
            raise TypeError(f"fetch() returned {type(bad[0]).__name__}, not Item")
    except Exception as exc:
        return StageResult("source", source.instance, False, _reason(exc), time.perf_counter() - started), []
    summary = f"{len(items)} item{'s' if len(items) != 1 else ''}"
    return StageResult("source", source.instance, True, summary, time.perf_counter() - started, len(items)), items


def fingerprint(item: Item) -> str:
    return hashlib.sha256(json.dumps(item.to_dict(), sort_keys=True).encode()).hexdigest()[:24]


def _transform_and_save(items: list[Item], ctx: RunContext, report: RunReport, progress: Progress) -> None:
    """Transform only what is new or changed since it was last saved; save everything fetched."""
    prints = {item.id: fingerprint(item) for item in items}
    stored = ctx.store.fingerprints(prints)
    changed = [item for item in items if stored.get(item.id) != prints[item.id]]
    unchanged = [item.id for item in items if stored.get(item.id) == prints[item.id]]
    all_ok = True
    for n, transform in enumerate(ctx.project.transforms, 1):
        started = time.perf_counter()
        try:
            transform.apply(changed, ctx)
            result = StageResult("transform", transform.instance, True, f"{len(changed)} items",
                                 time.perf_counter() - started, len(changed))
        except Exception as exc:
            all_ok = False
            result = StageResult("transform", transform.instance, False, _reason(exc), time.perf_counter() - started)
        report.results.append(result)
        progress("transforms", n, len(ctx.project.transforms))
    # A failed transform leaves an empty fingerprint, so the next run transforms those items again.
    ctx.store.save_items([(item, prints[item.id] if all_ok else "") for item in changed], ctx.moment)
    if unchanged:
        ctx.store.touch_items(unchanged, ctx.moment)


def _write_all(sinks: list[Sink], edition: Edition | None, ctx: RunContext, report: RunReport,
               progress: Progress) -> None:
    for n, sink in enumerate(sinks, 1):
        started = time.perf_counter()
        try:
            outcome = sink.write(edition, ctx)
            result = StageResult("sink", sink.instance, True, outcome.summary, time.perf_counter() - started)
        except Exception as exc:
            result = StageResult("sink", sink.instance, False, _reason(exc), time.perf_counter() - started)
        report.results.append(result)
        progress("sinks", n, len(sinks))


def _notify(project: Project, report: RunReport) -> None:
    failures = call_each_plugin(project.host.pm, "run_finished",
                                lambda plugin: {"report": report, "project": project})
    for name, exc in failures.items():
        report.problems.append(f"plugin {name!r}: run_finished raised {_reason(exc)}")


def _reason(exc: Exception) -> str:
    from pipeline.errors import PipelineError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {text}"
