"""The signing secret, and the signed tokens in confirm, unsubscribe and preferences links.

The secret is the environment variable `[serve] secret_env` names (`PIPELINE_SECRET`); when it is
unset, one is made on first use and kept in `<state_dir>/secret`, readable by its owner only, so
`pipeline serve` and every send sign with the same secret. It is never printed.

A token is the subscriber's id, signed with HMAC-SHA256 (itsdangerous's timed serializer for
confirm tokens, with a salt of their own, so an unsubscribe link can never confirm a request), and
the address never appears in a link. A new subscriber id, and request id, is drawn at random from 1 to
2**53 - 1 (`pipeline.state.subscribers.ID_RANGE`), never one the database holds, and a database that
forgot ids it gave (a backup put back, a copy salvaged with `.recover`, a list moved to a new database
signed with the same secret) gives one of them again only by chance (`ID_RANGE` says how rarely): a token
of a subscriber who was removed, or of another database's, names nobody (the page says the link is not
valid), not a stranger; one of a subscriber merged into another (two spellings of one mailbox,
`pipeline.state.respelling`) names that other one. Rows stored before ids were drawn keep the ids they had
(1, 2, 3...), so every link mailed to them still works.
A confirm token holds the id of the request it confirms too
(`[subscriber, request]`; a bare id is one made before requests were kept apart), and nothing the
person typed. The unsubscribe and preferences links share one token.
Unsubscribe and preferences tokens never expire (they sit in old emails); a confirm token lasts 7
days. Changing the secret makes every link sent so far invalid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from itsdangerous import BadData, URLSafeTimedSerializer

from pipeline.config import Project
from pipeline.errors import ConfigError
from pipeline.state.subscribers import ID_RANGE

Purpose = Literal["confirm", "unsubscribe", "preferences"]
SECRET_FILE = "secret"
MADE_HERE: set[Path] = set()  # secret files this process made (`_secret_file`): links mailed before it were not its
SIGNED_WITH = "links-signed-with"  # in state_dir: which secret signed the links mailed last (`note_mailed`)
CONFIRM_DAYS = 7
MIN_SECRET_CHARS = 16
SIGNATURE_BYTES = 20  # 160 bits of HMAC-SHA256
# The longest unsubscribe or preferences token (`Tokens.make`): the largest id, ".", the signature (base64url, unpadded)
LONGEST_TOKEN = len(f"{ID_RANGE}.") + len(base64.urlsafe_b64encode(bytes(SIGNATURE_BYTES)).rstrip(b"="))


class BadToken(ValueError):
    """A token that was forged, altered, cut short, or made for another purpose."""


class ExpiredToken(BadToken):
    """A genuine confirm token, older than 7 days."""


def secret_path(project: Project) -> Path:
    return project.core.state_dir / SECRET_FILE


def signing_secret(project: Project) -> bytes:
    """The secret from the environment, or from `<state_dir>/secret` (made there on first use)."""
    return environment_secret(project) or _secret_file(secret_path(project))


def environment_secret(project: Project) -> bytes | None:
    """The secret `[serve] secret_env` names, None when that variable is not set; ConfigError when it is too short
    (`pipeline check` asks too, so that it is said before a send)."""
    variable = project.serve.secret_env
    value = os.environ.get(variable)
    if value is None:
        return None
    if len(value.strip()) < MIN_SECRET_CHARS:
        raise ConfigError(f"environment variable {variable} is set but shorter than {MIN_SECRET_CHARS} "
                          f"characters; set it to a long random string, or unset it to use {secret_path(project)}")
    return value.strip().encode("utf-8")


def secret_source(project: Project) -> str:
    """Where `signing_secret` takes the secret from, for a message (never the secret itself)."""
    variable = project.serve.secret_env
    return f"the environment variable {variable}" if variable in os.environ else str(secret_path(project))


def fingerprint(secret: bytes) -> str:
    """A short name for a secret, to tell two apart; it gives nothing of the secret away."""
    return hmac.new(secret, b"pipeline-fingerprint", "sha256").hexdigest()[:16]


def note_mailed(project: Project, links: Links) -> None:
    """Remember which secret signs the links being mailed (`SIGNED_WITH`: its fingerprint and where it came from),
    writing only when it changed."""
    path = project.core.state_dir / SIGNED_WITH
    if _signed_with(path).get("fingerprint") == links.fingerprint:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"fingerprint": links.fingerprint, "source": secret_source(project)}, handle)
    os.replace(temp, path)


def mismatch(project: Project, links: Links) -> str | None:
    """None when the links mailed so far were signed with the secret of `links` (or none were); else where theirs
    came from (`secret_source` when they were mailed)."""
    found = _signed_with(project.core.state_dir / SIGNED_WITH)
    if not found or found.get("fingerprint") == links.fingerprint:
        return None
    return str(found.get("source") or "another place")


def _signed_with(path: Path) -> dict:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or unreadable: nothing to compare with
        return {}
    return found if isinstance(found, dict) else {}


def _secret_file(path: Path) -> bytes:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write the whole secret to a file of our own, then link it into place: the link either
    # appears complete or fails because another process got there first, and then we use theirs.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(secrets.token_urlsafe(48).encode("ascii") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
            MADE_HERE.add(path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: the signing secret is readable by others; run `chmod 600 {path}`")
    value = path.read_bytes().strip()
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(f"{path}: the signing secret is empty or too short; delete the file to make a new one "
                          f"(links already sent stop working)")
    return value


class Tokens:
    """Makes and reads the tokens of one secret.

    Unsubscribe and preferences tokens are made for every recipient of every issue, so they are
    a plain HMAC-SHA256 of the id under a key per purpose (`<id>.<signature>`, about 1 µs each)
    rather than an itsdangerous serializer (about 25 µs, most of a 100,000-subscriber send).
    """

    def __init__(self, secret: bytes):
        # One key serves both: the preferences page can unsubscribe too, so the two links carry the same
        # power, and a send signs once per recipient.
        manage = hmac.new(secret, b"pipeline-manage", "sha256").digest()
        self._macs = {"unsubscribe": _Hmac(manage), "preferences": _Hmac(manage)}
        self._timed = URLSafeTimedSerializer(secret, salt="pipeline-confirm")

    def make(self, purpose: Purpose, subscriber_id: int, request: int | None = None) -> str:
        """A token for `subscriber_id`; a confirm token also names the `request` it confirms."""
        if purpose == "confirm":
            return self._timed.dumps(subscriber_id if request is None else [subscriber_id, request])
        return f"{subscriber_id}.{self._signature(purpose, str(subscriber_id))}"

    def _signature(self, purpose: Purpose, payload: str) -> str:
        digest = self._macs[purpose].digest(payload.encode())[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def read(self, purpose: Purpose, token: str, *, now: datetime | None = None) -> int:
        """The subscriber id in `token`; raises BadToken (or ExpiredToken, for an old confirm token)."""
        return self.read_signed(purpose, token, now=now)[0]

    def read_signed(self, purpose: Purpose, token: str, *,
                    now: datetime | None = None) -> tuple[int, int | None, datetime | None]:
        """(subscriber id, request id, when it was signed) in `token`; the time, in whole seconds, only for a
        confirm token (a bare one, made before requests were kept apart, is judged by it)."""
        signed_at, request = None, None
        try:
            if purpose == "confirm":
                subscriber_id, signed_at = self._timed.loads(token, return_timestamp=True)
                if isinstance(subscriber_id, list) and len(subscriber_id) == 2:
                    subscriber_id, request = subscriber_id
                    if not isinstance(request, int) or isinstance(request, bool) or request < 1:
                        raise BadData("bad request")
            else:
                payload, _, signature = token.partition(".")
                # compare_digest raises TypeError on non-ASCII text, which a percent-encoded path can hold
                if not payload.isdigit() or not signature.isascii() \
                        or not hmac.compare_digest(signature, self._signature(purpose, payload)):
                    raise BadData("bad signature")
                subscriber_id = int(payload)
        except (BadData, UnicodeError, ValueError, KeyError):
            raise BadToken("this link is not one we made, or it was cut short") from None
        if not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool) or subscriber_id < 1:
            raise BadToken("this link is not one we made, or it was cut short")
        if signed_at is not None and (now or datetime.now(UTC)) - signed_at > timedelta(days=CONFIRM_DAYS):
            raise ExpiredToken(f"this confirmation link is more than {CONFIRM_DAYS} days old")
        return subscriber_id, request, signed_at


class _Hmac:
    """HMAC-SHA256 (RFC 2104) with the padded key hashed once. `hmac.digest` would give the GIL up on
    every call, and a send's worker threads then make each of 100,000 calls wait its turn."""

    def __init__(self, key: bytes):
        key = key.ljust(64, b"\0")  # SHA-256's block size; the key is a 32-byte digest
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class Links:
    """Every signed link of one project; make one per send and reuse it for every recipient."""

    def __init__(self, project: Project, secret: bytes | None = None):
        self.site_url = project.core.site_url
        secret = secret if secret is not None else signing_secret(project)
        self.tokens = Tokens(secret)
        self.fingerprint = fingerprint(secret)

    def confirm(self, subscriber_id: int, request: int | None = None) -> str:
        return f"{self.site_url}/confirm/{self.tokens.make('confirm', subscriber_id, request)}"

    def unsubscribe(self, subscriber_id: int) -> str:
        return f"{self.site_url}/unsubscribe/{self.tokens.make('unsubscribe', subscriber_id)}"

    def preferences(self, subscriber_id: int) -> str:
        return f"{self.site_url}/preferences/{self.tokens.make('preferences', subscriber_id)}"

    def token(self, subscriber_id: int) -> str:
        """The token of a subscriber's unsubscribe and preferences links (`<site_url>/unsubscribe/<token>`)."""
        return self.tokens.make("unsubscribe", subscriber_id)
