"""No sink can stall a run: each `write` is stopped at its deadline, reported by name, and the other sinks
still write. The email sink, stopped in the middle of a send, lets the batches it has in flight settle in
the journal, so the next run sends the rest and nobody gets the issue twice."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from datetime import date

import pytest

from pipeline import hookimpl
from pipeline.components import Sink, SinkResult
from pipeline.config import load_project
from pipeline.errors import PipelineError
from pipeline.mail import sending
from pipeline.runner import run
from pipeline.state import Store, journal
from pipeline.time_limits import Interrupt
from plugins.deliveries.sendgrid import SendGrid
from tests.mail_fixtures import Inbox
from tests.newsletter_network import POST, SUBSCRIBERS, everyone, newsletter_toml, statuses

AS_OF = date(2016, 3, 1)


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
    config = write_project(f'[sources.blog]\ntype = "blog"\npath = "blog"\n[sinks.stuck]\ntype = "stuck"\n'
                           f'how = "{how}"\ndeadline = 1\n[sinks.feed]\ntype = "rss"\n', {"blog/post.md": POST})
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

def _settled_threads() -> None:
    for thread in threading.enumerate():
        if thread.name == "delivery-close":
            thread.join(30)


def test_an_email_send_past_its_deadline_settles_what_is_in_flight_and_the_next_run_sends_the_rest(fake, network):
    config = network(extra="timeout = 10", sink="deadline = 1")
    fake.delay(2.0, times=4)  # the first two batches (two requests each) answer after the deadline

    first = run(load_project(config), as_of=AS_OF)

    [sink] = first.failed("sink")
    assert sink.name == "newsletter" and "did not finish within 1 s" in sink.summary
    # the two batches in flight were let finish and settled; the third was never handed over
    assert statuses(config) == Counter(sent=80)
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        assert not journal.open_batches(store)
    finally:
        store.close()
    assert sum(fake.delivered().values()) == 80

    second = run(load_project(config), as_of=AS_OF)

    assert second.exit_code == 0, second.results
    assert fake.delivered() == everyone() and not fake.cancelled_batches()
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


def test_batches_that_outlast_the_wait_keep_the_state_folder_locked_until_they_settle(fake, network, monkeypatch):
    """In the process that ran it: a run stopped at its deadline whose batches outlast the wait for them, then
    the next run at once. Were it let in, it would settle those batches (cancel them at SendGrid) while their
    thread still records them as sent: their readers would never have the issue. (The `pipeline` command ends
    there instead, the batches' thread with it: tests/test_stuck_delivery.py.)"""
    monkeypatch.setattr(sending, "SETTLE_SECONDS", 0.1)
    config = network(extra="timeout = 10", sink="deadline = 1")
    fake.delay(4.0, times=2)  # the first two requests; both batches' requests wait behind them

    first = run(load_project(config), as_of=AS_OF)
    network(extra="timeout = 10", sink="deadline = 30")
    with pytest.raises(PipelineError, match="another run is in progress"):
        run(load_project(config), as_of=AS_OF)  # while the first's two batches are still in flight
    _settled_threads()
    third = run(load_project(config), as_of=AS_OF)

    assert [r.name for r in first.failed("sink")] == ["newsletter"]
    assert third.exit_code == 0, third.results
    assert fake.delivered() == everyone() and not fake.cancelled_batches()
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


def test_an_interrupt_landing_while_a_stopped_send_tidies_up_still_lets_it_settle_and_close(fake, network,
                                                                                               monkeypatch):
    """The deadline's interrupt comes again every second: here it lands just as the closing thread is being
    started. The send still waits for its batches to settle, and closes the delivery once."""
    config = network(extra="timeout = 10", sink="deadline = 1")
    fake.delay(2.0, times=4)
    start, landed = threading.Thread.start, []

    def interrupted(thread):
        if thread.name == "delivery-close" and not landed:
            landed.append(thread)
            raise Interrupt
        start(thread)

    closed = []
    close = SendGrid.close
    monkeypatch.setattr(threading.Thread, "start", interrupted)
    monkeypatch.setattr(SendGrid, "close", lambda delivery: (closed.append(delivery), close(delivery)))
    first = run(load_project(config), as_of=AS_OF)

    assert landed and len(closed) == 1
    assert [r.name for r in first.failed("sink")] == ["newsletter"]
    assert statuses(config) == Counter(sent=80)  # settled before the run ended
    assert run(load_project(config), as_of=AS_OF).exit_code == 0  # not refused: the lock was let go
    assert fake.delivered() == everyone()


def test_a_probe_batch_in_flight_at_the_deadline_settles_too(fake, network):
    """After a round in doubt, one small batch goes first and alone: it too is let settle."""
    config = network(extra="timeout = 10", sink="deadline = 3")
    fake.fail_before(500)  # round 1 in doubt: round 2 starts with a probe batch
    batch_ids, slowed = [], []

    def slow_probe(n, path, phase):
        if phase != "accepted":
            return
        if path == "/v3/mail/batch":
            batch_ids.append(n)  # round 1 makes two; the third is the probe's, made once round 1 is over
        elif path == "/v3/mail/send" and len(batch_ids) == 3 and not slowed:
            slowed.append(n)  # the probe's request, alone in flight: answered after the deadline
            time.sleep(5)

    fake.on_request(slow_probe)
    first = run(load_project(config), as_of=AS_OF)
    fake.on_request(None)

    assert [r.name for r in first.failed("sink")] == ["newsletter"] and slowed
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        assert not journal.open_batches(store)
    finally:
        store.close()
    assert run(load_project(config), as_of=AS_OF).exit_code == 0
    assert fake.delivered() == everyone()
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


class _SlowInbox(Inbox):
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        await asyncio.sleep(0.3)
        return await super().handle_DATA(server, session, envelope)


def test_an_smtp_send_past_its_deadline_leaves_each_reader_exactly_one_message(write_project, smtp_server):
    inbox = _SlowInbox()
    port = smtp_server(inbox)
    readers = "email,name\n" + "".join(f"reader{n}@example.org,Reader {n}\n" for n in range(12))

    def project(deadline: int):
        return write_project(newsletter_toml(f"deadline = {deadline}", f'type = "smtp"\n    host = "127.0.0.1"\n'
                                             f'    port = {port}\n    starttls = false\n    timeout = 10'),
                             {"subscribers.csv": readers, "blog/post.md": POST})

    config = project(deadline=1)
    first = run(load_project(config), as_of=AS_OF)

    assert [r.name for r in first.failed("sink")] == ["newsletter"]
    sent_first = len(inbox.received)
    assert 0 < sent_first < 12
    assert statuses(config) == Counter(sent=sent_first)  # the message in flight at the deadline settled too

    project(deadline=60)
    assert run(load_project(config), as_of=AS_OF).exit_code == 0
    assert Counter(to for received in inbox.received for to in received["to"]) == Counter(
        {f"reader{n}@example.org": 1 for n in range(12)})
    assert statuses(config) == Counter(sent=12)
