"""Ingest benchmark: this project against reader 3.x and rss2email 3.x, on one corpus served over HTTP.

    .venv/bin/python bench/ingest_bench.py                      # 200 feeds x 50 items, every tool
    .venv/bin/python bench/ingest_bench.py --only project --repeat 5
    .venv/bin/python bench/ingest_bench.py --feeds 20 --items 20 --repeat 1    # a smoke check

The peers live in their own venv: `bash bench/peers/setup.sh` creates bench/peers/.venv.
Every tool runs as a whole process (start to exit) against the same local HTTP server, which
answers conditional requests with 304 and can add a delay to every request. The table goes to
stdout, progress to stderr. See bench/README.md, "Ingest against the peers". It measures; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import formatdate, parsedate_to_datetime
from hashlib import sha1
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import corpus  # noqa: E402  (bench/corpus.py)

AS_OF = date(2016, 5, 1)  # the corpus is dated April 2016
SHIPPED_CONFIG = ROOT / "pipeline.toml"
PIPELINE_BIN = ROOT / ".venv" / "bin" / "pipeline"
PEERS_VENV = BENCH_DIR / "peers" / ".venv"
SETUP_HINT = "bash bench/peers/setup.sh"
DEFAULT_REPEAT = 3
PEER_SLOW_SECONDS = 60.0  # a peer whose first repetition takes longer runs once (unless --repeat is given)
HELP_RUNS_MIN = 5         # --help is cheap: at least this many timed runs
HELP_BUDGET_SECONDS = 10  # what --budget keeps aside per tool for the --help runs
RUN_TIMEOUT = 900.0       # a run that takes longer is killed (process group) and reported
SAMPLE_SECONDS = 0.02     # how often /proc is read for memory
GROUP_GRACE_SECONDS = 2.0  # a tool's leftover processes get this long to exit by themselves
TOOLS = ("project", "project-fast", "project-bare", "reader", "rss2email")
SUBREAPER = False  # whether orphaned descendants come back to this process (`become_subreaper`), so CPU is measured


def say(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# ---- the feed server -----------------------------------------------------------------------------
# Runs in its own process (this file with --serve), so its CPU time is not the measuring process's.

class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: FeedServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = urlsplit(self.path).path
        if path == "/_control":
            return self._control()
        srv = self.server
        if srv.latency > 0:
            time.sleep(srv.latency)  # the added latency: every request, 304s included
        entry = srv.files.get(path.lstrip("/"))
        if entry is None:
            return self._answer(404, b"not found\n", "text/plain", count="404")
        body, etag, last_modified, mtime, content_type = entry
        conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
        if self._not_modified(etag, mtime):
            return self._answer(304, b"", content_type, etag, last_modified, count="304", conditional=conditional)
        return self._answer(200, body, content_type, etag, last_modified, count="200", conditional=conditional)

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_modified(self, etag: str, mtime: float) -> bool:
        """RFC 9110: If-None-Match wins over If-Modified-Since (weak comparison for ETags)."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return "*" in tags or etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since:
            try:
                return parsedate_to_datetime(if_modified_since).timestamp() >= int(mtime)
            except (TypeError, ValueError):
                return False
        return False

    def _answer(self, status: int, body: bytes, content_type: str, etag: str = "", last_modified: str = "",
                *, count: str, conditional: bool = False) -> None:
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if body:
            self.wfile.write(body)
        with self.server.lock:
            stats = self.server.stats
            stats[count] = stats.get(count, 0) + 1
            stats["requests"] = stats.get("requests", 0) + 1
            stats["conditional"] = stats.get("conditional", 0) + int(conditional)
            stats["bytes"] = stats.get("bytes", 0) + len(body)

    def _control(self) -> None:
        """GET /_control?latency=S&reset=1: set the added latency; answer (and reset) the counters."""
        query = parse_qs(urlsplit(self.path).query)
        srv = self.server
        with srv.lock:
            if "latency" in query:
                srv.latency = float(query["latency"][0])
            data = dict(srv.stats, latency=srv.latency)
            if query.get("reset") == ["1"]:
                srv.stats = {}
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # quiet: 200 feeds x several runs


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, folder: Path):
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.lock = threading.Lock()
        self.latency = 0.0
        self.stats: dict[str, int] = {}
        self.files = {}
        for path in sorted(folder.iterdir()):
            body = path.read_bytes()
            mtime = path.stat().st_mtime
            kind = "application/atom+xml" if ".atom." in path.name else "application/rss+xml"
            self.files[path.name] = (body, f'"{sha1(body).hexdigest()[:20]}"', formatdate(mtime, usegmt=True),
                                     mtime, f"{kind}; charset=utf-8")


def _interrupt(signum, frame) -> None:
    """SIGTERM as Ctrl-C: the finally blocks run (the server is stopped, a tool's process group killed)."""
    raise KeyboardInterrupt


def serve(folder: Path) -> int:
    """The --serve mode: print the port, then serve until terminated."""
    server = FeedServer(folder)
    signal.signal(signal.SIGTERM, _interrupt)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


class ServerProcess:
    """The feed server in a subprocess on 127.0.0.1; stopped by stop() (or the context manager)."""

    def __init__(self, folder: Path):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(folder)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the feed server did not start (said {line!r})")
        self.port = int(line)
        self.base = f"http://127.0.0.1:{self.port}"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def control(self, latency: float | None = None, reset: bool = False) -> dict:
        query = "&".join(([f"latency={latency}"] if latency is not None else []) + (["reset=1"] if reset else []))
        with self._opener.open(f"{self.base}/_control?{query}", timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- running and measuring one process -------------------------------------------------------------

@dataclass
class Measured:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    main_hwm_kb: int = 0     # VmHWM of the process itself (its own peak RSS), last reading before exit
    tree_rss_kb: int = 0     # the largest sum of VmRSS over the process and all its descendants at one moment
    hwm_sum_kb: int = 0      # sum of every process's own VmHWM (an upper bound: peaks need not coincide)
    processes: int = 0       # how many processes the tree held, in all
    cpu_seconds: float | None = None  # user + system CPU of the process and every descendant (None: unknown)
    timed_out: bool = False
    left_running: list[str] = field(default_factory=list)  # still running GROUP_GRACE_SECONDS after exit


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in kB from /proc/pid/status; (0, 0) once the process is gone or a zombie."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                    break
    except (OSError, ValueError):
        pass
    return hwm, rss


class TreeSampler(threading.Thread):
    """Polls /proc for a process and its descendants (the project's worker processes) until stopped.

    Not ru_maxrss: on Linux a child's ru_maxrss starts from what its parent had at fork time."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.done = threading.Event()
        self.hwm: dict[int, int] = {}
        self.tree_rss = 0
        self.rounds = 0

    def run(self) -> None:
        tree = [self.pid]
        while not self.done.is_set():
            if self.rounds % 5 == 0:  # the whole of /proc is read less often than the known tree
                children = _children_map()
                tree, queue = [], [self.pid]
                while queue:
                    pid = queue.pop()
                    tree.append(pid)
                    queue.extend(children.get(pid, []))
            total = 0
            for pid in tree:
                hwm, rss = _memory_kb(pid)
                if hwm:
                    self.hwm[pid] = max(self.hwm.get(pid, 0), hwm)
                total += rss
            self.tree_rss = max(self.tree_rss, total)
            self.rounds += 1
            self.done.wait(SAMPLE_SECONDS)


def child_env(work: Path) -> dict[str, str]:
    """The environment for every tool: no proxies for 127.0.0.1, and no writes to the real home."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               XDG_CONFIG_HOME=str(work / "xdg-config"), XDG_DATA_HOME=str(work / "xdg-data"),
               XDG_CACHE_HOME=str(work / "xdg-cache"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    return env


def run_process(cmd: list[str], cwd: Path, env: dict[str, str], *, memory: bool = False,
                timeout: float = RUN_TIMEOUT, name: str = "bench") -> Measured:
    """Wall time from spawn to exit; with `memory`, peak RSS of the process and its descendants.

    stdout and stderr go to cwd/.NAME.stdout and .NAME.stderr (kept with --keep)."""
    out_path, err_path = cwd / f".{name}.stdout", cwd / f".{name}.stderr"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)  # its own process group: killable as a whole
        sampler = TreeSampler(proc.pid) if memory else None
        if sampler:
            sampler.start()
        # A blocking wait, ended by a timer if it runs too long: `wait(timeout=...)` polls, and its sleeps
        # (up to 50 ms) would round every figure up to the next poll.
        overdue = threading.Event()

        def kill() -> None:
            overdue.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        timed_out = overdue.is_set()
        if sampler:
            sampler.done.set()
            sampler.join()
    result = Measured(seconds, proc.returncode, out_path.read_text(errors="replace"),
                      err_path.read_text(errors="replace"), timed_out=timed_out)
    result.left_running = _reap_group(proc.pid)
    if SUBREAPER:  # every descendant is this process's child once orphaned: reaped, its CPU counts here
        _reap_exited()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if sampler:
        result.main_hwm_kb = sampler.hwm.get(proc.pid, 0)
        result.hwm_sum_kb = sum(sampler.hwm.values())
        result.tree_rss_kb = max(sampler.tree_rss, result.main_hwm_kb)
        result.processes = len(sampler.hwm)
    return result


def become_subreaper() -> bool:
    """Make orphaned descendants (the project's forkserver and workers, which outlive its main process by a
    moment) children of this process, so that their CPU time reaches RUSAGE_CHILDREN when they are reaped
    (Linux's PR_SET_CHILD_SUBREAPER). False where that is not possible: CPU is then not reported."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_exited() -> None:
    """Reap every child that has exited (orphans handed to this subreaper); the feed server, still running, stays."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _group_members(pgid: int) -> list[str]:
    """The command lines of the processes still in a process group (zombies left out)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == b"Z":
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                members.append(handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120])
        except (OSError, IndexError, ValueError):
            continue
    return members


def _reap_group(pgid: int, grace: float = GROUP_GRACE_SECONDS) -> list[str]:
    """What the tool left running in its process group after it exited (a stray worker): given
    `grace` seconds to go by itself, then killed. Returns their command lines, [] when none."""
    deadline = time.monotonic() + grace
    members = _group_members(pgid)
    while members and time.monotonic() < deadline:
        time.sleep(0.05)
        members = _group_members(pgid)
    if members:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return members


# ---- the tools ---------------------------------------------------------------------------------------

READER_SCRIPT = r'''
"""Driven by bench/ingest_bench.py: `add DB URLS`, `update DB WORKERS` or `count DB`."""
import json
import sys

from reader import make_reader

command, db = sys.argv[1], sys.argv[2]
if command == "add":
    with open(sys.argv[3]) as handle:
        urls = handle.read().split()
    with make_reader(db) as reader:
        for url in urls:
            reader.add_feed(url)
elif command == "update":
    new = modified = unchanged = 0
    errors = []
    with make_reader(db) as reader:
        # scheduled=False: update every feed now, not only those due (the second run comes seconds later)
        for result in reader.update_feeds_iter(scheduled=False, workers=int(sys.argv[3])):
            value = result.value
            if value is None:
                unchanged += 1
            elif isinstance(value, Exception):
                errors.append(f"{result.url}: {value}")
            else:
                new += value.new
                modified += value.modified
    print(json.dumps({"new": new, "modified": modified, "feeds_unchanged": unchanged,
                      "errors": len(errors), "first_error": errors[0] if errors else ""}))
elif command == "count":
    with make_reader(db) as reader:
        feeds = reader.get_feed_counts()
        print(json.dumps({"entries": reader.get_entry_counts().total, "feeds": feeds.total,
                          "broken": feeds.broken}))
'''


class Tool:
    key = ""
    label = ""
    peer = True

    def __init__(self, work: Path, args):
        self.work = work / self.key
        self.work.mkdir(parents=True, exist_ok=True)
        self.args = args
        self.env = child_env(self.work)
        self.version = "?"
        self.runs = 0

    def missing(self) -> str | None:
        return None

    def prepare(self, urls: list[str]) -> None:
        """One-time setup (not timed)."""

    def fresh(self, name: str) -> Path:
        """A new, empty state folder for one cold run and its second (304) run (not timed)."""
        folder = self.work / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def refresh_cmd(self, folder: Path) -> list[str]:
        raise NotImplementedError

    def help_cmd(self) -> list[str]:
        raise NotImplementedError

    def inspect(self, folder: Path, measured: Measured) -> dict:
        """What the run left: items stored in all, and whatever says a feed failed."""
        raise NotImplementedError


OTHER_PLUGINS = ("from importlib.metadata import entry_points\n"
                 "print(*sorted(e.name for e in entry_points(group='newsletter_pipeline')"
                 " if e.dist and e.dist.name != 'newsletter-pipeline'))")


class Project(Tool):
    key, label, peer = "project", "this project", False

    def missing(self) -> str | None:
        if not PIPELINE_BIN.exists():
            return f"{PIPELINE_BIN} not found: create the project's venv (README, 'Install')"
        return None

    def prepare(self, urls: list[str]) -> None:
        self.config_text = project_config(urls)
        # An editable install compiles nothing, and PYTHONDONTWRITEBYTECODE may be set: compile the sources
        # as `pip install .` (and the peers' installs) would, so no run pays for compiling them.
        subprocess.run([str(PIPELINE_BIN.parent / "python"), "-m", "compileall", "-q", str(ROOT / "pipeline"),
                        str(ROOT / "plugins")], capture_output=True, check=False)
        # Plugins installed beside it (the test command installs examples/*) are not what is measured.
        others = subprocess.run([str(PIPELINE_BIN.parent / "python"), "-c", OTHER_PLUGINS], capture_output=True,
                                text=True).stdout.split()
        if others:
            self.env["PIPELINE_BLOCK_PLUGINS"] = ",".join(others)
            print(f"... [{self.key}] blocked the plugins of other packages: {', '.join(others)}", file=sys.stderr)
        result = subprocess.run([str(PIPELINE_BIN), "--version"], capture_output=True, text=True, env=self.env)
        self.version = (result.stdout or result.stderr).strip().splitlines()[-1] if result.returncode == 0 else "?"

    def fresh(self, name: str) -> Path:
        folder = super().fresh(name)
        (folder / "pipeline.toml").write_text(self.config_text, encoding="utf-8")
        return folder

    def refresh_cmd(self, folder: Path) -> list[str]:
        return [str(PIPELINE_BIN), "refresh", "--config", str(folder / "pipeline.toml"), "--as-of", AS_OF.isoformat()]

    def help_cmd(self) -> list[str]:
        return [str(PIPELINE_BIN), "--help"]

    def inspect(self, folder: Path, measured: Measured) -> dict:
        stored = 0
        database = folder / "state" / "pipeline.sqlite"
        if database.exists():
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
                stored = connection.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            connection.close()
        failed = re.search(r"sources that failed:\s*(.*)", measured.stdout)
        names = failed.group(1).split(" (the others")[0].split(", ") if failed else []
        return {"items_stored": stored, "errors": len(names), "first_error": names[0] if names else ""}


class ProjectFast(Project):
    """The same, each feed read by the fast parser (`parser = "fast"`, the `fast` extra: lxml)."""

    key, label = "project-fast", "this project with the fast extra"

    def missing(self) -> str | None:
        found = subprocess.run([str(PIPELINE_BIN.parent / "python"), "-c", "import lxml"], capture_output=True)
        return super().missing() or (None if found.returncode == 0 else
                                     "lxml not installed: pip install -e '.[fast]'")

    def prepare(self, urls: list[str]) -> None:
        super().prepare(urls)
        self.config_text = project_config(urls, parser="fast")


class ProjectBare(Project):
    """The same with no transforms (no themes, no summaries): only what the peers do as well, fetching,
    parsing, sanitising, storing and writing a feed. Not a goal of its own: beside `project` it shows what
    tagging and summarising cost."""

    key, label = "project-bare", "this project without transforms"

    def prepare(self, urls: list[str]) -> None:
        super().prepare(urls)
        self.config_text = project_config(urls, transforms=False)


class Reader(Tool):
    key, label = "reader", "reader"

    def missing(self) -> str | None:
        if not (PEERS_VENV / "bin" / "python").exists():
            return f"bench/peers/.venv not found: run `{SETUP_HINT}`"
        check = subprocess.run([str(PEERS_VENV / "bin" / "python"), "-c", "import reader"], capture_output=True)
        return None if check.returncode == 0 else f"reader not installed in bench/peers/.venv: run `{SETUP_HINT}`"

    def prepare(self, urls: list[str]) -> None:
        self.python = str(PEERS_VENV / "bin" / "python")
        self.script = self.work / "reader_bench.py"
        self.script.write_text(READER_SCRIPT, encoding="utf-8")
        self.urls = self.work / "urls.txt"
        self.urls.write_text("\n".join(urls) + "\n", encoding="utf-8")
        self.version = peer_version("reader")

    def fresh(self, name: str) -> Path:
        folder = super().fresh(name)
        result = run_process([self.python, str(self.script), "add", str(folder / "db.sqlite"), str(self.urls)],
                             folder, self.env)
        if result.returncode != 0:
            raise RuntimeError(f"reader: adding the feeds failed: {result.stderr.strip()[-500:]}")
        return folder

    def refresh_cmd(self, folder: Path) -> list[str]:
        return [self.python, str(self.script), "update", str(folder / "db.sqlite"), str(self.args.reader_workers)]

    def help_cmd(self) -> list[str]:
        return [self.python, "-m", "reader", "--help"]

    def inspect(self, folder: Path, measured: Measured) -> dict:
        count = run_process([self.python, str(self.script), "count", str(folder / "db.sqlite")], folder, self.env)
        counts = _last_json(count.stdout)
        run = _last_json(measured.stdout)
        return {"items_stored": counts.get("entries", 0), "new": run.get("new"),
                "errors": run.get("errors", 0), "first_error": run.get("first_error", "")}


class Rss2Email(Tool):
    key, label = "rss2email", "rss2email"

    def missing(self) -> str | None:
        if not (PEERS_VENV / "bin" / "r2e").exists():
            return f"r2e not found in bench/peers/.venv: run `{SETUP_HINT}`"
        return None

    def prepare(self, urls: list[str]) -> None:
        """`r2e new`, then the feeds, once, into a template that every run copies."""
        self.r2e = str(PEERS_VENV / "bin" / "r2e")
        self.version = peer_version("rss2email")
        template = self.work / "template"
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir()
        stub = self.work / "sendmail-stub"  # never used with --no-send; there in case anything tries
        stub.write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n", encoding="utf-8")
        stub.chmod(0o755)
        r2e = [self.r2e, "-c", str(template / "r2e.cfg"), "-d", str(template / "r2e.json")]
        self._check(run_process([*r2e, "new", "bench@example.org"], template, self.env), "r2e new")
        config = template / "r2e.cfg"
        text = config.read_text(encoding="utf-8")
        text, found = re.subn(r"(?m)^sendmail = .*$", f"sendmail = {stub}", text)
        text = re.sub(r"(?m)^same-server-fetch-interval = .*$", "same-server-fetch-interval = 0", text)
        if not found:
            raise RuntimeError("r2e: no `sendmail =` line in the new config; cannot put the stub in")
        config.write_text(text, encoding="utf-8")
        # One `r2e opmlimport` does what 200 `r2e add NAME URL` do (feeds.new_feed, then one save):
        # each `r2e add` rewrites and fsyncs the config and data file, 0.5-0.7 s apiece here.
        opml = template / "feeds.opml"
        outlines = "\n".join(f"    <outline type=\"rss\" text={quoteattr(Path(url).name.split('.')[0])} "
                             f"xmlUrl={quoteattr(url)}/>" for url in urls)
        opml.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="1.0">\n  <head><title>bench'
                        f'</title></head>\n  <body>\n{outlines}\n  </body>\n</opml>\n', encoding="utf-8")
        self._check(run_process([*r2e, "opmlimport", str(opml)], template, self.env), "r2e opmlimport")
        listed = run_process([*r2e, "list"], template, self.env)
        self._check(listed, "r2e list")
        if len(listed.stdout.strip().splitlines()) != len(urls):
            raise RuntimeError(f"r2e list shows {len(listed.stdout.strip().splitlines())} feeds, not {len(urls)}")
        self.template = template

    @staticmethod
    def _check(result: Measured, what: str) -> None:
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-500:]}")

    def fresh(self, name: str) -> Path:
        folder = super().fresh(name)
        for file in ("r2e.cfg", "r2e.json"):
            shutil.copy2(self.template / file, folder / file)
        return folder

    def refresh_cmd(self, folder: Path) -> list[str]:
        return [self.r2e, "-c", str(folder / "r2e.cfg"), "-d", str(folder / "r2e.json"), "run", "--no-send"]

    def help_cmd(self) -> list[str]:
        return [self.r2e, "--help"]

    def inspect(self, folder: Path, measured: Measured) -> dict:
        data = json.loads((folder / "r2e.json").read_text(encoding="utf-8"))
        stored = sum(len(feed.get("seen") or {}) for feed in data.get("feeds", []))
        errors = [line for line in measured.stderr.splitlines() if "[ERROR]" in line or "[CRITICAL]" in line]
        return {"items_stored": stored, "errors": len(errors), "first_error": errors[0][:200] if errors else ""}


def peer_version(package: str) -> str:
    result = subprocess.run([str(PEERS_VENV / "bin" / "python"), "-c",
                             f"from importlib.metadata import version; print(version({package!r}))"],
                            capture_output=True, text=True)
    return result.stdout.strip() or "?"


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {}


# ---- the project's configuration -----------------------------------------------------------------------

def project_config(urls: list[str], parser: str = "feedparser", transforms: bool = True) -> str:
    """One `feed` source per URL (read by `parser`), the shipped transforms (unless not `transforms`), an
    `rss` sink. Workers: the project's default."""
    lines = ["[pipeline]", 'name = "Co-production Benchmark Network"',
             'description = "A generated corpus for measuring ingest."', 'site_url = "https://bench.example.org"',
             'timezone = "Europe/London"', 'state_dir = "state"', 'out_dir = "out"', ""]
    for url in urls:
        lines += [f"[sources.{Path(url).name.split('.')[0]}]", 'type = "feed"', f"url = {json.dumps(url)}",
                  f'parser = "{parser}"', ""]
    if transforms:
        lines += [corpus.shipped_transforms_text(SHIPPED_CONFIG), ""]
    lines += ["[sinks.feed]", 'type = "rss"', "limit = 50", ""]
    text = "\n".join(lines)
    shipped = tomllib.loads(SHIPPED_CONFIG.read_text(encoding="utf-8")).get("transforms")
    if transforms and tomllib.loads(text).get("transforms") != shipped:
        raise RuntimeError("the [transforms] copied from pipeline.toml do not parse to the same tables")
    return text


# ---- one repetition of one tool --------------------------------------------------------------------------

MEASURES = [
    ("cold", "refresh of {feeds} feeds × {items} items over HTTP on 127.0.0.1"),
    ("cold_cpu", "CPU time of that refresh, every process of the tool (user + system)"),
    ("cold_latency", "the same with {latency_ms} ms added latency per request"),
    ("not_modified", "second run, every feed answering 304 (conditional GET)"),
    ("not_modified_latency", "the same 304 run with {latency_ms} ms added latency"),
    ("help", "`--help` (process start to exit)"),
    ("peak_rss", "peak RSS of a {total:,}-item run"),
]


@dataclass
class Record:
    tool: str
    times: dict[str, list[float]] = field(default_factory=dict)
    memory: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repeat: int = 0


def one_refresh(tool: Tool, server: ServerProcess, folder: Path, what: str, record: Record, rep: int,
                *, memory: bool) -> Measured:
    server.control(reset=True)
    load = os.getloadavg()[0]
    measured = run_process(tool.refresh_cmd(folder), folder, tool.env, memory=memory, name=what)
    stats = server.control(reset=True)
    found = tool.inspect(folder, measured)
    run = {"measure": what, "repetition": rep + 1, "seconds": measured.seconds, "load_average_before": load,
           "exit_code": measured.returncode,
           "timed_out": measured.timed_out, "http": {k: stats.get(k, 0) for k in ("200", "304", "404", "requests",
                                                                                    "conditional", "bytes")},
           **found}
    if memory:
        run["memory_kb"] = {"main_hwm": measured.main_hwm_kb, "tree_rss": measured.tree_rss_kb,
                            "hwm_sum": measured.hwm_sum_kb, "processes": measured.processes}
    record.runs.append(run)
    if measured.left_running:
        run["left_running"] = measured.left_running
        record.notes.append(f"{what} run {rep + 1}: {len(measured.left_running)} process(es) still running "
                            f"{GROUP_GRACE_SECONDS:.0f} s after exit, killed: {measured.left_running[0]}")
    if measured.returncode != 0 or measured.timed_out:
        tail = (measured.stderr.strip() or measured.stdout.strip())[-400:]
        record.notes.append(f"{what} run {rep + 1}: exit code {measured.returncode}"
                            f"{' (timed out, killed)' if measured.timed_out else ''}: {tail}")
    record.times.setdefault(what, []).append(measured.seconds)
    if what == "cold" and measured.cpu_seconds is not None:
        run["cpu_seconds"] = measured.cpu_seconds
        record.times.setdefault("cold_cpu", []).append(measured.cpu_seconds)
    cpu = f", CPU {measured.cpu_seconds:.1f} s" if what == "cold" and measured.cpu_seconds is not None else ""
    say(f"[{tool.key} {rep + 1}] {what}: {measured.seconds:.2f} s{cpu} (load {load:.1f}), exit {measured.returncode}, "
        f"items stored {found['items_stored']}, HTTP 200×{stats.get('200', 0)} 304×{stats.get('304', 0)}"
        + (f", errors {found['errors']} ({found['first_error']})" if found.get("errors") else "")
        + (f", peak RSS {measured.main_hwm_kb * 1024 / 1e6:.0f} MB main, {measured.tree_rss_kb * 1024 / 1e6:.0f} MB "
           f"all {measured.processes} processes" if memory else ""))
    return measured


def repetition(tool: Tool, server: ServerProcess, record: Record, rep: int, latency: float) -> None:
    server.control(latency=0)
    folder = tool.fresh(f"run-{rep + 1}")
    cold = one_refresh(tool, server, folder, "cold", record, rep, memory=True)
    record.memory.append({"main_hwm_kb": cold.main_hwm_kb, "tree_rss_kb": cold.tree_rss_kb,
                          "hwm_sum_kb": cold.hwm_sum_kb, "processes": cold.processes})
    one_refresh(tool, server, folder, "not_modified", record, rep, memory=False)
    if latency > 0:
        server.control(latency=latency)
        folder = tool.fresh(f"run-{rep + 1}-latency")
        one_refresh(tool, server, folder, "cold_latency", record, rep, memory=False)
        one_refresh(tool, server, folder, "not_modified_latency", record, rep, memory=False)
        server.control(latency=0)
    if not tool.args.keep:
        for name in (f"run-{rep + 1}", f"run-{rep + 1}-latency"):
            shutil.rmtree(tool.work / name, ignore_errors=True)


def help_runs(tool: Tool, record: Record, runs: int) -> None:
    run_process(tool.help_cmd(), tool.work, tool.env)  # warm-up (page cache), not counted
    for _ in range(runs):
        measured = run_process(tool.help_cmd(), tool.work, tool.env)
        if measured.returncode != 0:
            record.notes.append(f"--help exit code {measured.returncode}: {measured.stderr.strip()[-200:]}")
        record.times.setdefault("help", []).append(measured.seconds)
    say(f"[{tool.key}] --help: median {statistics.median(record.times['help']) * 1000:.0f} ms of {runs}")


# ---- the table ----------------------------------------------------------------------------------------

def fmt_seconds(values: list[float]) -> str:
    if not values:
        return "–"
    median = statistics.median(values)
    if median < 1:
        text = f"{median * 1000:.0f} ms"
        spread = f"{min(values) * 1000:.0f}–{max(values) * 1000:.0f}"
    else:
        text = f"{median:.1f} s"
        spread = f"{min(values):.1f}–{max(values):.1f}"
    return f"{text} ({spread}, n={len(values)})" if len(values) > 1 else f"{text} (n=1)"


def fmt_memory(memory: list[dict]) -> str:
    if not memory:
        return "–"
    main = [m["main_hwm_kb"] * 1024 / 1e6 for m in memory]
    tree = [m["tree_rss_kb"] * 1024 / 1e6 for m in memory]
    text = f"{statistics.median(main):.0f} MB"
    if len(memory) > 1:
        text += f" ({min(main):.0f}–{max(main):.0f})"
    if max(m["processes"] for m in memory) > 1:
        text += f"; {statistics.median(tree):.0f} MB all {max(m['processes'] for m in memory)} processes"
    return text


def table(records: dict[str, Record], missing: dict[str, str], args) -> str:
    names = {"project": "this project", "project-fast": "this project, fast extra",
             "project-bare": "this project, no transforms", "reader": "reader",
             "rss2email": "rss2email"}
    shown = [key for key in TOOLS if key in records or key in missing]
    context = {"feeds": args.feeds, "items": args.items, "latency_ms": round(args.latency * 1000),
               "total": args.feeds * args.items}
    rows = ["| measure | " + " | ".join(names[k] for k in shown) + " |",
            "|---|" + "---|" * len(shown)]
    for key, label in MEASURES:
        if "latency" in key and args.latency <= 0:
            continue
        cells = []
        for tool in shown:
            if tool in missing:
                cells.append("not run")
            elif key == "peak_rss":
                cells.append(fmt_memory(records[tool].memory))
            else:
                cells.append(fmt_seconds(records[tool].times.get(key, [])))
        rows.append(f"| {label.format(**context)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def item_lines(records: dict[str, Record], expected: int) -> list[str]:
    """Per tool and measure: items stored after the run, HTTP answers, failures."""
    lines = []
    for key, record in records.items():
        for what in ("cold", "not_modified", "cold_latency", "not_modified_latency"):
            runs = [r for r in record.runs if r["measure"] == what]
            if not runs:
                continue
            stored = sorted({r["items_stored"] for r in runs})
            ok200 = sorted({r["http"]["200"] for r in runs})
            got304 = sorted({r["http"]["304"] for r in runs})
            conditional = sorted({r["http"]["conditional"] for r in runs})
            errors = sum(r["errors"] for r in runs)
            exits = sorted({r["exit_code"] for r in runs})
            flag = "" if stored == [expected] else "  <-- not every item"
            lines.append(f"  {key:<10} {what:<21} items stored {'/'.join(map(str, stored)):>6} of {expected}; "
                         f"HTTP 200×{'/'.join(map(str, ok200))}, 304×{'/'.join(map(str, got304))}, "
                         f"conditional requests {'/'.join(map(str, conditional))}; errors {errors}; "
                         f"exit {'/'.join(map(str, exits))}{flag}")
    return lines


# ---- main ------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200, help="number of feeds (default 200)")
    parser.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    parser.add_argument("--repeat", type=int, help=f"runs per tool (default {DEFAULT_REPEAT}; a peer whose first "
                        f"repetition takes over {PEER_SLOW_SECONDS:.0f} s runs once unless --repeat is given)")
    parser.add_argument("--latency", type=float, default=0.1,
                        help="seconds added to every request for the latency rows (default 0.1; 0 skips them)")
    parser.add_argument("--only", action="append", choices=TOOLS,
                        help="run only this tool (may be given more than once)")
    parser.add_argument("--budget", type=float, default=10.0,
                        help=f"minutes (default 10): without --repeat, when the first round shows that "
                             f"{DEFAULT_REPEAT} runs of every tool would take longer, the slowest run fewer times")
    parser.add_argument("--reader-workers", type=int, default=1,
                        help="reader's update_feeds workers (default 1, reader's own default)")
    parser.add_argument("--json", type=Path, help="also write every figure and run to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (corpus, configs, state)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # internal: the feed server process
    return parser.parse_args(argv)


def measure(args, root: Path) -> dict:
    load_before = os.getloadavg()
    say(f"load average {load_before[0]:.2f} on {os.cpu_count()} CPUs (other processes skew the figures)")
    tools_wanted = args.only or list(TOOLS)
    classes = {"project": Project, "project-fast": ProjectFast, "project-bare": ProjectBare, "reader": Reader,
               "rss2email": Rss2Email}
    tools: list[Tool] = []
    missing: dict[str, str] = {}
    for key in tools_wanted:
        tool = classes[key](root / "work", args)
        reason = tool.missing()
        if reason:
            missing[key] = reason
            say(f"{key}: NOT RUN: {reason}")
        else:
            tools.append(tool)
    say(f"generating {args.feeds} feeds x {args.items} items in {root}")
    paths = corpus.generate(root, args.feeds, args.items, AS_OF)
    corpus_bytes = sum(p.stat().st_size for p in paths)
    records = {tool.key: Record(tool.key) for tool in tools}
    started = time.perf_counter()
    with ServerProcess(root / "feeds") as server:
        urls = [f"{server.base}/{path.name}" for path in paths]
        say(f"serving {len(urls)} feeds on {server.base}")
        for tool in tools:
            say(f"setting up {tool.key}")
            tool.prepare(urls)
        plan = {tool.key: args.repeat or DEFAULT_REPEAT for tool in tools}
        first: dict[str, float] = {}  # seconds of each tool's first repetition
        rep = 0
        while rep < max(plan.values(), default=0):
            for tool in tools:  # interleaved, so a busy spell on the machine hits every tool alike
                if rep >= plan[tool.key]:
                    continue
                began = time.perf_counter()
                repetition(tool, server, records[tool.key], rep, args.latency)
                took = time.perf_counter() - began
                records[tool.key].repeat = rep + 1
                if rep == 0:
                    first[tool.key] = took
                if rep == 0 and tool.peer and args.repeat is None and took > PEER_SLOW_SECONDS and plan[tool.key] > 1:
                    plan[tool.key] = 1
                    records[tool.key].notes.append(
                        f"one repetition took {took:.0f} s (> {PEER_SLOW_SECONDS:.0f} s): run once; "
                        f"--repeat N runs every tool N times")
                    say(f"{tool.key}: a repetition took {took:.0f} s; running it once (--repeat N to override)")
            if rep == 0 and args.repeat is None:
                fit_budget(plan, first, args.budget * 60 - (time.perf_counter() - started), records)
            rep += 1
        for tool in tools:
            help_runs(tool, records[tool.key], max(plan[tool.key], HELP_RUNS_MIN))
    total_seconds = time.perf_counter() - started
    return {"records": records, "missing": missing, "tools": tools, "corpus_bytes": corpus_bytes,
            "load_before": load_before, "seconds": total_seconds}


def fit_budget(plan: dict[str, int], first: dict[str, float], remaining: float,
               records: dict[str, Record]) -> None:
    """After the first round: fewer repetitions, the slowest tool's first, until the rest fits the budget."""
    remaining -= HELP_BUDGET_SECONDS * len(plan)
    wanted = dict(plan)

    def cost() -> float:
        return sum((plan[key] - 1) * first[key] for key in plan)

    while cost() > remaining and any(n > 1 for n in plan.values()):
        slowest = max((key for key in plan if plan[key] > 1), key=lambda key: first[key])
        plan[slowest] -= 1
    for key in plan:
        if plan[key] < wanted[key]:
            records[key].notes.append(
                f"{plan[key]} run(s), not {wanted[key]}: a repetition took {first[key]:.0f} s and "
                f"--budget left {max(remaining, 0):.0f} s for more; --repeat N forces N")
            say(f"{key}: {plan[key]} run(s) instead of {wanted[key]}, to stay within --budget")


def report(args, found: dict) -> str:
    records, missing, tools = found["records"], found["missing"], found["tools"]
    expected = args.feeds * args.items
    versions = ", ".join(f"{t.label} {t.version}" for t in tools)
    lines = [f"corpus: {args.feeds} feeds × {args.items} items ({expected:,} items, "
             f"{found['corpus_bytes'] / 1e6:.1f} MB) served on 127.0.0.1 (ETag + Last-Modified, keep-alive); "
             f"as_of {AS_OF}",
             f"versions: {versions}; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
             f"load average {found['load_before'][0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
             f"whole bench {found['seconds'] / 60:.1f} min",
             "runs per tool: " + ", ".join(f"{k} {r.repeat}" for k, r in records.items())
             + "; --help: " + ", ".join(f"{k} {len(r.times.get('help', []))}" for k, r in records.items()),
             "", table(records, missing, args), "",
             "cells: median (min–max, n=runs); whole-process wall time from spawn to exit. Peak RSS: the process's "
             "own VmHWM, then (if it had children) the largest sum of VmRSS over it and its descendants at one "
             "moment; MB = 10^6 bytes. CPU time: user + system seconds of the process and of every descendant (the "
             "project's forkserver and worker processes), reaped by this script as their subreaper; on "
             f"{os.cpu_count()} CPUs a run can take at most {os.cpu_count()} CPU-seconds a second, so a run whose CPU "
             "time is n seconds takes at least n / CPUs seconds.",
             f"reader runs update_feeds(scheduled=False, workers={args.reader_workers}); rss2email runs "
             f"`r2e run --no-send`; this project runs `pipeline refresh --as-of {AS_OF}` (themes + summary, rss sink; "
             f"no transforms: the rss sink only).",
             "", "items and HTTP answers per run (several values: they differed between runs):"]
    lines += item_lines(records, expected)
    notes = [f"  {key}: {note}" for key, record in records.items() for note in record.notes]
    notes += [f"  {key}: not run: {reason}" for key, reason in missing.items()]
    if notes:
        lines += ["", "notes:", *notes]
    for key in ("project", "project-fast", "project-bare"):
        if key in records and "reader" in records:
            p, r = records[key].times, records["reader"].times
            ratios = [f"{what} {statistics.median(r[what]) / statistics.median(p[what]):.2f}×"
                      for what in ("cold", "cold_cpu", "cold_latency", "not_modified") if p.get(what) and r.get(what)]
            lines += ["", f"reader time ÷ {key}'s time (above 1: faster than reader): " + ", ".join(ratios)]
    return "\n".join(lines)


def write_json(path: Path, args, found: dict) -> None:
    records = found["records"]
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": AS_OF.isoformat(), "feeds": args.feeds, "items_per_feed": args.items,
        "latency_seconds": args.latency, "reader_workers": args.reader_workers,
        "corpus_bytes": found["corpus_bytes"], "bench_seconds": found["seconds"],
        "load_average_before": found["load_before"], "load_average_after": os.getloadavg(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count()},
        "versions": {t.key: t.version for t in found["tools"]},
        "missing": found["missing"],
        "tools": {key: {"repeat": r.repeat, "times": r.times,
                        "medians": {k: statistics.median(v) for k, v in r.times.items() if v},
                        "memory": r.memory, "runs": r.runs, "notes": r.notes} for key, r in records.items()},
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve)
    signal.signal(signal.SIGTERM, _interrupt)
    global SUBREAPER
    SUBREAPER = become_subreaper()
    root = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        found = measure(args, root)
        print(report(args, found))
        if args.json:
            write_json(args.json, args, found)
            print(f"\nresults: {args.json}")
    except KeyboardInterrupt:
        say("interrupted: the server and the tool's processes are stopped")
        return 130
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
