"""Transforms in the worker processes give exactly what they give in the main process."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Source, Transform
from pipeline.config import load_project
from pipeline.errors import SourceError
from pipeline.ingesting import CHUNK_ITEMS
from pipeline.models import Item, Kind, item_id
from pipeline.run_context import RunContext
from pipeline.runner import run
from pipeline.state import Store
from pipeline.transforming import MIN_ITEMS
from tests.processes import alive

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402  (bench/corpus.py: realistic feeds)


def test_the_same_tags_evidence_and_summaries_in_workers_as_here(tmp_path):
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=MIN_ITEMS, as_of=date(2016, 5, 1))
    shipped = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
    transforms = shipped[shipped.index("[transforms.themes]"):shipped.index("# ---- Sinks")]
    results = {}
    for workers in (1, 2):
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        (folder / "pipeline.toml").write_text(
            f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
            f'{transforms}\n[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
        report = run(load_project(folder / "pipeline.toml"), mode="refresh", as_of=date(2016, 5, 1))
        assert report.exit_code == 0, report.results
        summaries = [r.summary for r in report.results if r.stage == "transform"]
        assert summaries and all(("worker processes" in s) == (workers == 2) for s in summaries), summaries
        store = Store(folder / "state" / "pipeline.sqlite")
        items = store.recent_items(until=datetime(2100, 1, 1, tzinfo=UTC), limit=10_000)
        store.close()
        results[workers] = {i.id: (i.themes, i.theme_evidence, i.summary) for i in items}
    assert len(results[1]) == MIN_ITEMS and results[1] == results[2]
    assert sum(bool(themes) for themes, _, _ in results[1].values()) > MIN_ITEMS // 2  # a real test: most are tagged


class _WaitsForTheOthers:
    """A source that finishes only once another source's items are saved (or after 30 s): it sees
    them saved only if each source's items are transformed and saved while the others still run."""

    @hookimpl
    def register_sources(self, register):
        class Waits(Source):
            name = "waits"

            def fetch(self, run):
                give_up = time.monotonic() + 30
                while run.store.count_items() == 0 and time.monotonic() < give_up:
                    time.sleep(0.05)
                saved = run.store.count_items()
                return [Item(item_id(self.instance, "1"), Kind.NEWS, self.instance, f"{saved} saved before me",
                             datetime(2016, 4, 20, tzinfo=UTC))]

        register(Waits)


@pytest.mark.parametrize("workers, transforms", [(2, True), (1, True), (2, False)],
                         ids=["in the workers", "one worker: here", "no transforms"])
def test_each_sources_items_are_transformed_and_saved_while_others_still_fetch(tmp_path, workers, transforms):
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=CHUNK_ITEMS + 100, as_of=date(2016, 5, 1))
    shipped = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
    tables = shipped[shipped.index("[transforms.themes]"):shipped.index("# ---- Sinks")] if transforms else ""
    (tmp_path / "pipeline.toml").write_text(
        f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
        f'[sources.slow]\ntype = "waits"\n{tables}\n[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("waits", _WaitsForTheOthers())])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0, report.results
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    waited = store.get_items([item_id("slow", "1")])[0]
    assert store.count_items() == CHUNK_ITEMS + 101
    tagged = sum(bool(item.themes) for item in store.recent_items(until=datetime(2100, 1, 1, tzinfo=UTC), limit=500))
    store.close()
    assert int(waited.title.split()[0]) >= CHUNK_ITEMS  # a whole chunk was saved before the slow source ended
    assert (tagged > CHUNK_ITEMS // 2) == transforms  # and transformed first
    results = [r for r in report.results if r.stage == "transform"]
    assert len(results) == 2 * transforms and all(r.ok and r.count == CHUNK_ITEMS + 101 for r in results)
    assert all(("worker processes" in r.summary) == (workers > 1) for r in results), results


class _SlowAndCounted:
    """A source that returns one item after a few of the fetch loop's polls, and a transform that marks
    every item with how many it was given at once: one that must see the whole run, unless told that
    it may run in the workers."""

    def __init__(self, in_workers: bool):
        self.in_workers = in_workers

    @hookimpl
    def register_sources(self, register):
        class Slow(Source):
            name = "slow"

            def fetch(self, run):
                time.sleep(0.5)  # ten polls: the other source's items wait meanwhile
                return [Item(item_id(self.instance, "1"), Kind.NEWS, self.instance, "Late news",
                             datetime(2016, 4, 20, tzinfo=UTC))]

        register(Slow)

    @hookimpl
    def register_transforms(self, register):
        class Counted(Transform):
            name = "counted"
            in_workers = self.in_workers

            def apply(self, items, run):
                for item in items:
                    item.summary = f"one of {len(items)}"

        register(Counted)


@pytest.mark.parametrize("workers, in_workers, transforms", [
    (2, False, True),  # a transform that must see the whole run
    (1, True, True),  # one worker: chunks are transformed here
    (2, True, False),  # no transforms at all
], ids=["whole-run transform", "one worker", "no transforms"])
def test_items_transformed_here_are_all_saved(tmp_path, workers, in_workers, transforms):
    many = CHUNK_ITEMS + 100
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=many, as_of=date(2016, 5, 1))
    (tmp_path / "pipeline.toml").write_text(
        f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
        f'[sources.late]\ntype = "slow"\n[sinks.feed]\ntype = "rss"\n'
        + ('[transforms.counted]\ntype = "counted"\n' if transforms else ""),
        encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("slow", _SlowAndCounted(in_workers))])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0, report.results
    items = _stored(tmp_path)
    assert len(items) == many + 1
    if not transforms:
        expected = {""}
    elif in_workers:  # a chunk at a time, whichever source finishes first: 250, then what is left
        expected = {f"one of {CHUNK_ITEMS}", f"one of {many + 1 - CHUNK_ITEMS}"}
    else:  # every new item of the run at once
        expected = {f"one of {many + 1}"}
    assert {item.summary for item in items} == expected
    assert not any("worker processes" in r.summary for r in report.results)


class _FailsOnAWholeChunk(Transform):
    """Marks every item, but raises when given a whole chunk."""

    name = "fails_on_a_whole_chunk"
    in_workers = True

    def apply(self, items, run):
        if len(items) == CHUNK_ITEMS:
            raise ValueError("cannot take so many")
        for item in items:
            item.summary = "marked"


def test_here_a_transform_that_fails_on_one_chunk_fails_the_run_and_only_that_chunk_is_done_again(tmp_path):
    config = _feed_project(tmp_path, CHUNK_ITEMS + 100, '[transforms.f]\ntype = "fails_on_a_whole_chunk"\n',
                           workers=1)
    project = load_project(config, extra_plugins=[("fails", _Registers(_FailsOnAWholeChunk))])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    result = _the_failed_transform(report)
    assert result.summary == "ValueError: cannot take so many", result
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    prints = [fp for (fp,) in store._rows("SELECT fingerprint FROM items")]
    store.close()
    assert len(prints) == CHUNK_ITEMS + 100
    assert sum(fp == "" for fp in prints) == CHUNK_ITEMS  # to be transformed again: only the failed chunk
    assert sum(item.summary == "marked" for item in _stored(tmp_path)) == 100


# Transforms the worker processes can import (module level): each test's plugin registers some of them.

class _Rewrites(Transform):
    """Reads an item's text, then gives it a new body."""

    name = "rewrites"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            run.text_of(item)
            item.body_html = "<p>Rewritten.</p>"


class _TextAsSummary(Transform):
    name = "text_as_summary"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.summary = run.text_of(item)


class _DiesOnce(Transform):
    """Marks every item; in a worker process, first ends that process abruptly if its flag file is there,
    and otherwise takes `then_seconds`."""

    name = "dies_once"
    in_workers = True

    class Settings(Transform.Settings):
        flag: str
        then_seconds: float = 0.0

    def apply(self, items, run):
        flag = Path(self.settings.flag)
        if multiprocessing.parent_process() is not None:
            try:
                flag.rename(flag.with_name("died"))  # only one worker may claim it
            except FileNotFoundError:
                time.sleep(self.settings.then_seconds)
            else:
                os._exit(1)  # as a worker killed for memory, or crashed in C code
        for item in items:
            item.summary = "marked"


class _Registers:
    def __init__(self, *transforms):
        self.transforms = transforms

    @hookimpl
    def register_transforms(self, register):
        for transform in self.transforms:
            register(transform)


def _feed_project(tmp_path: Path, items: int, tables: str, workers: int = 2) -> Path:
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=items, as_of=date(2016, 5, 1))
    (tmp_path / "pipeline.toml").write_text(
        f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
        f'[sinks.feed]\ntype = "rss"\n{tables}', encoding="utf-8")
    return tmp_path / "pipeline.toml"


def _the_failed_transform(report):
    """The report's one transform result, which failed and made the run exit 1."""
    [result] = [r for r in report.results if r.stage == "transform"]
    assert report.exit_code == 1 and not result.ok, report.results
    return result


def _stored(tmp_path: Path) -> list[Item]:
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        return store.recent_items(until=datetime(2100, 1, 1, tzinfo=UTC), limit=10_000)
    finally:
        store.close()


def test_in_the_workers_a_transform_reads_the_body_an_earlier_one_rewrote(tmp_path):
    config = _feed_project(tmp_path, MIN_ITEMS, '[transforms.a]\ntype = "rewrites"\n'
                                                '[transforms.b]\ntype = "text_as_summary"\n')
    project = load_project(config, extra_plugins=[("two", _Registers(_Rewrites, _TextAsSummary))])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0, report.results
    assert all("worker processes" in r.summary for r in report.results if r.stage == "transform")
    assert {item.summary for item in _stored(tmp_path)} == {"Rewritten."}


def test_the_chunks_a_dying_worker_takes_with_it_are_done_again_and_the_run_succeeds(tmp_path, caplog):
    flag = tmp_path / "die"
    flag.touch()
    many = 3 * 2 * 2 * CHUNK_ITEMS  # two chunks per worker in flight: what a death can take with it
    config = _feed_project(tmp_path, many, f'[transforms.d]\ntype = "dies_once"\nflag = "{flag}"\n')
    project = load_project(config, extra_plugins=[("dies", _Registers(_DiesOnce))])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert not flag.exists()  # a worker did die
    assert report.exit_code == 0, report.results
    [result] = [r for r in report.results if r.stage == "transform"]
    assert result.ok and result.count == many
    items = _stored(tmp_path)
    assert len(items) == many and {item.summary for item in items} == {"marked"}
    assert any("worker process ended abruptly" in r.getMessage() for r in caplog.records)


class _KillsOnItemSeven(Transform):
    """Marks every item; in a worker process, ends that process abruptly whenever item 7 is in the chunk."""

    name = "kills_on_item_seven"
    in_workers = True

    def apply(self, items, run):
        if multiprocessing.parent_process() is not None and any(item.url.endswith("-7") for item in items):
            os._exit(1)
        for item in items:
            item.summary = "marked"


def test_a_chunk_that_kills_every_worker_it_meets_is_saved_untransformed_and_only_it(tmp_path):
    many = 3 * 2 * 2 * CHUNK_ITEMS
    config = _feed_project(tmp_path, many, '[transforms.k]\ntype = "kills_on_item_seven"\n')
    project = load_project(config, extra_plugins=[("kills", _Registers(_KillsOnItemSeven))])

    first = run(project, mode="refresh", as_of=date(2016, 5, 1))

    result = _the_failed_transform(first)
    assert "worker process failed: BrokenProcessPool" in result.summary, result
    items = _stored(tmp_path)
    assert len(items) == many  # every item saved
    assert sum(item.summary == "" for item in items) == CHUNK_ITEMS  # the others in flight were done again
    assert [i.summary for i in items if i.url.endswith("-7")] == [""]

    second = run(project, mode="refresh", as_of=date(2016, 5, 1))  # the feed is read again in full

    assert second.exit_code == 1  # the same chunk, in the workers again: it kills them again, and only it is lost
    assert sum(item.summary == "" for item in _stored(tmp_path)) == CHUNK_ITEMS


def test_a_transform_from_plugins_dir_runs_in_the_workers(tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "shout.py").write_text(
        "from pipeline import hookimpl\nfrom pipeline.components import Transform\n\n\n"
        "class Shout(Transform):\n    name = 'shout'\n    in_workers = True\n\n"
        "    def apply(self, items, run):\n        for item in items:\n"
        "            item.summary = run.text_of(item)[:20].upper()\n\n\n"
        "@hookimpl\ndef register_transforms(register):\n    register(Shout)\n", encoding="utf-8")
    config = _feed_project(tmp_path, MIN_ITEMS, '[transforms.s]\ntype = "shout"\n')
    config.write_text(config.read_text().replace('workers = 2\n', 'workers = 2\nplugins_dir = "local"\n'))

    report = run(load_project(config), mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0, report.results
    [result] = [r for r in report.results if r.stage == "transform"]
    assert result.ok and "worker processes" in result.summary, result
    items = _stored(tmp_path)
    assert len(items) == MIN_ITEMS and all(item.summary and item.summary == item.summary.upper() for item in items)


def _length_after_a_second(text: str) -> int:
    time.sleep(1.0)
    return len(text)


class _CrashesAParse:
    """Three sources: "during" has a parse under way in one worker when "crash" has the other end abruptly
    while parsing; "after" parses once that has failed."""

    def __init__(self):
        self.crashed, self.parsing = threading.Event(), threading.Event()

    @hookimpl
    def register_sources(self, register):
        crashed, parsing = self.crashed, self.parsing

        class Crash(Source):
            name = "crash"

            def fetch(self, run):
                parsing.wait(timeout=30)
                time.sleep(0.3)  # the other parse has a worker by now
                try:
                    run.offload(os._exit, 1)
                finally:
                    crashed.set()

        class During(Source):
            name = "during"

            def fetch(self, run):
                parsing.set()
                length = run.offload(_length_after_a_second, "three")
                return [Item(item_id(self.instance, "1"), Kind.NEWS, self.instance, f"parsed {length}",
                             datetime(2016, 4, 21, tzinfo=UTC))]

        class After(Source):
            name = "after"

            def fetch(self, run):
                crashed.wait(timeout=30)
                length = run.offload(len, "four")
                return [Item(item_id(self.instance, "1"), Kind.NEWS, self.instance, f"parsed {length}",
                             datetime(2016, 4, 20, tzinfo=UTC))]

        register(Crash)
        register(During)
        register(After)


def test_a_parse_that_kills_its_worker_fails_that_source_alone(tmp_path):
    (tmp_path / "pipeline.toml").write_text(
        '[pipeline]\nname = "N"\nworkers = 2\n[sources.crash]\ntype = "crash"\n[sources.during]\ntype = "during"\n'
        '[sources.after]\ntype = "after"\n[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("crash", _CrashesAParse())])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    results = {r.name: r for r in report.results if r.stage == "source"}
    assert not results["crash"].ok and "ended abruptly, twice" in results["crash"].summary, results["crash"]
    assert results["during"].ok, results["during"]  # its parse died with the pool, and was done again alone
    assert results["after"].ok, results["after"]  # the next parse got new workers
    assert [item.title for item in _stored(tmp_path)] == ["parsed 5", "parsed 4"]


def _context(tmp_path: Path) -> tuple[RunContext, Store]:
    """A run's context on its own (two workers), and its store: the test closes both."""
    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "N"\nworkers = 2\n[sinks.feed]\ntype = "rss"\n',
                                            encoding="utf-8")
    store = Store(tmp_path / "s.sqlite")
    return RunContext(load_project(tmp_path / "pipeline.toml"), store, date(2016, 5, 1),
                      datetime(2016, 5, 1, tzinfo=UTC)), store


def _pid_after_a_while() -> int:
    time.sleep(0.2)  # long enough that each of the two workers takes some of four calls
    return os.getpid()


def test_a_stale_report_of_a_broken_pool_leaves_the_pool_that_replaced_it_alone(tmp_path):
    # Every future in flight in a broken pool reports it, one after another, after a new pool took over.
    ctx, store = _context(tmp_path)
    try:
        dead = ctx.submit_to_workers(os._exit, 1)
        broken = dead.exception(timeout=30)
        assert isinstance(broken, BrokenProcessPool)
        ctx.workers_failed(broken)
        before: set[int] = set()
        for _ in range(10):  # until both workers have answered
            before |= {f.result(timeout=30) for f in [ctx.submit_to_workers(_pid_after_a_while) for _ in range(4)]}
            if len(before) == 2:
                break

        ctx.workers_failed(broken)  # the stale report

        after = {f.result(timeout=30) for f in [ctx.submit_to_workers(_pid_after_a_while) for _ in range(4)]}
        assert len(before) == 2 and after <= before  # the same two workers: the sound pool was kept
    finally:
        ctx.close()
        store.close()


def _sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_a_call_alone_that_overruns_its_time_has_its_worker_ended_and_the_next_call_gets_a_new_one(tmp_path):
    ctx, store = _context(tmp_path)
    try:
        first = ctx.run_alone(_sleep_then_pid, 0.0, timeout=30)
        assert ctx.run_alone(_sleep_then_pid, 0.0, timeout=30) == first  # one worker, kept between calls
        with pytest.raises(TimeoutError):
            ctx.run_alone(_sleep_then_pid, 60.0, timeout=0.5)
        gone = time.monotonic() + 10
        while time.monotonic() < gone and alive(first):
            time.sleep(0.05)
        assert not alive(first)  # ended, not left sleeping
        assert ctx.run_alone(_sleep_then_pid, 0.0, timeout=30) not in (first, None)
        with pytest.raises(BrokenProcessPool):
            ctx.run_alone(os._exit, 1)
        assert ctx.run_alone(len, "four", timeout=30) == 4
    finally:
        ctx.close()
        store.close()


def _mark_then_sleep(mark: str, seconds: float) -> int:
    Path(mark).touch()
    time.sleep(seconds)
    return os.getpid()


def test_closing_the_run_during_a_parse_leaves_no_worker_parsing(tmp_path):
    # As when a run is stopped: close() ends the workers, and the parse that was in them is not done again.
    ctx, store = _context(tmp_path)
    outcome: dict = {}
    mark = tmp_path / "parsing"

    def source() -> None:
        with ctx.deadline_scope(60):
            try:
                outcome["pid"] = ctx.offload(_mark_then_sleep, str(mark), 30.0)
            except Exception as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=source, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not mark.exists():  # the parse is under way in a worker (however loaded the machine)
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.02)
    ctx.close()
    thread.join(15)
    store.close()
    assert "pid" not in outcome, "parsed again after the run was closed"
    assert "the run was stopped" in str(outcome["error"])
    assert ctx._alone is None  # no worker was started for it


def test_a_run_closed_before_a_source_hands_over_its_parse_says_it_was_stopped(tmp_path):
    """A source that reached its parse after the run was stopped (SIGTERM while it downloaded) was reported as
    "BrokenProcessPool: the run has ended", as if the workers had failed; it is the stop, said as such."""
    ctx, store = _context(tmp_path)
    ctx.close()
    try:
        with ctx.deadline_scope(30), pytest.raises(SourceError, match="the run was stopped"):
            ctx.offload(_sleep_then_pid, 0.0)
    finally:
        store.close()


class _OneSecondAChunk(Transform):
    name = "one_second_a_chunk"
    in_workers = True

    def apply(self, items, run):
        time.sleep(1.0)
        for item in items:
            item.summary = "marked"


class _Hangs:
    """A source that hangs well past its deadline."""

    @hookimpl
    def register_sources(self, register):
        class Hangs(Source):
            name = "hangs"

            def fetch(self, run):
                time.sleep(30)
                return []

        register(Hangs)


@pytest.mark.parametrize("workers", [2, 1], ids=["chunks done again after a worker died", "chunks transformed here"])
def test_transforming_chunks_never_keeps_the_fetch_loop_from_a_sources_deadline(tmp_path, workers):
    flag = tmp_path / "die"
    flag.touch()
    table = (f'[transforms.d]\ntype = "dies_once"\nflag = "{flag}"\nthen_seconds = 2\n' if workers == 2
             else '[transforms.d]\ntype = "one_second_a_chunk"\n')
    config = _feed_project(tmp_path, 4 * CHUNK_ITEMS, table + '[sources.hangs]\ntype = "hangs"\ndeadline = 2\n',
                           workers=workers)
    project = load_project(config, extra_plugins=[
        ("t", _Registers(_DiesOnce, _OneSecondAChunk)), ("hangs", _Hangs())])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    [hung] = report.failed("source")
    # Four chunks take at least 4 s here, or 8 s done again one at a time: none of it on the fetch loop's thread.
    assert hung.name == "hangs" and hung.summary.startswith("timed out") and hung.seconds < 2 + 1.5, hung
    assert not report.failed("transform"), report.results
    assert {item.summary for item in _stored(tmp_path)} == {"marked"}
    assert not flag.exists() or workers == 1


class _Exits(Transform):
    """Calls sys.exit(), as a careless plugin might."""

    name = "exits"
    in_workers = True

    def apply(self, items, run):
        sys.exit(0)


class _ExitsSeeingAll(_Exits):
    name = "exits_seeing_all"
    in_workers = False


@pytest.mark.parametrize("kind", ["exits", "exits_seeing_all"], ids=["a chunk here", "the whole run"])
def test_a_transform_that_calls_sys_exit_fails_as_a_transform_and_the_run_says_so(tmp_path, kind):
    config = _feed_project(tmp_path, CHUNK_ITEMS + 50, f'[transforms.x]\ntype = "{kind}"\n', workers=1)
    project = load_project(config, extra_plugins=[("x", _Registers(_Exits, _ExitsSeeingAll))])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    result = _the_failed_transform(report)
    assert result.summary.startswith("SystemExit"), result
    assert len(_stored(tmp_path)) == CHUNK_ITEMS + 50  # saved, to be transformed again


class _LeavesASet(Transform):
    """Leaves one item with a set where its themes' list belongs: it cannot be saved."""

    name = "leaves_a_set"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.summary = "marked"
            if item.url.endswith("-7"):
                item.themes = {"broken"}


def test_an_item_a_transform_leaves_unfit_to_save_fails_the_transform_and_not_the_run(tmp_path):
    config = _feed_project(tmp_path, CHUNK_ITEMS + 50, '[transforms.s]\ntype = "leaves_a_set"\n', workers=1)
    project = load_project(config, extra_plugins=[("s", _Registers(_LeavesASet))])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    result = _the_failed_transform(report)
    assert "cannot be saved as the transforms left it" in result.summary, result
    items = _stored(tmp_path)  # the one left unfit saved as its source gave it (review h150)
    assert len(items) == CHUNK_ITEMS + 50
    assert [item.summary for item in items if item.url.endswith("-7")] == [""]
    assert {item.summary for item in items if not item.url.endswith("-7")} == {"marked"}


def test_a_run_with_nothing_new_reports_each_transform_with_no_items_and_no_negative_time(tmp_path):
    config = _feed_project(tmp_path, 5, '[transforms.t]\ntype = "text_as_summary"\n', workers=1)
    project = load_project(config, extra_plugins=[("t", _Registers(_TextAsSummary))])
    run(project, mode="refresh", as_of=date(2016, 5, 1))

    again = run(project, mode="refresh", as_of=date(2016, 5, 1))

    [result] = [r for r in again.results if r.stage == "transform"]
    assert result.ok and result.summary == "0 items" and result.count == 0 and result.seconds >= 0, result



class _Node:
    def __init__(self):
        self.me = self  # a cycle: only the collector frees it


_left: list = []  # in a worker: weak references to the cycles its last call of `_make_cycles` made


def _make_cycles() -> bool:
    """In a worker: 20,000 cycles of garbage; whether the collector ran meanwhile (then some would be gone)."""
    import weakref

    _left[:] = [weakref.ref(_Node()) for _ in range(20_000)]
    return all(ref() is not None for ref in _left)


def _cycles_freed() -> bool:
    return bool(_left) and all(ref() is None for ref in _left)


def _collector_on() -> bool:
    import gc

    return gc.isenabled()


def test_a_worker_call_runs_with_the_cycle_collector_paused_and_what_it_left_in_cycles_is_freed_after(tmp_path):
    ctx, store = _context(tmp_path)
    try:
        assert ctx.submit_to_workers(_collector_on).result(timeout=30) is False  # in the pool's calls
        assert ctx.run_alone(_collector_on, timeout=30) is False  # and in a call alone
        # one worker, kept between calls: what a call left in cycles is gone by the next call
        assert ctx.run_alone(_make_cycles, timeout=30) is True
        assert ctx.run_alone(_cycles_freed, timeout=30) is True
    finally:
        ctx.close()
        store.close()


def test_the_collector_is_on_again_after_a_call_that_raises_and_stays_off_when_it_was_off():
    import gc
    import pickle

    from pipeline.worker_calls import call_with_gc_paused

    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        call_with_gc_paused(divmod, 1, 0)
    assert gc.isenabled()
    gc.disable()
    try:
        assert pickle.loads(pickle.dumps(call_with_gc_paused(gc.isenabled))) is False
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_calls_result_comes_back_whole_and_its_cycles_are_freed_as_it_returns():
    import pickle
    import weakref

    from pipeline.worker_calls import call_with_gc_paused

    refs: list = []

    def parse() -> list[Item]:
        refs.extend(weakref.ref(_Node()) for _ in range(20_000))  # garbage in cycles, as a plugin may leave
        return [Item(id=f"i{n}", kind=Kind.POST, source="s", title=f"T{n}", published=datetime(2016, 5, n, tzinfo=UTC))
                for n in range(1, 4)]

    packed = call_with_gc_paused(parse)
    assert all(ref() is None for ref in refs)  # collected before the call returned, not at some later collection
    items = pickle.loads(pickle.dumps(packed))  # as the pool sends it to the main process
    assert [(item.id, item.title, item.published.day) for item in items] == [("i1", "T1", 1), ("i2", "T2", 2),
                                                                             ("i3", "T3", 3)]
