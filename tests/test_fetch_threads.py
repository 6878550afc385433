"""How many sources run at once (pipeline/fetching.py): a few threads to begin with, more while they wait."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from pipeline import fetching
from pipeline.run_report import StageResult


class Counted:
    """A fetch that counts the sources running at once and the threads that ran them."""

    def __init__(self, release_at: int | None = None):
        self.lock, self.running, self.peak, self.threads = threading.Lock(), 0, 0, set()
        self.release_at = release_at  # sources block until this many run at once (None: they return at once)
        self.all_in = threading.Event()

    def __call__(self, source) -> StageResult:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.get_ident())
            if self.release_at is not None and self.running >= self.release_at:
                self.all_in.set()
        if self.release_at is not None:
            self.all_in.wait(timeout=10)
        with self.lock:
            self.running -= 1
        return StageResult("source", source.instance, True, "0 items", 0.0, 0)


def _fetch_all(count: int, fetch: Counted, concurrency: int) -> list[StageResult]:
    sources = [SimpleNamespace(instance=f"s{n}") for n in range(count)]
    return fetching.fetch_all(sources, fetch, concurrency=concurrency, deadline_of=lambda name: 60.0,
                              on_result=lambda result: None, abandon=lambda name: None)


@pytest.mark.parametrize("concurrency", [8, 6, 32])
def test_sources_that_wait_get_every_thread_and_never_more(concurrency):
    fetch = Counted(release_at=concurrency)  # each waits until `concurrency` run at once

    results = _fetch_all(3 * concurrency, fetch, concurrency)

    assert fetch.all_in.is_set()  # started with fewer, the threads grew to `concurrency` while the sources waited
    assert fetch.peak == concurrency
    assert [r.name for r in results] == [f"s{n}" for n in range(3 * concurrency)]


def test_sources_that_answer_at_once_are_not_spread_over_more_threads(monkeypatch):
    monkeypatch.setattr(fetching, "RAMP", 0.5)  # whatever the machine's speed, thousands finish in a window
    fetch = Counted()

    results = _fetch_all(3000, fetch, concurrency=32)

    assert len(results) == 3000 and all(r.ok for r in results)
    assert len(fetch.threads) <= fetching.FIRST_THREADS


def test_a_single_source_runs_on_a_single_thread():
    fetch = Counted()
    assert [r.name for r in _fetch_all(1, fetch, concurrency=32)] == ["s0"] and len(fetch.threads) == 1


def test_a_source_that_hangs_among_the_first_threads_is_abandoned_and_the_rest_still_get_every_thread():
    release, abandoned = threading.Event(), []
    fetch = Counted(release_at=7)  # the other seven threads of eight, while s0 hangs on one

    def hang_first(source):
        if source.instance == "s0":
            release.wait(timeout=30)  # never answers within its deadline
            return StageResult("source", "s0", True, "late", 0.0, 0)
        return fetch(source)

    sources = [SimpleNamespace(instance=f"s{n}") for n in range(20)]
    try:
        results = fetching.fetch_all(sources, hang_first, concurrency=8,
                                     deadline_of=lambda name: 0.5 if name == "s0" else 30.0,
                                     on_result=lambda result: None, abandon=abandoned.append)
    finally:
        release.set()

    assert abandoned == ["s0"] and not results[0].ok and "timed out" in results[0].summary
    assert all(r.ok for r in results[1:])
    assert fetch.all_in.is_set() and fetch.peak <= 8  # the ramp went on past the hung source, never over the limit


@pytest.mark.parametrize("busy_in", ["on_result", "meanwhile"])
def test_a_source_that_returns_in_time_is_not_timed_out_while_this_thread_saves(busy_in):
    # Saving (on_result, meanwhile) may wait on the database; a source that returns meanwhile has returned.
    def fetch(source) -> StageResult:
        if source.instance == "late":
            time.sleep(0.3)
        return StageResult("source", source.instance, True, "0 items", 0.0, 0)

    slow_once = threading.Event()

    def busy(*_) -> None:
        if not slow_once.is_set():
            slow_once.set()
            time.sleep(1.0)  # longer than "late"'s deadline

    sources = [SimpleNamespace(instance="first"), SimpleNamespace(instance="late")]
    results = fetching.fetch_all(
        sources, fetch, concurrency=2, deadline_of=lambda name: 0.8,
        on_result=busy if busy_in == "on_result" else (lambda result: None), abandon=lambda name: None,
        meanwhile=busy if busy_in == "meanwhile" else (lambda: None))

    assert slow_once.is_set()
    assert [(r.name, r.ok) for r in results] == [("first", True), ("late", True)], results
