"""Stopping a call of plugin code that runs past its deadline: `call_within(seconds, message, fn, *args)`.

When time is up, an interrupt is raised inside the call, and `call_within` raises `OutOfTime` with the
caller's message, an ordinary error. The interrupt is a `BaseException`, so that a plugin's own
`except Exception` does not swallow it (a bare `except:` does), and it comes again every second until
the call ends.

How it reaches the call depends on the thread:

- on a process's main thread (a worker process, or a run's main thread), by `SIGALRM`, which also
  ends a blocking call (a sleep, a socket read with no timeout of its own) and a runaway regular
  expression; unless a timer of the process's one `ITIMER_REAL` is already running, or SIGALRM has a
  handler Python cannot put back: then, as on any other thread,
- as an asynchronous exception (CPython's `PyThreadState_SetAsyncExc`), which the thread meets at its
  next Python instruction: a call blocked in C code ends first, and C code that holds the GIL holds up
  every thread of the process. (CPython 3.11 gives a thread being started the id of the thread starting
  it until it runs, so no interrupt is sent while a `threading.Thread` is being started; one started
  by `_thread.start_new_thread` itself is not seen.)

So a call may overrun when it is stuck in C code; the caller keeps a deadline of its own for that (it
ends a worker process, or gives up on a thread: `give_up`, for one the process must not wait for at exit).

What the call adds to the interrupt as it ends, as notes (`add_note`, PEP 678: what it leaves undone, such
as a send's batch left in flight), ends the `OutOfTime` message.

It is a function, not a `with` block: the interrupt can land at any instruction that checks for one, a
`with` statement's `__exit__` included; here every such place is inside a `try` that handles it.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from typing import Any

from pipeline import watchdog
from pipeline.errors import PipelineError, Stop

AGAIN = 1.0  # seconds between interrupts, until the call ends
STARTING = 0.005  # seconds to wait, instead, while some thread is being started


class OutOfTime(PipelineError):
    """A plugin's code ran past its deadline and was stopped."""


class Interrupt(Stop):
    """Raised inside the call when its time is up (not an Exception: see the module's docstring). Code that
    must tidy up before it ends (let work in flight settle) may catch it, briefly, and raise it again.
    Each deadline raises a subclass of its own (`_own_interrupt`), so that of two nested calls each knows its
    own deadline from the other's."""


def _own_interrupt() -> type[Interrupt]:
    return type("Interrupt", (Interrupt,), {"__module__": __name__})


def call_within(seconds: float, message: str, fn, *args) -> Any:
    """`fn(*args)`, stopped with `OutOfTime(message)` once `seconds` pass (and the interrupt's notes)."""
    with watchdog.within(seconds):  # alive while within the deadline, which ends it (`pipeline/watchdog.py`)
        return _call_within(seconds, message, fn, *args)


def _call_within(seconds: float, message: str, fn, *args) -> Any:
    limit = _Alarm(seconds) if _alarm_is_free() else _AsyncLimit(seconds)
    stopped: BaseException | None = None
    try:
        limit.arm()
        return fn(*args)
    except limit.interrupt as interrupt:  # its own: a deadline around this one passing goes on out to it
        stopped = interrupt
    finally:
        try:
            limit.disarm()
        except Interrupt:  # it came as the call ended: the next comes a second later, so this one finishes
            limit.disarm()
    raise OutOfTime("; ".join([message, *_notes(stopped)]))


def _notes(stopped: BaseException | None) -> list[str]:
    """The notes of the interrupt that ended the call, and of those it replaced (an interrupt that came
    again while the call was unwinding has the one before as its context), in the order they were added."""
    notes: list[str] = []
    while isinstance(stopped, Interrupt):
        notes[:0] = getattr(stopped, "__notes__", [])
        stopped = stopped.__context__
    return list(dict.fromkeys(notes))


_given_up: set[threading.Thread] = set()


def give_up(thread: threading.Thread) -> None:
    """Stop waiting for `thread`, stuck past every limit in a call no interrupt reaches, doing work that is
    safe to cut off as a killed process cuts it (a send's batch, which the journal settles later): once the
    command has finished, `pipeline` ends at once, the thread with it (`cli.console`), rather than wait for
    it for ever at exit, as CPython does for a thread that is not a daemon."""
    _given_up.add(thread)


def given_up() -> list[threading.Thread]:
    """The threads given up on that still run."""
    return [thread for thread in list(_given_up) if thread.is_alive()]


def _alarm_is_free() -> bool:
    return (threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is not None)


class _Alarm:
    """SIGALRM on the main thread: ends a blocking call too."""

    def __init__(self, seconds: float):
        self.seconds, self.armed, self.previous = seconds, False, signal.SIG_DFL
        self.interrupt = _own_interrupt()

    def _ring(self, signum, frame) -> None:
        if self.armed:  # a signal already on its way when the call ended is ignored
            raise self.interrupt

    def arm(self) -> None:
        self.previous = signal.signal(signal.SIGALRM, self._ring)
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds, AGAIN)

    def disarm(self) -> None:
        self.armed = False  # first: from here on, no interrupt
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class _AsyncLimit:
    """An asynchronous exception from a watching thread, for any thread but the main one.

    The watcher sends at most one interrupt after the call ended (it had seen `done` still False), and
    `disarm` takes that one back once the watcher has ended, so nothing reaches the thread afterwards."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.interrupt = _own_interrupt()
        self.target = threading.get_ident()
        self.done = False
        self.wake = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="time-limit", daemon=True)

    def _watch(self) -> None:
        wait = self.seconds
        while not self.wake.wait(wait) and not self.done:
            # Not while a thread is being started: CPython 3.11 gives it its starter's id until it runs, so the
            # interrupt would go to it, and its starter would wait for it in Thread.start() for ever.
            with threading._active_limbo_lock:
                starting = bool(threading._limbo)
                if not starting:
                    _set_async_exc(self.target, self.interrupt)
            wait = STARTING if starting else AGAIN

    def arm(self) -> None:
        self.watcher.start()

    def disarm(self) -> None:
        self.done = True  # first: from here on, the watcher sends nothing more
        self.wake.set()
        if self.watcher.ident is not None:
            self.watcher.join()
        _set_async_exc(self.target, ctypes.py_object())  # NULL: take back one sent but not yet raised
