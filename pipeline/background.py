"""One daemon thread that runs what it is given, in order: the run's background work.

Not a `ThreadPoolExecutor`, whose thread the interpreter waits for at exit: a run stopped by SIGTERM or
Ctrl-C must end at once, not after the chunk of items being transformed there.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future


class DaemonThread(Executor):
    def __init__(self, name: str):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self._tasks.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop after the task under way (not waited for: `wait` is ignored); with `cancel_futures`, the
        tasks not yet started are cancelled, otherwise they are run first."""
        if cancel_futures:
            while True:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if task is not None:
                    task[0].cancel()
        self._tasks.put(None)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, fn, args, kwargs = task
            del task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
            del future
