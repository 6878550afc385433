"""systemd's watchdog for `pipeline schedule` (`Type=notify` and `WatchdogSec=` in the unit).

The scheduler says it is ready (`READY=1`), then a thread of its own tells systemd it is alive (`WATCHDOG=1`, the
sd_notify protocol: a datagram to `$NOTIFY_SOCKET`) every third of the interval systemd asks for
(`$WATCHDOG_USEC`), as long as the scheduler shows signs of life (`beat`): its loop at each check and before each
wait; a run at each turn of the loop that keeps the sources' deadlines, at each source, transform and sink done;
a send at each batch; and any call with a deadline (`time_limits.call_within`: a sink, a transform) or a wait
bounded by one, which counts as alive until that deadline, since the deadline ends it. A scheduler stuck where no
deadline reaches (a call into C that never returns, a disk that hangs) stops them, the thread stops telling
systemd, and systemd kills it and starts it again (`Restart=on-failure`); the next run settles what it left.

The interval (the shipped unit's is 15 minutes) is the longest the scheduler may go past every deadline it knows
before it is taken for stuck. Outside systemd (no `$NOTIFY_SOCKET`) nothing is sent, and `beat` costs a read of
the clock.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

LONGEST = 86400.0  # the longest deadline a promise is kept for (an infinite one is no promise of an end)

_alive_until = time.monotonic()  # the latest moment by which a sign of life was promised (`beat`)
_promises: dict[int, float] = {}  # calls within a deadline under way (`within`): each alive until its deadline
_lock = threading.Lock()
_keys = itertools.count()


def beat(next_within: float = 0.0) -> None:
    """A sign of life; the next one comes within `next_within` seconds (a wait) plus the watchdog's interval. A
    promise already made for longer stands."""
    global _alive_until
    _alive_until = max(_alive_until, time.monotonic() + max(0.0, next_within))


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """A call that its deadline of `seconds` ends is alive until then, whatever signs of life come meanwhile; once
    it ends, the promise goes with it (a sign of life, then)."""
    with _lock:
        key = next(_keys)
        _promises[key] = time.monotonic() + (seconds if seconds < LONGEST else LONGEST)
    try:
        yield
    finally:
        with _lock:
            _promises.pop(key, None)
        beat()


def alive(interval: float) -> bool:
    """Whether a sign of life, or a promise, is recent enough for `interval`."""
    now = time.monotonic()
    with _lock:
        promised = max(_promises.values(), default=0.0)
    return now < max(_alive_until, promised) + interval


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send one sd_notify message (`READY=1`, `WATCHDOG=1`, `STATUS=…`, `STOPPING=1`); whether it was sent."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return False
    if address.startswith("@"):  # Linux's abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        except OSError:
            return False
    return True


def interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """The watchdog's interval in seconds, when systemd asks this process for one; else None."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """`start` says READY=1 and begins the thread (when systemd asks for a watchdog); `stop` says STOPPING=1."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.environ = environ
        self.interval = interval(environ)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        beat()
        notify("READY=1", self.environ)
        if self.interval is not None:
            self._thread = threading.Thread(target=self._tell, name="watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        notify("STOPPING=1", self.environ)

    def _tell(self) -> None:
        assert self.interval is not None
        while not self._stopped.wait(self.interval / 3):
            if alive(self.interval):
                notify("WATCHDOG=1", self.environ)
