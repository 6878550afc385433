"""Review h179: sending an issue under faults (the SendGrid stand-in, SMTP servers, kills, re-runs).

Each test is one problem found, and fails while the problem is there. Servers run on 127.0.0.1, started and stopped
by the test; state files live in tmp_path.
"""

from __future__ import annotations

import socket
import sqlite3

from pipeline.cli import main
from tests.newsletter_network import newsletter_toml
from tests.test_review_h142 import POST, SITE, _journal  # the same network and journal as h142's SendGrid tests

READERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"


# -- SendGrid out of reach: a connection that never opens ------------------------------------------------------------

def _unanswered_port() -> tuple[socket.socket, list[socket.socket]]:
    """A port of 127.0.0.1 whose server never takes a connection: its one place in the queue of connections waiting
    to be accepted is taken, so the kernel drops every further one's opening SYN, and a client's connect times out
    (as a firewall dropping packets, or a route gone, makes it) before a byte of its request is sent."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    held = socket.create_connection(server.getsockname(), timeout=5)  # the one place, taken
    return server, [held]


def test_a_sendgrid_request_whose_connection_never_opened_is_failed_and_sent_by_the_next_run(
        write_project, fake, monkeypatch):
    """urllib wraps in a URLError only what fails before its request has gone out whole (connecting, the TLS
    handshake, writing the request); what fails while it waits for the answer comes as it is (a timeout, a connection
    reset or closed). A connection that times out opening (SendGrid's address unreachable for a while: a firewall, a
    route gone) is the first: nothing reached SendGrid. But only a refused connection, an unknown host and an
    unverifiable certificate were taken so; this was a request in doubt, so with `scheduled = false` (at most once)
    every reader of the send was recorded `unknown`: never sent again by a run, said to "may or may not have the
    issue", and `--resend unknown` warns of two copies. It is certainly not sent: `failed`, and the next run sends
    it, once."""
    server, held = _unanswered_port()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    files = {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"), "subscribers.csv": READERS}
    delivery = 'type = "sendgrid"\n    host = "{host}"\n    scheduled = false\n    max_retries = 1\n' \
               '    max_wait_seconds = 0\n    timeout = 0.5'
    try:
        config = write_project(SITE + newsletter_toml(delivery=delivery.format(host=url)), files)
        assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 1
    finally:
        for sock in (*held, server):
            sock.close()
    assert _journal(config) == {"ann@example.org": "failed", "bob@example.org": "failed"}

    config.write_text(config.read_text().replace(url, fake.url))  # SendGrid within reach again
    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    assert fake.delivered() == {"ann@example.org": 1, "bob@example.org": 1}
    assert _journal(config) == {"ann@example.org": "sent", "bob@example.org": "sent"}


# -- SendGrid: a cancel whose outcome cannot be learnt -----------------------------------------------------------

def test_a_recipient_sendgrid_refused_is_failed_even_when_the_cancel_of_its_batch_cannot_be_confirmed(
        write_project, fake):
    """A batch of two requests: SendGrid refuses the first for its one address (400, "Does not contain a valid
    address.": nothing of it taken, the address refused for good) and takes the second, whose answer is lost (in
    doubt). The batch is asked to cancel, and whether it was cannot be learnt (every answer about it lost): then
    SendGrid may discard what it took, so the second reader is rightly `unknown`. But the first, whom SendGrid
    certainly never took, was recorded `unknown` too: said to "may or may not have the issue", never sent again by a
    run, and not marked bounced though SendGrid refused the address for good. What is certain stays certain:
    `failed`, and marked bounced."""
    files = {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"), "subscribers.csv": READERS}
    delivery = (f'type = "sendgrid"\n    host = "{fake.url}"\n    batch_size = 1\n    requests_per_batch = 2\n'
                f'    concurrency = 1\n    max_retries = 1\n    max_wait_seconds = 0')
    config = write_project(SITE + newsletter_toml(delivery=delivery), files)
    fake.refuse_addresses("ann@example.org")  # her request: 400, nothing taken
    fake.fail_after(500)  # bob's: taken, its answer a 500 (ann's 400 takes no fault meant for a taken request)
    fake.drop_after(times=1000, on="scheduled_sends")  # every cancel taken, every answer about it lost

    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 1

    journal = _journal(config)
    assert journal["bob@example.org"] == "unknown"
    assert journal["ann@example.org"] == "failed"
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        [(status,)] = db.execute("SELECT status FROM subscribers WHERE email = 'ann@example.org'")
    finally:
        db.close()
    assert status == "bounced"


def test_a_cancel_still_on_its_way_when_sendgrid_says_it_holds_none_is_not_taken_for_refused(write_project, fake):
    """A batch in doubt is asked to cancel; the answers to that request are lost (it timed out), so the cancel may
    have reached SendGrid, and be taken there a moment later. SendGrid, asked whether it holds one, says no: the
    request has not been taken yet. That "no" was taken for a refusal, so the batch was settled as not cancelled:
    the reader whose request SendGrid had taken recorded `sent`. Then the cancel is taken, and SendGrid discards the
    whole batch at its send time: that reader never gets the issue, and no run sends it again. A "no" after a cancel
    that may be on its way proves nothing: the cancel is asked again (SendGrid then says it holds one), and only
    what is confirmed is settled; here everyone gets the issue once."""
    import threading

    files = {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"), "subscribers.csv": READERS}
    delivery = (f'type = "sendgrid"\n    host = "{fake.url}"\n    batch_size = 1\n    requests_per_batch = 2\n'
                f'    concurrency = 1\n    max_retries = 1\n    max_wait_seconds = 0\n    timeout = 1')
    config = write_project(SITE + newsletter_toml(delivery=delivery), files)
    fake.fail_after(500)  # one of the batch's two requests is taken, its answer a 500: the batch is in doubt
    taken_later, asked = threading.Event(), []

    def slow_cancel(n: int, path: str, phase: str) -> None:
        if path == "/v3/user/scheduled_sends" and phase == "received" and not taken_later.is_set():
            taken_later.wait(20)  # the cancel reached SendGrid; it is taken only after the client gave up on it
        elif path.startswith("/v3/user/scheduled_sends/") and phase == "accepted":
            asked.append(n)
            if len(asked) == 2:  # SendGrid has said "none" after the cancel was sent: now it is taken
                taken_later.set()

    fake.on_request(slow_cancel)
    try:
        main(["run", "--as-of", "2016-02-01", "-c", str(config)])
    finally:
        taken_later.set()
        fake.on_request(None)
    fake.advance(3 * 3600)  # every send time has passed: SendGrid delivered or discarded each batch

    journal = _journal(config)
    delivered = fake.delivered(pending=False)
    assert all(delivered[reader] == 1 for reader, status in journal.items() if status == "sent"), (journal, delivered)
    assert journal == {"ann@example.org": "sent", "bob@example.org": "sent"} and not fake.errors
