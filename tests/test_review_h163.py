"""Review h163: an attacker's look at what the web can reach (`pipeline serve`), each against the real app under uvicorn
on 127.0.0.1."""

from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect
from sendgrid.helpers.eventwebhook import EventWebhookHeader

from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.serve_fixtures import LiveServer, ServeProcess, live_serve_project, serve_project, serve_project_with_plugin

SITE = "https://network.example.org"  # the serve project's site_url
APP_PATHS = ("/subscribe", "/confirm/", "/unsubscribe/", "/preferences/", "/webhooks/")
CLIENTS = (f"192.0.2.{n}" for n in itertools.count(101))  # documentation addresses: never contacted
# An ECDSA P-256 public key (SendGrid's kind): the webhook then reads the body, to check its signature
WEBHOOK_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNR"
               "aINXvVpiglSI8eNEc6wEA3F+g==")


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "review-h163") as server:
        yield server


@pytest.fixture
def store(live) -> Iterator[Store]:
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    yield store
    store.close()


# -- the token in a page's address, and the site's pages ---------------------------------------------------------

class PublicSite:
    """A browser at `site_url`, as the proxy serves it: the app's paths go to `serve` (on loopback, with the proxy's
    X-Forwarded-* headers), every other page of the host is the published site, here a page that records the
    Referer it was asked with (what any script on it reads as `document.referrer`, an analytics tag's included)."""

    def __init__(self, browser: Browser, live: LiveServer):
        self.live, self.client = live, next(CLIENTS)
        self.referers: list[str] = []
        self.context: BrowserContext = browser.new_context(java_script_enabled=False)
        self.context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != SITE:
            route.abort()  # nothing leaves loopback
        elif url.path.startswith(APP_PATHS):
            headers = {**route.request.headers, "x-forwarded-proto": "https", "x-forwarded-for": self.client}
            answer = route.fetch(url=self.live.url + route.request.url[len(SITE):], headers=headers)
            route.fulfill(response=answer)
        else:
            self.referers.append(route.request.headers.get("referer", ""))
            route.fulfill(status=200, content_type="text/html", body="<!DOCTYPE html><title>Site</title><h1>Site</h1>")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def site(browser, live) -> Iterator[PublicSite]:
    public = PublicSite(browser, live)
    yield public
    public.close()


def test_a_link_from_a_page_holding_a_token_to_the_site_does_not_hand_the_site_that_token(site, live, store):
    """The unsubscribe and preferences links never expire and act on their subscriber: a page whose address holds
    one sent it, with `Referrer-Policy: same-origin`, to every page of the site linked from its navigation (served
    from the same host by the proxy): into the site's access log, and to any script there as `document.referrer`,
    an analytics tag an organiser added to the site's template included, which ships it to a third party. So did
    a confirm link, and a host shared with other apps (site_url `https://uni.example.ac.uk/coproduction`) hands
    it to those too. Now a page holding a token sends no Referer at all."""
    member = subs.add(store, "referer@example.org", "", [], how="cli", at=datetime.now(UTC))
    tokens = live.app.state.web.links.tokens
    unsubscribe, preferences = tokens.make("unsubscribe", member.id), tokens.make("preferences", member.id)
    tab = site.context.new_page()
    for path in (f"/preferences/{preferences}", f"/unsubscribe/{unsubscribe}"):
        tab.goto(SITE + path)
        expect(tab.locator("h1")).not_to_have_text("Site")
        tab.get_by_role("link", name="Issues").first.click()
        expect(tab.locator("h1")).to_have_text("Site")
    tab.goto(f"{SITE}/preferences/{preferences}")
    tab.get_by_role("button", name="Save my themes").click()  # the page a POST gives holds the token too
    expect(tab.get_by_text("Your choice is saved.")).to_be_visible()
    tab.get_by_role("link", name="Home").first.click()
    expect(tab.locator("h1")).to_have_text("Site")
    assert len(site.referers) == 3
    assert not [referer for referer in site.referers if unsubscribe in referer or preferences in referer]
    assert live.status("referer@example.org") == "active"


def test_the_subscribe_form_still_posts_from_the_site_and_its_confirm_page_leaks_nothing(site, live):
    """The form's origin check still sees the browser's own Origin (a page with `no-referrer` would make its form
    posts say `Origin: null`, which the check refuses), and the confirm link's page hands its token to no page."""
    tab = site.context.new_page()
    tab.goto(f"{SITE}/subscribe")
    tab.get_by_label("Email address").fill("origin@example.org")
    tab.get_by_role("button", name="Subscribe").click()
    expect(tab.locator("h1")).to_have_text("Check your inbox")
    confirm = re.search(rf"{re.escape(SITE)}(/confirm/\S+)", live.wait_for_message("origin@example.org").get_content())
    tab.goto(SITE + confirm.group(1))
    tab.get_by_role("button", name="Confirm my subscription").click()
    expect(tab.locator("h1")).to_have_text("You are subscribed")
    assert live.status("origin@example.org") == "active"
    tab.get_by_role("link", name="Issues").first.click()
    expect(tab.locator("h1")).to_have_text("Site")
    token = confirm.group(1).rpartition("/")[2]
    assert site.referers and not [referer for referer in site.referers if token in referer or "/confirm/" in referer]


# -- a client that hangs up halfway through its post -------------------------------------------------------------

def _post_half_and_hang_up(live: LiveServer, path: str, headers: str = "") -> None:
    """Headers saying 1,000 bytes of form follow, 6 of them, then the connection closed (a phone that lost its
    signal; a script doing it in a loop)."""
    port = int(live.url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: 1000\r\n{headers}\r\nemail=".encode("ascii"))


def test_a_client_that_hangs_up_halfway_through_a_post_leaves_no_error_in_the_log(tmp_path_factory, caplog,
                                                                                    monkeypatch):
    """Each POST route read a body its client never finished as Starlette's ClientDisconnect, raised out of the app:
    uvicorn logged "Exception in ASGI application" at ERROR with a traceback of some forty lines, for every phone
    that lost its signal mid-post, and for every connection of a script that does it on purpose, before any rate
    limit is reached (a log filled, and real errors lost in it). Nothing is left to answer: now nothing is logged."""
    monkeypatch.setenv("TEST_SENDGRID_WEBHOOK_KEY", WEBHOOK_KEY)
    server_log = logging.getLogger("uvicorn.error")  # uvicorn's loggers do not reach the root one
    with live_serve_project(tmp_path_factory, "hang-up") as server:
        server_log.addHandler(caplog.handler)  # (once uvicorn has set its logging up)
        token = server.app.state.web.links.tokens.make("unsubscribe", 1)
        signed = f"{EventWebhookHeader.SIGNATURE}: x\r\n{EventWebhookHeader.TIMESTAMP}: {int(time.time())}\r\n"
        for path, headers in (("/subscribe", ""), (f"/unsubscribe/{token}", ""), (f"/preferences/{token}", ""),
                              ("/webhooks/sendgrid", signed)):
            _post_half_and_hang_up(server, path, headers)
        assert httpx.get(server.url + "/subscribe").status_code == 200  # and the server goes on
    # (stopped: uvicorn waits for every request's task to end, so whatever they logged is in by now)
    server_log.removeHandler(caplog.handler)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


# -- a client that sends its request a byte at a time ------------------------------------------------------------

def _closed_by_server(sock: socket.socket, drip: bytes = b"", within: float = 30) -> bool:
    """Whether the server closes `sock` within `within` seconds, while the client sends `drip` a byte at a time
    (every 0.2 s: a slowloris), or nothing."""
    deadline = time.monotonic() + within
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            pass
        except ConnectionError:
            return True
        if drip:
            try:
                sock.sendall(drip[:1])
            except ConnectionError:
                return True
            drip = drip[1:] or b"x"
    return False


def test_a_client_that_sends_its_request_a_byte_at_a_time_is_cut_off(tmp_path, monkeypatch):
    """uvicorn waits for ever for a request's headers and body, however slowly they come: each client that sends
    a byte now and then held a connection of `pipeline serve` for good, and a few hundred of them every connection
    the process may have, so that nobody else could subscribe or leave (reached directly, or through a proxy that
    does not buffer requests). Now a request must be in, whole, within `[serve] request_seconds`; the rest are
    answered as before, and the log says nothing of those cut off."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    project = serve_project(tmp_path / "slow")
    project.config_path.write_text(project.config_path.read_text().replace(
        "per_client_limit = 5", "per_client_limit = 5\nrequest_seconds = 1"), encoding="utf-8")
    with ServeProcess(project.config_path) as serving:
        head = f"Host: 127.0.0.1:{serving.port}\r\n".encode("ascii")
        with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as headers_slowly:
            headers_slowly.sendall(b"GET /subscribe HTTP/1.1\r\n" + head)
            assert _closed_by_server(headers_slowly, drip=b"X-Padding: " + b"a" * 1000)
        with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as body_slowly:
            body_slowly.sendall(b"POST /subscribe HTTP/1.1\r\n" + head + b"Content-Type: application/x-www-form-"
                                b"urlencoded\r\nContent-Length: 60000\r\n\r\nemail=")
            assert _closed_by_server(body_slowly, drip=b"a" * 60000)
        with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as silent:
            assert _closed_by_server(silent)
        with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as then_slowly:
            then_slowly.sendall(b"GET /nowhere HTTP/1.1\r\n" + head + b"\r\n")  # answered; the next one is slow
            assert then_slowly.recv(4096).startswith(b"HTTP/1.1 404")
            then_slowly.sendall(b"GET /subscribe HTTP/1.1\r\n" + head)
            assert _closed_by_server(then_slowly, drip=b"X-Padding: " + b"a" * 1000)
        with httpx.Client(base_url=serving.url, timeout=10) as client:  # one connection: kept alive between them
            first, second = client.get("/subscribe"), client.get("/subscribe")
            token = re.search(r'name="form" value="([^"]+)"', second.text).group(1)
            sent = client.post("/subscribe", data={"form": token, "email": "timely@example.org"})
        assert (first.status_code, second.status_code, sent.status_code) == (200, 200, 200)
        err = serving.stop()
    assert "Traceback" not in err and "Exception" not in err, err


# -- what uvicorn logs of each bad request ---------------------------------------------------------------------

def _answer_to(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_requests_that_make_uvicorn_warn_are_said_once_not_once_each(tmp_path, monkeypatch):
    """uvicorn logs a line for every request it cannot parse ("Invalid HTTP request received."), and two for every
    one asking for a WebSocket, the second telling the organiser to install a WebSocket library (the app has no
    WebSocket route, and wants none): anyone could fill `serve`'s log with them, a line or two per request, as the
    host check and the webhook's refusals are kept from doing. Now each is said once, saying that no more are."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    project = serve_project(tmp_path / "garbage")
    with ServeProcess(project.config_path) as serving:
        for _ in range(3):
            assert _answer_to(serving.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
            upgrade = _answer_to(serving.port, f"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{serving.port}\r\n"
                                               f"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n".encode("ascii"))
            assert upgrade.startswith(b"HTTP/1.1 200")  # answered as the plain request it also is
        err = serving.stop()
    assert err.count("Invalid HTTP request received.") == 1, err
    # (uvicorn 0.30 serves an upgrade request as the plain request it also is, warning of none; 0.54 warns)
    upgrades = err.count("Unsupported upgrade request.")
    assert upgrades <= 1, err
    assert "WebSocket library" not in err and "pip install" not in err, err
    assert err.count("said at most once every 60 minutes") == 1 + upgrades, err


# -- an unexpected failure of a confirmation, in serve's log ------------------------------------------------------

BROKEN_DELIVERY = """
from pipeline import hookimpl
from pipeline.components import Deliverer


class Broken(Deliverer):
    name = "broken"

    def send(self, messages, run):
        raise RuntimeError(f"no route to {messages[0]['To']}")  # as a library's error names what it was given


@hookimpl
def register_deliveries(register):
    register(Broken)
"""


def test_a_confirmation_that_fails_unexpectedly_leaves_no_address_in_serves_log(tmp_path, monkeypatch):
    """A confirmation whose delivery raised something unexpected was logged with its traceback, the exception's
    own message and all: a delivery's error naming the address it was given (or the outbox failing to prune an old
    confirmation, named after another person's address) put an address anyone may type into the form in `serve`'s
    log file, which the README says holds none. Now the line and its traceback are logged with every address in
    them masked, as the error of a failed send already was."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    config = serve_project_with_plugin(tmp_path / "broken", "broken", BROKEN_DELIVERY)
    config.write_text(config.read_text() + '\n[sinks.newsletter.delivery]\ntype = "broken"\n', encoding="utf-8")
    log_file = tmp_path / "serve.log"
    with ServeProcess(config, env={**os.environ, "PIPELINE_LOG_FILE": str(log_file)}) as serving:
        with httpx.Client(base_url=serving.url, timeout=10) as client:
            token = re.search(r'name="form" value="([^"]+)"', client.get("/subscribe").text).group(1)
            sent = client.post("/subscribe", data={"form": token, "email": "typed.by.anyone@example.org"})
        assert sent.status_code == 200
        deadline = time.monotonic() + 10  # the confirmation goes out after the answer, on a thread of its own
        while "could not send the confirmation" not in (log_file.read_text() if log_file.exists() else ""):
            assert time.monotonic() < deadline, "nothing logged"
            time.sleep(0.05)
        err = serving.stop()
    logged = log_file.read_text()
    assert "RuntimeError: no route to <an address>" in logged and "Traceback" in logged, logged
    assert "typed.by.anyone" not in logged and "typed.by.anyone" not in err, logged + err
