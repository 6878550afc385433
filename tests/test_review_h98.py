"""Review h98: can a real list be sent to safely (no duplicates, nobody missed) under faults?"""

from __future__ import annotations

from collections import Counter
from datetime import date

from pipeline.runner import run
from tests.newsletter_network import SUBSCRIBERS, everyone, statuses

AS_OF = date(2016, 3, 1)


def run_in_process(config):
    from pipeline.config import load_project
    return run(load_project(config), as_of=AS_OF)


def test_an_outage_lasting_a_few_scheduler_retries_leaves_nobody_unknown(fake, network):
    """Runs retried during one SendGrid outage (as `pipeline schedule` retries within the hold) must not use up
    SendGrid's ten cancellations between them: once it heals, everyone gets one copy and nobody is unknown."""
    config = network()
    fake.fail_before(503, times=10_000)  # SendGrid refuses everything for a while; nothing is accepted
    for _ in range(3):  # the scheduler's retries after 1 and 2 minutes: well inside the 30-minute hold
        run_in_process(config)
    fake.heal()

    run_in_process(config)

    assert _missed(fake) == [], "never delivered"
    assert statuses(config) == Counter(sent=SUBSCRIBERS)  # and nobody left unknown for the organiser to decide


def test_a_cancel_whose_confirmation_fails_never_records_the_cancelled_batch_as_sent(fake, network):
    """A cancel SendGrid took (its answers to scheduled_sends failing) must not leave the batch's accepted
    recipients recorded as sent: their mail is discarded with the batch, so they are sent again or unknown."""
    config = network()
    fake.fail_after(500)  # the batch's first request is in doubt; its second (20 more readers) is accepted
    fake.fail_after(500, times=10_000, on="scheduled_sends")  # the cancel is applied, but every answer is a 500

    run_in_process(config)
    fake.heal()
    fake.advance(31 * 60)  # the hold is over: SendGrid has sent what it kept, and discarded the cancelled batch

    never = sorted(_sent(config) - set(fake.delivered(pending=False)))
    assert never == [], f"{len(never)} recorded as sent, never delivered"


def _one_outage_then_everyone_once(fake, config) -> None:
    """A run while SendGrid refuses everything (nothing accepted), one after it heals: everyone gets one copy, and
    nobody is left unknown."""
    fake.fail_before(503, times=10_000)
    run_in_process(config)
    fake.heal()
    run_in_process(config)
    assert _missed(fake) == [], "never delivered"
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


def _missed(fake) -> list[str]:
    """The readers with no copy coming, then those with more than one (none of either is the promise)."""
    got = fake.delivered()
    assert all(got[r] <= 1 for r in everyone()), "someone got two copies"
    return sorted(r for r in everyone() if not got[r])


def _sent(config) -> set[str]:
    from pipeline.state import Store, journal
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return journal.delivered_to(store, 1)
    finally:
        store.close()


class _Truncating:
    """An HTTP proxy on 127.0.0.1 in front of the SendGrid stand-in that, for the first `times` requests whose path
    starts with `prefix` (and method is `method`), passes SendGrid's status line and headers but only half its
    body, then closes the connection: a connection dropped in the middle of the answer."""

    def __init__(self, upstream: str, method: str, prefix: str, times: int = 1):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        proxy = self
        self.left = times
        self.cut = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
                conn.close()
                cut = self.command == method and self.path.startswith(prefix) and proxy.left > 0 and len(payload) > 1
                if cut:
                    proxy.left -= 1
                    proxy.cut += 1
                self.send_response_only(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)  # SendGrid's Date and Server too
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2] if cut else payload)
                self.wfile.flush()
                self.close_connection = True

            do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_a_cancel_confirmation_cut_off_mid_answer_is_read_again_and_nobody_is_lost(fake, write_project):
    """A connection dropped in the middle of SendGrid's answer to the cancel's confirmation (GET scheduled_sends) is
    a request in doubt like any other, asked again: the cancelled batch is sent again, and nobody is recorded sent
    whose mail SendGrid discarded with it."""
    from tests.newsletter_network import POST, project_toml, readers_csv

    proxy = _Truncating(fake.url, "GET", "/v3/user/scheduled_sends/")
    try:
        config = write_project(project_toml(proxy.url), {"subscribers.csv": readers_csv(), "blog/post.md": POST})
        fake.fail_after(500)  # the first batch's first request is in doubt, its second is accepted: it is cancelled

        run_in_process(config)
    finally:
        proxy.stop()
    fake.advance(31 * 60)  # past the hold: SendGrid has sent what it kept

    assert proxy.cut == 1
    never = sorted(_sent(config) - set(fake.delivered(pending=False)))
    assert never == [], f"{len(never)} recorded as sent, never delivered"
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


def test_an_address_with_letters_outside_ascii_before_the_at_is_refused_saying_why(smtp_server, write_project):
    """`jörg@bücher.example` (RFC 6531): SendGrid cannot send to it, nor can many servers, so the list does not take
    it, and says why in its one line, rather than calling it no email address at all; the rest are sent."""
    from tests.mail_fixtures import Inbox
    from tests.newsletter_network import POST, newsletter_toml

    inbox = Inbox()
    port = smtp_server(inbox, enable_SMTPUTF8=True)
    config = write_project(newsletter_toml(delivery=f'type = "smtp"\n    host = "127.0.0.1"\n    port = {port}\n'
                                                    f'    starttls = false'),
                           {"subscribers.csv": "email,name\nann@example.org,Ann\njörg@bücher.example,Jörg\n",
                            "blog/post.md": POST})

    report = run_in_process(config)

    assert sorted(to for received in inbox.received for to in received["to"]) == ["ann@example.org"]
    [problem] = [p for p in report.problems if "jörg" in p]
    assert "subscribers.csv:3: 'jörg@bücher.example' is not a valid email address (the part before the @ has " \
           "letters outside ASCII (RFC 6531)" in problem


def test_an_outage_with_one_request_per_batch_costs_few_cancellations_and_leaves_nobody_unknown(fake, write_project):
    """With settings the delivery accepts (one request per batch id, twelve requests in flight), one outage must still
    stay under SendGrid's ten cancellations: nobody left unknown, and once it heals everyone gets one copy."""
    from tests.newsletter_network import POST, newsletter_toml, readers_csv

    config = write_project(newsletter_toml(delivery=f'''type = "sendgrid"
    host = "{fake.url}"
    batch_size = 10
    requests_per_batch = 1
    concurrency = 12
    max_retries = 2
    max_wait_seconds = 0'''), {"subscribers.csv": readers_csv(), "blog/post.md": POST})
    _one_outage_then_everyone_once(fake, config)


def test_an_outage_during_a_send_to_several_choices_of_themes_leaves_nobody_unknown(fake, write_project):
    """With the default SendGrid settings, one outage during a send to four choices of themes (one rendering each)
    must stay under SendGrid's ten cancellations: nobody unknown, and once it heals everyone gets one copy."""
    from tests.newsletter_network import newsletter_toml

    choices = ["advocacy", "housing", "peer support", "research"]
    readers = "email,name,themes\n" + "".join(f"reader{n}@example.org,Reader {n},{choices[n % 4]}\n"
                                              for n in range(SUBSCRIBERS))
    post = ("---\ntitle: \"Peer support in Leeds\"\ndate: 2016-02-15\nthemes: [advocacy, housing, peer support, "
            "research]\n---\n\nPeer workers and service users met in Leeds to plan the spring seminar.\n")
    config = write_project(newsletter_toml(delivery=f'type = "sendgrid"\n    host = "{fake.url}"\n'
                                                    f'    max_wait_seconds = 0'),
                           {"subscribers.csv": readers, "blog/post.md": post})
    _one_outage_then_everyone_once(fake, config)


def test_an_address_marked_bounced_keeps_no_resume_due(smtp_server, write_project):
    """Once the only one an issue has not reached is an address the send marked bounced (off the list, never sent to
    again), `pipeline schedule` has nothing to resume, and `pipeline status` does not say the issue has not reached
    them (as `journal.outstanding` already leaves out whoever left the list)."""
    from datetime import datetime

    from pipeline.config import load_project
    from pipeline.scheduler import RESUME, due
    from pipeline.state import Store
    from tests.mail_fixtures import Inbox
    from tests.newsletter_network import POST, newsletter_toml

    inbox = Inbox(refuse=("gone@example.org",))  # 550 5.1.1 at RCPT TO: a hard bounce
    port = smtp_server(inbox)
    config = write_project(newsletter_toml(delivery=f'type = "smtp"\n    host = "127.0.0.1"\n    port = {port}\n'
                                                    f'    starttls = false'),
                           {"subscribers.csv": "email,name\nann@example.org,Ann\ngone@example.org,Gone\n"
                                               "bob@example.org,Bob\n", "blog/post.md": POST})
    first = run_in_process(config)
    assert any("gone@example.org bounced" in p for p in first.problems)

    project = load_project(config)
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        now = datetime(2016, 3, 1, 12, 0, tzinfo=project.tz)  # within the catch-up window of the slot
        assert [d.why for d in due(store, project, now, last_refresh=now) if d.kind == RESUME] == []
    finally:
        store.close()
