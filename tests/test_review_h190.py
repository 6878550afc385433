"""Review h190: what happens when SendGrid's Event Webhook reports back, against the real app on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.serve_fixtures import LiveServer, live_serve_project

WEBHOOK_ENV = "TEST_SENDGRID_WEBHOOK_KEY"  # as SERVE_TOML names it


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "h190") as server:
        yield server


@pytest.fixture
def store(live) -> Iterator[Store]:
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    yield store
    store.close()


@pytest.fixture
def webhook_key(monkeypatch) -> ec.EllipticCurvePrivateKey:
    """A P-256 key pair like SendGrid's; the public half in the environment, as SendGrid shows it."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv(WEBHOOK_ENV, base64.b64encode(public).decode("ascii"))
    return key


def _post(live: LiveServer, key: ec.EllipticCurvePrivateKey, events: list[dict]) -> httpx.Response:
    """`events` posted as SendGrid posts a batch: JSON, signed over the timestamp and the body."""
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return httpx.post(live.url + "/webhooks/sendgrid", content=body, timeout=30, headers={
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"})


def test_a_bounce_sendgrid_gave_up_retrying_after_72_hours_of_deferrals_leaves_the_reader_on_the_list(
        live, store, webhook_key):
    """SendGrid's `bounce` event carries `type`: `bounce` (refused for good), `blocked` (a block the receiving server
    may lift) or `expired` (deferred, by a mailbox down or full, until SendGrid stopped trying after 72 hours): only
    the first says the address is gone. A temporary failure must not take a reader off the list for good."""
    now = int(time.time())
    for name in ("expired", "blocked-capital", "hard", "untyped"):
        subs.add(store, f"h190-{name}@example.org", "", [], how="cli", at=datetime.now(UTC))
    response = _post(live, webhook_key, [
        {"email": "h190-expired@example.org", "event": "bounce", "type": "expired", "timestamp": now,
         "reason": "451 4.4.1 mailbox temporarily unavailable: message expired after 72 hours"},
        {"email": "h190-blocked-capital@example.org", "event": "bounce", "type": "Blocked", "timestamp": now},
        {"email": "h190-hard@example.org", "event": "bounce", "type": "bounce", "timestamp": now,
         "reason": "550 5.1.1 user unknown"},
        {"email": "h190-untyped@example.org", "event": "bounce", "timestamp": now},  # as SendGrid's older posts
    ])
    assert response.status_code == 200, response.text
    assert {name: live.status(f"h190-{name}@example.org") for name in ("expired", "blocked-capital", "hard",
                                                                       "untyped")} \
        == {"expired": "active", "blocked-capital": "active", "hard": "bounced", "untyped": "bounced"}


def test_other_requests_are_answered_while_a_batch_is_worked_through(live, store, webhook_key, monkeypatch):
    """SendGrid posts up to thousands of events at once, and reading them (each address spelt as the list keeps
    it) took seconds of the one thread that answers every request: the subscribe form and every link waited. The
    batch is read in a worker thread; here the reading of one is held open until a page was asked for meanwhile."""
    import threading

    from pipeline.subscribers import provider_events

    reading, page_answered = threading.Event(), threading.Event()
    spelt = provider_events.checked

    def held_open(address):
        reading.set()
        page_answered.wait(timeout=20)  # never for ever: a server that cannot answer fails the test below
        return spelt(address)

    monkeypatch.setattr(provider_events, "checked", held_open)
    subs.add(store, "h190-meanwhile@example.org", "", [], how="cli", at=datetime.now(UTC))
    answers: list[httpx.Response] = []
    poster = threading.Thread(target=lambda: answers.append(_post(live, webhook_key, [
        {"email": "h190-meanwhile@example.org", "event": "spamreport", "timestamp": int(time.time())}])))
    poster.start()
    try:
        assert reading.wait(timeout=20), "the batch was never read"
        page = httpx.get(live.url + "/subscribe", headers={"Host": "network.example.org"}, timeout=10)
        assert page.status_code == 200
    finally:
        page_answered.set()
        poster.join(timeout=30)
    assert answers and answers[0].status_code == 200, answers
    assert live.status("h190-meanwhile@example.org") == "complained"


def test_a_batch_that_suppresses_many_is_one_write_to_the_suppression_log(live, store, webhook_key, monkeypatch,
                                                                          caplog):
    """Each suppression of a batch was a transaction of its own, so each wrote and fsynced its own line of the
    suppression log (a batch of 3,000 bounces: 3,000 commits and 3,000 fsyncs, seconds that SendGrid may time out
    and post again), and when the log could not be written (the disk full), serve's log said so once per address.
    A batch is one transaction, as a list imported with statuses is: one write, and one warning naming how many."""
    import logging

    from pipeline.state import suppression_log

    writes: list[bytes] = []
    append = suppression_log.SuppressionLog._append

    def counted(log, lines):
        writes.append(lines)
        return append(log, lines)

    monkeypatch.setattr(suppression_log.SuppressionLog, "_append", counted)
    now = int(time.time())
    names = [f"h190-many{n}@example.org" for n in range(5)]
    for name in names:
        subs.add(store, name, "", [], how="cli", at=datetime.now(UTC))
    response = _post(live, webhook_key, [{"email": name, "event": "bounce", "timestamp": now} for name in names]
                     + [{"email": names[0], "event": "spamreport", "timestamp": now}])
    assert response.status_code == 200 and response.text == "6 addresses suppressed\n", response.text
    assert len(writes) == 1 and len(writes[0].splitlines()) == 6  # five bounced, then one of them complained
    assert [live.status(name) for name in names] == ["complained"] + ["bounced"] * 4

    def disk_full(log, lines):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(suppression_log.SuppressionLog, "_append", disk_full)
    others = [f"h190-full{n}@example.org" for n in range(4)]
    for name in others:
        subs.add(store, name, "", [], how="cli", at=datetime.now(UTC))
    now = int(time.time())  # not before they joined: an event older than that is old news (`suppress`)
    caplog.set_level(logging.WARNING)
    response = _post(live, webhook_key, [{"email": name, "event": "unsubscribe", "timestamp": now} for name in others])
    assert response.status_code == 200, response.text
    assert [live.status(name) for name in others] == ["unsubscribed"] * 4  # their wish counts first
    [line] = [r.getMessage() for r in caplog.records if "suppressions.log" in r.getMessage()]
    assert "4 addresses" in line and "No space left on device" in line
    assert "@" not in line


def test_sendgrid_posting_to_a_serve_with_no_key_set_is_said_in_the_log(live, store, monkeypatch, caplog):
    """With `[serve] webhook_key_env`'s variable unset (a service started without it), every post of SendGrid's was
    answered 503 and not a word was logged: SendGrid gives up after 24 hours, and every bounce, complaint and
    unsubscribe it reported was lost while the organiser heard nothing. A request carrying SendGrid's signature
    headers now says so in the log, naming the variable (not any key, nor any address), the first time, then at most
    once an hour, as the webhook's other refusals are."""
    import logging

    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    subs.add(store, "h190-nokey@example.org", "", [], how="cli", at=datetime.now(UTC))
    caplog.set_level(logging.WARNING, logger="pipeline.web")
    for _ in range(3):
        response = _post(live, key, [{"email": "h190-nokey@example.org", "event": "bounce",
                                      "timestamp": int(time.time())}])
        assert response.status_code == 503 and WEBHOOK_ENV in response.text
    assert live.status("h190-nokey@example.org") == "active"
    [line] = [r.getMessage() for r in caplog.records if r.name == "pipeline.web"]
    assert WEBHOOK_ENV in line and "503" in line and "@" not in line
    # a stranger's post without SendGrid's headers is no sign of SendGrid, and says nothing
    live.app.state.webhook_refused.forget()
    caplog.clear()
    assert httpx.post(live.url + "/webhooks/sendgrid", content=b"[]", timeout=10).status_code == 503
    assert not [r for r in caplog.records if r.name == "pipeline.web"]


def test_a_group_resubscribe_brings_back_neither_someone_who_unsubscribed_nor_someone_erased(live, store, webhook_key):
    """`group_resubscribe` is ignored on purpose (README): the list's own double opt-in is the only way back, and an
    erasure stays a suppression whatever SendGrid reports after it."""
    at = datetime.now(UTC)
    for name in ("h190-regroup", "h190-erased"):
        subs.add(store, f"{name}@example.org", "", [], how="cli", at=at)
    subs.forget(store, "h190-erased@example.org", at=at)
    now = int(time.time()) + 1
    response = _post(live, webhook_key, [
        {"email": "h190-regroup@example.org", "event": "group_unsubscribe", "asm_group_id": 7, "timestamp": now},
        {"email": "h190-regroup@example.org", "event": "group_resubscribe", "asm_group_id": 7, "timestamp": now + 1},
        {"email": "h190-erased@example.org", "event": "group_resubscribe", "asm_group_id": 7, "timestamp": now + 1}])
    assert response.status_code == 200 and response.text == "1 address suppressed\n", response.text
    assert live.status("h190-regroup@example.org") == "unsubscribed"
    assert live.status("h190-erased@example.org") == "unsubscribed"
    erased = subs.find_subscriber(store, "h190-erased@example.org")
    assert [event.how for event in subs.history(store, erased.id)] == [subs.ERASED]


def test_a_batch_sendgrid_posts_again_changes_nothing_the_second_time(live, store, webhook_key):
    """SendGrid posts a batch again until it is answered 2xx (for up to 24 hours), and may post an event twice:
    the second time leaves the statuses, the consent records and the suppression log as the first left them."""
    from pipeline.runner import state_path

    now = int(time.time())
    names = ["h190-again-bounce", "h190-again-spam", "h190-again-unsub"]
    for name in names:
        subs.add(store, f"{name}@example.org", "", [], how="cli", at=datetime.now(UTC))
    batch = [{"email": "h190-again-bounce@example.org", "event": "bounce", "timestamp": now, "sg_event_id": "a"},
             {"email": "h190-again-spam@example.org", "event": "spamreport", "timestamp": now, "sg_event_id": "b"},
             {"email": "h190-again-spam@example.org", "event": "spamreport", "timestamp": now, "sg_event_id": "b"},
             {"email": "h190-again-unsub@example.org", "event": "unsubscribe", "timestamp": now, "sg_event_id": "c"},
             {"email": "H190-Again-Unsub@Example.ORG", "event": "group_unsubscribe", "timestamp": now}]
    log_file = state_path(live.project).parent / "suppressions.log"
    first = _post(live, webhook_key, batch)
    assert first.status_code == 200 and first.text == "3 addresses suppressed\n", first.text
    before = live.snapshot(), log_file.read_bytes()
    again = _post(live, webhook_key, batch)
    assert again.status_code == 200 and again.text == "0 addresses suppressed\n", again.text
    assert (live.snapshot(), log_file.read_bytes()) == before
    assert [live.status(f"{name}@example.org") for name in names] == ["bounced", "complained", "unsubscribed"]
