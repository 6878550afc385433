"""A delivery whose send never returns (a plugin stuck in C code, or on a socket with no timeout) cannot keep
`pipeline` alive: once the sink's deadline and SETTLE_SECONDS have passed, its batch is left in flight, the run
says so, ends with exit 1 and lets go of the state folder; the next run settles the batch through the journal,
as it does a killed run's, and sends nobody the issue twice. Real processes, so their exit and the lock are seen."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.state import Store, journal
from pipeline.state import alerts as state_alerts

ROOT = Path(__file__).resolve().parent.parent
READERS = [f"reader{n}@example.org" for n in range(10)]
DEADLINE = 3  # the sink's, in seconds (rendering the issue comes first); the plugin makes SETTLE_SECONDS 0.5
ENDS_WITHIN = 15  # seconds a stuck run may take in all, Python's start included (it ran for ever)
KILLED_AFTER = 30  # seconds: one still running then is killed, and the test fails
ABANDONED = re.compile(r"batch (\w+) of issue 1: the (\w+) delivery did not return within \d+ s; "
                       r"it is left in flight for the next run to settle")

PLUGIN = '''
import threading

from pipeline import alerts, components, hookimpl
from pipeline.components import Deliverer, Delivery
from pipeline.mail import sending
from plugins.deliveries.outbox import Outbox

sending.SETTLE_SECONDS = 0.5  # the wait for batches in flight, shortened for the test
alerts.AFTER_GIVING_UP = 0.5  # the wait for an alert through the delivery after that, shortened too


def never_returns():
    print("stuck", flush=True)
    threading.Event().wait()  # never set: as a read on a socket whose server never answers


class Stuck(Deliverer):
    """A third-party delivery with only `send`: it notes who it sent to in sent.txt."""
    name = "stuck"
    batch_size = 4

    class Settings(components.Settings):
        stuck: bool = True

    def send(self, messages, run):
        if self.settings.stuck:
            never_returns()
        recipients = [m["To"].addresses[0].addr_spec for m in messages]
        with open(self.project.config_path.parent / "sent.txt", "a") as sent:
            sent.writelines(f"{r}\\n" for r in recipients)
        return [Delivery(r, True) for r in recipients]


class StuckOutbox(Outbox):
    """The outbox, stuck half-way through a batch: two files written, then nothing."""
    name = "stuck_outbox"
    batch_size = 4

    class Settings(Outbox.Settings):
        stuck: bool = True

    def deliver(self, mailing, recipients, batch, run):
        if not self.settings.stuck:
            return super().deliver(mailing, recipients, batch, run)
        super().deliver(mailing, recipients[:2], batch, run)
        never_returns()


@hookimpl
def register_deliveries(register):
    register(Stuck)
    register(StuckOutbox)
'''


def _project(write_project, delivery: str, *, stuck: bool, schedule: str = "", deadline: int = DEADLINE) -> Path:
    return write_project(f"""
        [pipeline]
        name = "Test Network"
        site_url = "https://network.example.org"
        timezone = "Europe/London"
        workers = 1
        plugins_dir = "local"
        {schedule}
        [sources.blog]
        type = "blog"
        path = "blog"

        [sinks.newsletter]
        type = "email"
        subscribers = "subscribers.csv"
        from_email = "news@network.example.org"
        deadline = {deadline}

        [sinks.newsletter.delivery]
        type = "{delivery}"
        stuck = {str(stuck).lower()}
        """, {"local/stuck.py": PLUGIN, "subscribers.csv": "email,name\n" + "".join(f"{r},R\n" for r in READERS),
              "blog/post.md": "---\ntitle: \"Peer support in Leeds\"\ndate: 2016-02-15\n---\n\nWe met.\n"})


def _pipeline(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """`python -m pipeline ARGS` of this checkout, to its end: (exit code, standard output and error, seconds
    taken). One still running after KILLED_AFTER seconds is killed, with whatever it started, and the test fails."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT, env={**_env(), **(env or {})},
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=KILLED_AFTER)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"pipeline {' '.join(args)} still ran after {KILLED_AFTER} s:\n{out}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, out, time.monotonic() - started


def _env() -> dict[str, str]:
    """This checkout's `pipeline`, not the one the virtual environment has installed."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _run(config: Path) -> tuple[int, str, float]:
    return _pipeline("run", "--config", str(config), "--as-of", "2016-03-01")


def _unlocked(config: Path) -> bool:
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def _journal(config: Path) -> tuple[Counter, list[journal.OpenBatch]]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return journal.counts(store).get(1, Counter()), journal.open_batches(store)
    finally:
        store.close()


def _left_in_flight(config: Path, out: str, delivery: str) -> journal.OpenBatch:
    """What a stuck run must leave: the line naming the batch, the lock free, the batch in flight in the journal."""
    [said] = ABANDONED.findall(out)
    assert said[1] == delivery, out
    assert f"did not finish within {DEADLINE} s and was stopped" in out  # the sink's own failure, as before
    assert _unlocked(config)
    counts, [batch] = _journal(config)
    assert counts == Counter(in_flight=4) and batch.id == said[0] and batch.channel == delivery
    return batch


def test_a_send_that_never_returns_ends_the_run_and_the_next_run_settles_its_batch(write_project):
    config = _project(write_project, "stuck", stuck=True)

    code, out, seconds = _run(config)

    assert code == 1, out
    assert seconds < ENDS_WITHIN
    batch = _left_in_flight(config, out, "stuck")
    assert not (config.parent / "sent.txt").exists()

    _project(write_project, "stuck", stuck=False)  # the plugin mended: the next run goes through
    code, out, _ = _run(config)

    # `send` alone cannot tell what became of the batch: unknown, never sent again blindly, and said
    assert code == 3, out
    assert f"batch {batch.id} left in flight by an interrupted run: 0 sent, 0 to send again, 4 unknown" in out
    assert "4 recipient(s) may or may not have the issue" in out
    sent = Counter((config.parent / "sent.txt").read_text().split())
    assert sent == Counter({r: 1 for r in READERS if r not in batch.recipients})
    assert _journal(config) == (Counter(sent=6, unknown=4), [])


def test_an_outbox_batch_left_in_flight_is_settled_by_its_files_and_each_reader_gets_one(write_project):
    config = _project(write_project, "stuck_outbox", stuck=True)

    code, out, seconds = _run(config)

    assert code == 1, out
    assert seconds < ENDS_WITHIN
    batch = _left_in_flight(config, out, "stuck_outbox")
    assert len(list((config.parent / "outbox").glob("issue-1/*.eml"))) == 2

    _project(write_project, "stuck_outbox", stuck=False)
    code, out, _ = _run(config)

    assert code == 0, out
    assert f"batch {batch.id} left in flight by an interrupted run: 2 sent, 2 to send again, 0 unknown" in out
    files = Counter(re.search(r"^To: .*?<?([\w.]+@[\w.]+)>?$", eml.read_text(), re.M).group(1)
                    for eml in (config.parent / "outbox").glob("issue-1/*.eml"))
    assert files == Counter({r: 1 for r in READERS})
    assert _journal(config) == (Counter(sent=10), [])


def test_a_scheduler_whose_send_never_returns_ends_so_that_it_can_be_started_again(write_project):
    schedule = '[schedule]\nnewsletter_day = 28\nnewsletter_time = "10:00"\nrefresh_minutes = 1440'
    config = _project(write_project, "stuck", stuck=True, schedule=schedule)

    code, out, seconds = _pipeline("schedule", "--config", str(config),
                                   env={"PIPELINE_FAKE_NOW": "2016-02-28T10:01:00+00:00"})

    assert code == 1, out
    assert seconds < ENDS_WITHIN
    _left_in_flight(config, out, "stuck")
    assert "the scheduler ends" in out


def test_a_send_stopped_by_sigterm_whose_delivery_never_returns_ends_too(write_project):
    config = _project(write_project, "stuck", stuck=True, deadline=600)  # the signal comes long before it
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--as-of",
                                "2016-03-01"], cwd=ROOT, env=_env(), text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "stuck"  # the batch is in the delivery's hands
        process.send_signal(signal.SIGTERM)
        out = process.communicate(timeout=KILLED_AFTER)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert process.returncode == 143, out
    assert "stopped by SIGTERM" in out
    [(batch_id, _)] = ABANDONED.findall(out)
    assert _unlocked(config)
    counts, [batch] = _journal(config)
    assert counts == Counter(in_flight=4) and batch.id == batch_id


def test_the_organisers_alert_through_the_stuck_delivery_does_not_keep_the_run_alive(write_project):
    """The alert goes through the same delivery (README, `[alerts]`), which has just been seen not to return:
    the run still ends, with the batch in flight, and the alert is tried again after the next run."""
    config = _project(write_project, "stuck", stuck=True)
    config.write_text(config.read_text() + '\n[alerts]\nto = ["organiser@example.org"]\n')

    code, out, seconds = _run(config)

    assert code == 1, out
    assert seconds < ENDS_WITHIN
    _left_in_flight(config, out, "stuck")
    assert "alerts: the organisers could not be told (its delivery did not return within" in out
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:  # opened, not told: told after the next run (the failed run, and the readers its send never reached)
        assert sorted((a.key, a.notified_at) for a in state_alerts.open_alerts(store)) == [("deliveries:1", None),
                                                                                          ("run:run", None)]
    finally:
        store.close()
