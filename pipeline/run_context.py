"""What every component gets during a run: the project, state, the date, shared clients, a problem log."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

import httpx
import jinja2

from pipeline import __version__
from pipeline.config import Project
from pipeline.state import Store


@dataclass
class RunContext:
    project: Project
    store: Store
    as_of: date  # the edition date
    moment: datetime  # "now" for this run: midnight of as_of with --as-of, the clock otherwise
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pool: Executor | None = field(default=None, repr=False)

    def problem(self, where: str, message: str) -> None:
        """Record a problem with one record (a post, a row, an entry) that was skipped; the run goes on."""
        with self._lock:
            self.problems.append(f"{where}: {message}")

    @cached_property
    def http(self) -> httpx.Client:
        """One HTTP client for every source: shared connections, timeouts, a clear User-Agent."""
        return httpx.Client(
            timeout=httpx.Timeout(self.project.core.http_timeout),
            follow_redirects=True,
            headers={"User-Agent": f"newsletter-pipeline/{__version__} (+{self.project.core.site_url})"},
        )

    @cached_property
    def templates(self) -> jinja2.Environment:
        from pipeline.templating import build_environment

        return build_environment(self.project)

    def offload(self, fn, *args):
        """Run CPU-heavy `fn(*args)` in a worker process when workers > 1 (fn must be importable)."""
        if self.project.core.workers <= 1:
            return fn(*args)
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.project.core.workers,
                                                 mp_context=multiprocessing.get_context("forkserver"))
        return self._pool.submit(fn, *args).result()

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
