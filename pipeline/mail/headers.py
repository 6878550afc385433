"""Header values nobody can forge, whatever a feed, the subscriber list or the config holds.

Python's email package decodes RFC 2047 encoded words (`=?UTF-8?Q?...?=`) when it parses a
header, and patch releases before 3.11.10 / 3.12.5 then write a decoded CR LF back out as a
real line break (CVE-2024-6923; CVE-2026-1299 for the bytes generator). So nothing here relies
on the standard library for safety: every value is decoded by us, stripped of every line-break
and control character, and left with no `=?` a parser could decode again. `check_headers` then
proves it on the bytes of each finished message.
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.parser import BytesHeaderParser

from pipeline.errors import PipelineError

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPACES = re.compile(r"\s+")
_PLAIN = re.compile(r"[ -~]*")  # printable ASCII and spaces
MAX_DECODE_ROUNDS = 5  # an encoded word can hold another one


class HeaderInjection(PipelineError):
    """A finished message has a header or recipient nobody asked for; it is never sent."""


def header_text(value: object) -> str:
    """`value` as text that is safe in any header: one line, no control characters, no encoded words."""
    text = str(value or "")
    if _PLAIN.fullmatch(text) and "=?" not in text:  # the common case: nothing to decode or strip
        return _SPACES.sub(" ", text).strip()
    for _ in range(MAX_DECODE_ROUNDS):
        if not _ENCODED_WORD.search(text):
            break
        text = _decode_words(text)
    text = "".join(" " if _is_break_or_control(ch) else ch for ch in text)
    text = text.replace("=?", "= ?")  # whatever is left can never be read as an encoded word
    return _SPACES.sub(" ", text).strip()


def _decode_words(text: str) -> str:
    try:
        parts = decode_header(text)
    except (ValueError, UnicodeError, HeaderParseError):  # a malformed word (HeaderParseError: bad base64)
        return _ENCODED_WORD.sub(" ", text)
    return "".join(_as_text(chunk, charset) for chunk, charset in parts)


def _as_text(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    try:
        return chunk.decode(charset or "raw-unicode-escape", errors="replace")  # how decode_header keeps plain text
    except LookupError:  # a charset Python does not know
        return chunk.decode("utf-8", errors="replace")


def _is_break_or_control(ch: str) -> bool:
    # Cc: controls (CR, LF, NUL, ...); Zl/Zp: U+2028/U+2029; Cf: invisible format characters.
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cf") or ch == "\x85"


def check_headers(raw: bytes, expected: dict[str, int], recipient: str) -> None:
    """Raise `HeaderInjection` unless the header names of `raw` are exactly `expected` (name -> count,
    lower case) and it is addressed to `recipient` alone."""
    parsed = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    found: dict[str, int] = {}
    for name in parsed.keys():
        found[name.lower()] = found.get(name.lower(), 0) + 1
    if found != expected:
        extra = sorted(set(found) - set(expected)) or sorted(n for n in found if found[n] != expected.get(n))
        raise HeaderInjection(f"message to {recipient}: unexpected header(s) {', '.join(extra)}; not sent. "
                              f"Check the subscriber's name and the issue title for line breaks")
    # Headers in UTF-8 (an address that goes with SMTPUTF8) are parsed with their bytes kept as surrogates.
    addresses = [a.addr_spec.encode("utf-8", "surrogateescape").decode("utf-8", "replace").lower()
                 for a in parsed["To"].addresses]
    if addresses != [recipient.lower()]:
        raise HeaderInjection(f"message to {recipient}: the To header names {len(addresses)} addresses; not sent. "
                              f"Check the subscriber's name for commas or brackets")
