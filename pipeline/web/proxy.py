"""Behind a reverse proxy: take the public scheme, host and client from X-Forwarded-* headers,
but only when the request comes from a proxy we trust (`[serve] trusted_proxies`).

From anyone else those headers are ignored, so nobody can claim another address to dodge the
rate limits, or another origin to pass the origin check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

_HOST = re.compile(r"[A-Za-z0-9._\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")  # as hosts.host_name takes


class TrustedProxies:
    def __init__(self, addresses: Iterable[str]):
        self.networks = [n for a in addresses for n in _networks(ipaddress.ip_network(a, strict=False))]

    def __contains__(self, host: str | None) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.networks)


def client_key(host: str | None) -> str:
    """Whom the per-client rate limit counts: an IPv4 address, or an IPv6 client's /64 (a home or a phone
    is given a whole /64, so each of its addresses would otherwise get the limit afresh)."""
    address = _address(host)
    if address is None:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # where IPv6 writes the IPv4 addresses


def _networks(network: ipaddress.IPv4Network | ipaddress.IPv6Network
              ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """`network` as `_address` reads hosts, which turns IPv4-mapped ones into IPv4: an IPv4 network written as
    IPv6 (::ffff:10.0.0.0/104) is IPv4 (10.0.0.0/8); an IPv6 network holding the whole mapped range
    (::/0, ::/64) holds every IPv4 address as well. Any other network is left as it is."""
    if network.version == 4:
        return [network]
    if network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        return [ipaddress.IPv4Network((mapped, network.prefixlen - 96))] if mapped is not None else [network]
    if network.supernet_of(_MAPPED):
        return [network, ipaddress.IPv4Network("0.0.0.0/0")]
    return [network]


def _address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address; an IPv4 one written as IPv6 (::ffff:127.0.0.1, as a server listening on
    "::" sees IPv4 clients) as IPv4; None when it is not an address."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    return address.ipv4_mapped or address if address.version == 6 else address


class ForwardedHeaders:
    """ASGI middleware: from a trusted proxy, X-Forwarded-Proto/-Host/-For become the scheme, Host and client."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]):
        self.app = app
        self.trusted = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and client[0] in self.trusted:
            scope = self._public(scope)
        await self.app(scope, receive, send)

    def _public(self, scope: Scope) -> Scope:
        forwarded = {}
        for name, value in scope["headers"]:
            if name in (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for"):
                text = value.decode("latin-1")
                forwarded[name] = f"{forwarded[name]}, {text}" if name in forwarded else text
        scope = dict(scope)
        proto = _first(forwarded.get(b"x-forwarded-proto", "")).lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        host = _first(forwarded.get(b"x-forwarded-host", ""))
        if host and _HOST.fullmatch(host):
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"] + [(b"host", host.encode())]
        client = self._client(forwarded.get(b"x-forwarded-for", ""))
        if client:
            scope["client"] = (client, 0)
        return scope

    def _client(self, chain: str) -> str | None:
        """The nearest address in the chain that is not one of our proxies (each proxy appends on the right)."""
        hops = [_without_port(hop.strip()) for hop in chain.split(",") if hop.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return None  # a garbled chain: keep the proxy's own address
            if hop not in self.trusted:
                return hop
        return hops[0] if hops else None


def _without_port(hop: str) -> str:
    """'203.0.113.7:5678' -> '203.0.113.7', '[2001:db8::1]:443' -> '2001:db8::1': some proxies add the port."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


def _first(value: str) -> str:
    return value.split(",")[0].strip()
