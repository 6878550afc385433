"""Ending a block of plugin code that runs past its deadline: `with time_limit(seconds, message): ...`.

When time is up, an interrupt is raised inside the block, and the `with` statement raises `OutOfTime`
with the caller's message, an ordinary error. The interrupt is a `BaseException`, so that a plugin's
own `except Exception` does not swallow it, and it comes again every second until the block ends (one
swallowed by a library's `except BaseException` is not the last).

How it reaches the block depends on the thread:

- on a process's main thread (a worker process, or a run's main thread), by `SIGALRM`, which also
  ends a blocking call (a sleep, a socket read with no timeout of its own);
- on any other thread, as an asynchronous exception (CPython's `PyThreadState_SetAsyncExc`), which
  the thread meets at its next Python instruction: a call blocked in C code ends first.

So a block may overrun when it is stuck in C code; the caller keeps a deadline of its own for that
(it ends a worker process, or gives up on a thread). One limit at a time per thread; the main
thread's limit uses the process's one `ITIMER_REAL`.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.errors import PipelineError

AGAIN = 1.0  # seconds between interrupts, until the block ends


class OutOfTime(PipelineError):
    """A plugin's code ran past its deadline and was stopped."""


class _Interrupt(BaseException):
    """Raised inside the block when its time is up (not an Exception: see the module's docstring)."""


@contextmanager
def time_limit(seconds: float, message: str) -> Iterator[None]:
    """Stop the block with `OutOfTime(message)` once `seconds` pass."""
    limit = _Alarm(seconds) if threading.current_thread() is threading.main_thread() else _AsyncLimit(seconds)
    try:
        try:
            limit.arm()
            yield
        finally:
            _surely(limit.disarm)
    except _Interrupt:
        raise OutOfTime(message) from None


def _surely(step) -> None:
    """`step()` to its end, even when an interrupt lands in it (it is then done again): a disarm cut short
    would leave the interrupts coming, into whatever the thread does next."""
    while True:
        try:
            step()
            return
        except _Interrupt:
            pass


class _Alarm:
    """SIGALRM on the main thread: ends a blocking call too."""

    def __init__(self, seconds: float):
        self.seconds, self.armed, self.previous = seconds, False, None

    def _ring(self, signum, frame) -> None:
        if self.armed:  # a signal already on its way when the block ended is ignored
            raise _Interrupt

    def arm(self) -> None:
        self.previous = signal.signal(signal.SIGALRM, self._ring)
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds, AGAIN)

    def disarm(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous if self.previous is not None else signal.SIG_DFL)


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class _AsyncLimit:
    """An asynchronous exception from a timer thread, for any thread but the main one."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.target = threading.get_ident()
        self.lock = threading.Lock()
        self.ended = threading.Event()

    def _watch(self) -> None:
        wait = self.seconds
        while not self.ended.wait(wait):
            with self.lock:
                if not self.ended.is_set():
                    _set_async_exc(self.target, _Interrupt)
            wait = AGAIN

    def arm(self) -> None:
        threading.Thread(target=self._watch, name="time-limit", daemon=True).start()

    def disarm(self) -> None:
        with self.lock:
            self.ended.set()
            _set_async_exc(self.target, ctypes.py_object())  # NULL: take back one set but not yet raised
