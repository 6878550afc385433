"""What keeps a request marked `PUBLIC_ONLY` (a feed of someone else's list), and each redirect it is sent on,
off localhost and addresses that are not public (`pipeline/hosts.py`), the shared client's other requests untouched.

An address written in the URL is refused before the request (`refuse_written`). A name is looked up once, when a
connection is opened for it (`PublicBackend`): if any address it gives is not public, the request is refused;
else the connection is made to an address just judged, so a DNS server that answers a public address to one
lookup and a private one to the next (DNS rebinding) is never asked twice. TLS still checks the certificate
against the name: httpcore gives the name to the handshake, above the socket. Such requests have connections of
their own, so none reuses one opened for another source (to an intranet name, say).

Through a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY; NO_PROXY as httpx reads them), the proxy looks the name up
and connects: the pipeline can only look it up before the request (`LookedUpFirst`), which DNS rebinding can
beat, so there the proxy is what must refuse private addresses.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import httpcore

from pipeline.errors import SourceError
from pipeline.hosts import is_private, is_private_address, private_address_of
from pipeline.http_client import PUBLIC_ONLY, load_httpx

if TYPE_CHECKING:
    import ssl

httpx = load_httpx()

# httpx's own limits for a client's connections, given to the pool made here as httpx gives them to its own
_LIMITS = {"max_connections": 100, "max_keepalive_connections": 20, "keepalive_expiry": 5.0}


def refused(url, why: str) -> str:
    return (f"{url}: {why}, refused for a feed of someone else's list; allow_private = true in its table "
            f"allows it")


def refuse_written(request: httpx.Request) -> None:
    """The client's request hook (so for each redirect too): a `PUBLIC_ONLY` request to localhost or an address
    that is not public, as written, is refused before anything is looked up or connected."""
    if request.extensions.get(PUBLIC_ONLY) and is_private(str(request.url)):
        raise SourceError(refused(request.url, "localhost or an address that is not public"))


class NotPublic(Exception):
    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to {address}")
        self.host, self.address = host, address


class PublicBackend(httpcore.SyncBackend):
    """httpcore's sockets, but the name is looked up here, every address it gives judged, and the connection
    made to one of those addresses rather than to the name, which would be looked up again."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:  # an unknown name, said as httpcore says it
            raise httpcore.ConnectError(exc) from exc
        addresses = list(dict.fromkeys(info[4][0] for info in found))
        # Any, not only the one connected to: a name that mixes both is refused every time, not when it happens
        # to answer a private address first.
        private = next((address for address in addresses if is_private_address(address)), None)
        if private is not None:
            raise NotPublic(host, private)
        for address in addresses[:-1]:  # in the resolver's order, as socket.create_connection tries them
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return super().connect_tcp(addresses[-1], port, timeout, local_address, socket_options)


class Transport(httpx.BaseTransport):
    """The client's transport: a `PUBLIC_ONLY` request goes through connections of its own, which
    `PublicBackend` opens; any other through httpx's usual ones (`usual`)."""

    def __init__(self, usual: httpx.BaseTransport, verify: ssl.SSLContext):
        self._any = usual
        self._public = httpx.HTTPTransport(verify=verify, limits=httpx.Limits(**_LIMITS))
        # httpx has no public way to give its transport a network backend; should its pool move, fail here
        # rather than send these requests through sockets that check nothing
        if not isinstance(getattr(self._public, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("this httpx keeps its connections elsewhere: public-only requests cannot be checked")
        self._public._pool = httpcore.ConnectionPool(ssl_context=verify, network_backend=PublicBackend(), **_LIMITS)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.extensions.get(PUBLIC_ONLY):
            return self._any.handle_request(request)
        try:
            return self._public.handle_request(request)
        except NotPublic as exc:
            raise SourceError(refused(request.url, f"{exc}, an address that is not public")) from None

    def close(self) -> None:
        self._any.close()
        self._public.close()


class LookedUpFirst(httpx.BaseTransport):
    """A proxy's transport, for which the name of a `PUBLIC_ONLY` request is looked up before it is sent: the
    proxy connects, so this is the only check there is, and DNS rebinding can beat it."""

    def __init__(self, proxied: httpx.BaseTransport):
        self._proxied = proxied

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.extensions.get(PUBLIC_ONLY):
            address = private_address_of(str(request.url))
            if address:
                raise SourceError(refused(request.url, f"{request.url.host} resolves to {address}, an address that "
                                                       f"is not public"))
        return self._proxied.handle_request(request)

    def close(self) -> None:
        self._proxied.close()


def guard(client: httpx.Client, verify: ssl.SSLContext) -> None:
    """Put `Transport` in place of the transport httpx made for the client, and `LookedUpFirst` before each proxy
    it set up from the environment. httpx has no public way: given a transport of its own, a client ignores the
    environment's proxies; so its private `_transport` and `_mounts`, read first (an error should they move)."""
    client._transport = Transport(client._transport, verify)
    client._mounts = {pattern: transport if transport is None else LookedUpFirst(transport)
                      for pattern, transport in client._mounts.items()}
