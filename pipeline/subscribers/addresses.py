"""What counts as an email address here: a plausible single address, kept in lower case."""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address

# Deliberately simple: one @, no spaces or brackets, a dot in the domain. Typos, not RFC 5322 corner cases.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+")
MAX_LENGTH = 254  # RFC 5321's limit on a path


def valid_address(text: str) -> bool:
    """True for a plausible single address such as `ann@example.org`."""
    if len(text) > MAX_LENGTH or not _ADDRESS.fullmatch(text) or ".." in text:
        return False
    try:
        Address(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError):
        return False
    return True


def normalise(text: str) -> str:
    """The form an address is stored and compared in: trimmed, lower case."""
    return text.strip().lower()


def one_line(text: str, limit: int = 200) -> str:
    """A name as typed, on one line with single spaces and no control characters, at most `limit` characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:limit]
