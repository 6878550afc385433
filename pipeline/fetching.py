"""Running every source at once, each within its deadline.

At most `[pipeline] fetch_concurrency` sources run at a time, each on one of as many daemon threads,
which take the next source as they finish one (a thread per source would cost a GIL switch per start,
a third of a second over 200 sources). A source that has not finished `deadline` seconds after it
started (connecting, downloading and parsing together; `[sources.NAME] deadline`, else `[pipeline]
source_deadline`) is reported as timed out and abandoned: the run goes on without it, a new thread
takes its place, whatever it later returns is ignored, and since its thread is a daemon it cannot keep
the process alive. Built-in sources also check their deadline while downloading, so a trickling
server ends their fetch too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from pipeline.components import Source
from pipeline.run_report import StageResult

Fetch = Callable[[Source], StageResult]
POLL = 0.05  # seconds between checks for finished or overdue sources


def fetch_all(sources: list[Source], fetch: Fetch, *, concurrency: int, deadline_of: Callable[[str], float],
              on_result: Callable[[StageResult], None], abandon: Callable[[str], None],
              meanwhile: Callable[[], None] = lambda: None) -> list[StageResult]:
    """Run `fetch(source)` for every source; a result per source, in the sources' order (`on_result` is
    called as each finishes or times out, and `meanwhile` every POLL seconds while they run, both on
    this thread)."""
    waiting = deque(sources)
    started: dict[str, float] = {}
    finished: dict[str, StageResult] = {}
    lock = threading.Condition()

    def work() -> None:
        while True:
            with lock:
                if not waiting:
                    return
                source = waiting.popleft()
                started[source.instance] = time.monotonic()
            result = fetch(source)
            with lock:
                if source.instance in finished:  # abandoned: another thread has taken this one's place
                    return
                finished[source.instance] = result
                lock.notify_all()

    def add_thread() -> None:
        threading.Thread(target=work, name="sources", daemon=True).start()

    for _ in range(min(max(1, concurrency), len(sources))):
        add_thread()
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
                    abandon(name)
                    if waiting:  # the next source may start: a hung one never holds up the rest
                        add_thread()
                if name in finished:
                    reported.add(name)
                    on_result(finished[name])
            if len(reported) < len(sources):
                lock.wait(POLL)
                meanwhile()
        return [finished[source.instance] for source in sources]
