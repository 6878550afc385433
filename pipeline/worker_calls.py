"""How a call runs in a worker process: with the cycle collector paused until its result is packed.

Parsing a feed or transforming a chunk makes hundreds of thousands of short-lived containers and
almost no reference cycles (none in the bench's 10,000 items), so the collector, which runs every
700 allocations and scans what is alive, only costs time there. It is paused for the call; then the
result is pickled (as the pool would pickle it anyway) and one collection of the youngest objects
frees what the call left in cycles, before the collector runs again. That collection finds little
alive: the result is bytes by then, not the items themselves, which every collection after the call
would otherwise scan. A worker's memory is still bounded by one call, however many cycles a plugin
makes. (bench/README.md, "Past rounds", has the figures.)
"""

from __future__ import annotations

import gc
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import pickle
import signal
from collections.abc import Callable
from typing import Any


def hear_no_interrupt() -> None:
    """A worker process's start: Ctrl-C is not for it. A terminal sends SIGINT to its whole foreground group, the
    workers too; the main process alone decides what it means (under `pipeline schedule`, to stop once the run in
    progress ends, which needs its workers), and ends them itself when it stops (`RunContext.close`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a terminal closing: the same, to the same group


def start_helpers_deaf() -> None:
    """Start multiprocessing's forkserver (the workers' parent) and resource tracker, if not running, deaf to SIGHUP,
    before a pool needs them. Both are in the terminal's foreground group too, and each ignores Ctrl-C but not the
    terminal closing: a forkserver ended by SIGHUP closes the pipe by which the pool watches each worker, so the pool
    broke as if every worker had crashed. SIGHUP is blocked in this thread while they start, and a blocked signal
    stays blocked across fork and exec, in them and in the workers the forkserver forks; here it comes in once
    unblocked, so this process still hears it."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        multiprocessing.resource_tracker.ensure_running()
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class Packed:
    """A call's result, pickled in the worker: unpickled in the main process, it is the result itself."""

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return pickle.loads, (self.data,)


def call_with_gc_paused(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` with automatic garbage collection off, its result packed (`Packed`); then the youngest
    objects collected once, and the collector on again (if it was on)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        return Packed(pickle.dumps(fn(*args), pickle.HIGHEST_PROTOCOL))
    finally:
        if was_on:
            gc.collect(0)
            gc.enable()
