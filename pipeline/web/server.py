"""uvicorn's server as `pipeline serve` runs it: stopped gracefully by SIGHUP too."""

from __future__ import annotations

import contextlib
import signal
import threading

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's server, shutting down gracefully on SIGHUP too (the terminal `serve` runs in closing), as it does on
    SIGTERM and Ctrl-C; under nohup, which leaves SIGHUP ignored, it stays ignored."""

    @contextlib.contextmanager
    def capture_signals(self):
        hangup = signal.getsignal(signal.SIGHUP)
        if threading.current_thread() is not threading.main_thread() or hangup in (signal.SIG_IGN, None):
            with super().capture_signals():
                yield
            return
        signal.signal(signal.SIGHUP, self.handle_exit)
        try:
            with super().capture_signals():  # whose end raises again each signal it caught
                try:
                    yield
                finally:  # before that: SIGHUP raised again then is the CLI's stop, which says so
                    signal.signal(signal.SIGHUP, hangup)
        finally:
            signal.signal(signal.SIGHUP, hangup)
