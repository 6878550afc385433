"""Running every source at once, each within its deadline.

Each source runs in a daemon thread of its own, at most `[pipeline] fetch_concurrency` at a time.
A source that has not finished `deadline` seconds after it started (connecting, downloading and
parsing together; `[sources.NAME] deadline`, else `[pipeline] source_deadline`) is reported as
timed out and abandoned: the run goes on without it, whatever it later returns is ignored, and
since its thread is a daemon it cannot keep the process alive. Built-in sources also check their
deadline while downloading, so a trickling server ends their fetch too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pipeline.components import Source
from pipeline.run_report import StageResult

Fetch = Callable[[Source], StageResult]
POLL = 0.05  # seconds between checks for finished or overdue sources


def fetch_all(sources: list[Source], fetch: Fetch, *, concurrency: int, deadline_of: Callable[[str], float],
              on_result: Callable[[StageResult], None], abandon: Callable[[str], None]) -> list[StageResult]:
    """Run `fetch(source)` for every source; a result per source, in the sources' order (`on_result` is
    called as each finishes or times out)."""
    slots = threading.Semaphore(max(1, concurrency))
    started: dict[str, float] = {}
    finished: dict[str, StageResult] = {}
    holding: set[str] = set()  # sources holding a slot: an abandoned one gives its slot back at once
    lock = threading.Condition()

    def give_back(name: str) -> None:  # with `lock` held
        if name in holding:
            holding.discard(name)
            slots.release()

    def run(source: Source) -> None:
        slots.acquire()
        with lock:
            holding.add(source.instance)
            if source.instance in finished:  # abandoned before it even started
                give_back(source.instance)
                return
            started[source.instance] = time.monotonic()
        try:
            result = fetch(source)
        finally:
            with lock:
                give_back(source.instance)
        with lock:
            if source.instance not in finished:
                finished[source.instance] = result
                lock.notify_all()

    for source in sources:
        threading.Thread(target=run, args=(source,), name=f"source {source.instance}", daemon=True).start()
    reported: set[str] = set()
    with lock:
        while len(reported) < len(sources):
            now = time.monotonic()
            for source in sources:
                name = source.instance
                if name in reported:
                    continue
                limit = deadline_of(name)
                if name not in finished and name in started and now - started[name] >= limit:
                    finished[name] = StageResult("source", name, False, f"timed out: no result within {limit:g} s; "
                                                 f"the run went on without it", now - started[name])
                    give_back(name)  # the next source may start: a hung one never holds up the rest
                    abandon(name)
                if name in finished:
                    reported.add(name)
                    on_result(finished[name])
            if len(reported) < len(sources):
                lock.wait(POLL)
        return [finished[source.instance] for source in sources]
