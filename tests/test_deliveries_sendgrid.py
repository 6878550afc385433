"""The sendgrid delivery's requests against a fake SendGrid v3 API on loopback (tests/fake_sendgrid.py).

What happens under faults, kills and re-runs is in test_exactly_once.py.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.errors import ConfigError
from pipeline.mail.message import TOKEN_TAG, Recipient
from pipeline.run_context import RunContext
from pipeline.state import Store
from plugins.deliveries.sendgrid import refused_recipients, retry_delay
from plugins.sinks.email.render import RenderedEdition
from tests.mail_fixtures import mailing_for

RENDERED = RenderedEdition("Test Network: issue 4, March 2016",
                           f'<html><body><p>Hello</p><a href="https://network.example.org/unsubscribe/{TOKEN_TAG}">Leave</a>'
                           f'</body></html>', f"Hello in plain text\nLeave: https://network.example.org/unsubscribe/{TOKEN_TAG}\n")
MOMENT = datetime(2016, 3, 1, tzinfo=UTC)


def toml(host: str, extra: str = "") -> str:
    return f"""
    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"
    from_email = "news@network.example.org"
    reply_to = "editor@network.example.org"
    delivery = {{ type = "sendgrid", host = "{host}", max_retries = 2, max_wait_seconds = 0 {extra} }}
    """


@pytest.fixture
def sendgrid(fake, project_from, tmp_path):
    """sendgrid(extra_settings="") -> the project's sendgrid delivery, pointed at the fake."""
    stores = []

    def make(extra: str = ""):
        project = project_from(toml(fake.url, extra), files={"subscribers.csv": "email,name\n"})
        stores.append(RunContext(project, Store(tmp_path / "s.sqlite"), date(2016, 3, 1), MOMENT))
        return project.sinks[0].deliverer

    yield make
    for run in stores:
        run.store.close()


def recipients(count: int) -> list[Recipient]:
    return [Recipient(f"reader{n}@example.org", f"Reader {n}", f"t{n}") for n in range(count)]


def mailing(subject: str = RENDERED.subject, **fields):
    rendered = RenderedEdition(subject, RENDERED.html, RENDERED.text)
    return mailing_for(rendered, 4, MOMENT, list_id="Test Network <newsletter.network.example.org>",
                       reply_to="editor@network.example.org",
                       unsubscribe_base="https://network.example.org/unsubscribe/", **fields)


def deliver(delivery, people, **fields):
    batch = delivery.open_batch(4)
    return batch, delivery.deliver(mailing(**fields), people, batch, None)


def test_one_scheduled_request_holds_one_personalization_per_recipient_with_their_own_links(fake, sendgrid):
    delivery = sendgrid()
    before = datetime.now(UTC)

    batch, results = deliver(delivery, recipients(3))

    assert [(d.recipient, d.ok) for d in results] == [(f"reader{n}@example.org", True) for n in range(3)]
    assert {d.reference for d in results} == {fake.message_ids[0]}
    [body] = fake.accepted
    assert body["batch_id"] == batch.id and batch.id in fake.batches
    assert timedelta(minutes=29) < datetime.fromtimestamp(body["send_at"], UTC) - before <= timedelta(minutes=31)
    assert body["personalizations"][1] == {
        "to": [{"email": "reader1@example.org", "name": "Reader 1"}],
        "headers": {"List-Unsubscribe": "<https://network.example.org/unsubscribe/t1>, "
                                         "<mailto:news@network.example.org?subject=unsubscribe>"},
        "substitutions": {"%token%": "t1"}}
    assert body["from"] == {"email": "news@network.example.org", "name": "Test Network"}
    assert body["reply_to"] == {"email": "editor@network.example.org"}
    assert body["subject"] == RENDERED.subject
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert [c["value"] for c in body["content"]] == [RENDERED.text, RENDERED.html]
    assert body["headers"] == {"List-Id": "Test Network <newsletter.network.example.org>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "X-Newsletter-Edition": "4"}
    assert body["custom_args"] == {"edition": "4"}


def test_a_name_with_a_comma_or_a_semicolon_is_left_out_so_sendgrid_does_not_drop_the_mail(fake, sendgrid):
    """SendGrid reads a `to.name` holding "," or ";" as addresses, accepts the request and drops that mail as invalid
    (its documented limit; the stand-in does the same): such a name is left out, and everyone gets the issue."""
    people = [Recipient("ann@example.org", "Smith, Ann", "ta"), Recipient("bo@example.org", "Bo; Team", "tb"),
              Recipient("cy@example.org", "Cy Jones", "tc")]

    _, results = deliver(sendgrid(), people)
    fake.advance(31 * 60)

    assert all(d.ok for d in results)
    [body] = fake.accepted
    assert [p["to"][0] for p in body["personalizations"]] == [
        {"email": "ann@example.org"}, {"email": "bo@example.org"}, {"email": "cy@example.org", "name": "Cy Jones"}]
    assert fake.dropped == [] and fake.delivered(pending=False) == {a: 1 for a in (
        "ann@example.org", "bo@example.org", "cy@example.org")}


def test_an_address_sendgrid_cannot_send_to_fails_alone_and_a_domain_outside_ascii_goes_in_its_idna_form(
        fake, sendgrid):
    people = [*recipients(2), Recipient("jörg@example.org", "Jörg", "tj"), Recipient("ann@bücher.de", "Ann", "ta"),
              Recipient("bo@straße.de", "Bo", "tb")]

    _, results = deliver(sendgrid(), people)

    outcome = {d.recipient: (d.ok, d.certain, d.error) for d in results}
    assert outcome["jörg@example.org"][:2] == (False, True) and "ASCII before the @" in outcome["jörg@example.org"][2]
    assert all(outcome[a][0] for a in ("reader0@example.org", "reader1@example.org", "ann@bücher.de", "bo@straße.de"))
    [body] = fake.accepted  # the rest went, in one request
    # IDNA 2008: straße.de is its own domain, not IDNA 2003's strasse.de (someone else's)
    assert [p["to"][0]["email"] for p in body["personalizations"]] == [
        "reader0@example.org", "reader1@example.org", "ann@xn--bcher-kva.de", "bo@xn--strae-oqa.de"]


def test_a_batch_of_only_addresses_sendgrid_cannot_send_to_makes_no_request(fake, sendgrid):
    _, results = deliver(sendgrid(), [Recipient("jörg@example.org", "", "tj")])

    assert [(d.ok, d.certain) for d in results] == [(False, True)] and not fake.accepted


def test_an_address_whose_domain_idna_refuses_fails_alone_saying_so(fake, sendgrid):
    """A row the upgrade left as it was (a direction mark in its domain) is still mailed: the organiser must be told
    the domain is the trouble, not sent asking for an address without characters outside ASCII before the @."""
    _, results = deliver(sendgrid(), [Recipient("dee@exa\u202emple.org", "", "td"), *recipients(1)])

    [dee] = [d for d in results if d.recipient == "dee@exa\u202emple.org"]
    assert (dee.ok, dee.certain) == (False, True) and "before the @" not in dee.error
    assert "its domain" in dee.error and "pipeline subscribers remove" in dee.error
    assert [p["to"][0]["email"] for b in fake.accepted for p in b["personalizations"]] == ["reader0@example.org"]


def test_a_journal_batch_is_sent_as_several_requests_of_at_most_batch_size(fake, sendgrid):
    delivery = sendgrid(", batch_size = 400, requests_per_batch = 3")
    assert delivery.batch_size == 1200

    _, results = deliver(delivery, recipients(1001))

    assert all(d.ok for d in results) and len(results) == 1001
    assert sorted(len(b["personalizations"]) for b in fake.accepted) == [201, 400, 400]
    assert len({b["batch_id"] for b in fake.accepted}) == 1
    assert sum(fake.delivered().values()) == 1001


def test_scheduled_false_sends_at_once_without_a_batch(fake, sendgrid):
    _, results = deliver(sendgrid(", scheduled = false"), recipients(2))

    assert all(d.ok for d in results)
    [body] = fake.accepted
    assert "batch_id" not in body and "send_at" not in body and not fake.batches


def test_rate_limit_is_waited_out_then_retried(fake, sendgrid):
    delivery = sendgrid()
    fake.fail_next(429)

    _, results = deliver(delivery, recipients(2))

    assert fake.statuses[-2:] == [429, 202]
    assert all(d.ok and d.certain for d in results)


def test_a_rate_limit_is_waited_out_by_sendgrids_clock_not_a_skewed_local_one(fake, project_from, tmp_path):
    import time

    project = project_from(toml(fake.url).replace("max_wait_seconds = 0", "max_wait_seconds = 3"),
                           files={"subscribers.csv": "email,name\n"})
    delivery = project.sinks[0].deliverer
    fake.advance(3600)  # SendGrid's clock an hour ahead of ours: its reset is "now" for it, an hour away for us
    fake.fail_next(429)

    started = time.monotonic()
    _, results = deliver(delivery, recipients(2))

    assert fake.statuses[-2:] == [429, 202] and all(d.ok for d in results)
    assert time.monotonic() - started < 1.5  # not the 3 s cap


def test_a_server_error_is_not_retried_blindly_but_left_in_doubt(fake, sendgrid):
    delivery = sendgrid()
    fake.fail_after(500)

    _, results = deliver(delivery, recipients(2))

    assert fake.statuses[-1] == 500 and len(fake.accepted) == 1  # SendGrid took it, then failed to say so
    assert not any(d.ok or d.certain for d in results)
    assert "SendGrid answered 500" in results[0].error


def test_a_refused_connection_is_certain_and_retried(fake, sendgrid, tmp_path):
    import socket
    with socket.socket() as unused:  # bound, not listening: refused, and no other test process can take the port
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        delivery = sendgrid()
        batch = delivery.open_batch(4)
        delivery.client = type(delivery.client)(api_key=fake.api_key, host=f"http://127.0.0.1:{port}")

        results = delivery.deliver(mailing(), recipients(1), batch, None)

    assert not results[0].ok and results[0].certain
    assert "gave up after 3 attempts" in results[0].error


def test_a_names_encoded_word_cannot_add_a_recipient_or_header(fake, sendgrid):
    evil = Recipient("fay@example.org", "=?UTF-8?Q?Fay=0D=0ABcc:_evil@example.com?=")

    deliver(sendgrid(), [evil], subject="Issue =?UTF-8?Q?4=0D=0ABcc:_evil@example.com?=")

    [body] = fake.accepted
    assert body["personalizations"][0]["to"] == [{"email": "fay@example.org", "name": "Fay Bcc: evil@example.com"}]
    assert "\r" not in body["subject"] and "\n" not in body["subject"] and "=?" not in body["subject"]
    assert fake.delivered() == {"fay@example.org": 1}


def test_bad_key_fails_with_a_clear_reason(fake, sendgrid):
    delivery = sendgrid()
    batch = delivery.open_batch(4)
    fake.api_key = "SG.another-key"

    results = delivery.deliver(mailing(), recipients(2), batch, None)

    assert fake.statuses[-1:] == [401]  # never retried
    assert not any(d.ok for d in results)
    assert results[0].error.startswith("SendGrid answered 401: The provided authorization grant is invalid")
    assert "SENDGRID_API_KEY" in results[0].error


def test_validation_error_surfaces_sendgrids_message(fake, sendgrid):
    _, [result] = deliver(sendgrid(), recipients(1), subject="")

    assert fake.statuses[-1:] == [400] and not result.ok and result.certain
    assert result.error.startswith("SendGrid answered 400: The subject is required.")


def test_a_400_naming_recipients_fails_them_alone_and_sends_the_rest_once(fake, sendgrid):
    people = recipients(5)
    fake.refuse_addresses("reader1@example.org", "reader3@example.org")

    batch, results = deliver(sendgrid(), people)

    assert [(d.recipient, d.ok, d.certain) for d in results] == [
        ("reader1@example.org", False, True), ("reader3@example.org", False, True),
        ("reader0@example.org", True, True), ("reader2@example.org", True, True), ("reader4@example.org", True, True)]
    assert results[0].error == ("SendGrid refused this address (the others were sent without it): "
                                "Does not contain a valid address.")
    assert fake.statuses[-2:] == [400, 202]  # one request refused whole, then one without them
    [body] = fake.accepted
    assert body["batch_id"] == batch.id and len(body["personalizations"]) == 3
    assert fake.delivered() == {f"reader{n}@example.org": 1 for n in (0, 2, 4)}


def test_a_400_about_the_request_as_a_whole_still_fails_everyone_in_it(fake, sendgrid):
    fake.refuse_addresses("reader1@example.org")

    _, results = deliver(sendgrid(), recipients(3), subject="")  # the subject too: nobody can be sent it

    assert not any(d.ok for d in results) and fake.statuses[-1:] == [400] and not fake.accepted
    assert all(d.error.startswith("SendGrid answered 400:") for d in results)


def test_an_address_sendgrid_judges_invalid_is_a_hard_bounce_and_another_reason_for_one_recipient_is_not(
        fake, sendgrid):
    fake.refuse_addresses("reader1@example.org")
    people = [*recipients(3), Recipient("reader0@example.org", "Reader 0 again", "t9")]  # the same address twice

    _, results = deliver(sendgrid(), people)

    refused = {d.recipient: d for d in results if not d.ok}
    assert sorted(refused) == ["reader0@example.org", "reader1@example.org"]
    assert refused["reader1@example.org"].bounced and refused["reader1@example.org"].certain
    assert refused["reader1@example.org"].error.endswith(": Does not contain a valid address.")
    assert not refused["reader0@example.org"].bounced and "should be unique" in refused["reader0@example.org"].error
    assert fake.delivered() == {"reader0@example.org": 1, "reader2@example.org": 1}


@pytest.mark.parametrize(("field", "message", "invalid"), [
    ("personalizations.0.to.0.email", "Does not contain a valid address.", True),
    ("personalizations.0.to.0.email", "The to email does not contain a valid address.", True),
    ("personalizations.0.to.0.email", "The to email parameter is required.", False),  # nothing was there to judge
    ("personalizations.0.to.0.email", "Invalid type. Expected: string, given: array.", False),  # our request's
    ("personalizations.0.to", "Each email address in the personalization block should be unique between to, cc, "
                              "and bcc.", False),
    ("personalizations.0.send_at", "Does not contain a valid address.", False),  # not about the address
])
def test_which_refusals_naming_one_recipient_say_its_address_is_invalid(field, message, invalid):
    body = json.dumps({"errors": [{"message": message, "field": field, "help": None}]}).encode()

    assert refused_recipients(body, 2) == {0: (message, invalid)}


def sendgrid_project(fake, write_project, readers: tuple[str, ...]):
    """A post and these readers, sent through `fake` (tests/newsletter_network.py)."""
    from pipeline.config import load_project
    from tests.newsletter_network import POST, project_toml

    return load_project(write_project(project_toml(fake.url), {
        "subscribers.csv": "email,name\n" + "".join(f"{e},{e[:3]}\n" for e in readers), "blog/post.md": POST}))


def subscriber_statuses(project, emails) -> dict[str, str]:
    from pipeline.state import subscribers

    store = Store(project.core.state_dir / "pipeline.sqlite")
    try:
        return {e: subscribers.find_subscriber(store, e).status for e in emails}
    finally:
        store.close()


def test_an_address_sendgrid_judges_invalid_is_marked_bounced_and_never_sent_to_again(fake, write_project):
    from pipeline.runner import run

    readers = ("ann@example.org", "bob@example.org", "cy@example.org")
    project = sendgrid_project(fake, write_project, readers)
    fake.refuse_addresses("bob@example.org")

    first = run(project, as_of=date(2016, 3, 1))
    second = run(project, as_of=date(2016, 3, 1))

    assert first.exit_code == 3 and not first.failed("sink"), first.failed("sink")  # said, not a failed send
    [line] = [p for p in first.problems if "bob@example.org" in p]
    assert "bob@example.org bounced" in line and "Does not contain a valid address." in line
    assert subscriber_statuses(project, readers) == {"ann@example.org": "active", "bob@example.org": "bounced",
                                                     "cy@example.org": "active"}
    assert second.exit_code == 0
    assert [tuple(sorted(r.recipients)) for r in fake.log if r.path == "/v3/mail/send"] == [  # sent by id: at random
        ("ann@example.org", "bob@example.org", "cy@example.org"), ("ann@example.org", "cy@example.org")]


def test_sendgrid_refusing_most_addresses_as_invalid_bounces_none_of_them(fake, write_project):
    from pipeline.runner import run

    refused = ("bob@example.org", "cy@example.org", "di@example.org")
    project = sendgrid_project(fake, write_project, ("ann@example.org", *refused))
    fake.refuse_addresses(*refused)

    first = run(project, as_of=date(2016, 3, 1))

    assert first.exit_code == 1 and not any("bounced via" in p for p in first.problems)
    assert "not marked bounced: 3 of the 4 addresses" in first.failed("sink")[0].summary
    assert set(subscriber_statuses(project, refused).values()) == {"active"}  # the next run tries them again


def test_too_large_request_says_to_lower_batch_size(fake, sendgrid):
    fake.max_body_bytes = 200

    _, results = deliver(sendgrid(), recipients(5))

    assert fake.statuses[-1:] == [413] and not any(d.ok for d in results)
    assert "too large" in results[0].error and "batch_size" in results[0].error


def test_missing_api_key_is_a_config_error_at_load(fake, project_from, monkeypatch):
    monkeypatch.delenv("SENDGRID_API_KEY")

    with pytest.raises(ConfigError) as caught:
        project_from(toml(fake.url), files={"subscribers.csv": "email,name\n"})

    message = str(caught.value)
    assert "pipeline.toml" in message and "SENDGRID_API_KEY is not set" in message
    assert 'type = "outbox"' in message and "\n" not in message


@pytest.mark.parametrize("key", ["SG.abc123.secret-part\nX-Other: 1", "SG.abc123\rsecret-part",
                                 "SG.abc123 secret-part"])
def test_a_key_that_cannot_go_in_a_header_is_refused_at_load_without_being_repeated(fake, project_from, monkeypatch,
                                                                                      key):
    # http.client refuses it on every request with "Invalid header value b'Bearer <the key>'", which went
    # into the journal, the run report and the organisers' alert.
    monkeypatch.setenv("SENDGRID_API_KEY", key)

    with pytest.raises(ConfigError) as caught:
        project_from(toml(fake.url), files={"subscribers.csv": "email,name\n"})

    message = str(caught.value)
    assert "SENDGRID_API_KEY" in message and "abc123" not in message and "secret-part" not in message


@pytest.mark.parametrize("value", ["SG.abc123.secret-key", "my key", "1PASSWORD"])
def test_a_key_pasted_as_api_key_env_is_refused_without_being_repeated(fake, project_from, value):
    with pytest.raises(ConfigError) as caught:
        project_from(toml(fake.url, f', api_key_env = "{value}"'), files={"subscribers.csv": "email,name\n"})

    message = str(caught.value)
    assert "api_key_env: must be the name of an environment variable" in message and "not the secret itself" in message
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
    # Reckoned from SendGrid's Date, whatever the local clock (`now`, 1000) says:
    ({"X-RateLimit-Reset": "5005", "Date": "Thu, 01 Jan 1970 01:23:20 GMT"}, 0, 60.0, 5.0),  # ours an hour behind
    ({"X-RateLimit-Reset": "-2595", "Date": "Wed, 31 Dec 1969 23:16:40 GMT"}, 0, 60.0, 5.0),  # ours an hour ahead
    ({"X-RateLimit-Reset": "5005", "Date": "not a date"}, 0, 60.0, 60.0),  # no Date: the local clock, bounded
])
def test_retry_delay(headers, attempt, cap, expected):
    assert retry_delay(headers, attempt, now=1000.0, cap=cap) == expected


def test_a_batch_a_killed_run_cancelled_is_sent_again_though_settled_after_the_cutoff(fake, sendgrid):
    """The run that was killed cancelled its batch in time and died before journalling it; the next run settles it
    after the cancel cutoff (by its own clock): SendGrid, asked, says it holds the cancel, so nothing of the batch
    will go out, and its recipients are sent again, not left unknown."""
    from pipeline.components import Delivery, Resolution

    people = recipients(3)
    batch, _ = deliver(sendgrid(), people)
    assert sendgrid()._cancel(batch.id) is True  # what the killed run did
    later = sendgrid()  # the next run's delivery, in a new process
    later.clock = lambda: datetime.now(UTC) + timedelta(minutes=25)  # 5 minutes before send_at: too late to cancel
    known = [Delivery(r.email, False, error="the run stopped", certain=False) for r in people]

    assert later.resolve(batch, known) == {r.email: Resolution.NOT_SENT for r in people}
    assert fake.delivered() == {}  # SendGrid discards it at send_at
