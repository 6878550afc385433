"""No transform can stall a run: each `apply` is stopped at its deadline, and a chunk stuck where no
interrupt reaches is given up (its worker ended, or its thread left behind); the run finishes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Transform
from pipeline.config import load_project
from pipeline.ingesting import CHUNK_ITEMS
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.runner import run
from pipeline.state import Store
from pipeline.time_limits import OutOfTime, call_within
from pipeline.transforming import MIN_ITEMS
from tests.processes import alive

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402  (bench/corpus.py: realistic feeds)

AS_OF = date(2016, 5, 1)


# ---- call_within --------------------------------------------------------------------------------------

def _spin(swallow: bool = True) -> None:
    """Python code that never ends, and swallows every ordinary error it meets."""
    while True:
        try:
            sum(range(100))
        except Exception:
            if not swallow:
                raise


def _in_thread(work) -> object:
    outcome: list = []

    def target():
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    return outcome[0]


def _stopped(seconds: float, block) -> object:
    try:
        call_within(seconds, "took too long", block)
    except OutOfTime as exc:
        return exc
    return "finished"


@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_a_block_that_loops_past_its_time_is_stopped_even_if_it_swallows_errors(where):
    work = lambda: _stopped(0.3, _spin)  # noqa: E731
    outcome = work() if where == "main thread" else _in_thread(work)
    assert isinstance(outcome, OutOfTime) and str(outcome) == "took too long"


def test_on_the_main_thread_a_blocking_call_is_stopped_too():
    assert isinstance(_stopped(0.3, lambda: time.sleep(30)), OutOfTime)


@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_a_block_that_ends_in_time_leaves_nothing_armed(where):
    def work():
        assert _stopped(0.2, lambda: None) == "finished"
        time.sleep(1.5)  # past the limit and its repeats: nothing may interrupt this now
        return "slept"

    before = signal.getsignal(signal.SIGALRM)
    assert (work() if where == "main thread" else _in_thread(work)) == "slept"
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_an_interrupt_landing_while_the_limit_is_taken_down_leaves_nothing_armed(where, monkeypatch):
    # The interrupt can come at any instruction, also the first ones of the disarming: it must still finish.
    from pipeline import time_limits

    calls = []
    kind = time_limits._Alarm if where == "main thread" else time_limits._AsyncLimit

    class Interrupted(kind):
        def disarm(self):
            calls.append("disarm")
            if len(calls) == 1:
                raise time_limits.Interrupt
            super().disarm()

    monkeypatch.setattr(time_limits, kind.__name__, Interrupted)

    def work():
        assert _stopped(0.3, lambda: None) == "finished"
        time.sleep(1.5)  # past the limit and its repeats
        return "slept"

    assert (work() if where == "main thread" else _in_thread(work)) == "slept"
    assert calls == ["disarm", "disarm"]


def test_on_the_main_thread_a_timer_already_running_is_kept_and_the_call_still_stopped():
    rang = []
    previous = signal.signal(signal.SIGALRM, lambda *_: rang.append(True))
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        assert isinstance(_stopped(0.3, _spin), OutOfTime)  # stopped another way: Python code is reached
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < left <= 30 and not rang  # the process's own timer, untouched
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_call_that_keeps_starting_threads_is_stopped_and_no_interrupt_goes_to_a_new_thread(monkeypatch):
    # CPython 3.11 gives a thread being started its starter's id: an interrupt sent then went to the new
    # thread, and its starter waited for it in Thread.start() for ever.
    lost = []
    monkeypatch.setattr(threading, "excepthook", lambda args: lost.append(args.exc_type))

    def starts_threads():
        while True:
            thread = threading.Thread(target=lambda: None)
            thread.start()
            thread.join()

    outcomes = [_in_thread(lambda: _stopped(0.005, starts_threads)) for _ in range(30)]
    assert all(isinstance(outcome, OutOfTime) for outcome in outcomes) and not lost


def test_a_block_that_raises_keeps_its_own_error():
    def mine():
        raise KeyError("mine")

    with pytest.raises(KeyError):
        call_within(5, "took too long", mine)


# ---- in a run -----------------------------------------------------------------------------------------
# Transforms the worker processes can import (module level).

RELEASE = threading.Event()  # lets a transform stuck on the background thread go at the end of its test


class _StuckOnItemSeven(Transform):
    """Marks every item, but never finishes with item 7 in its items: `how` it is stuck is Python code
    that loops ("loops"), or a call no interrupt reaches: SIGALRM blocked in a worker ("in_c"), a wait
    on a lock on the background thread ("waits")."""

    name = "stuck_on_item_seven"
    in_workers = True

    class Settings(Transform.Settings):
        how: str = "loops"
        pid_file: str = ""
        on: list[int] = [7]  # the items it is stuck on
        others_take: float = 0.0  # seconds, in a worker, on items it is not stuck on

    def apply(self, items, run):
        if any(item.url.endswith(f"-{n}") for item in items for n in self.settings.on):
            if self.settings.pid_file:
                with open(self.settings.pid_file, "a") as pids:
                    pids.write(f"{os.getpid()}\n")
            if self.settings.how == "loops":
                _spin()
            elif self.settings.how == "in_c" and multiprocessing.parent_process() is not None:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                time.sleep(120)
            elif self.settings.how == "waits":
                RELEASE.wait(120)
        elif multiprocessing.parent_process() is not None:
            time.sleep(self.settings.others_take)
        for item in items:
            item.summary = "marked"


class _StuckSeeingAll(_StuckOnItemSeven):
    name = "stuck_seeing_all"
    in_workers = False


class _Tags(Transform):
    name = "tags"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.themes = ["tagged"]


class _Registers:
    @hookimpl
    def register_transforms(self, register):
        for transform in (_StuckOnItemSeven, _StuckSeeingAll, _Tags):
            register(transform)


def _run(tmp_path: Path, items: int, workers: int, stuck: str, deadline: float = 1):
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=items, as_of=AS_OF)
    (tmp_path / "pipeline.toml").write_text(
        f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
        f'[sinks.feed]\ntype = "rss"\n{stuck}deadline = {deadline}\n[transforms.t]\ntype = "tags"\ndeadline = 1\n',
        encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("stuck", _Registers())])
    started = time.monotonic()
    report = run(project, mode="refresh", as_of=AS_OF)
    return report, time.monotonic() - started


def _stored(tmp_path: Path) -> dict[str, tuple[Item, str]]:
    """Every stored item by its link, with its fingerprint."""
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        items = store.recent_items(until=datetime(2100, 1, 1, tzinfo=UTC), limit=10_000)
        prints = dict(store._rows("SELECT id, fingerprint FROM items"))
    finally:
        store.close()
    return {item.url: (item, prints[item.id]) for item in items}


def _results(report) -> dict[str, object]:
    return {r.name: r for r in report.results if r.stage == "transform"}


@pytest.mark.parametrize("workers, kind, items", [
    (2, "stuck_on_item_seven", MIN_ITEMS),  # chunks in the worker processes
    (1, "stuck_on_item_seven", MIN_ITEMS),  # chunks on the run's background thread
    (2, "stuck_seeing_all", 50),  # one call with every item, on the main thread
], ids=["in a worker", "on the background thread", "seeing the whole run"])
def test_a_transform_past_its_deadline_fails_alone_and_its_items_are_transformed_again(tmp_path, workers, kind,
                                                                                      items):
    report, took = _run(tmp_path, items, workers, f'[transforms.s]\ntype = "{kind}"\n')

    assert took < 30  # not stalled (the deadline is 1 s)
    results = _results(report)
    assert report.exit_code == 1 and not results["s"].ok, report.results
    assert results["s"].summary.startswith("did not finish within 1 s ("), results["s"].summary
    assert "[transforms.s] deadline" in results["s"].summary
    assert results["t"].ok, results["t"]  # the next transform still ran, on every item
    stored = _stored(tmp_path)
    assert len(stored) == items and all(item.themes == ["tagged"] for item, _ in stored.values())
    stuck = [(item, fp) for url, (item, fp) in stored.items() if url.endswith("-7")]
    assert stuck and all(fp == "" and item.summary == "" for item, fp in stuck)  # to be transformed again
    if kind == "stuck_on_item_seven":  # only the stuck chunk
        assert sum(fp == "" for _, fp in stored.values()) == CHUNK_ITEMS
        assert sum(item.summary == "marked" for item, _ in stored.values()) == items - CHUNK_ITEMS


def _counting_calls_alone(monkeypatch) -> list[int]:
    calls: list[int] = []
    alone = RunContext.run_alone

    def counted(self, fn, *args, **kwargs):
        calls.append(len(args[-1]))
        return alone(self, fn, *args, **kwargs)

    monkeypatch.setattr(RunContext, "run_alone", counted)
    return calls


def test_a_chunk_stuck_in_c_code_has_its_worker_ended_and_is_saved_untransformed(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("pipeline.transforming.GRACE", 1.0)
    alone = _counting_calls_alone(monkeypatch)
    pid_file = tmp_path / "pids"
    many = 2 * 2 * CHUNK_ITEMS  # as many chunks as are in flight at once: the others take 2 s each
    report, took = _run(tmp_path, many, 2, f'[transforms.s]\ntype = "stuck_on_item_seven"\nhow = "in_c"\n'
                                           f'pid_file = "{pid_file}"\nothers_take = 2\n', deadline=3)

    assert took < 60
    results = _results(report)
    assert report.exit_code == 1 and not results["s"].ok and not results["t"].ok, report.results
    assert "did not finish 250 items within 5 s, even when stopped; its worker process was ended" in \
        results["s"].summary, results["s"]
    stored = _stored(tmp_path)
    assert len(stored) == many  # every item saved
    untransformed = [url for url, (item, fp) in stored.items() if fp == "" and item.summary == "" and not item.themes]
    assert len(untransformed) == CHUNK_ITEMS and any(url.endswith("-7") for url in untransformed)
    assert sum(item.summary == "marked" and item.themes == ["tagged"] for item, _ in stored.values()) == \
        many - CHUNK_ITEMS
    assert alone  # the chunk in flight beside it when its workers were ended was done again alone
    assert not alive(int(pid_file.read_text().split()[0]))
    assert any("stuck in the transforms past its deadline" in r.getMessage() for r in caplog.records)


def test_a_chunk_stuck_again_when_done_alone_has_that_worker_ended_too(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.transforming.GRACE", 1.0)
    alone = _counting_calls_alone(monkeypatch)
    pid_file = tmp_path / "pids"
    many = 2 * CHUNK_ITEMS  # one chunk stuck in each worker
    report, took = _run(tmp_path, many, 2, f'[transforms.s]\ntype = "stuck_on_item_seven"\nhow = "in_c"\n'
                                           f'pid_file = "{pid_file}"\non = [7, 257]\n')

    assert took < 60
    [result] = [r for r in report.results if r.name == "s"]
    assert report.exit_code == 1 and "its worker process was ended" in result.summary, report.results
    assert alone == [CHUNK_ITEMS]  # the second chunk, once more alone: stuck there too
    stored = _stored(tmp_path)
    assert len(stored) == many and all(fp == "" and item.summary == "" for item, fp in stored.values())
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert len(pids) == 3 and not any(alive(pid) for pid in pids)  # two in the pool, one alone: all ended


def test_a_chunk_stuck_on_the_background_thread_is_left_behind_and_not_saved(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.transforming.GRACE", 1.0)
    RELEASE.clear()
    many = 3 * CHUNK_ITEMS
    try:
        report, took = _run(tmp_path, many, 1, '[transforms.s]\ntype = "stuck_on_item_seven"\nhow = "waits"\n')
    finally:
        RELEASE.set()

    assert took < 60
    results = _results(report)
    assert report.exit_code == 1 and not results["s"].ok, report.results
    assert "did not finish 250 items within 3 s, even when stopped; it was left running and its items were not " \
           "saved" in results["s"].summary, results["s"]
    stored = _stored(tmp_path)
    assert len(stored) == many - CHUNK_ITEMS and not any(url.endswith("-7") for url in stored)
    assert all(item.summary == "marked" and item.themes == ["tagged"] and fp for item, fp in stored.values())

    # The next run reads the feed again (no validator was recorded) and transforms the stuck chunk's items.
    (tmp_path / "pipeline.toml").write_text(
        (tmp_path / "pipeline.toml").read_text(encoding="utf-8").replace('how = "waits"', 'how = "done"'),
        encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("stuck", _Registers())])
    assert run(project, mode="refresh", as_of=AS_OF).exit_code == 0
    assert len(_stored(tmp_path)) == many


def test_a_chunk_given_up_on_is_never_mistaken_for_a_later_one(tmp_path):
    # Python reuses a freed list's id() at once: the chunk given up on must be told apart by identity, kept.
    from concurrent.futures import Future

    from pipeline.ingesting import InFlight, Ingest
    from pipeline.run_report import RunReport

    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
    store = Store(tmp_path / "s.sqlite")
    ctx = RunContext(load_project(tmp_path / "pipeline.toml"), store, AS_OF, datetime(2016, 5, 1, tzinfo=UTC))
    try:
        ingest = Ingest(ctx, RunReport("refresh", AS_OF.isoformat()), lambda *_: None)
        ingest._give_up(InFlight(Future(), [object()]))  # stuck: its future never ends
        later = [[object()] for _ in range(50)]  # made after the stuck chunk's last reference here is gone
        assert not any(ingest._given_up(chunk) for chunk in later)
        assert len(ingest.given_up) == 1 and ingest._given_up(ingest.given_up[0])
    finally:
        ctx.close()
        store.close()
