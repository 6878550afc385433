"""Requests marked PUBLIC_ONLY (a feed of someone else's list) through the shared client (pipeline/public_only.py):
a name is looked up once, as its connection is opened, and the connection is made to the address judged. Real
servers on loopback; `socket.getaddrinfo` is replaced by a resolver answering for names under `.test` as each test
scripts it (a DNS server, a rebinding one too), and passing any other name on."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pipeline import public_only
from pipeline.errors import SourceError
from pipeline.http_client import PUBLIC_ONLY, new_client

PUBLIC = {PUBLIC_ONLY: True}
REFUSED = ", an address that is not public, refused for a feed of someone else's list; allow_private = true in its " \
          "table allows it"


@pytest.fixture
def dns(monkeypatch):
    """`dns.answers[name] = [first, second, ...]`: one answer a lookup, the last one ever after, each an address or
    several ("127.0.0.1,127.0.0.2"); `dns.asked`, the names looked up, in order."""
    real = socket.getaddrinfo

    class Dns:
        answers: dict[str, list[str]] = {}
        asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in Dns.answers:
            return real(host, port, *args, **kwargs)
        Dns.asked.append(name)
        script = Dns.answers[name]
        answer = script.pop(0) if len(script) > 1 else script[0]
        return [found for address in answer.split(",") for found in real(address, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return Dns


@pytest.fixture
def servers():
    """`servers(address, port=0, location="", tls=None)` -> (port, paths asked): a real HTTP/1.1 server answering
    every GET with its own address, or with a redirect to `location`; stopped after the test."""
    started = []

    def start(address: str, port: int = 0, location: str = "", tls: ssl.SSLContext | None = None):
        asked: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept open, as real servers do

            def do_GET(self):  # noqa: N802 (http.server's naming)
                asked.append(self.path)
                body = b"" if location else address.encode()
                self.send_response(302 if location else 200)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer((address, port), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server.server_address[1], asked

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback_stands_for_public(monkeypatch):
    """127.0.0.1 stands for a public address at connect time (so a test can serve one); every other address,
    127.0.0.2 among them, is judged as ever."""
    judged = public_only.is_private_address
    monkeypatch.setattr(public_only, "is_private_address", lambda address: address != "127.0.0.1" and judged(address))


def test_a_name_that_resolves_privately_is_refused_when_connecting_and_other_sources_still_reach_it(dns, servers):
    port, asked = servers("127.0.0.1")
    dns.answers["feeds.test"] = ["127.0.0.1"]
    url = f"http://feeds.test:{port}/feed.xml"
    with new_client(5.0, "test") as client:
        assert client.get(url).text == "127.0.0.1"  # a source not of a list: its connection stays open...
        with pytest.raises(SourceError) as refused:
            client.get(url, extensions=PUBLIC)  # ...and is not lent to a list's feed, whose own is refused
        assert client.get(url).text == "127.0.0.1"
    assert str(refused.value) == f"{url}: feeds.test resolves to 127.0.0.1{REFUSED}"
    assert asked == ["/feed.xml", "/feed.xml"] and dns.asked == ["feeds.test", "feeds.test"]  # one lookup each


def test_the_address_connected_to_is_the_one_judged_so_a_rebinding_answer_comes_too_late(dns, servers,
                                                                                        loopback_stands_for_public):
    """A rebinding DNS server answers a public address (127.0.0.1 here) to the first lookup and a private one
    (127.0.0.2) to every later one: a check that looks the name up before the connection does is passed, and
    the connection is made to the private address. Here the one lookup is the connection's own."""
    port, public_asked = servers("127.0.0.1")
    _, private_asked = servers("127.0.0.2", port)
    dns.answers["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    url = f"http://rebind.test:{port}/feed.xml"
    with new_client(5.0, "test") as client:
        assert client.get(url, extensions=PUBLIC).text == "127.0.0.1"
        assert client.get(url, extensions=PUBLIC).text == "127.0.0.1"  # its open connection: no lookup at all
    assert dns.asked == ["rebind.test"] and public_asked == ["/feed.xml", "/feed.xml"]

    with new_client(5.0, "test") as client, pytest.raises(SourceError) as refused:  # a new connection, a new answer
        client.get(url, extensions=PUBLIC)
    assert str(refused.value) == f"{url}: rebind.test resolves to 127.0.0.2{REFUSED}"
    assert private_asked == [] and dns.asked == ["rebind.test", "rebind.test"]


def test_a_name_giving_a_private_address_among_public_ones_is_refused(dns, servers, loopback_stands_for_public):
    port, asked = servers("127.0.0.1")
    dns.answers["mixed.test"] = ["127.0.0.1,127.0.0.2"]
    url = f"http://mixed.test:{port}/feed.xml"
    with new_client(5.0, "test") as client, pytest.raises(SourceError) as refused:
        client.get(url, extensions=PUBLIC)
    assert str(refused.value) == f"{url}: mixed.test resolves to 127.0.0.2{REFUSED}" and asked == []


def test_a_redirect_to_a_name_that_resolves_privately_is_refused_when_connecting(dns, servers,
                                                                                  loopback_stands_for_public):
    port, private_asked = servers("127.0.0.2")
    target = f"http://intranet.test:{port}/secret.xml"
    public_port, _ = servers("127.0.0.1", location=target)
    dns.answers.update({"partner.test": ["127.0.0.1"], "intranet.test": ["127.0.0.2"]})
    with new_client(5.0, "test") as client, pytest.raises(SourceError) as refused:
        client.get(f"http://partner.test:{public_port}/feed.xml", extensions=PUBLIC)
    assert str(refused.value) == f"{target}: intranet.test resolves to 127.0.0.2{REFUSED}" and private_asked == []


def test_the_next_address_is_tried_when_one_refuses_and_the_socket_is_set_up_as_httpcore_sets_it(dns, servers,
                                                                                                 monkeypatch):
    port, asked = servers("127.0.0.1")
    monkeypatch.setattr(public_only, "is_private_address", lambda address: False)  # both stand for public ones
    dns.answers["two.test"] = ["127.0.0.3,127.0.0.1"]  # nothing listens on 127.0.0.3: refused, as socket does
    with new_client(5.0, "test") as client, client.stream("GET", f"http://two.test:{port}/feed.xml",
                                                           extensions=PUBLIC) as response:
        connected = response.extensions["network_stream"].get_extra_info("socket")
        assert connected.getpeername() == ("127.0.0.1", port)
        assert connected.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert asked == ["/feed.xml"] and dns.asked == ["two.test"]


def test_an_httpx_that_keeps_its_connections_elsewhere_makes_the_client_fail_rather_than_check_nothing(monkeypatch):
    class Moved(httpx.HTTPTransport):
        def __init__(self, **settings):
            super().__init__(**settings)
            self._connections = self.__dict__.pop("_pool")

    monkeypatch.setattr(public_only.httpx, "HTTPTransport", Moved)
    with pytest.raises(RuntimeError, match="public-only requests cannot be checked"):
        new_client(5.0, "test")


def test_through_a_proxy_which_connects_itself_the_name_is_looked_up_before(dns, servers, monkeypatch):
    proxy_port, proxied = servers("127.0.0.1")  # answers every request itself, as if from the feed's server
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    dns.answers.update({"partner.test": ["93.184.215.14"], "intranet.test": ["10.0.0.7"]})
    with new_client(5.0, "test") as client:
        assert client.get("http://partner.test/feed.xml", extensions=PUBLIC).status_code == 200
        with pytest.raises(SourceError) as refused:
            client.get("http://intranet.test/feed.xml", extensions=PUBLIC)
        assert client.get("http://intranet.test/feed.xml").status_code == 200  # not a list's feed: sent
    assert str(refused.value) == f"http://intranet.test/feed.xml: intranet.test resolves to 10.0.0.7{REFUSED}"
    assert proxied == ["http://partner.test/feed.xml", "http://intranet.test/feed.xml"]


def test_a_proxied_feeds_redirect_to_a_name_the_proxy_is_not_used_for_is_judged_when_connecting(dns, servers,
                                                                                                  monkeypatch):
    port, asked = servers("127.0.0.1")
    target = f"http://intranet.test:{port}/secret.xml"
    proxy_port, proxied = servers("127.0.0.1", location=target)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    monkeypatch.setenv("NO_PROXY", "intranet.test")  # fetched directly, by the client's own connections
    dns.answers.update({"partner.test": ["93.184.215.14"], "intranet.test": ["127.0.0.1"]})
    with new_client(5.0, "test") as client, pytest.raises(SourceError) as refused:
        client.get("http://partner.test/feed.xml", extensions=PUBLIC)
    assert str(refused.value) == f"{target}: intranet.test resolves to 127.0.0.1{REFUSED}"
    assert proxied == ["http://partner.test/feed.xml"] and asked == []
    assert dns.asked == ["partner.test", "intranet.test"]  # each looked up once: before the proxy, when connecting


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for the name feeds.test: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feeds.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("feeds.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_tls_checks_the_certificate_against_the_name_though_the_address_is_connected_to(
        dns, servers, certificate, loopback_stands_for_public):
    cert, key = certificate
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert, key)
    port, asked = servers("127.0.0.1", tls=serving)
    dns.answers.update({"feeds.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    trusting: Future[ssl.SSLContext] = Future()
    trusting.set_result(ssl.create_default_context(cafile=str(cert)))
    with new_client(5.0, "test", trusting) as client:
        assert client.get(f"https://feeds.test:{port}/feed.xml", extensions=PUBLIC).text == "127.0.0.1"
        with pytest.raises(httpx.ConnectError, match="Hostname mismatch"):  # the same server, another name
            client.get(f"https://other.test:{port}/feed.xml", extensions=PUBLIC)
    assert asked == ["/feed.xml"]
