"""systemd's watchdog: `pipeline schedule` says READY=1, then WATCHDOG=1 while it shows signs of life, and stops
when it is stuck, so that systemd kills it and starts it again (`pipeline/watchdog.py`). A real datagram socket
stands for systemd's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import watchdog

PIPELINE = Path(sys.executable).parent / "pipeline"
STUCK_SINK = """
import pathlib, signal, time
from pipeline import hookimpl
from pipeline.components import Sink

class Stuck(Sink):
    name = "stuck"

    def write(self, edition, run):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # its deadline cannot reach it: as in C code
        pathlib.Path(run.project.root, "stuck-now").touch()
        time.sleep(3600)  # stands for a call that never returns

@hookimpl
def register_sinks(register):
    register(Stuck)
"""


class Systemd:
    """The notify socket: every datagram received, with the monotonic time it came."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.received: list[tuple[float, str]] = []
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while not self.closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def said(self, message: str, since: float = 0.0) -> list[float]:
        return [at for at, text in self.received if text == message and at >= since]

    def close(self) -> None:
        self.closed = True
        self.reader.join()
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    listening = Systemd(str(tmp_path / "notify"))
    yield listening
    listening.close()


def _wait_for(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ready_then_alive_while_it_beats_then_silent_then_stopping(systemd, tmp_path, monkeypatch):
    # the process's signs of life so far are other tests' (a scheduler loop's wait promised a minute): none here
    monkeypatch.setattr(watchdog, "_alive_until", time.monotonic())
    monkeypatch.setattr(watchdog, "_promises", {})
    environ = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "300000"}
    dog = watchdog.Watchdog(environ)
    dog.start()
    try:
        _wait_for(lambda: systemd.said("READY=1"))
        for _ in range(8):  # 0.8 s of signs of life
            watchdog.beat()
            time.sleep(0.1)
        assert len(systemd.said("WATCHDOG=1")) >= 3
        quiet_from = time.monotonic() + 0.45  # the last beat's promise (0.3 s) and one more tick
        time.sleep(1.2)
        assert systemd.said("WATCHDOG=1", since=quiet_from) == []  # no sign of life: systemd is no longer told
        watchdog.beat(next_within=0.6)  # a wait it announced is a sign of life for that long
        time.sleep(0.7)
        assert systemd.said("WATCHDOG=1", since=quiet_from + 1.2)
    finally:
        dog.stop()
    _wait_for(lambda: systemd.said("STOPPING=1"))


def test_abstract_socket_names_and_another_process_s_watchdog(tmp_path):
    name = f"pipeline-test-{os.getpid()}"
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listening.bind("\0" + name)
    listening.settimeout(5)
    try:
        assert watchdog.notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert listening.recv(100) == b"READY=1"
    finally:
        listening.close()
    assert watchdog.interval({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert watchdog.interval({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None  # not ours
    assert watchdog.interval({"WATCHDOG_USEC": "0"}) is None and watchdog.interval({}) is None
    assert not watchdog.notify("READY=1", {})  # outside systemd: nothing sent
    assert not watchdog.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})


def test_a_scheduler_stuck_in_a_run_stops_telling_systemd_it_is_alive(systemd, write_project, tmp_path):
    """A sink within its deadline is alive (the deadline would end it); one stuck past it, where the interrupt
    cannot reach, is not."""
    config = write_project('[pipeline]\nname = "Test Network"\nplugins_dir = "plugins"\n'
                           '[sinks.stuck]\ntype = "stuck"\ndeadline = 1\n', {"plugins/stuck.py": STUCK_SINK})
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen([str(PIPELINE), "schedule", "-c", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: systemd.said("READY=1"))
        _wait_for(lambda: (config.parent / "stuck-now").exists())  # the refresh at start reached the stuck sink
        stuck_at = time.monotonic()
        time.sleep(5)
        assert process.poll() is None  # still there, stuck: for systemd to kill
        told = systemd.said("WATCHDOG=1")
        assert told and max(told) > stuck_at + 0.5  # told while within the sink's deadline of 1 s
        assert systemd.said("WATCHDOG=1", since=stuck_at + 3.5) == []  # past it and the interval: no longer
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
