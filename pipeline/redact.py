"""Credentials in addresses: `${NAME}` read from the environment, and a credential written out never printed.

A source's address may name environment variables, `https://partner.example/feed?token=${PARTNER_TOKEN}` or
`https://${PARTNER_USER}:${PARTNER_PASS}@partner.example/feed.xml`: `placeholder_problem` refuses a malformed
`${` and a variable in the host or port at start-up; `expand` reads them as the source fetches, each value
percent-encoded whole (a `&`, `@`, `/` or `#` in it cannot change the address's structure), and every message
keeps the address as written. The values are never stored; this process remembers them only to mask them
(`redact_text`), should anything repeat the address it was sent to (a server's redirect, a library's error).

What is written out is masked wherever a message is made or stored (`redact_url`, `redact_text`): the password
of a user name and password (`https://user:***@host/feed`), an http(s) address's user name standing alone (a
token: `https://***@host/feed`), and the value of each parameter whose name says it is a credential
(`?token=***&page=2`). The choke points that call `redact_text`: every `PipelineError`
(`pipeline/errors.py`), `failure_reason` and every `StageResult` (`pipeline/run_report.py`), a run's problems
and notes (`pipeline/run_context.py`), every log line and traceback (`pipeline/logs.py`; a thread's uncaught
error, a warning, an error in a finaliser: `cli._mask_what_python_prints`), the run history and
alerts as they are stored (`pipeline/state`), and what `pipeline status` shows of them. A feed's items are masked
of what its address sends as a credential (`credentials_in`, `mask_in`), which a private feed repeats in its links.
A value is found however it is spelt (`_spelt`): any character percent-escaped, in either case of hex, or as an HTML
character reference; in a link's host, in any letter case (`holds_credential`).
"""

from __future__ import annotations

import functools
import html
import os
import re
import threading
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import quote, unquote

MASK = "***"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONLY_PLACEHOLDERS = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\})+")
# A query parameter's name that says its value is a credential (matched whole, case-insensitively)
# (any ending in token, secret, password or signature: accessToken, X-Amz-Signature; but `key` only after a _ or -,
# not monkey or hotkey)
_CREDENTIAL_NAME = re.compile(
    r"(?:api[_-]?key|key|pass|auth|sig|session|sid|code|.*(?:token|secret|password|passwd|signature)"
    r"|.+[_-]key)", re.IGNORECASE)
# In free text: a user name and password before a host ("scheme://user:password@"), and a query parameter, after
# ?, & or ; (`&amp;` in HTML), or in a fragment (`#access_token=`: OAuth's implicit flow). A scheme is at most 32
# characters, and a value is taken whole then its ending trimmed (`_value`): no hostile text, megabytes of letters
# or dots, makes either expression go back over it again and again (time linear in the text's length).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/?#@:'\"<>]*):(?P<password>[^\s/?#]*)@")
# (an http(s) address's user name standing alone, "https://TOKEN@host", is a token: no one logs in with a name only)
_LONE_USER = re.compile(r"(?P<head>https?://)(?P<user>[^\s/?#@:'\"<>]+)@", re.IGNORECASE)
_NAME = r"[A-Za-z0-9_.%\[\]-]+"
_PARAMETER = re.compile(rf"(?P<head>[?&;#](?P<name>{_NAME})=)(?P<value>(?:[^&;#\s'\"<>]|;(?!{_NAME}=))*)")
# (a value's last punctuation before white space or the text's end, "...?token=${T}: HTTP 500", is the sentence's)
_SENTENCE_END = ".,;:!?)]"
_MIN_REMEMBERED = 4  # a value substituted shorter than this is masked only where it stands as a credential

_remembered: set[str] = set()  # the values substituted in this process (found however spelt: `_Masker`)
_lock = threading.Lock()


class MissingVariable(Exception):  # noqa: N818 (a reason, said by the caller: no "Error" in it)
    """An address's `${NAME}` whose variable is not set, or cannot be sent; `args[0]` is the name, never the value."""

    def __init__(self, name: str, why: str):
        super().__init__(name, why)
        self.name, self.why = name, why


def placeholder_problem(url: str) -> str:
    """Why the `${...}` in an http(s) `url` cannot be used (a malformed one, one in the host or port), or ""."""
    rest = PLACEHOLDER.sub("", url)
    if "${" in rest:
        return ("'${' must be followed by an environment variable's name (letters, digits and _, not starting "
                "with a digit) and '}', as in ${PARTNER_TOKEN}")
    authority = url.partition("://")[2]
    authority = re.split(r"[/?#]", authority, maxsplit=1)[0]
    if "${" in authority.rpartition("@")[2]:
        return ("its host and port may not come from an environment variable: the address a source contacts must "
                "be written in pipeline.toml; only the user name, password, path and query may use ${NAME}")
    return ""


def variables_in(url: str) -> list[str]:
    """The names of the environment variables `url` reads, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(url)))


def expand(url: str, environ: os._Environ | dict | None = None) -> str:
    """`url` with each `${NAME}` replaced by that variable's value, percent-encoded whole; MissingVariable when
    one is unset, empty, or holds white space or a control character (nothing an address could carry)."""
    if "${" not in url:
        return url
    environ = os.environ if environ is None else environ
    user_end = _user_end(url)

    def value_of(found: re.Match) -> str:
        name = found[1]
        value = environ.get(name)
        if value is None:
            raise MissingVariable(name, "is not set")
        if not value:
            raise MissingVariable(name, "is empty")
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise MissingVariable(name, "holds a line break, a space or another control character")
        encoded = quote(value, safe="")
        if found.start() >= user_end:  # a user name is no secret, and masking it everywhere would mislead
            remember(value, encoded, _lower_escapes(encoded))
        return encoded

    return PLACEHOLDER.sub(value_of, url)


def _user_end(url: str) -> int:
    """Where a user name written before a password ends ("scheme://USER:"); 0 when there is none, and when the user
    name stands alone ("scheme://TOKEN@"): then it is the credential, as a token given as the user name is."""
    start = url.find("://") + 3
    if start < 3:
        return 0
    authority = re.split(r"[/?#]", url[start:], maxsplit=1)[0]
    userinfo, at, _ = authority.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return start + len(user) if at and colon else 0


def _lower_escapes(encoded: str) -> str:
    """`encoded` with its percent escapes in lower case (`%2f`), as some servers repeat an address."""
    return re.sub(r"%[0-9A-F]{2}", lambda escape: escape[0].lower(), encoded)


def remember(*values: str) -> None:
    """Mask these values wherever `redact_text` meets them, for the rest of this process."""
    with _lock:
        _remembered.update(value for value in values if len(value) >= _MIN_REMEMBERED)


def is_credential_name(name: str) -> bool:
    return bool(_CREDENTIAL_NAME.fullmatch(unquote(name)))


def literal_credentials(url: str) -> list[str]:
    """What in `url` is a credential written out, not read from the environment: "the password" (or "the user name"
    of an http(s) address, standing alone: a token), and the name of each query parameter that holds one ("token");
    [] when none."""
    found = []
    password = _USERINFO.search(url)
    if password and not _only_placeholders(password["password"]):
        found.append("the password")
    user = _LONE_USER.match(url)
    if user and not _only_placeholders(user["user"]):
        found.append("the user name")
    query = url.partition("#")[0].partition("?")[2]
    for found_parameter in _PARAMETER.finditer("?" + query if query else ""):
        if is_credential_name(found_parameter["name"]) and not _only_placeholders(_value(found_parameter)[0]):
            found.append(found_parameter["name"])
    return found


def without_credentials(url: str) -> str:
    """`url` with no user name or password, and without its query when that holds a credential or a `${NAME}`:
    the base a feed's relative links are resolved against, so none of them carries a credential into an item."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    split = re.search(r"[/?#]", rest)
    authority, tail = (rest[:split.start()], rest[split.start():]) if split else (rest, "")
    authority = authority.rpartition("@")[2]
    path, question, query = tail.partition("#")[0].partition("?")
    if question and ("${" in query or literal_credentials("?" + query)):
        tail = path
    return f"{scheme}://{authority}{tail}"


def credentials_in(url: str, environ: os._Environ | dict | None = None) -> list[str]:
    """What `url` sends as a credential, in each form a server may repeat it in a feed (as sent, decoded, in HTML):
    its password (or its user name when that stands alone, a token), each credential parameter's value, written out
    or read through `${NAME}`, and any other value read through `${NAME}` of 8 characters or more (a key in the path;
    a shorter one, a language, is likely the feed's words too). Longest first, none shorter than 4 characters; for
    `mask_in`, never stored."""
    environ = os.environ if environ is None else environ
    address = PLACEHOLDER.sub(lambda found: quote(environ.get(found[1], ""), safe=""), url)  # (none remembered)
    authority = re.split(r"[/?#]", address.partition("://")[2], maxsplit=1)[0]
    userinfo, at, _ = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    values = [password if colon else user] if at else []
    query = address.partition("#")[0].partition("?")[2]
    values += [_value(parameter)[0] for parameter in _PARAMETER.finditer("?" + query if query else "")
               if is_credential_name(parameter["name"])]
    values += [environ[name] for name in variables_in(url[_user_end(url):]) if len(environ.get(name, "")) >= 8]
    forms = {form for value in values for form in (value, unquote(value), quote(unquote(value), safe=""))}
    forms |= {_lower_escapes(form) for form in forms}
    forms |= {html.escape(form) for form in forms}
    return sorted((form for form in forms if len(form) >= _MIN_REMEMBERED), key=lambda form: (-len(form), form))


def mask_in(text: str, credentials: Sequence[str]) -> str:
    """`text` with each of `credentials` (`credentials_in`) shown as `***`, however it is spelt (`_spelt`)."""
    if not text or not credentials:
        return text
    return _masked(text, _Masker.of(tuple(credentials)))


def holds_credential(url: str, credentials: Sequence[str]) -> bool:
    """Whether `url` holds one of `credentials` however spelt (`mask_in`); in its host in any case too, since a host's
    letters are the same in any case (a path's and a query's are not: `K3Y` is another key than `k3y`)."""
    if not url or not credentials:
        return False
    if _Masker.of(tuple(credentials)).pattern.search(url):
        return True
    authority = re.match(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//([^/?#]*)", url.strip())
    host = authority[1].rpartition("@")[2] if authority else ""
    return bool(host) and bool(_Masker.of(tuple(credentials), ignore_case=True).pattern.search(host))


class _Masker(NamedTuple):
    """Credentials as written and decoded (`%2F` as `/`, `&amp;` as `&`), none shorter than 4 characters (a shorter one
    would mask the text's own words), and one expression for them however spelt (`_spelt`), the longest first."""

    values: tuple[str, ...]
    pattern: re.Pattern

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def of(credentials: tuple[str, ...], ignore_case: bool = False) -> _Masker:
        forms = {form for credential in credentials for form in (credential, unquote(html.unescape(credential)))}
        values = sorted((form for form in forms if len(form) >= _MIN_REMEMBERED), key=lambda form: (-len(form), form))
        pattern = re.compile("|".join(map(_spelt, values)) or r"(?!)", re.IGNORECASE if ignore_case else 0)
        return _Masker(tuple(values), pattern)


def _masked(text: str, masker: _Masker) -> str:
    """`text` with what `masker` finds shown as `***`; its expression is run only on a text that holds a value once
    decoded (a feed's bodies hardly ever do: looking so takes a quarter of the expression's time)."""
    decoded = unquote(html.unescape(text)) if "%" in text or "&" in text else text
    if not any(value in decoded or value in text for value in masker.values):
        return text
    return masker.pattern.sub(MASK, text)


def _spelt(value: str) -> str:
    """An expression for `value` however an address or HTML may spell it: each character as itself, percent-escaped
    (its UTF-8 bytes, the hex digits in either case: `%6B`, `%2f`) or as an HTML character reference (`&amp;`,
    `&#107;`, `&#x6b;`, and a Windows-1252 one: `&#150;` for "–"); its letters in their own case."""
    return "".join(map(_character, value))


@functools.lru_cache(maxsize=1024)
def _character(character: str) -> str:
    escaped = "".join(f"%{byte:02X}" for byte in character.encode("utf-8", "surrogateescape"))
    # A numeric reference's ";" may be left out where no digit follows, and a few named ones (`&amp`, `&lt`) need
    # none: html.unescape, and every browser, still read them.
    forms = [re.escape(character), f"(?i:{escaped})"]
    for code in (ord(character), *_windows_1252().get(character, ())):
        forms += [f"&#0*{code}(?:;|(?![0-9]))", f"(?i:&#x0*{code:x}(?:;|(?![0-9a-f])))"]
    forms += [re.escape(f"&{name}") for name in _named_references().get(character, ())]
    return f"(?:{'|'.join(forms)})"


@functools.cache
def _windows_1252() -> dict[str, list[int]]:
    """The characters the numeric references 128 to 159 stand for (`&#150;` is "–", as `&#8211;` is): HTML reads
    them as Windows-1252 does, html.unescape and every browser too."""
    read = {code: html.unescape(f"&#{code};") for code in range(0x80, 0xA0)}
    return {character: [code] for code, character in read.items() if character != chr(code)}


@functools.cache
def _named_references() -> dict[str, list[str]]:
    """Each character's HTML5 named references (`&` as `&amp;`, `&AMP;` or, with no semicolon, `&amp`; `_` as
    `&lowbar;`, `/` as `&sol;`), the longest first: html.unescape, and every browser, read them as the character."""
    from html.entities import html5

    names: dict[str, list[str]] = {}
    for name, character in html5.items():
        if len(character) == 1:  # (a few name two characters; a credential's character is matched one at a time)
            names.setdefault(character, []).append(name)
    return {character: sorted(found, key=lambda name: (-len(name), name)) for character, found in names.items()}


def redact_url(url: str) -> str:
    """`url` with its password and each credential parameter's value shown as `***` (`${NAME}` kept as written)."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """Free text with every address in it redacted (`redact_url`), and every value substituted in this process
    (`expand`) masked wherever it stands."""
    if not isinstance(text, str) or not text:
        return text
    if "@" in text and "://" in text:
        text = _LONE_USER.sub(_mask_lone_user, _USERINFO.sub(_mask_password, text))
    if "=" in text:
        text = _PARAMETER.sub(_mask_parameter, text)
    if _remembered:
        with _lock:
            values = tuple(sorted(_remembered))
        text = _masked(text, _Masker.of(values))
    return text


def _only_placeholders(value: str) -> bool:
    return bool(_ONLY_PLACEHOLDERS.fullmatch(value))


def _mask_password(found: re.Match) -> str:
    password = found["password"]
    if not password or password == MASK or _only_placeholders(password):
        return found[0]
    return f"{found['head']}:{MASK}@"


def _mask_lone_user(found: re.Match) -> str:
    user = found["user"]
    return found[0] if user == MASK or _only_placeholders(user) else f"{found['head']}{MASK}@"


def _value(found: re.Match) -> tuple[str, str]:
    """A parameter's value, and the punctuation after it that ends the sentence it stands in."""
    value = found["value"].rstrip(_SENTENCE_END)
    return value, found["value"][len(value):]


def _mask_parameter(found: re.Match) -> str:
    value, after = _value(found)
    if not value or value == MASK or _only_placeholders(value) or not is_credential_name(found["name"]):
        return found[0]
    return found["head"] + MASK + after
