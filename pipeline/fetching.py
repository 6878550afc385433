"""Running every source at once, each within its deadline.

At most `[pipeline] fetch_concurrency` sources run at a time, each on one of as many daemon threads,
which take the next source as they finish one (a thread per source would cost a GIL switch per start,
a third of a second over 200 sources). The run starts with `FIRST_THREADS` and doubles them every RAMP
seconds in which fewer sources finished than were running: sources that wait on the network (or on the
worker processes) get all the threads they can use within a few tenths of a second, while sources that
answer at once, such as feeds answering 304 from a near server, are not fought over by 32 threads for
one GIL (a tenth less time). A source that has not finished `deadline` seconds after it
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

from pipeline import watchdog
from pipeline.components import Source
from pipeline.run_report import StageResult

Fetch = Callable[[Source], StageResult]
POLL = 0.05  # seconds between checks for finished or overdue sources
FIRST_THREADS = 4
RAMP = 0.02  # seconds between checks for whether more threads would help (until there are `concurrency`)


def _origin(source: Source) -> str:
    """What the source says it reads from (`Source.origin`), on one line, any credential in it masked (before it is
    cut short, which could leave half of one unrecognised); "" if it cannot say."""
    from pipeline.redact import redact_text
    from pipeline.sanitize import one_line

    try:
        return redact_text(one_line(str(source.origin())))[:300]
    except Exception:  # a plugin's mistake here must not cost the report of its timeout
        return ""


def fetch_all(sources: list[Source], fetch: Fetch, *, concurrency: int, deadline_of: Callable[[str], float],
              on_result: Callable[[StageResult], None], abandon: Callable[[str], None],
              meanwhile: Callable[[], None] = lambda: None) -> list[StageResult]:
    """Run `fetch(source)` for every source; a result per source, in the sources' order (`on_result` is
    called as each finishes or times out, and `meanwhile` every POLL seconds while they run, both on
    this thread)."""
    waiting = deque(sources)
    by_name = {source.instance: source for source in sources}
    started: dict[str, float] = {}
    finished: dict[str, StageResult] = {}
    unreported: deque[str] = deque()  # finished (or timed out), in that order, for this thread to report
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
                unreported.append(source.instance)
                lock.notify_all()

    def add_thread() -> None:
        threading.Thread(target=work, name="sources", daemon=True).start()

    def overdue(now: float) -> None:
        for name, since in list(started.items()):
            limit = deadline_of(name)
            if name not in finished and now - since >= limit:
                origin = _origin(by_name[name])
                finished[name] = StageResult("source", name, False, f"timed out: no result within {limit:g} s"
                                             f"{f' from {origin}' if origin else ''}; the run went on without it",
                                             now - since)
                unreported.append(name)
                abandon(name)
                if waiting:  # the next source may start: a hung one never holds up the rest
                    add_thread()

    threads = min(max(1, concurrency), FIRST_THREADS, len(sources))
    for _ in range(threads):
        add_thread()
    reported = reported_before = 0
    next_poll, next_ramp = time.monotonic() + POLL, time.monotonic() + RAMP
    while reported < len(sources):
        watchdog.beat()  # this loop keeps every source's deadline: while it turns, the run is alive
        # The lock is held only to read and change the shared state: saving (on_result, meanwhile) may wait
        # on the database, and meanwhile the sources that finish must be able to say so, or they would be
        # taken for overdue.
        with lock:
            results = [finished[name] for name in unreported]
            unreported.clear()
        for result in results:
            on_result(result)
            reported += 1
        with lock:
            now = time.monotonic()
            if now >= next_poll:  # deadlines are checked every POLL seconds, not at every source's end
                overdue(now)
                next_poll = now + POLL
            ramping = threads < concurrency and bool(waiting)
            if ramping and now >= next_ramp:
                if reported - reported_before < threads:  # they are waiting, not working: more threads
                    for _ in range(min(threads, concurrency - threads, len(waiting))):
                        add_thread()
                        threads += 1
                reported_before, next_ramp = reported, now + RAMP
            idle = reported < len(sources) and not unreported
            if idle:
                lock.wait(max(0.0, (min(next_poll, next_ramp) if ramping else next_poll) - now))
        if idle:
            meanwhile()
    return [finished[source.instance] for source in sources]
