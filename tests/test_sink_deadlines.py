"""No sink can stall a run: each `write` is stopped at its deadline, reported by name, and the other sinks
still write. The email sink, stopped in the middle of a send, lets the batches it has in flight settle in
the journal, so the next run sends the rest and nobody gets the issue twice."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from datetime import date

import pytest

from pipeline import hookimpl
from pipeline.components import Sink, SinkResult
from pipeline.config import ConfigError, load_project
from pipeline.mail import sending
from pipeline.runner import run
from pipeline.state import Store, journal

AS_OF = date(2016, 3, 1)
POST = """---
title: "Peer support in Leeds"
date: 2016-02-15
---

Peer workers and service users met in Leeds to plan the spring seminar.
"""
READERS = 120


# ---- the settings ---------------------------------------------------------------------------------------

def _toml(sinks: str, core: str = "") -> str:
    return f'[pipeline]\nname = "N"\n{core}{sinks}'


def test_each_sink_has_the_pipeline_deadline_unless_its_table_gives_one(write_project):
    config = write_project(_toml('[sinks.a]\ntype = "rss"\n[sinks.b]\ntype = "rss"\ntitle = "B"\ndeadline = 2.5\n',
                                 core="sink_deadline = 90\n"))
    project = load_project(config)
    assert project.sink_deadline_of("a") == 90 and project.sink_deadline_of("b") == 2.5
    config.write_text(_toml('[sinks.a]\ntype = "rss"\n'), encoding="utf-8")
    assert load_project(config).sink_deadline_of("a") == 3600


@pytest.mark.parametrize("value", ["0", "-1", '"soon"', "true", "100000"])
def test_a_sink_deadline_that_is_not_a_number_of_seconds_is_a_config_error(write_project, value):
    config = write_project(_toml(f'[sinks.a]\ntype = "rss"\ndeadline = {value}\n'))
    with pytest.raises(ConfigError, match=r"\[sinks.a\]: deadline: must be a number of seconds between 0 and 86400"):
        load_project(config)


def test_pipeline_sink_deadline_must_be_a_number_not_true(write_project):
    config = write_project(_toml('[sinks.a]\ntype = "rss"\n', core="sink_deadline = true\n"))
    with pytest.raises(ConfigError, match=r"sink_deadline"):
        load_project(config)


class _OwnDeadline:
    @hookimpl
    def register_sinks(self, register):
        class OwnDeadline(Sink):
            name = "own_deadline"

            class Settings(Sink.Settings):
                deadline: str = "friday"

            def write(self, edition, run):
                return SinkResult("wrote")

        register(OwnDeadline)


def test_a_sink_with_a_setting_named_deadline_is_told_it_clashes_with_the_hosts_key(write_project):
    config = write_project(_toml('[sinks.a]\ntype = "own_deadline"\n'))
    with pytest.raises(ConfigError, match=r"\[sinks.a\] \(own_deadline, from plugin 'own'\): the sink has a setting "
                                          r"named `deadline`, which is the host's key"):
        load_project(config, extra_plugins=[("own", _OwnDeadline())])


# ---- a third-party sink that never returns ------------------------------------------------------------------

class _Stuck:
    """A sink stuck in Python code that swallows every error ("loops"), or in a socket read with no timeout
    from a server that never answers ("reads")."""

    def __init__(self, address: tuple[str, int]):
        self.address = address

    @hookimpl
    def register_sinks(self, register):
        address = self.address

        class StuckSink(Sink):
            name = "stuck"

            class Settings(Sink.Settings):
                how: str = "loops"

            def write(self, edition, run):
                if self.settings.how == "reads":
                    with socket.create_connection(address) as connection:
                        connection.recv(1)
                until = time.monotonic() + 60
                while time.monotonic() < until:
                    try:
                        time.sleep(0.01)
                    except Exception:  # noqa: S112 - what a careless plugin does
                        continue
                return SinkResult("never")

        register(StuckSink)


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


@pytest.mark.parametrize("how", ["loops", "reads"])
def test_a_sink_past_its_deadline_is_stopped_reported_by_name_and_the_next_sink_still_writes(
        write_project, silent_server, how):
    config = write_project(_toml(f'[sources.blog]\ntype = "blog"\npath = "blog"\n[sinks.stuck]\ntype = "stuck"\n'
                                 f'how = "{how}"\ndeadline = 1\n[sinks.feed]\ntype = "rss"\n'), {"blog/post.md": POST})
    project = load_project(config, extra_plugins=[("stuck", _Stuck(silent_server))])

    started = time.monotonic()
    report = run(project, mode="refresh", as_of=AS_OF)

    assert time.monotonic() - started < 15
    sinks = {r.name: r for r in report.results if r.stage == "sink"}
    assert not sinks["stuck"].ok
    assert sinks["stuck"].summary == ("did not finish within 1 s and was stopped (raise [sinks.stuck] deadline if it "
                                      "needs longer)")
    assert sinks["feed"].ok and "Peer support in Leeds" in (config.parent / "out" / "feed.xml").read_text()
    assert report.exit_code == 1


# ---- the email sink, stopped while it sends -----------------------------------------------------------------

def _newsletter(write_project, fake, deadline: float):
    readers = "email,name\n" + "".join(f"reader{n}@example.org,Reader {n}\n" for n in range(READERS))
    return write_project(f"""
    [sources.blog]
    type = "blog"
    path = "blog"

    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"
    from_email = "news@network.example.org"
    deadline = {deadline}

    [sinks.newsletter.delivery]
    type = "sendgrid"
    host = "{fake.url}"
    batch_size = 20
    requests_per_batch = 2
    concurrency = 2
    timeout = 10
    max_wait_seconds = 0
    """, {"subscribers.csv": readers, "blog/post.md": POST})


def _statuses(config) -> Counter:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return Counter(journal.counts(store).get(1, Counter()))
    finally:
        store.close()


def _everyone() -> Counter:
    return Counter({f"reader{n}@example.org": 1 for n in range(READERS)})


def _settled_threads() -> None:
    for thread in threading.enumerate():
        if thread.name == "delivery-close":
            thread.join(30)


def test_an_email_send_past_its_deadline_settles_what_is_in_flight_and_the_next_run_sends_the_rest(
        write_project, fake):
    config = _newsletter(write_project, fake, deadline=1)
    fake.delay(2.0, times=4)  # the first two batches (two requests each) answer after the deadline

    first = run(load_project(config), as_of=AS_OF)

    [sink] = first.failed("sink")
    assert sink.name == "newsletter" and "did not finish within 1 s" in sink.summary
    # the two batches in flight were let finish and settled; the third was never handed over
    assert _statuses(config) == Counter(sent=80)
    assert not journal.open_batches(Store(config.parent / "state" / "pipeline.sqlite"))
    assert sum(fake.delivered().values()) == 80

    second = run(load_project(config), as_of=AS_OF)

    assert second.exit_code == 0, second.results
    assert fake.delivered() == _everyone() and not fake.cancelled_batches()
    assert _statuses(config) == Counter(sent=READERS)


def test_a_later_run_of_the_same_process_leaves_a_stopped_sends_batches_to_it(write_project, fake, monkeypatch):
    """As under `pipeline schedule`: a run stopped at its deadline whose batches outlast the wait for them,
    then the next run at once. Settling those batches would cancel them at SendGrid while their thread
    still records them as sent: their readers would never have the issue."""
    monkeypatch.setattr(sending, "SETTLE_SECONDS", 0.1)
    config = _newsletter(write_project, fake, deadline=1)
    fake.delay(4.0, times=2)  # the first two requests; both batches' requests wait behind them

    first = run(load_project(config), as_of=AS_OF)
    _newsletter(write_project, fake, deadline=30)
    second = run(load_project(config), as_of=AS_OF)  # while the first's two batches are still in flight
    _settled_threads()

    assert [r.name for r in first.failed("sink")] == ["newsletter"]
    sink = next(r for r in second.results if r.stage == "sink")
    assert "is still being sent by a stopped run" in sink.summary
    assert fake.delivered() == _everyone() and not fake.cancelled_batches()
    assert _statuses(config) == Counter(sent=READERS)
