"""Shared fixtures: tmp_path projects written from TOML text, and items built in one line.

They are built on the fixtures the package ships for plugin authors (pipeline/testing.py, a pytest11 plugin), and
re-export them, so they work the same when plugin autoloading is off.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.config import load_project
from pipeline.testing import (  # noqa: F401 (fixtures and helpers re-exported to every test)
    BASE_TOML,
    http_recorder,
    item_factory,
    make_item,
    pipeline_project,
    write_project_files,
)

pytest_plugins = ["tests.browser_fixtures"]  # the `browser` fixture


@pytest.fixture(autouse=True)
def _pipeline_logger_as_it_was():
    """The `pipeline` logger's level and handlers back as they were after each test: a command run with `-q` sets it
    to ERROR (`logs.configure`), which would hide the warnings a later test in the same process looks for."""
    import logging

    from pipeline import logs

    logger = logging.getLogger("pipeline")
    level, handlers, configured = logger.level, list(logger.handlers), list(logs._handlers)
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
    for handler in handlers:
        if handler not in logger.handlers:
            logger.addHandler(handler)
    logs._handlers[:] = configured  # those `configure` takes off next time: the ones put back
    logger.setLevel(level)


@pytest.fixture
def fake(monkeypatch):
    """A SendGrid v3 stand-in on 127.0.0.1 (tests/fake_sendgrid.py), with SENDGRID_API_KEY set for it."""
    from fake_sendgrid import FakeSendGrid

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # urllib must not send loopback traffic to a proxy
    server = FakeSendGrid(api_key="SG.test-key").start()
    monkeypatch.setenv("SENDGRID_API_KEY", server.api_key)
    yield server
    server.stop()


@pytest.fixture
def network(fake, write_project):
    """network(extra="", sink="") -> path of a project with one post and 120 readers, sending through `fake`
    (tests/newsletter_network.py); `extra` adds settings to the delivery, `sink` to the email sink."""
    from tests.newsletter_network import POST, project_toml, readers_csv

    def make(extra: str = "", sink: str = ""):
        return write_project(project_toml(fake.url, extra, sink), {"subscribers.csv": readers_csv(),
                                                                   "blog/post.md": POST})

    return make


@pytest.fixture
def smtp_server():
    """smtp_server(inbox, **aiosmtpd options) -> port of a real SMTP server on 127.0.0.1 handing what it receives
    to `inbox` (tests/mail_fixtures.py: Inbox); it stops after the test."""
    from tests.mail_fixtures import HeldPortController

    controllers = []

    def start(inbox, **options) -> int:
        controller = HeldPortController(inbox, **options)
        controller.start()
        controllers.append(controller)
        return controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def feed_server():
    """A real HTTP server on 127.0.0.1 serving `.routes` (tests/http_fixtures.py), stopped after the test."""
    from tests.http_fixtures import start_feed_server

    state, server = start_feed_server()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def write_project(tmp_path: Path):
    """write_project(toml, files={relative path: text}) -> path of pipeline.toml.

    `toml` is added after a minimal [pipeline] table unless it has its own.
    """

    def write(toml: str, files: dict[str, str | bytes] | None = None) -> Path:
        return write_project_files(tmp_path, toml, files)

    return write


@pytest.fixture
def project_from(write_project):
    """project_from(toml, files=None, plugins=[(name, obj)]) -> a loaded Project."""

    def load(toml: str, files=None, plugins=()):
        return load_project(write_project(toml, files), extra_plugins=list(plugins))

    return load


@pytest.fixture
def run_context(tmp_path):
    """run_context(project, as_of=date(2016, 5, 1)) -> a RunContext over a fresh SQLite file."""
    from pipeline.edition import start_of
    from pipeline.run_context import RunContext
    from pipeline.state import Store

    made = []

    def make(project, as_of: date = date(2016, 5, 1)):
        ctx = RunContext(project, Store(tmp_path / "state" / "test.sqlite"), as_of, start_of(as_of, project.tz))
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
        ctx.store.close()
