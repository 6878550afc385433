"""The values `pipeline init` writes for what it was not told, and the rule that refuses them.

Each placeholder's host is under `.invalid`, a name kept by RFC 6761 for what must never reach anything: no site
is there and no mail server takes it. So a `site_url` or a sender address under it is refused wherever the key is
checked (`[pipeline] site_url`, the `email` sink's `from_email` and `reply_to`), the starter's or anyone's, with a
line saying what to set.
"""

from __future__ import annotations

SITE_URL = "https://change-me.invalid"
FROM_EMAIL = "newsletter@change-me.invalid"
RESERVED = ".invalid"


def is_placeholder_host(host: str) -> bool:
    """True for `invalid` and any name under it, in any case and with or without the final dot."""
    name = host.strip().rstrip(".").lower()
    return name == RESERVED[1:] or name.endswith(RESERVED)


def site_url_problem(url: str) -> str | None:
    """Why `url` cannot be [pipeline] site_url for being a placeholder, or None."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None  # not a URL at all: the URL's own check says so
    if not is_placeholder_host(host):
        return None
    return (f"{url!r} is a placeholder (no site is ever under {RESERVED}); set it to the address the site and "
            f"`pipeline serve` will be at, such as 'https://news.example.org'")


def address_problem(address: str, key: str) -> str | None:
    """Why `address` cannot be the email sink's `key` (from_email, reply_to) for being a placeholder, or None."""
    if not is_placeholder_host(address.rpartition("@")[2]):
        return None
    wanted = ("the address the newsletter is sent from, such as 'news@example.org'" if key == "from_email"
              else "a real address, or remove it")
    return f"{address!r} is a placeholder (no mail reaches {RESERVED}); set it to {wanted}"
