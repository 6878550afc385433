"""Hostile-input review of what `pipeline serve` exposes to the web (review h96).

Each test is one problem found, and fails while the problem is there. The app runs under uvicorn on
127.0.0.1 (tests/serve_fixtures.py); each test has client addresses of its own, as the trusted proxy
(127.0.0.1) reports them, so the rate limits of one never touch another.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import httpx
import pytest

from tests.serve_fixtures import LiveServer, live_serve_project
from tests.test_serve import ask, webhook_key  # noqa: F401 (a fixture)

CLIENTS = (f"203.0.113.{n}" for n in itertools.count(1))  # documentation addresses: never contacted
WEBHOOK_ENV = "TEST_SENDGRID_WEBHOOK_KEY"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    """serve_fixtures' project: per_address_limit = 2, per_client_limit = 5."""
    with live_serve_project(tmp_path_factory, "review-h96") as server:
        yield server


@pytest.fixture
def client(live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10) as http:
        yield http




def settle(live: LiveServer) -> None:
    """Wait until every confirmation asked for so far has gone out (the mailer runs them one by one)."""
    live.settled()


# -- abuse: confirmation floods ----------------------------------------------------------------

def test_subaddresses_of_one_mailbox_share_the_per_address_limit(live):
    """victim+1@, victim+2@, victim+3@ reach one mailbox (RFC 5233): the per-address limit must count them as one."""
    codes = []
    for tag in range(1, 4):  # per_address_limit = 2, each post from another client
        with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10) as http:
            codes.append(ask(http, f"flooded+{tag}@example.org").status_code)
    settle(live)
    sent = sum(len(live.messages_to(f"flooded+{tag}@example.org")) for tag in range(1, 4))
    assert (codes, sent) == ([200, 200, 429], 2)


def test_cross_site_posts_do_not_use_up_a_visitors_per_client_limit(live, client):
    """Posts another site makes a visitor's browser send (foreign Origin, no form token) are refused and must not
    count against that visitor's per-client limit, or any page can lock them (and their NAT) out of the form."""
    for n in range(5):  # per_client_limit = 5
        forged = client.post("/subscribe", data={"email": f"forged{n}@example.org"},
                             headers={"Origin": "https://evil.example.com"})
        assert forged.status_code == 403
    assert ask(client, "locked-out@example.org").status_code == 200


# -- the webhook ---------------------------------------------------------------------------------

def test_an_unsigned_webhook_post_is_refused_before_its_body_is_read(live, webhook_key):  # noqa: F811
    """A post with no signature headers gets 403 before the app buffers its body (up to 8 MB, from anyone)."""
    chunk, chunks = b" " * (1024 * 1024), 7
    consumed = 0

    async def receive():
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": chunk, "more_body": consumed < chunks}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/webhooks/sendgrid", "raw_path": b"/webhooks/sendgrid", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"network.example.org"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(chunk) * chunks).encode())],
             "client": ("198.51.100.250", 40000), "server": ("127.0.0.1", 8000)}
    asyncio.run(live.app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    assert status == 403
    assert consumed < chunks, "the whole body was read before the missing signature was noticed"
