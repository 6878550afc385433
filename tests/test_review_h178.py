"""Review h178: `pipeline serve` as a hostile client sees it, each finding against the real server on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.serve_fixtures import LiveServer, ServeProcess, live_serve_project, serve_project


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "h178") as server:
        yield server


@pytest.fixture
def store(live) -> Iterator[Store]:
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    yield store
    store.close()


def _multipart(fields: list[tuple[str, bytes]], charset: str) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of `fields`, its Content-Type naming `charset` (which Starlette decodes them with)."""
    parts = [b'--B0undary\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value + b"\r\n"
             for name, value in fields]
    return b"".join(parts) + b"--B0undary--\r\n", {
        "Content-Type": f"multipart/form-data; boundary=B0undary; charset={charset}"}


def _h1(response: httpx.Response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.text).group(1)


def test_a_form_in_a_charset_that_cannot_be_read_is_refused_with_400_not_an_error(live, store, caplog):
    # A multipart form may name any of Python's codecs as its charset, and Starlette decodes each field with it:
    # `undefined` raises UnicodeError (which Starlette lets through), `utf-7` and `unicode_escape` give lone
    # surrogates, which neither the page nor the database can hold. Each was a 500, an error logged with its
    # traceback, from any client, as often as it liked.
    caplog.set_level(logging.ERROR, logger="pipeline.web")
    http = httpx.Client(base_url=live.url, timeout=10)
    page = http.get("/subscribe")
    token = re.search(r'name="form" value="([^"]+)"', page.text).group(1).encode()
    member = subs.add(store, "stays-h178@example.org", "", [], how="cli", at=datetime.now(UTC))
    links = live.app.state.web.links
    unsubscribe = f"/unsubscribe/{links.tokens.make('unsubscribe', member.id)}"
    preferences = f"/preferences/{links.tokens.make('preferences', member.id)}"
    posts = [
        ("/subscribe", [("form", token), ("email", b"new-h178@example.org")], "undefined"),
        ("/subscribe", [("form", b"+2AA-"), ("email", b"new-h178@example.org")], "utf-7"),  # the token
        ("/subscribe", [("form", token), ("email", b"new+2AA-h178@example.org")], "utf-7"),  # shown back
        ("/subscribe", [("form", token), ("email", b"new\\udc80h178@example.org")], "unicode_escape"),
        (unsubscribe, [("List-Unsubscribe", b"One-Click")], "undefined"),
        (preferences, [("action", b"leave")], "undefined"),
    ]
    before = live.snapshot()
    for path, fields, charset in posts:
        body, headers = _multipart(fields, charset)
        answer = http.post(path, content=body, headers=headers)
        assert answer.status_code == 400, (path, fields, charset)
        assert answer.headers["content-type"].startswith("text/html")
        assert _h1(answer) == "This link or form is not valid"
        assert "could not be read" in answer.text
    live.settled()
    assert live.snapshot() == before and live.status("stays-h178@example.org") == "active"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # the same form in UTF-8 still works
    body, headers = _multipart([("form", token), ("email", b"new-h178@example.org")], "utf-8")
    assert http.post("/subscribe", content=body, headers=headers).status_code == 200
    assert live.status("new-h178@example.org") == "pending"


def test_a_confirm_button_pressed_twice_at_once_says_subscribed_to_each_press(live, store):
    # A double click sends the confirm link's POST twice. The second read the subscriber (pending) before the first
    # had confirmed, was then refused by `confirm` (no longer pending) and answered 410, "this confirmation link is
    # no longer valid ... or the address has left since": the page the person sees, though they are subscribed.
    asked = subs.request_subscription(store, "twice-h178@example.org", "", ["research"], how="form",
                                      at=datetime.now(UTC))
    url = live.url + "/confirm/" + live.app.state.web.links.tokens.make("confirm", asked.subscriber.id, asked.id)
    presses = 6
    together = threading.Barrier(presses)

    def press(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            assert http.get(url).status_code == 200  # the page with the button, on a connection of its own
            together.wait()
            return http.post(url)

    with ThreadPoolExecutor(presses) as pool:
        answers = list(pool.map(press, range(presses)))
    assert [(a.status_code, _h1(a)) for a in answers] == [(200, "You are subscribed")] * presses
    assert live.status("twice-h178@example.org") == "active"
    assert [e.how for e in subs.history(store, asked.subscriber.id)] == ["form", "confirmation"]  # confirmed once


def test_a_webhook_key_that_can_never_verify_is_logged_once_not_for_every_post(live, monkeypatch, caplog):
    # Such a key (here P-384: SendGrid signs with P-256 only) was logged as an error for every post to the webhook,
    # unsigned ones from anyone included: a script could fill the log with it. Said once, as the refusals are.
    key = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(Encoding.DER,
                                                                           PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv("TEST_SENDGRID_WEBHOOK_KEY", base64.b64encode(key).decode("ascii"))
    caplog.set_level(logging.ERROR, logger="pipeline.web")
    for _ in range(5):
        assert httpx.post(live.url + "/webhooks/sendgrid", content=b"[]", timeout=10).status_code == 503
    said = [r.getMessage() for r in caplog.records if "TEST_SENDGRID_WEBHOOK_KEY" in r.getMessage()]
    assert len(said) == 1 and "P-256" in said[0]


def test_malformed_form_posts_are_said_once_in_serves_log_not_one_line_each(tmp_path):
    # python-multipart warns of every body it cannot parse ("Expected boundary character 66, got 88 at index 4"),
    # and `serve` printed each such warning: any client could fill its log, one line per post, as uvicorn's own
    # warning of each bad request once could. Now said as those are: the first, then at most once an hour.
    project = serve_project(tmp_path / "project")
    env = {key: value for key, value in os.environ.items() if key != "TEST_SERVE_SECRET"}
    with ServeProcess(project.config_path, env=env) as serving:
        for _ in range(4):
            answer = httpx.post(f"{serving.url}/subscribe", content=b"--X\r\nnot the boundary",
                                headers={"Content-Type": "multipart/form-data; boundary=B"}, timeout=10)
            assert answer.status_code == 400
        assert httpx.get(f"{serving.url}/subscribe", timeout=10).status_code == 200
        log = serving.stop()
    lines = [line for line in log.splitlines() if "boundary" in line]
    assert len(lines) == 1, log
    assert "could not be parsed" in lines[0] and "at most once every 60 minutes" in lines[0], lines[0]


def _signed(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: int) -> dict[str, str]:
    signature = key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp), "Content-Type": "application/json"}


def test_only_a_request_sendgrid_signed_is_said_to_be_out_of_time_and_anyones_cannot_hide_one(live, monkeypatch,
                                                                                            caplog):
    # The signing time was judged before the signature: anyone posting any signature with an old time had the log
    # say "a SendGrid webhook request was signed at ... a replay, or this machine's clock is off", and, said once
    # until a request verifies, that line was then not said for SendGrid's own requests refused when this clock
    # really went off: a stranger's post kept the organiser from hearing that every event was being refused.
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv("TEST_SENDGRID_WEBHOOK_KEY", base64.b64encode(public).decode("ascii"))
    post = functools.partial(httpx.post, live.url + "/webhooks/sendgrid", timeout=10)
    now = int(time.time())
    assert post(content=b"[]", headers=_signed(key, b"[]", now)).status_code == 200  # one verifies: all said anew
    caplog.set_level(logging.WARNING, logger="pipeline.web")
    forged = _signed(ec.generate_private_key(ec.SECP256R1()), b"[]", now - 3600)  # not SendGrid's key
    assert post(content=b"[]", headers=forged).status_code == 403
    assert not [r for r in caplog.records if "clock" in r.getMessage()]  # nothing says SendGrid signed it
    late = post(content=b"[]", headers=_signed(key, b"[]", now - 3600))  # SendGrid's, an hour off this clock
    assert late.status_code == 403
    said = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert len(said) == 1 and "more than 5 minutes from this server's clock" in said[0], said


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", None])
def test_one_click_takes_its_body_whatever_content_type_it_came_with(live, store, content_type):
    # RFC 8058 3.2: the client "sends the key/value pair in the List-Unsubscribe-Post header as the request body",
    # which SHOULD be multipart and MAY be url-encoded. A client that posts the pair as it is (JavaScript's
    # fetch(url, {method: "POST", body: "List-Unsubscribe=One-Click"}) sends it as text/plain) was answered 400, and
    # its user stayed on the list. The body still has to be that pair: nothing else unsubscribes.
    member = subs.add(store, f"plain-{bool(content_type)}-h178@example.org", "", [], how="cli", at=datetime.now(UTC))
    url = f"{live.url}/unsubscribe/{live.app.state.web.links.tokens.make('unsubscribe', member.id)}"
    headers = {"Content-Type": content_type} if content_type else {}
    assert httpx.post(url, content=b"List-Unsubscribe=Yes", headers=headers, timeout=10).status_code == 400
    assert live.status(member.email) == "active"
    answer = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=headers, timeout=10)
    assert answer.status_code == 200 and _h1(answer) == "You have unsubscribed" and "location" not in answer.headers
    assert live.status(member.email) == "unsubscribed"
    assert subs.history(store, member.id)[-1].how == "one-click unsubscribe"
