"""The fake SendGrid v3 API (tests/fake_sendgrid.py) keeps the real contract, driven by the official client."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sendgrid
from fake_sendgrid import FakeSendGrid
from python_http_client.exceptions import (
    BadRequestsError,
    InternalServerError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)

NOW = 1_700_000_000  # the fake's virtual clock


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # urllib must not send loopback traffic to a proxy
    server = FakeSendGrid(api_key="SG.test-key", now=lambda: NOW).start()
    yield server
    server.stop()


@pytest.fixture
def sg(fake):
    return sendgrid.SendGridAPIClient(api_key=fake.api_key, host=fake.url)


def mail(*to: str, **extra) -> dict:
    return {"personalizations": [{"to": [{"email": a}]} for a in to], "from": {"email": "news@example.org"},
            "subject": "Issue 4", "content": [{"type": "text/plain", "value": "Hello"}], **extra}


def new_batch(sg) -> str:
    response = sg.client.mail.batch.post()
    assert response.status_code == 201
    return json.loads(response.body)["batch_id"]


def status(sg, batch_id: str, value: str = "cancel"):
    return sg.client.user.scheduled_sends.post(request_body={"batch_id": batch_id, "status": value})


def messages(caught) -> list[str]:
    return [e["message"] for e in json.loads(caught.value.body)["errors"]]


def test_mail_send_answers_202_with_a_message_id_and_delivers_once_per_address(fake, sg):
    response = sg.send(mail("Reader@Example.org", "other@example.org"))

    assert response.status_code == 202 and response.body == b""
    assert response.headers["X-Message-Id"] == fake.message_ids[0]
    assert fake.delivered() == {"reader@example.org": 1, "other@example.org": 1}
    [entry] = fake.log
    assert (entry.method, entry.path, entry.status, entry.time) == ("POST", "/v3/mail/send", 202, NOW)
    assert entry.recipients == ("reader@example.org", "other@example.org")


def test_batches_are_created_validated_and_required_to_exist(fake, sg):
    batch = new_batch(sg)

    assert json.loads(sg.client.mail.batch._(batch).get().body) == {"batch_id": batch}
    with pytest.raises(BadRequestsError) as caught:
        sg.client.mail.batch._("never-made").get()
    assert messages(caught) == ["invalid batch id"]
    with pytest.raises(BadRequestsError) as caught:
        sg.send(mail("a@example.org", batch_id="never-made", send_at=NOW + 3600))
    assert messages(caught) == ["invalid batch id"] and fake.delivered() == {}
    with pytest.raises(UnauthorizedError) as caught:
        sendgrid.SendGridAPIClient(api_key="SG.wrong", host=fake.url).client.mail.batch.post()
    assert messages(caught) == ["The provided authorization grant is invalid, expired, or revoked"]


@pytest.mark.parametrize(("extra", "message"), [
    ({"send_at": NOW + 72 * 3600 + 1}, "Scheduling more than 72 hours in advance is forbidden."),
    ({"send_at": "tomorrow"}, "The send_at parameter is expecting a Unix timestamp as an integer."),
    ({"batch_id": 5}, "The batch_id must be a string."),
])
def test_send_at_and_batch_id_are_checked(fake, sg, extra, message):
    with pytest.raises(BadRequestsError) as caught:
        sg.send(mail("a@example.org", **extra))
    assert messages(caught)[0].startswith(message) and fake.accepted == []


def test_a_cancelled_batch_is_discarded_at_send_at_but_mail_sent_at_once_is_not(fake, sg):
    batch, other = new_batch(sg), new_batch(sg)
    sg.send(mail("later@example.org", batch_id=batch, send_at=NOW + 3600))
    sg.send(mail("now@example.org", batch_id=batch))  # no send_at: out at once, can't be cancelled
    assert fake.delivered() == {"later@example.org": 1, "now@example.org": 1}  # as things stand

    response = status(sg, batch)

    assert response.status_code == 201 and json.loads(response.body) == {"batch_id": batch, "status": "cancel"}
    assert json.loads(sg.client.user.scheduled_sends._(batch).get().body) == [{"batch_id": batch, "status": "cancel"}]
    assert json.loads(sg.client.user.scheduled_sends._(other).get().body) == []
    assert fake.cancelled_batches() == {batch}
    assert fake.delivered(pending=False) == fake.delivered() == {"now@example.org": 1}
    fake.advance(3600)
    sg.client.user.scheduled_sends._(batch).delete()  # too late: discarded at send_at
    assert fake.delivered() == {"now@example.org": 1}


def test_a_paused_batch_is_held_past_send_at_and_goes_out_when_resumed(fake, sg):
    batch = new_batch(sg)
    sg.send(mail("a@example.org", batch_id=batch, send_at=NOW + 3600))
    status(sg, batch, "pause")
    fake.advance(7200)
    assert fake.delivered() == {}

    assert sg.client.user.scheduled_sends._(batch).delete().status_code == 204

    assert fake.delivered(pending=False) == {"a@example.org": 1}
    with pytest.raises(NotFoundError) as caught:
        sg.client.user.scheduled_sends._(batch).patch(request_body={"status": "cancel"})
    assert messages(caught) == ["batch id not found"]


def test_cancel_is_refused_near_send_at_twice_or_beyond_10_batches(fake, sg):
    near, far = new_batch(sg), new_batch(sg)
    sg.send(mail("a@example.org", batch_id=near, send_at=NOW + 599))
    sg.send(mail("b@example.org", batch_id=far, send_at=NOW + 3600))
    with pytest.raises(BadRequestsError) as caught:
        status(sg, near)
    assert "10 minutes before" in messages(caught)[0]
    fake.cancel_too_late()
    with pytest.raises(BadRequestsError):
        status(sg, far)
    assert status(sg, far).status_code == 201
    with pytest.raises(BadRequestsError) as caught:
        status(sg, far, "pause")
    assert messages(caught) == ["a status for this batch id exists, try PATCH to update the status"]
    assert sg.client.user.scheduled_sends._(far).patch(request_body={"status": "pause"}).status_code == 204

    for _ in range(9):
        status(sg, new_batch(sg))
    with pytest.raises(BadRequestsError) as caught:
        status(sg, new_batch(sg))
    assert messages(caught) == ["max limit reached"]
    assert fake.delivered() == {"a@example.org": 1}


@pytest.mark.parametrize(("inject", "raised", "delivered"), [
    (lambda f: f.fail_before(429), TooManyRequestsError, 0),
    (lambda f: f.fail_before(503), ServiceUnavailableError, 0),
    (lambda f: f.fail_after(500), InternalServerError, 1),
    (lambda f: f.drop_before(), OSError, 0),
    (lambda f: f.drop_after(), OSError, 1),
    (lambda f: f.delay(2.0), OSError, 1),  # the client times out though the mail was accepted
])
def test_faults_hit_the_next_send_only(fake, sg, inject, raised, delivered):
    inject(fake)

    with pytest.raises(raised) as caught:
        sg.client.mail.send.post(request_body=mail("a@example.org"), timeout=0.3)
    assert sg.send(mail("b@example.org")).status_code == 202

    assert fake.delivered()["a@example.org"] == delivered and len(fake.accepted) == delivered + 1
    if raised is TooManyRequestsError:
        assert caught.value.headers["X-RateLimit-Remaining"] == "0" and caught.value.headers["X-RateLimit-Reset"]
    assert fake.log[0].fault is not None and fake.log[1].fault is None


def test_faults_can_target_batch_creation_and_scheduled_sends(fake, sg):
    fake.fail_before(500, on="batch")
    with pytest.raises(InternalServerError):
        sg.client.mail.batch.post()
    batch = new_batch(sg)
    fake.fail_after(500, on="scheduled_sends")
    with pytest.raises(InternalServerError):
        status(sg, batch)
    assert fake.cancelled_batches() == {batch}  # applied before the 500
    assert sg.send(mail("a@example.org")).status_code == 202


def test_on_request_runs_when_received_and_when_accepted_before_the_answer(fake, sg):
    seen = []
    fake.on_request(lambda n, path, phase: seen.append((n, path, phase, list(fake.statuses))))
    sg.send(mail("a@example.org"))
    with pytest.raises(BadRequestsError):
        sg.send(mail("not-an-address"))

    assert seen == [(1, "/v3/mail/send", "received", []), (1, "/v3/mail/send", "accepted", []),
                    (2, "/v3/mail/send", "received", [202])]


def test_latency_is_served_concurrently(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeSendGrid(latency=0.25).start()
    sg = sendgrid.SendGridAPIClient(api_key=fake.api_key, host=fake.url)
    threads = [threading.Thread(target=sg.send, args=(mail(f"r{n}@example.org"),)) for n in range(16)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    fake.stop()
    assert sum(fake.delivered().values()) == 16 and 0.25 <= elapsed < 1.5


def test_runs_as_a_process_and_writes_its_ledger_on_sigterm(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    ledger = tmp_path / "ledger.json"
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_sendgrid.py")), "--port", "0",
                                "--latency", "0", "--api-key", "SG.x", "--ledger", str(ledger)],
                               stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        sendgrid.SendGridAPIClient(api_key="SG.x", host=url).send(mail("a@example.org", "b@example.org"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)
    assert url.startswith("http://127.0.0.1:") and process.returncode == 0
    assert json.loads(ledger.read_text()) == {"a@example.org": 1, "b@example.org": 1}
