"""What every component gets during a run: the project, state, the date, shared clients, a problem log."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from pipeline import __version__
from pipeline.config import Project
from pipeline.errors import SourceError, exception_text
from pipeline.models import Item
from pipeline.redact import redact_text
from pipeline.sanitize import one_line
from pipeline.state import Store
from pipeline.texts import BodyTexts
from pipeline.worker_calls import call_with_gc_paused, hear_no_interrupt, start_helpers_deaf

log = logging.getLogger("pipeline.workers")

if TYPE_CHECKING:  # loaded when first used: a run that fetches nothing over HTTP never pays for httpx
    import ssl

    import httpx
    import jinja2


@dataclass
class RunContext:
    project: Project
    store: Store
    as_of: date  # the edition date
    moment: datetime  # "now" for this run: midnight of as_of with --as-of, the clock otherwise
    dry_run: bool = False  # `pipeline run --dry-run`: sinks that send or record do neither
    mode: str = "run"  # "run" (`pipeline run`, which makes the edition) or "refresh"
    problems: list[str] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)  # those problems whose record was kept all the same
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _pool: Executor | None = field(default=None, repr=False)
    _retired: list = field(default_factory=list, repr=False)  # the worker processes of pools replaced
    _alone: Executor | None = field(default=None, repr=False)  # one worker, for `run_alone`
    _alone_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _http_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # making the client: not `_lock`
    _background: Executor | None = field(default=None, repr=False)  # one thread, for `in_background`
    _closed: bool = field(default=False, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)
    _templates: jinja2.Environment | None = field(default=None, repr=False)
    _after_save: list[tuple[str, Callable[[], None]]] = field(default_factory=list, repr=False)
    _scope: threading.local = field(default_factory=threading.local, repr=False)
    _fetching: int = field(default=0, repr=False)  # threads the runner has inside a source_scope
    _texts: BodyTexts = field(default_factory=BodyTexts, repr=False)
    _hosts: dict[str, threading.Semaphore] = field(default_factory=dict, repr=False)
    _held: list[tuple[str, threading.Semaphore]] = field(default_factory=list, repr=False)
    _abandoned: set[str] = field(default_factory=set, repr=False)
    _notes: dict[str, str] = field(default_factory=dict, repr=False)  # source -> what it said of its fetch (`note`)
    _source_problems: dict[str, list[str]] = field(default_factory=dict, repr=False)  # source -> the records it skipped
    tls: Future[ssl.SSLContext] | None = field(default=None, repr=False)  # from `http_client.prepare()`, if begun

    def clock(self) -> datetime:
        """The real time, even under --as-of: for what is recorded as happening now (a delivery)."""
        return datetime.now(self.project.tz)

    def problem(self, where: str, message: str, *, skipped: bool = True) -> None:
        """Record a problem with one record (a post, a row, an entry) that was skipped (or, with `skipped=False`,
        kept all the same, without what was wrong); the run goes on."""
        from pipeline.sanitize import one_line

        source = getattr(self._scope, "source", "")
        said = redact_text(one_line(f"{where}: {message}"))  # a parser's message over several lines, on one
        with self._lock:
            self.problems.append(said)
            if not skipped:
                self.kept.add(said)
            if source and skipped:
                self._source_problems.setdefault(source, []).append(said)

    def problems_of(self, source: str) -> int:
        """How many records `source` has skipped in this run for a problem, said from the thread fetching it."""
        with self._lock:
            return len(self._source_problems.get(source, ()))

    def skipped_by(self) -> dict[str, list[str]]:
        """The problem of each record a source skipped in this run, by source."""
        with self._lock:
            return {source: list(lines) for source, lines in self._source_problems.items()}

    def text_of(self, item: Item) -> str:
        """The plain text of an item's body, one line per block; worked out once per run, for every transform."""
        return self._texts.text_of(item)

    def forget_texts(self) -> None:
        """Let go of the texts worked out for the transforms (a long run's would fill memory)."""
        self._texts.clear()

    @cached_property
    def transforms_key(self) -> str:
        """A digest of every transform's settings (a taxonomy runs to tens of kilobytes: hashed once per run).
        Each item's fingerprint is made with it, so items are transformed again when it changes; a source
        may keep it with what it records of a read, to read everything again then."""
        settings = json.dumps([(t.name, t.settings.model_dump(mode="json")) for t in self.project.transforms],
                              sort_keys=True)
        return hashlib.sha256(settings.encode()).hexdigest()

    def after_save(self, action: Callable[[], None]) -> None:
        """Do `action` once the items fetched in this run are safely stored and transformed (e.g. remember
        an ETag).

        Nothing registered here happens if the run fails before saving, or if the source that
        registered it fails, so a source never records "seen" for content the state does not hold.
        Call it on the thread that runs the source's `fetch`: that is how the action is credited to
        the source (from a thread of the source's own, while the runner fetches, it raises, so nothing is
        recorded for it; a test that calls `fetch` itself may call it anywhere).
        """
        owner = self._fetching_source("after_save")
        with self._lock:
            if owner not in self._abandoned:  # too late: the run went on without it
                self._after_save.append((owner, action))

    def _fetching_source(self, call: str) -> str:
        """The source whose fetch this thread runs ("" outside a run's fetching, as in a test calling `fetch`);
        RuntimeError from a thread a source started, which nothing ties to the source."""
        owner = getattr(self._scope, "source", "")
        if not owner and self._fetching:
            raise RuntimeError(f"run.{call}() was called outside a source's fetch() thread, so it cannot be "
                               f"tied to the source; call it from fetch() itself, not from a thread it started")
        return owner

    def note(self, text: str) -> None:
        """A few words on this fetch for the source's line of the run's report, after its count of items ("0 items;
        unchanged since the last run"); the last one said counts. Call it from `fetch` itself, as `after_save`."""
        owner = self._fetching_source("note")
        with self._lock:
            self._notes[owner] = redact_text(one_line(str(text)))[:200]  # a feed's own words may be in it

    def noted(self, source: str) -> str:
        """What `source` said of its fetch (`note`), once; "" when nothing."""
        with self._lock:
            return self._notes.pop(source, "")

    @contextmanager
    def source_scope(self, source: str) -> Iterator[None]:
        """The runner marks which source this thread is fetching, to credit `after_save` actions."""
        self._scope.source = source
        with self._lock:
            self._fetching += 1
        try:
            yield
        finally:
            self._scope.source = ""
            with self._lock:
                self._fetching -= 1

    @contextmanager
    def deadline_scope(self, seconds: float) -> Iterator[None]:
        """The runner gives the source this thread runs its deadline (see `time_left`)."""
        self._scope.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._scope.deadline = None

    def time_left(self) -> float:
        """Seconds left before the current source's deadline (infinite outside a source)."""
        deadline = getattr(self._scope, "deadline", None)
        return float("inf") if deadline is None else deadline - time.monotonic()

    @contextmanager
    def host_slot(self, url: str) -> Iterator[None]:
        """Hold one of `[pipeline] per_host` slots for the host of `url` while talking to it (given back at
        once if the source is abandoned, so a hung download never keeps others from that host)."""
        host = urlparse(url).netloc.lower().rpartition("@")[2]  # no user name or password: a host, and said
        owner = getattr(self._scope, "source", "")
        with self._lock:
            slot = self._hosts.setdefault(host, threading.Semaphore(self.project.core.per_host))
        if not slot.acquire(timeout=max(0.0, min(self.time_left(), 3600.0))):
            raise SourceError(f"{url}: no free connection to {host} before the source's deadline")
        held = (owner, slot)
        with self._lock:
            self._held.append(held)
        try:
            yield
        finally:
            self._give_back(held)

    def _give_back(self, held: tuple[str, threading.Semaphore]) -> None:
        with self._lock:
            if held in self._held:
                self._held.remove(held)
                held[1].release()

    def abandon(self, source: str) -> None:
        """The runner gave up on `source` at its deadline: forget what it asked to do after saving, ignore
        what it asks later, and give back its connection slots."""
        with self._lock:
            self._abandoned.add(source)
            self._after_save = [(owner, action) for owner, action in self._after_save if owner != source]
            mine = [held for held in self._held if held[0] == source]
        for held in mine:
            self._give_back(held)

    def forget_after_save(self, source: str) -> None:
        with self._lock:
            self._after_save = [(owner, action) for owner, action in self._after_save if owner != source]

    def saved(self, transformed: bool = True) -> None:
        """Called by the runner after saving items: the sources' `after_save` actions run. Not when a
        transform failed (`transformed` False): those items are stored to be transformed again when next
        fetched, so no source may record them as seen (an ETag would keep them away for good)."""
        with self._lock:
            actions, self._after_save = self._after_save, []
        if not transformed:
            return
        for _, action in actions:
            action()

    @property
    def http(self) -> httpx.Client:
        """One HTTP client for every source: shared connections, timeouts, a clear User-Agent. The CA certificates
        it needs (loading on their own thread since the run began) are waited for within the calling source's
        deadline, holding no lock the run needs meanwhile (to abandon an overdue source, or note another's)."""
        if self._http is not None:
            return self._http
        if self.tls is not None and not self.tls.done():
            from pipeline.errors import SourceError

            left = self.time_left()
            try:
                self.tls.result(timeout=None if left == float("inf") else max(0.0, left))
            except TimeoutError:
                raise SourceError("the CA certificates for HTTPS did not load within the source's deadline (a slow "
                                  "disk, or SSL_CERT_FILE or SSL_CERT_DIR on a mount that does not answer)") from None
            except Exception:
                pass  # said by new_client, which asks for the same result
        with self._http_lock:
            if self._closed:  # stopped meanwhile: no client that nobody would close
                from pipeline.errors import SourceError

                raise SourceError("the run was stopped before its download began")
            if self._http is None:
                from pipeline.http_client import new_client

                self._http = new_client(self.project.core.http_timeout,
                                        f"newsletter-pipeline/{__version__} (+{self.project.core.site_url})", self.tls)
            return self._http

    @property
    def templates(self) -> jinja2.Environment:
        """The Jinja2 environment, built on first use (plugins' `prepare_jinja_environment` included)."""
        with self._lock:
            if self._templates is None:
                from pipeline.templating import build_environment

                self._templates, failures = build_environment(self.project)
                for plugin, exc in failures.items():
                    self.problem(f"plugin {plugin!r}", f"prepare_jinja_environment raised "
                                                       f"{type(exc).__name__}: {exception_text(exc)}")
            return self._templates

    def offload(self, fn, *args):
        """Run CPU-heavy `fn(*args)` in a worker process when workers > 1 (fn must be importable)."""
        if self.project.core.workers <= 1:
            return fn(*args)
        try:
            future = self.submit_to_workers(fn, *args)
        except BrokenProcessPool:
            if self._closed:  # stopped before this source reached its parse: no worker took it
                raise SourceError("the run was stopped before it was parsed") from None
            raise
        try:
            left = self.time_left()
            return future.result(timeout=None if left == float("inf") else max(0.1, left))
        except TimeoutError:
            future.cancel()  # not started yet: it never will be
            raise SourceError("still parsing when the source's deadline came") from None
        except BrokenProcessPool as exc:
            if self._closed:  # the run ended (a signal): it ended the workers itself
                raise SourceError("the run was stopped while it was being parsed") from None
            self.workers_failed(exc)
        # The pool broke while this was in it: this call may have broken it, or another one did. Once
        # more, alone, so that only a call that breaks its worker every time fails.
        try:
            return self.run_alone(fn, *args, timeout=self.time_left())
        except TimeoutError:
            raise SourceError("still parsing when the source's deadline came") from None
        except BrokenProcessPool:
            if self._closed:
                raise SourceError("the run was stopped while it was being parsed") from None
            raise SourceError("the worker process parsing it ended abruptly, twice (killed for memory, or a "
                              "crash); the next run reads it again") from None

    def run_alone(self, fn, *args, timeout: float = float("inf")):
        """`fn(*args)` in a worker process of its own, one call at a time: for work that was in flight in a
        pool that broke. If it breaks this worker too, BrokenProcessPool is raised, and nothing else was
        lost with it; TimeoutError when `timeout` seconds pass first (waiting for an earlier call
        included), and its worker is ended."""
        if timeout <= 0:
            raise TimeoutError
        ends = time.monotonic() + timeout
        if not self._alone_lock.acquire(timeout=-1 if timeout == float("inf") else timeout):
            raise TimeoutError
        try:
            with self._lock:
                if self._closed:
                    raise BrokenProcessPool("the run has ended")
                if self._alone is None:
                    start_helpers_deaf()
                    self._alone = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"),
                                                      initializer=hear_no_interrupt)
                pool = self._alone
            future = pool.submit(call_with_gc_paused, fn, *args)
            try:
                return future.result(timeout=None if timeout == float("inf") else max(0.1, ends - time.monotonic()))
            except (BrokenProcessPool, TimeoutError):
                self._retire_alone()  # a new worker for the next call: a timed-out one may still be busy
                raise
        finally:
            self._alone_lock.release()

    def _retire_alone(self) -> None:
        with self._lock:
            pool, self._alone = self._alone, None
        self._retire(pool, end_now=True)

    def _retire(self, pool: Executor, end_now: bool = False) -> None:
        """Stop `pool` taking work, and keep its worker processes for `close` to end (at once, busy or not,
        with `end_now`: then what was in the pool fails with BrokenProcessPool, for its callers to do again)."""
        workers = _workers_of(pool)
        with self._lock:
            self._retired += workers
        if end_now:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
        pool.shutdown(wait=False)

    def stop_workers(self) -> None:
        """End the worker processes now, busy or not (a chunk stuck past its deadline): what else was in their
        pool fails with BrokenProcessPool (see `run_alone`), and the next task gets a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            self._retire(pool, end_now=True)
            log.warning("a chunk of items was stuck in the transforms past its deadline: the worker processes "
                        "were ended, and what else was in them is done again, one call at a time")

    def submit_to_workers(self, fn, *args) -> Future:
        """`fn(*args)` in a worker process, at once; its future (`fn` must be importable). When a worker
        died (killed for memory, or crashed in C code), the pool it broke is replaced first."""
        try:
            return self._worker_pool().submit(call_with_gc_paused, fn, *args)
        except BrokenProcessPool as exc:
            self.workers_failed(exc)
            return self._worker_pool().submit(call_with_gc_paused, fn, *args)

    def workers_failed(self, exc: BaseException) -> None:
        """A future of the workers raised `exc`: when it says the pool is broken, the next task gets a new one
        (the work in flight in the old one is lost, and its callers are told so). Every future in flight
        in a broken pool says so, one after another: only a pool that is broken is replaced, never the
        sound one that replaced it."""
        if not isinstance(exc, BrokenProcessPool) or self._closed:  # closed: the run ended its workers itself
            return
        with self._lock:
            pool = self._pool
            if pool is None or not getattr(pool, "_broken", False):
                return
            self._pool = None
        self._retire(pool)
        log.warning("a worker process ended abruptly (killed for memory, or a crash): what was in its pool is "
                    "done again, one call at a time")

    def in_background(self, fn, *args) -> Future:
        """`fn(*args)` on the run's one background thread, after what was given it before: work the main
        thread must not wait for, since it keeps the sources' deadlines (transforming a chunk here, doing
        one again alone). Work not yet started when the run ends never starts; the thread is a daemon, so
        work under way never keeps a stopped process alive (check `closed` to stop early)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the run has ended")
            if self._background is None:
                from pipeline.background import DaemonThread

                self._background = DaemonThread("run-background")
            return self._background.submit(fn, *args)

    def abandon_background(self) -> None:
        """Give up on the background thread (stuck past a deadline in a call no interrupt reaches): it is left
        to end by itself, what was queued for it is cancelled, and the next task gets a new thread."""
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=False, cancel_futures=True)

    @property
    def closed(self) -> bool:
        """Whether the run has ended (`close`): background work may stop early."""
        return self._closed

    def _worker_pool(self) -> Executor:
        with self._lock:
            if self._closed:
                raise BrokenProcessPool("the run has ended")
            if self._pool is None:
                start_helpers_deaf()
                self._pool = ProcessPoolExecutor(self.project.core.workers, initializer=hear_no_interrupt,
                                                 mp_context=multiprocessing.get_context("forkserver"))
            return self._pool

    def close(self) -> None:
        """Close the HTTP client (which also ends an abandoned source's download) and stop the workers."""
        with self._http_lock:  # a source making the client now finds the run closed
            self._closed = True
            client = self._http
        if client is not None:
            client.close()
        with self._lock:  # from now on no pool, worker or background work is started
            self._closed = True
            pools = [pool for pool in (self._pool, self._alone) if pool is not None]
            background = self._background
        if background is not None:
            background.shutdown(wait=False, cancel_futures=True)
        if pools or self._retired:
            # Workers are children of the forkserver, not of this process: nothing would stop them
            # if this process were told to stop mid-parse, so they are ended here, busy or not.
            workers = [w for pool in pools for w in _workers_of(pool)] + self._retired
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
            for worker in workers:
                worker.join(timeout=5)


def _workers_of(pool: Executor) -> list:
    """The worker processes of a ProcessPoolExecutor (those it has started so far)."""
    return list((getattr(pool, "_processes", None) or {}).values())
