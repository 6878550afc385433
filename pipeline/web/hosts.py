"""Which hosts `pipeline serve` answers to: `site_url`'s, loopback ones, `[serve] allowed_hosts`, any IP address.

A request naming any other host is refused (400) before a route runs. Without this, a page on a name
its owner points at this server's address (DNS rebinding) would be "same origin" with the app: it
could read the form's token and cookie, post the form from every visitor's address, and read the
pages it makes them open. The name is what such a page cannot fake; the port is checked for
`site_url`'s host only, and not when the Host gives none (a proxy may drop it). A Host that is an IP
address (`serve --host 0.0.0.0` reached at http://192.168.1.5:8000) names no name to rebind: only a page
at that address sends it, so it passes.

No wildcards: each name the site is served under is listed, since a wildcard would also admit any
name under it that someone else controls.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("pipeline.web")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOST = 255  # a name is at most 253 characters (RFC 1035), a final dot and brackets aside
LOGGED_HOSTS = 256  # distinct refused hosts logged one by one; past that, one line and then silence
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def host_name(text: str) -> str:
    """A host name or IP address as a browser sends it: lower case, no final dot, a name outside ASCII as
    IDNA (xn--), an IPv6 address without brackets. ValueError saying why `text` is not one."""
    if len(text) > MAX_HOST:  # before idna or ipaddress see it: a client makes a Host as long as it likes
        raise ValueError(f"longer than any host name ({MAX_HOST} characters)")
    if "*" in text or text.startswith("."):
        raise ValueError("wildcards are not supported; list each name the site is served under")
    if "/" in text:
        raise ValueError("give only the host name of the address, such as 'news.example.org'")
    bracketed = text.startswith("[") and text.endswith("]")
    address = _ip(text[1:-1] if bracketed else text)
    if address is not None and (address.version == 6 or not bracketed):
        return str(address)
    if ":" in text:
        raise ValueError("give the name without a port: any port is allowed")
    name = text.lower().removesuffix(".")
    if not name.isascii():
        import idna

        try:
            name = idna.encode(name).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"not a valid international name ({exc})") from None
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError("not a host name: letters, digits and hyphens in parts of 1 to 63 characters "
                         "between dots, such as 'news.example.org'")
    return name


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header, or the host and port of an origin, as (name, port) with the name as `host_name` spells
    it; None when it is not one."""
    if value.startswith("["):
        bare, bracket, rest = value[1:].partition("]")
        address = _ip(bare)
        if not bracket or address is None or address.version != 6 or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    else:
        bare, colon, port = value.partition(":")
        port = port if colon else None
    if port is not None and not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        return None
    try:
        return host_name(bare), None if port is None else int(port)
    except ValueError:
        return None


def parse_origin(origin: str) -> tuple[str, str, int] | None:
    """An Origin header as (scheme, name, port), the port the scheme's own when none is given; None for
    "null" (a sandboxed frame, a data: page) or anything but an http(s) origin."""
    scheme, sep, rest = origin.partition("://")
    found = split_host(rest) if sep and scheme in DEFAULT_PORTS else None
    return None if found is None else (scheme, found[0], found[1] or DEFAULT_PORTS[scheme])


def is_loopback(name: str) -> bool:
    address = _ip(name)
    if address is None:
        return name == "localhost"
    return (address.ipv4_mapped or address).is_loopback if address.version == 6 else address.is_loopback


class AllowedHosts:
    """`site_url`'s host (on its port, or with none given), loopback names, the names of `[serve] allowed_hosts` and
    IP addresses, on any port. ValueError when site_url's host is no host name."""

    def __init__(self, site_url: str, names: Iterable[str] = ()):
        site = urlsplit(site_url)
        self.site = (host_name(site.hostname or ""), site.port or DEFAULT_PORTS[site.scheme])
        self.site_origin = (site.scheme, *self.site)
        self.names = {host_name(name) for name in names}

    def allows(self, name: str, port: int | None) -> bool:
        if name in self.names or is_loopback(name) or _ip(name) is not None:
            return True
        return name == self.site[0] and port in (None, self.site[1])

    def __contains__(self, host: str | None) -> bool:
        """Whether a Host header (None: there was none) is one of these."""
        found = split_host(host) if host else None
        return found is not None and self.allows(*found)


class HostCheck:
    """ASGI middleware: a request without exactly one Host header, or naming a host not allowed, gets
    `refused()` (a 400 page) and never reaches a route. Each name refused is logged once."""

    def __init__(self, app: ASGIApp, allowed: AllowedHosts, refused: Callable[[], Response]):
        self.app, self.allowed, self.refused = app, allowed, refused
        self.logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # no websocket route: the router refuses those
            hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
            if len(hosts) != 1 or hosts[0] not in self.allowed:
                self._log(hosts[0] if len(hosts) == 1 else None)
                await self.refused()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _log(self, host: str | None) -> None:
        if host is None:
            key = ""
        else:
            found = split_host(host)
            key = found[0] if found else repr(host[:100])  # a name once, whatever its port
        if key in self.logged or len(self.logged) > LOGGED_HOSTS:
            return
        self.logged.add(key)
        if len(self.logged) > LOGGED_HOSTS:
            log.warning("refused requests for more than %d hosts not allowed; no more are logged until "
                        "`pipeline serve` restarts", LOGGED_HOSTS)
            return
        if host is None:
            log.warning("refused a request with no Host header, or more than one")
        else:
            log.warning("refused a request for host %r: not site_url's host, loopback or one of [serve] "
                        "allowed_hosts; if the site is served under that name, add it to [serve] allowed_hosts",
                        host[:100])


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
