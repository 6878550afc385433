"""The host names `pipeline serve` answers to, over real HTTP on 127.0.0.1: site_url's, loopback ones and
`[serve] allowed_hosts`; any other (a DNS-rebinding page's own name) gets 400 before a route runs."""

from __future__ import annotations

import itertools
import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pipeline.config import Project, load_project
from pipeline.errors import ConfigError
from pipeline.runner import state_path
from pipeline.state import Store
from pipeline.state import subscribers as subs
from pipeline.web import hosts
from pipeline.web.app import build_app
from tests.serve_fixtures import SERVE_TOML, LiveServer, live_serve_project

CLIENTS = (f"198.51.100.{n}" for n in itertools.count(101))  # each test its own client, for the rate limit
PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "network.example.org"}


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "hosts") as server:
        yield server


def get(live: LiveServer, host: str | None = None, path: str = "/subscribe", **headers: str) -> httpx.Response:
    if host is not None:
        headers["Host"] = host
    return httpx.get(live.url + path, headers={"X-Forwarded-For": next(CLIENTS), **headers})


def h1(response: httpx.Response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.text).group(1)


def refused(response: httpx.Response) -> bool:
    return (response.status_code == 400 and h1(response) == "Not this address"
            and "set-cookie" not in response.headers)


def test_a_foreign_host_gets_a_short_page_and_no_form(live):
    port = live.url.rsplit(":", 1)[1]
    for host in ("attacker.example", f"attacker.example:{port}", "network.example.org.attacker.example",
                 "evil-network.example.org", "203.0.113.9.attacker.example"):
        assert refused(get(live, host)), host
    page = get(live, "attacker.example")
    assert 'name="form"' not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert page.headers["content-type"].startswith("text/html")


def test_a_foreign_host_can_post_nothing(live):
    """Even with a form token and cookie had by loopback, or a real unsubscribe link, a post naming another
    host stores and mails nothing."""
    store = Store(state_path(live.project))
    try:
        member = subs.add(store, "member@example.org", "", [], how="cli", at=datetime.now(UTC))
    finally:
        store.close()
    unsubscribe = "/unsubscribe/" + live.app.state.web.links.tokens.make("unsubscribe", member.id)
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
        token = re.search(r'name="form" value="([^"]+)"', http.get("/subscribe").text).group(1)
        before = live.snapshot()
        posted = http.post("/subscribe", data={"form": token, "email": "rebound@example.org"},
                           headers={"Host": "attacker.example", "Origin": "http://attacker.example"})
        one_click = http.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                              headers={"Host": "attacker.example",
                                       "Content-Type": "application/x-www-form-urlencoded"})
    assert refused(posted) and refused(one_click)
    assert live.snapshot() == before and live.messages_to("rebound@example.org") == []
    assert live.status("member@example.org") == "active"


def test_site_urls_host_passes_on_its_port_or_none_in_any_case(live):
    for host in ("network.example.org", "Network.Example.ORG", "network.example.org.", "network.example.org:443"):
        assert get(live, host).status_code == 200, host
    for host in ("network.example.org:8000", "network.example.org:80"):  # site_url is https: port 443
        assert refused(get(live, host)), host


def test_loopback_and_any_ip_address_pass_on_any_port(live):
    """An IP address names nothing a rebinding page could point elsewhere: only a page at it sends it."""
    for host in (None, "localhost", "LOCALHOST.:8000", "127.0.0.1", "127.0.0.1:1", "127.0.0.2:8080", "[::1]",
                 "[::1]:8000", "[::ffff:127.0.0.1]:80", "192.168.1.5:8000", "203.0.113.9", "[2001:db8::5]:8000"):
        assert get(live, host).status_code == 200, host
    for host in ("localhost.attacker.example", "::1", "[::1", "[::1]x", "[127.0.0.1]",
                 "localhost:99999", "localhost:x", "localhost:", ""):
        assert refused(get(live, host)), host


def test_a_host_longer_than_any_name_is_refused_before_idna_reads_it(live, monkeypatch):
    """idna's time grows fast with the length of some input, and the check runs on the event loop."""
    import idna

    read = []
    monkeypatch.setattr(idna, "encode", lambda *args, **kwargs: read.append(args) or b"x")
    for host in ("b\u00fccher." * 40, "a" * 300, "[" + "1:" * 200 + "]"):
        assert hosts.split_host(host) is None
        with pytest.raises(ValueError, match="longer than any host name"):
            hosts.host_name(host)
    assert read == []
    assert hosts.split_host("b\u00fccher.example") is not None and read  # a name of a usual length is read
    assert refused(get(live, "attacker.example." * 20))


def test_a_missing_or_repeated_host_header_is_refused(live):
    """HTTP/1.0 may leave the Host out: refused by the app; two Host headers uvicorn refuses itself."""
    port = int(live.url.rsplit(":", 1)[1])
    for head, ours in ((b"GET /subscribe HTTP/1.0\r\n\r\n", True),
                       (b"GET /subscribe HTTP/1.0\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n", False)):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert (b"<h1>Not this address</h1>" in answer) is ours


def test_x_forwarded_host_from_a_trusted_proxy_is_the_host_checked(live):
    """From 127.0.0.1 (trusted) X-Forwarded-Host is the host; from 127.0.0.2 it is ignored, and the Host is."""
    assert get(live, "127.0.0.1", **PROXIED).status_code == 200
    assert refused(get(live, "network.example.org", **{**PROXIED, "X-Forwarded-Host": "attacker.example"}))
    assert get(live, "localhost", **{**PROXIED, "X-Forwarded-Host": "localhost:3000"}).status_code == 200
    outside = httpx.Client(base_url=live.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with outside:
        assert outside.get("/subscribe", headers={"X-Forwarded-Host": "attacker.example"}).status_code == 200
        claimed = outside.get("/subscribe", headers={"Host": "attacker.example", **PROXIED})
        assert refused(claimed)


def test_each_host_refused_is_logged_once_naming_the_setting(live, caplog):
    for host in ("once.example", "once.example", "ONCE.example:1", "twice.example"):
        get(live, host)
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.web" and r.levelno == logging.WARNING]
    assert [line.split(": not")[0] for line in lines] == ["refused a request for host 'once.example'",
                                                          "refused a request for host 'twice.example'"]
    assert all("[serve] allowed_hosts" in line for line in lines)


def test_the_log_of_refused_hosts_is_bounded(live, caplog, monkeypatch):
    check = _host_check(live)
    monkeypatch.setattr(hosts, "LOGGED_HOSTS", 3)
    monkeypatch.setattr(check, "logged", set())  # whatever the other tests had it log
    for n in range(20):
        get(live, f"flood{n}.example")
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.web"]
    assert len(lines) == hosts.LOGGED_HOSTS + 1 and "no more are logged" in lines[-1]
    assert len(check.logged) == hosts.LOGGED_HOSTS + 1


def _host_check(live: LiveServer) -> hosts.HostCheck:
    app = live.app.middleware_stack
    while not isinstance(app, hosts.HostCheck):
        app = app.app
    return app


def test_a_name_in_allowed_hosts_passes_on_any_port_and_no_name_under_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    server = LiveServer(_project_with(tmp_path, 'allowed_hosts = ["News.Example.net.", "[::2]", "news_box.lan"]'
                                      )).start()
    try:
        for host in ("news.example.net", "NEWS.example.net:8443", "news.example.net.", "[::2]:8000", "news_box.lan"):
            assert get(server, host).status_code == 200, host
            # from the proxy (loopback, trusted by default), whose own Host is no allowed name
            assert get(server, "backend.internal", **{**PROXIED, "X-Forwarded-Host": host}).status_code == 200, host
        for host in ("www.news.example.net", "example.net", "news.example.net.attacker.example"):
            assert refused(get(server, host)), host
            assert refused(get(server, "127.0.0.1", **{**PROXIED, "X-Forwarded-Host": host})), host
    finally:
        server.stop()


def _project_with(folder: Path, serve_lines: str) -> Project:
    """The serve test project with lines added to its [serve] table."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.toml").write_text(SERVE_TOML.replace("[serve]\n", f"[serve]\n{serve_lines}\n", 1),
                                          encoding="utf-8")
    return load_project(folder / "pipeline.toml")


@pytest.mark.parametrize(("value", "says"), [
    ('["*.example.org"]', "'*.example.org': wildcards are not supported"),
    ('[".example.org"]', "'.example.org': wildcards are not supported"),
    ('["news.example.org:8443"]', "'news.example.org:8443': give the name without a port"),
    ('["https://news.example.org/"]', "'https://news.example.org/': give only the host name"),
    ('["news example.org"]', "'news example.org': not a host name"),
    ('[""]', "'': not a host name"),
])
def test_a_bad_allowed_hosts_value_is_one_line_at_start_up(tmp_path, value, says):
    with pytest.raises(ConfigError) as info:
        _project_with(tmp_path, f"allowed_hosts = {value}")
    [line] = info.value.lines
    assert line.startswith("pipeline.toml: [serve]: allowed_hosts: ") and says in line
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("origin", "host", "accepted"), [
    ("OWN", None, True), ("https://network.example.org", None, True), ("https://network.example.org:443", None, True),
    ("null", None, False),  # a sandboxed frame, a data: page
    ("http://localhost:3000", None, False),  # loopback, but another origin
    ("http://network.example.org", "network.example.org", False),  # site_url is https
    ("OWN/subscribe", None, False), ("file://", None, False),
])
def test_the_origin_must_be_the_requests_own_or_site_urls(live, origin, host, accepted):
    origin = origin.replace("OWN", live.url)
    headers = {"Host": host} if host else {}
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS), **headers}) as http:
        token = re.search(r'name="form" value="([^"]+)"', http.get("/subscribe").text).group(1)
        address = f"origin{next(CLIENTS).rsplit('.', 1)[1]}@example.org"
        sent = http.post("/subscribe", data={"form": token, "email": address}, headers={"Origin": origin})
    assert (sent.status_code, live.status(address)) == ((200, "pending") if accepted else (403, None))


def test_a_site_url_whose_host_no_browser_could_send_stops_serve_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "pipeline.toml").write_text(SERVE_TOML.replace("https://network.example.org", "https://net!work.org"),
                                          encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build_app(load_project(folder / "pipeline.toml"))
    [line] = info.value.lines
    assert line.startswith("pipeline.toml: [pipeline]: site_url: 'https://net!work.org': not a host name")
