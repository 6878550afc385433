"""Whether a web address leads to this machine or a private network: for what someone else's list names (an OPML
file's feeds), which must not make the pipeline reach the services of the machine it runs on or of its network."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlparse

# What IDNA (so httpx, fetching a feed) reads as a label's dot besides ".": "127。0。0。1" is 127.0.0.1 to it
_IDNA_DOTS = re.compile("[\u3002\uff0e\uff61]")
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64; RFC 4291 IPv4-compatible),
# and RFC 8215's local-use NAT64 prefix, which translates to an operator's own (private) IPv4 networks
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def private_address_of(url: str) -> str:
    """The first address that is not public of those this machine resolves a web address's host name to
    (`169.254.169.254.nip.io`, an intranet name), or "" (also for a name that does not resolve). The answer holds
    for this lookup only: a name's owner can answer the next one, a proxy's or the connection's, otherwise (DNS
    rebinding), so only where the pipeline does not connect itself (through a proxy) is this the check."""
    host = _IDNA_DOTS.sub(".", urlparse(url).hostname or "").rstrip(".")
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ""
    return next((address for address in (info[4][0] for info in found) if is_private_address(address)), "")


def is_private(url: str) -> bool:
    """Whether a web address's host is `localhost` or an IP address that is not public: IPv4 in any form
    the resolver reads as one (`127.1`, `2130706433`, or with the dots IDNA reads as dots, `127。0。0。1`,
    as the fetcher does), IPv6, or IPv4 inside IPv6, judged by that IPv4 address (`::ffff:10.0.0.1`, and the
    forms a NAT64 gateway or a 6to4 relay takes to it: `64:ff9b::10.0.0.1`, `2002:a00:1::`)."""
    host = _IDNA_DOTS.sub(".", urlparse(url).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host if ":" in host else socket.inet_ntoa(socket.inet_aton(host)))
    except (OSError, ValueError):  # a name, not an address
        return False
    return _not_public(address)


def is_private_address(address: str) -> bool:
    """Whether an IP address as the resolver gives it (`10.0.0.7`, `fe80::1%eth0`) is not public, judged as
    `is_private` judges one written in a web address."""
    return _not_public(ipaddress.ip_address(address))


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6:
        if address in _LOCAL_NAT64 or address.is_site_local:  # an operator's own networks, whatever inside
            return True
        inside = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 or address in _COMPATIBLE else None)
        address = inside or address
    return not address.is_global or address.is_multicast
