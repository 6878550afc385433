"""Review h198: SendGrid's invalid emails list, and what SendGrid reports reaching the organiser."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.cli import main
from pipeline.state import Store
from tests.test_review_h152 import _come_back_through_serve, _sendgrid_project


def _store(config) -> Store:
    return Store(config.parent / "state" / "pipeline.sqlite")


# -- 1. SendGrid's invalid emails list and someone who comes back ---------------------------------------------------

def test_someone_on_sendgrids_invalid_emails_list_who_comes_back_gets_the_confirmation_and_the_issues(
        fake, write_project, monkeypatch):
    """Before: bob's address was once judged invalid by SendGrid (its mailbox did not exist then; SendGrid put it on
    its invalid emails list, and its webhook, "dropped: Invalid", marked him bounced here). He asked again through the
    form: the confirmation went past the bounce list and the global unsubscribes (bypass filters), but no bypass
    filter but bypass_list_management passes the invalid emails list, so SendGrid dropped it, and its webhook marked
    him bounced again; had he confirmed, `readmit` deleted him from the bounce list and the global unsubscribes only,
    so every issue was dropped too. Now the delivery deletes the address from the invalid emails list before it
    mails a confirmation, and `readmit` deletes it from that list too (404: not on it, fine)."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    fake.suppress("bob@example.org", "invalid_emails")
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: dropped", at=datetime.now(UTC),
                         detail="Invalid")
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    assert "bob@example.org" not in fake.dropped  # the confirmation reached him

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0

    assert not fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped
    assert fake.delivered()["bob@example.org"] == 3  # issue 1, the confirmation, issue 2
    deletes = [r.path for r in fake.log if r.method == "DELETE"]
    assert "/v3/suppression/invalid_emails/bob@example.org" in deletes


def test_a_failure_to_take_someone_off_the_invalid_emails_list_is_said_and_tried_again(fake, write_project,
                                                                                      monkeypatch, capsys):
    """As for the bounce list: SendGrid refusing the delete from its invalid emails list is said by the run, naming
    the address; he is left out of that send, and the next run asks again, then sends."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: dropped", at=datetime.now(UTC))
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    fake.suppress("bob@example.org", "invalid_emails")  # (listed again after his confirmation went out)
    real = fake._delete_suppression

    def refuse_invalid(entry, headers, raw, where):
        if where[0] == "invalid_emails":
            from tests.fake_sendgrid import _error
            return _error(403, "access forbidden")
        return real(entry, headers, raw, where)

    fake._delete_suppression = refuse_invalid
    capsys.readouterr()
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 1
    said = capsys.readouterr()
    line = [x for x in (said.out + said.err).splitlines() if "subscriber bob@example.org" in x]
    assert line and "invalid emails" in line[0], said
    assert fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped

    fake._delete_suppression = real
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org") and fake.delivered()["bob@example.org"] == 3


def test_a_confirmation_goes_even_when_sendgrid_will_not_take_its_address_off_the_invalid_emails_list(
        fake, write_project, monkeypatch, caplog):
    """The delete before a confirmation failing (a key without the Suppressions permission: 403) stops no one from
    joining: the confirmation still goes, and serve's log says so in one line, without the address."""
    import logging

    from tests.fake_sendgrid import _error

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\n")
    real = fake._delete_suppression
    fake._delete_suppression = lambda entry, headers, raw, where: _error(403, "access forbidden")
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.send"):
            _come_back_through_serve(fake, config, "dora@example.org")  # she joins: confirmation mailed, followed
    finally:
        fake._delete_suppression = real
    assert fake.delivered()["dora@example.org"] == 1
    said = [r.getMessage() for r in caplog.records if "invalid emails" in r.getMessage()]
    assert said and "403" in said[0] and "dora@example.org" not in said[0], said


# -- 2. What SendGrid reports reaches the organiser -----------------------------------------------------------------

READERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\ncy@example.org,Cy\ndan@example.org,Dan\n"


def _reporting_project(fake, write_project, monkeypatch):
    """Issue 1 sent through the SendGrid stand-in to ann, bob, cy and dan; alerts to the organiser; serve's webhook
    key in the environment (a P-256 key pair like SendGrid's): (config, the key's private half)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tests.newsletter_network import newsletter_toml
    from tests.test_review_h152 import IDN_POST, SENDGRID_SITE

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", base64.b64encode(public).decode("ascii"))
    config = write_project(SENDGRID_SITE + '[alerts]\nto = ["org@example.org"]\n' + newsletter_toml(
        delivery=f"""type = "sendgrid"
    host = "{fake.url}"
    scheduled = false
    max_retries = 1
    max_wait_seconds = 0"""), {"subscribers.csv": READERS,
                               "blog/2016-02-10.md": IDN_POST.format(title="February", day="2016-02-10", extra="")})
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    return config, key


def _webhook(config, key, events: list[dict]) -> None:
    """A real `pipeline serve` (started and stopped here) gets `events`, posted and signed as SendGrid does."""
    import base64
    import json
    import time

    import httpx
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from pipeline.config import load_project
    from tests.serve_fixtures import LiveServer

    live = LiveServer(load_project(config)).start()
    try:
        if events:
            body = json.dumps(events).encode()
            stamp = str(int(time.time()))
            signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            answer = httpx.post(live.url + "/webhooks/sendgrid", content=body, timeout=30, headers={
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"})
            assert answer.status_code == 200, answer.text
    finally:
        live.stop()


def _event(kind: str, email: str, **more) -> dict:
    return {"event": kind, "email": email, "timestamp": int(datetime.now(UTC).timestamp()), **more}


def _open_alerts(config) -> dict[str, str]:
    from pipeline.state import alerts

    store = _store(config)
    try:
        return {alert.key: alert.subject for alert in alerts.open_alerts(store)}
    finally:
        store.close()


def test_status_shows_who_left_by_bounce_spam_report_and_unsubscribe_and_when_sendgrid_last_reported(
        fake, write_project, monkeypatch, capsys):
    """Before: SendGrid's bounces and spam reports reached serve's webhook and changed statuses without a word:
    `pipeline status` said nothing of them, nor whether SendGrid's webhook was heard at all. Now it shows, since the
    latest issue went out and over the last 30 days, how many left by bounce, spam report and unsubscribe, and when
    the last event of SendGrid's arrived (--json too)."""
    import json

    config, key = _reporting_project(fake, write_project, monkeypatch)
    capsys.readouterr()
    assert main(["status", "--json", "-c", str(config)]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["provider"]["last_event"] is None
    assert before["provider"]["left_since_latest_issue"] == {"bounced": 0, "complained": 0, "unsubscribed": 0}

    _webhook(config, key, [_event("delivered", "ann@example.org"), _event("spamreport", "bob@example.org"),
                           _event("bounce", "cy@example.org", type="bounce", reason="550 no such user")])
    assert main(["status", "--json", "-c", str(config)]) == 0
    shown = json.loads(capsys.readouterr().out)["provider"]
    assert shown["left_since_latest_issue"] == {"bounced": 1, "complained": 1, "unsubscribed": 0}
    assert shown["left_last_30_days"] == {"bounced": 1, "complained": 1, "unsubscribed": 0}
    assert shown["last_event"] is not None and shown["spam_rate"] == 0.25  # one of the four issue 1 reached

    assert main(["status", "-c", str(config)]) == 0
    table = capsys.readouterr().out
    assert "1 bounced, 1 reported spam, 0 unsubscribed" in " ".join(table.split()), table
    assert "SendGrid's last event" in table


def test_a_spam_report_rate_of_the_latest_issue_above_the_threshold_is_an_alert_told_once(fake, write_project,
                                                                                       monkeypatch):
    """Before: spam reports changed statuses silently, whatever their rate. Now a run finding that more than 0.3% of
    those the latest issue reached (Gmail's limit for senders) reported it as spam opens an alert, told once."""
    config, key = _reporting_project(fake, write_project, monkeypatch)
    _webhook(config, key, [_event("spamreport", "bob@example.org")])
    assert "complaints:1" not in _open_alerts(config)

    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0

    assert "complaints:1" in _open_alerts(config), _open_alerts(config)
    told = [body for body in fake.accepted if "org@example.org" in str(body.get("personalizations"))]
    assert len(told) == 1 and "spam" in told[0]["subject"].lower()
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert len([body for body in fake.accepted if "org@example.org" in str(body.get("personalizations"))]) == 1


def test_an_issue_sent_a_day_ago_with_no_sendgrid_event_ever_heard_by_a_listening_serve_is_an_alert(
        fake, write_project, monkeypatch):
    """Before: a serve whose webhook SendGrid never reached (a wrong Post URL) went unnoticed for ever, every bounce
    and spam report lost. Now once an issue went out through SendGrid more than a day ago, while a serve listens (it
    started with a usable key) and no event of SendGrid's has ever arrived, a run opens an alert; the first event
    heard resolves it."""
    import sqlite3

    config, key = _reporting_project(fake, write_project, monkeypatch)
    _webhook(config, key, [])  # serve started with its key, and stopped: nothing reached it
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" not in _open_alerts(config)  # not a day yet

    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")  # the issue went out two days ago
    with db:  # and serve has listened since (review h199: one started later is given a day of its own)
        db.execute("UPDATE deliveries SET updated_at = datetime(updated_at, '-2 days') || '+00:00'")
        db.execute("UPDATE counters SET value = value - 2 * 86400 WHERE name = 'sendgrid webhook: listening'")
    db.close()
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" in _open_alerts(config), _open_alerts(config)

    _webhook(config, key, [_event("delivered", "ann@example.org")])
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" not in _open_alerts(config)
