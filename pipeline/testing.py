"""Pytest fixtures for plugin authors: a `pytest11` plugin, so any test in an environment where the pipeline is
installed can use them, with no conftest.py.

    def test_notices(pipeline_project):
        project = pipeline_project('[sources.n]\\ntype = "notices"\\npath = "n.csv"\\n',
                                   {"n.csv": "id,title,date,url,text\\n4,Seminar 4,2016-03-01,,<p>Hi</p>\\n"})
        project.run(as_of=date(2016, 4, 1))
        assert "Seminar 4" in project.email().text

- `pipeline_project(toml="", files=None, plugins=(), items=None)` writes a project into the test's `tmp_path`
  (with `items`, a source that yields them) and returns a `PipelineProject`: `run()`, `refresh()` and `fetch()`
  it, then read back `items()`, `email()`, `feed()` and `site(path)`. See `write_project_files` for what is
  written, and `PipelineProject` for `plugins`.
- `item_factory(kind=Kind.POST, title="A title", **fields)` builds a complete `Item` in one line (`make_item`).
- `http_recorder`: a real HTTP server on 127.0.0.1 that answers every request with `.status` and keeps it.

The pipeline's own test suite uses the same fixtures (tests/conftest.py). Importing this module is cheap and does
nothing else: pytest imports it in every run in the environment. `pytest -p no:newsletter_pipeline` turns it off.
"""

from __future__ import annotations

import copy
import email
import textwrap
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, item_id

if TYPE_CHECKING:
    from pipeline.config import Project
    from pipeline.run_report import RunReport

__all__ = ["BASE_TOML", "Email", "HttpRecorder", "PipelineProject", "load_plugin_file", "make_item",
           "write_project_files"]

BASE_TOML = """
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1
"""

SINKS_TOML = """
[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"

[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""
SUBSCRIBERS_CSV = "email,name\nreader@example.org,Reader\n"


# -- writing a project ------------------------------------------------------------------------------

def write_project_files(root: Path, toml: str, files: dict[str, str | bytes] | None = None, *,
                        default_sinks: bool = False) -> Path:
    """Write `pipeline.toml` and `files` ({path relative to root: text or bytes}) into `root`; return the
    path of pipeline.toml. Text is dedented. `toml` comes after a minimal [pipeline] table (`BASE_TOML`: the
    Test Network, Europe/London, one worker) unless it has its own. With `default_sinks`, a `toml` with no
    [sinks.*] table gets the three built-in sinks (`SINKS_TOML`: email through the outbox to the one subscriber
    of subscribers.csv, rss and archive)."""
    toml = textwrap.dedent(toml)
    if "[pipeline]" not in toml:
        toml = BASE_TOML + toml
    files = dict(files or {})
    if default_sinks and "[sinks." not in toml:
        toml += SINKS_TOML
        files.setdefault("subscribers.csv", SUBSCRIBERS_CSV)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    config = root / "pipeline.toml"
    config.write_text(toml, encoding="utf-8")
    return config


def load_plugin_file(path: Path | str) -> ModuleType:
    """Import a loose plugin file (one meant for `plugins_dir`) as a fresh module, as the host does: under the name
    the host gives it, so worker processes load it from its path as they load the host's (`transforming._module`)."""
    from pipeline.plugins import import_file

    path = Path(path)
    if path.suffix != ".py":
        raise ImportError(f"{path} is not a Python file")
    return import_file(path)


# -- running it and reading back what it made -------------------------------------------------------

@dataclass
class Email:
    """One message the outbox delivery wrote, parsed."""

    path: Path
    message: EmailMessage
    subject: str
    to: str
    html: str
    text: str


class PipelineProject:
    """A project in a temporary folder: run the real pipeline on it in this process, and read back what it made.

    `plugins` are registered besides the installed ones (found through their entry points, built-ins
    included), each as a module or other plugin object, a `(name, plugin)` pair, or the path of a loose plugin
    file (a relative path is looked for from `near`, the test's folder, then its parents). Do not pass a plugin
    that is installed: it is found already, and loading it twice is an error that names it.
    """

    def __init__(self, config: Path, plugins: Iterable[Any] = (), near: Path | None = None):
        self.config = config
        self.root = config.parent
        self.plugins = [_named(plugin, near or Path.cwd()) for plugin in plugins]
        self.report: RunReport | None = None  # the last run's or refresh's report
        self.problems: list[str] = []  # what the last run, refresh or fetch reported with `run.problem`
        self._project: Project | None = None
        self.given = ""  # the table of the source of `items`, when the fixture was given some

    @property
    def project(self) -> Project:
        """The loaded `pipeline.toml` (loaded on first use; `write` makes the next use load it again)."""
        if self._project is None:
            from pipeline.config import load_project
            self._project = load_project(self.config, extra_plugins=self.plugins)
        return self._project

    def write(self, files: dict[str, str | bytes]) -> None:
        """Change or add files between runs. A new `pipeline.toml` is completed as `pipeline_project`'s `toml` was:
        the minimal [pipeline] table first unless it has its own, the default sinks when it has no [sinks.*] table,
        and the `given` source of the project's `items`."""
        for rel, content in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif path == self.config:
                path.write_text(self._completed(content), encoding="utf-8")
            else:
                path.write_text(textwrap.dedent(content), encoding="utf-8")
        self._project = None

    def _completed(self, toml: str) -> str:
        toml = textwrap.dedent(toml)
        if self.given and "[sources.given]" not in toml:
            toml += self.given
        if "[pipeline]" not in toml:
            toml = BASE_TOML + toml
        if "[sinks." not in toml:
            toml += SINKS_TOML
            if not (self.root / "subscribers.csv").exists():
                (self.root / "subscribers.csv").write_text(SUBSCRIBERS_CSV, encoding="utf-8")
        return toml

    def run(self, as_of: date | None = None, *, mode: str = "run", dry_run: bool = False,
            check: bool = True) -> RunReport:
        """`pipeline run --as-of AS_OF`, in this process; with `check`, a run that does not exit 0 (a source,
        transform or sink failed, or a record was skipped) fails the test with what went wrong."""
        from pipeline.runner import run

        self.report = report = run(self.project, as_of=as_of, mode=mode, dry_run=dry_run)
        self.problems = list(report.problems)
        if check and report.exit_code != 0:
            failed = [f"{r.stage} {r.name}: {r.summary}" for r in report.results if not r.ok]
            raise AssertionError(f"pipeline {mode} exited {report.exit_code}: " + "; ".join(failed + report.problems)
                                 + " (pass check=False to look at report and problems yourself)")
        return report

    def refresh(self, as_of: date | None = None, *, check: bool = True) -> RunReport:
        """`pipeline refresh`: fetch, transform, update the feed and the site; no new issue."""
        return self.run(as_of, mode="refresh", check=check)

    def fetch(self, source: str | None = None, as_of: date | None = None) -> list[Item]:
        """What one source (by instance name; the first when None) yields, called directly as a run would,
        before the host's own checks; its problems go to `problems`. Nothing is saved."""
        from pipeline import renaming
        from pipeline.edition import start_of
        from pipeline.run_context import RunContext
        from pipeline.runner import state_path
        from pipeline.state import Store

        project = self.project
        chosen = [s for s in project.sources if source in (None, s.instance)]
        if not chosen:
            raise AssertionError(f"no source {source!r} in {self.config}; "
                                 f"there are: {', '.join(s.instance for s in project.sources) or 'none'}")
        day = as_of or date.today()
        store = Store(state_path(project))
        ctx = RunContext(project, store, day, start_of(day, project.tz) if as_of else datetime.now(project.tz))
        try:
            renaming.name_ids(project, store)  # a renamed source makes its ids as a run's would
            items = list(chosen[0].fetch(ctx))
        finally:
            ctx.close()
            store.close()
        self.problems = list(ctx.problems)
        return items

    def items(self, kind: Kind | str | None = None) -> list[Item]:
        """Every item in the state database (as saved: checked, transformed), oldest first."""
        from pipeline.runner import state_path
        from pipeline.state import Store

        store = Store(state_path(self.project))
        try:
            found = store.items_published(datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
        finally:
            store.close()
        return [item for item, _ in found if kind is None or item.kind == kind]

    def emails(self, issue: int | None = None) -> list[Email]:
        """The messages of an issue (the latest when None) in the outbox, by recipient."""
        folder = self._outbox()
        issues = sorted((int(p.name.removeprefix("issue-")), p) for p in folder.glob("issue-*")
                        if p.name.removeprefix("issue-").isdigit())
        chosen = [p for n, p in issues if issue in (None, n)][-1:]
        if not chosen:
            raise AssertionError(f"no issue {issue or ''} in {folder}: did a run make one (run.report.edition)?")
        return [_parse_email(path) for path in sorted(chosen[0].glob("*.eml"))]

    def email(self, to: str | None = None, issue: int | None = None) -> Email:
        """The message of an issue (the latest when None) to `to` (the first recipient when None)."""
        messages = [m for m in self.emails(issue) if to in (None, m.to)]
        if not messages:
            raise AssertionError(f"no message to {to} in issue {issue or 'latest'}")
        return messages[0]

    def feed(self, path: str = "feed.xml") -> Any:
        """An RSS feed the `rss` sink wrote, parsed by feedparser (`.feed.title`, `.entries[0].title`...)."""
        import feedparser

        return feedparser.parse(self._out(path).read_bytes())

    def site(self, path: str = "") -> str:
        """The text of a page of the site, by its path: '' is the front page, 'events/' its index.html,
        'archive/issue-1.html' a file."""
        return self._out(path).read_text(encoding="utf-8")

    def _out(self, path: str) -> Path:
        from pipeline import site

        target = site.file(self.project, path)
        if not target.is_file():
            raise AssertionError(f"{path!r}: no {target} (did a run write it?)")
        return target

    def _outbox(self) -> Path:
        for sink in self.project.sinks:
            folder = getattr(getattr(sink, "deliverer", None), "folder", None)
            if isinstance(folder, Path):
                return folder
        return self.project.root / "outbox"


def _named(plugin: Any, near: Path) -> tuple[str, object]:
    if isinstance(plugin, tuple):
        return plugin
    if isinstance(plugin, str | Path):
        path = _find(Path(plugin), near)
        return path.stem, load_plugin_file(path)
    name = getattr(plugin, "__name__", type(plugin).__name__)
    return name.rpartition(".")[2], plugin


def _given_items_plugin(items: list[Item]) -> object:
    """A plugin whose source `given-items` yields a copy of `items`: a sink or a transform tested on chosen items."""
    from pipeline import hookimpl
    from pipeline.components import Source

    class GivenItems(Source):
        name = "given-items"
        description = "the items a test gave to pipeline_project(items=...)"

        def fetch(self, run):
            return copy.deepcopy(items)

    class GivenItemsPlugin:
        @hookimpl
        def register_sources(self, register):
            register(GivenItems)

    return GivenItemsPlugin()


def _find(path: Path, near: Path) -> Path:
    if path.is_absolute():
        return path
    for folder in (near, *near.parents):
        if (folder / path).is_file():
            return folder / path
    raise AssertionError(f"plugin file {path} not found in {near} or any folder above it")


def _parse_email(path: Path) -> Email:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return Email(path, message, str(message["Subject"]), message["To"].addresses[0].addr_spec,
                 html.get_content() if html else "", text.get_content() if text else "")


# -- items -------------------------------------------------------------------------------------------

def make_item(kind: Kind = Kind.POST, title: str = "A title", *, source: str = "test",
              published: datetime | None = None, **fields) -> Item:
    """A complete item in one line: a job gets job details (closing 14 Feb 2016), an event a day in London on
    2 Feb 2016; any field of `Item` can be given."""
    published = published or datetime(2016, 1, 15, 10, 0, tzinfo=UTC)
    url = fields.pop("url", f"https://example.org/{kind.value}/{title.lower().replace(' ', '-')}")
    if kind is Kind.JOB and "job" not in fields:
        fields["job"] = JobDetails(organisation="Open Dialogue UK", location="London",
                                   closing_date=date(2016, 2, 14), how_to_apply="Email a CV.")
    if kind is Kind.EVENT and "event" not in fields:
        fields["event"] = EventDetails(
            start=datetime(2016, 2, 2, 9, 30, tzinfo=UTC),
            end=datetime(2016, 2, 2, 17, 0, tzinfo=UTC),
            venue="London", speakers=["Jaakko Seikkula"],
            prices=[PriceTier("Organisation rate", Decimal("125")), PriceTier("Group rate", Decimal("112.50"))],
            booking_url="https://example.org/book")
    return Item(id=item_id(source, title), kind=kind, source=source, title=title, published=published,
                url=url, body_html=fields.pop("body_html", f"<p>{title} body.</p>"), **fields)


# -- a server that keeps what it is sent --------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    headers: Any  # an email.message.Message: headers["content-type"], case-insensitive
    body: bytes

    def json(self) -> Any:
        import json
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """A real HTTP server on 127.0.0.1: every request is answered with `status` and `reply`, and kept."""

    url: str = ""
    status: int = 200
    reply: bytes = b'{"ok": true}'
    requests: list[Request] = field(default_factory=list)


def serve_recorder() -> Iterator[HttpRecorder]:
    """Start an `HttpRecorder` on a free port of 127.0.0.1; stopped when the generator is closed."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    recorder = HttpRecorder()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            recorder.requests.append(Request(self.command, self.path, self.headers, body))
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(recorder.reply)))
            self.end_headers()
            self.wfile.write(recorder.reply)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- the fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def pipeline_project(tmp_path: Path, request: pytest.FixtureRequest):
    """pipeline_project(toml="", files=None, plugins=(), items=None) -> a `PipelineProject` in `tmp_path` (a second
    one in a test goes to tmp_path/project-2, and so on). A `toml` with no [sinks.*] table gets the built-in email
    (outbox), rss and archive sinks. With `items`, a source `given` yields a copy of them on every run."""
    made: list[PipelineProject] = []

    def make(toml: str = "", files: dict[str, str | bytes] | None = None, plugins: Iterable[Any] = (),
             items: Iterable[Item] | None = None) -> PipelineProject:
        root = tmp_path if not made else tmp_path / f"project-{len(made) + 1}"
        root.mkdir(parents=True, exist_ok=True)
        plugins = list(plugins)
        given = ""
        if items is not None:  # a source of these items, for testing a transform or a sink
            given = '\n[sources.given]\ntype = "given-items"\n'
            toml = textwrap.dedent(toml) + given
            plugins.append(("pipeline_testing_items", _given_items_plugin(list(items))))
        config = write_project_files(root, toml, files, default_sinks=True)
        made.append(PipelineProject(config, plugins, near=request.path.parent))
        made[-1].given = given
        return made[-1]

    return make


@pytest.fixture
def item_factory():
    """item_factory(kind=Kind.POST, title="A title", **fields) -> an `Item` (see `make_item`)."""
    return make_item


@pytest.fixture
def http_recorder() -> Iterator[HttpRecorder]:
    """A real HTTP server on 127.0.0.1 for the test: `.url`, `.requests` (method, path, headers, body, json()),
    `.status` and `.reply` to answer with."""
    yield from serve_recorder()
