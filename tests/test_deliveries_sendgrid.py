"""The sendgrid delivery against a fake SendGrid v3 API on loopback (tests/fake_sendgrid.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fake_sendgrid import FakeSendGrid

from pipeline.edition import Edition
from pipeline.errors import ConfigError
from pipeline.run_context import RunContext
from pipeline.state import Store
from plugins.deliveries.sendgrid import retry_delay
from plugins.sinks.email.message import Envelope, MessageFactory, address
from plugins.sinks.email.render import RenderedEdition
from plugins.sinks.email.subscribers import Subscriber

RENDERED = RenderedEdition("Test Network: issue 4, March 2016", "<html><body><p>Hello</p></body></html>",
                           "Hello in plain text\n")
MOMENT = datetime(2016, 3, 1, tzinfo=UTC)


def toml(host: str, extra: str = "") -> str:
    return f"""
    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"
    from_email = "news@network.example.org"
    reply_to = "editor@network.example.org"
    unsubscribe = "https://network.example.org/unsubscribe"
    delivery = {{ type = "sendgrid", host = "{host}", max_retries = 2, max_wait_seconds = 0 {extra} }}
    """


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # urllib must not send loopback traffic to a proxy
    server = FakeSendGrid(api_key="SG.test-key").start()
    monkeypatch.setenv("SENDGRID_API_KEY", server.api_key)
    yield server
    server.stop()


@pytest.fixture
def deliver(fake, project_from, tmp_path):
    """deliver(messages) -> deliveries, through a project's sendgrid delivery pointed at the fake."""
    project = project_from(toml(fake.url), files={"subscribers.csv": "email,name\n"})
    run = RunContext(project, Store(tmp_path / "s.sqlite"), date(2016, 3, 1), MOMENT)
    yield lambda messages: project.sinks[0].deliverer.send(messages, run)
    run.store.close()


def messages(count: int, rendered: RenderedEdition = RENDERED):
    envelope = Envelope(4, address("news@network.example.org", "Test Network"), "editor@network.example.org",
                        "https://network.example.org/unsubscribe", MOMENT)
    factory = MessageFactory(rendered, envelope)
    return [factory.message_for(Subscriber(f"reader{n}@example.org", f"Reader {n}")) for n in range(count)]


def test_sends_one_personalization_per_recipient_with_text_before_html(fake, deliver):
    results = deliver(messages(3))

    assert [(d.recipient, d.ok) for d in results] == [(f"reader{n}@example.org", True) for n in range(3)]
    assert {d.reference for d in results} == {fake.message_ids[0]}
    [body] = fake.accepted
    assert body["personalizations"] == [{"to": [{"email": f"reader{n}@example.org", "name": f"Reader {n}"}]}
                                        for n in range(3)]
    assert body["from"] == {"email": "news@network.example.org", "name": "Test Network"}
    assert body["reply_to"] == {"email": "editor@network.example.org"}
    assert body["subject"] == RENDERED.subject
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert [c["value"].rstrip("\n") for c in body["content"]] == [RENDERED.text.rstrip("\n"), RENDERED.html]
    assert body["headers"]["List-Unsubscribe"] == "<https://network.example.org/unsubscribe>"
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["custom_args"] == {"edition": "4"}


def test_more_than_1000_recipients_go_in_two_requests(fake, deliver):
    results = deliver(messages(1001))

    assert all(d.ok for d in results) and len(results) == 1001
    assert [len(b["personalizations"]) for b in fake.accepted] == [1000, 1]


def test_the_email_sink_hands_over_whole_batches_of_1000(fake, project_from, tmp_path):
    subscribers = "email,name\n" + "".join(f"reader{n}@example.org,Reader {n}\n" for n in range(1001))
    project = project_from(toml(fake.url), files={"subscribers.csv": subscribers})
    store = Store(tmp_path / "s.sqlite")
    start = datetime(2016, 2, 1, tzinfo=UTC)
    record = store.create_edition(date(2016, 3, 1), start, MOMENT, lambda n: "Issue 1", [], MOMENT)

    result = project.sinks[0].write(Edition(record.number, date(2016, 3, 1), start, MOMENT, "Issue 1", []),
                                    RunContext(project, store, date(2016, 3, 1), MOMENT))

    assert [len(b["personalizations"]) for b in fake.accepted] == [1000, 1]  # batch_size is reached
    assert result.summary.startswith("issue 1: 1001 sent via sendgrid") and len(store.delivered_to(1)) == 1001
    store.close()


def test_rate_limit_is_waited_out_then_retried(fake, deliver):
    fake.fail_next(429)

    results = deliver(messages(2))

    assert fake.statuses == [429, 202]
    assert all(d.ok for d in results)


def test_server_errors_are_retried(fake, deliver):
    fake.fail_next(500, times=2)

    results = deliver(messages(2))

    assert fake.statuses == [500, 500, 202]
    assert all(d.ok for d in results)


def test_server_errors_beyond_max_retries_fail_the_batch(fake, deliver):
    fake.fail_next(500, times=3)

    results = deliver(messages(2))

    assert fake.statuses == [500, 500, 500]
    assert not any(d.ok for d in results)
    assert "SendGrid answered 500: Internal server error" in results[0].error
    assert "gave up after 3 attempts" in results[0].error


def test_bad_key_fails_with_a_clear_reason(fake, deliver, monkeypatch):
    fake.api_key = "SG.another-key"

    results = deliver(messages(2))

    assert fake.statuses == [401]  # never retried
    assert not any(d.ok for d in results)
    assert results[0].error.startswith("SendGrid answered 401: The provided authorization grant is invalid")
    assert "SENDGRID_API_KEY" in results[0].error


def test_validation_error_surfaces_sendgrids_message(fake, deliver):
    [message] = messages(1)
    del message["Subject"]

    [result] = deliver([message])

    assert fake.statuses == [400] and not result.ok
    assert result.error.startswith("SendGrid answered 400: The subject is required.")


def test_too_large_request_says_to_lower_batch_size(fake, deliver):
    fake.max_body_bytes = 200

    results = deliver(messages(5))

    assert fake.statuses == [413] and not any(d.ok for d in results)
    assert "too large" in results[0].error and "batch_size" in results[0].error


def test_missing_api_key_is_a_config_error_at_load(fake, project_from, monkeypatch):
    monkeypatch.delenv("SENDGRID_API_KEY")

    with pytest.raises(ConfigError) as caught:
        project_from(toml(fake.url), files={"subscribers.csv": "email,name\n"})

    message = str(caught.value)
    assert "pipeline.toml" in message and "SENDGRID_API_KEY is not set" in message
    assert 'type = "outbox"' in message and "\n" not in message


@pytest.mark.parametrize("value", ["SG.abc123.secret-key", "my key", "1PASSWORD"])
def test_a_key_pasted_as_api_key_env_is_refused_without_being_repeated(fake, project_from, value):
    with pytest.raises(ConfigError) as caught:
        project_from(toml(fake.url, f', api_key_env = "{value}"'), files={"subscribers.csv": "email,name\n"})

    message = str(caught.value)
    assert "api_key_env: must be the name of an environment variable" in message and "not the key itself" in message
    assert value not in message and "abc123" not in message


def test_batch_size_above_sendgrids_limit_is_rejected(fake, project_from):
    with pytest.raises(ConfigError, match=r"\[sinks.newsletter.delivery\].*batch_size"):
        project_from(toml(fake.url, ", batch_size = 5000"), files={"subscribers.csv": "email,name\n"})


@pytest.mark.parametrize(("headers", "attempt", "cap", "expected"), [
    ({"X-RateLimit-Reset": "1005"}, 0, 60.0, 5.0),  # until the reset time
    ({"X-RateLimit-Reset": "1500"}, 0, 60.0, 60.0),  # but never above the cap
    ({"X-RateLimit-Reset": "900"}, 0, 60.0, 0.0),  # already past
    ({}, 0, 60.0, 1.0),  # backoff for 5xx: 1, 2, 4 ...
    ({}, 2, 60.0, 4.0),
    ({}, 8, 60.0, 60.0),
])
def test_retry_delay(headers, attempt, cap, expected):
    assert retry_delay(headers, attempt, now=1000.0, cap=cap) == expected
