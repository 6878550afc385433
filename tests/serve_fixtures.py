"""`pipeline serve` for tests: a project with themes and an outbox, and the real app under uvicorn on loopback."""

from __future__ import annotations

import email
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from pathlib import Path

import pytest
import uvicorn

from pipeline.config import Project, load_project
from pipeline.runner import state_path
from pipeline.web.app import build_app

SERVE_TOML = """
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1

[serve]
secret_env = "TEST_SERVE_SECRET"
webhook_key_env = "TEST_SENDGRID_WEBHOOK_KEY"
per_address_limit = 2
per_client_limit = 5

[transforms.themes]
type = "themes"

[transforms.themes.taxonomy]
"research" = ["research*"]
"peer support" = ["peer support*"]
"Open Dialogue" = ["open dialogue"]

[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"
"""


def serve_project(folder: Path, extra: str = "", language: str | None = None) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    toml = SERVE_TOML if language is None else SERVE_TOML.replace("workers = 1",
                                                                  f'workers = 1\nlanguage = "{language}"')
    (folder / "pipeline.toml").write_text(toml + extra, encoding="utf-8")
    return load_project(folder / "pipeline.toml")


def serve_project_with_plugin(folder: Path, name: str, code: str) -> Path:
    """A serve project whose `plugins_dir` holds the plugin `name`.py, `code`; its pipeline.toml."""
    (folder / "plugins").mkdir(parents=True)
    (folder / "plugins" / f"{name}.py").write_text(code)
    serve_project(folder)
    config = folder / "pipeline.toml"
    config.write_text(config.read_text().replace("workers = 1", 'workers = 1\nplugins_dir = "plugins"'))
    return config


@contextmanager
def live_serve_project(tmp_path_factory: pytest.TempPathFactory, name: str,
                       language: str | None = None) -> Iterator[LiveServer]:
    """`serve_project` in a new folder called `name` (its pages in `language`, if given), served by a `LiveServer`
    until the block ends; its signing secret made in its state folder, whatever the environment holds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TEST_SERVE_SECRET", raising=False)
        server = LiveServer(serve_project(tmp_path_factory.mktemp(name), language=language)).start()
        try:
            yield server
        finally:
            server.stop()


class LiveServer:
    """The app of `project`, served by uvicorn in a thread on 127.0.0.1 at a free port, until `stop()`."""

    def __init__(self, project: Project):
        self.project = project
        self.app = build_app(project)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", proxy_headers=False, server_header=False,
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def settled(self, timeout: float = 30) -> None:
        """Wait until what the app was asked so far is done: every request answered and its work after the
        response done (a confirmation is handed to the mailer then, from a thread of Starlette's, so a client
        can have its answer before), and every confirmation handed to the mailer sent."""
        deadline = time.monotonic() + timeout
        while self.server.server_state.tasks:  # one per request, ended once its background work is
            if time.monotonic() > deadline:
                raise AssertionError(f"requests still under way after {timeout}s")
            time.sleep(0.01)
        self.app.state.web.mailer.submit(lambda: None).result(timeout=max(1.0, deadline - time.monotonic()))

    # -- what the app left behind ------------------------------------------------------------

    def snapshot(self) -> tuple[list, list]:
        """Every subscriber row and every consent-record row, read through a connection of our own."""
        db = sqlite3.connect(state_path(self.project))
        try:
            return (db.execute("SELECT * FROM subscribers ORDER BY id").fetchall(),
                    db.execute("SELECT * FROM subscriber_events ORDER BY id").fetchall())
        finally:
            db.close()

    def status(self, address: str) -> str | None:
        db = sqlite3.connect(state_path(self.project))
        try:
            row = db.execute("SELECT status FROM subscribers WHERE email = ?", (address,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def messages_to(self, address: str) -> list[email.message.EmailMessage]:
        folder = self.project.root / "outbox" / "messages"
        found = []
        for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"].addresses[0].addr_spec == address:
                found.append(message)
        return found

    def wait_for_message(self, address: str, count: int = 1, timeout: float = 10) -> email.message.EmailMessage:
        """The `count`-th message sent to `address` (confirmations go out just after the response)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages_to(address)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no message {count} to {address} in the outbox after {timeout}s")
            time.sleep(0.05)


class ServeProcess:
    """`pipeline serve --config CONFIG` as a process of its own on 127.0.0.1, in a `with` block: it has said it
    serves when the block starts (`lines`: its standard error so far; `port` and `url`: where, read from its
    'serving' line), and is stopped (SIGTERM) when it ends, unless `stop()` did so first. It is given `--port 0`
    and binds a free port itself: a port chosen here and closed before it started could be taken in between by
    another test process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.command = [sys.executable, "-m", "pipeline", "serve", "--config", str(config), "--port", "0"]
        self.env = env if env is not None else dict(os.environ)
        self.lines: list[str] = []

    def __enter__(self) -> ServeProcess:
        self.process = subprocess.Popen(self.command, stderr=subprocess.PIPE, text=True, env=self.env)
        while not self.lines or not self.lines[-1].startswith("serving"):
            self.lines.append(self.process.stderr.readline())
            if not self.lines[-1]:
                self.stop()
                raise AssertionError(f"serve ended: {''.join(self.lines)}")
        self.port = serving_port(self.lines[-1])
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> str:
        """SIGTERM, then the rest of its standard error."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.communicate(timeout=30)[1] or ""

    def __exit__(self, *exc) -> None:
        self.stop()


def serving_port(line: str) -> int:
    """The port in `pipeline serve`'s 'serving … on 127.0.0.1:PORT (Ctrl-C to stop)' line."""
    found = re.search(r" on 127\.0\.0\.1:(\d+) ", line)
    assert found, f"no port of 127.0.0.1 in {line!r}"
    return int(found[1])
