"""The signing secret, and the signed tokens in confirm, unsubscribe and preferences links.

The secret is the environment variable `[serve] secret_env` names (`PIPELINE_SECRET`); when it is
unset, one is made on first use and kept in `<state_dir>/secret`, readable by its owner only, so
`pipeline serve` and every send sign with the same secret. It is never printed.

A token is the subscriber's id, signed with HMAC (itsdangerous) and a salt per purpose, so a
token made for one purpose is refused for another, and the address never appears in a link.
Unsubscribe and preferences tokens never expire (they sit in old emails); a confirm token lasts 7
days. Changing the secret makes every link sent so far invalid.
"""

from __future__ import annotations

import os
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

from pipeline.config import Project
from pipeline.errors import ConfigError

Purpose = Literal["confirm", "unsubscribe", "preferences"]
SECRET_FILE = "secret"
CONFIRM_DAYS = 7
MIN_SECRET_CHARS = 16


class BadToken(ValueError):
    """A token that was forged, altered, cut short, or made for another purpose."""


class ExpiredToken(BadToken):
    """A genuine confirm token, older than 7 days."""


def secret_path(project: Project) -> Path:
    return project.core.state_dir / SECRET_FILE


def signing_secret(project: Project) -> bytes:
    """The secret from the environment, or from `<state_dir>/secret` (made there on first use)."""
    variable = project.serve.secret_env
    value = os.environ.get(variable)
    if value is not None:
        if len(value.strip()) < MIN_SECRET_CHARS:
            raise ConfigError(f"environment variable {variable} is set but shorter than {MIN_SECRET_CHARS} "
                              f"characters; set it to a long random string, or unset it to use {secret_path(project)}")
        return value.strip().encode("utf-8")
    return _secret_file(secret_path(project))


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
    """Makes and reads the tokens of one secret."""

    def __init__(self, secret: bytes):
        self._plain = {purpose: URLSafeSerializer(secret, salt=f"pipeline-{purpose}")
                       for purpose in ("unsubscribe", "preferences")}
        self._timed = URLSafeTimedSerializer(secret, salt="pipeline-confirm")

    def make(self, purpose: Purpose, subscriber_id: int) -> str:
        serializer = self._timed if purpose == "confirm" else self._plain[purpose]
        return serializer.dumps(subscriber_id)

    def read(self, purpose: Purpose, token: str, *, now: datetime | None = None) -> int:
        """The subscriber id in `token`; raises BadToken (or ExpiredToken, for an old confirm token)."""
        try:
            if purpose == "confirm":
                subscriber_id, signed_at = self._timed.loads(token, return_timestamp=True)
            else:
                subscriber_id, signed_at = self._plain[purpose].loads(token), None
        except (BadData, UnicodeError, ValueError):
            raise BadToken("this link is not one we made, or it was cut short") from None
        if not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool) or subscriber_id < 1:
            raise BadToken("this link is not one we made, or it was cut short")
        if signed_at is not None and (now or datetime.now(UTC)) - signed_at > timedelta(days=CONFIRM_DAYS):
            raise ExpiredToken(f"this confirmation link is more than {CONFIRM_DAYS} days old")
        return subscriber_id


class Links:
    """Every signed link of one project; make one per send and reuse it for every recipient."""

    def __init__(self, project: Project, secret: bytes | None = None):
        self.site_url = project.core.site_url
        self.tokens = Tokens(secret if secret is not None else signing_secret(project))

    def confirm(self, subscriber_id: int) -> str:
        return f"{self.site_url}/confirm/{self.tokens.make('confirm', subscriber_id)}"

    def unsubscribe(self, subscriber_id: int) -> str:
        return f"{self.site_url}/unsubscribe/{self.tokens.make('unsubscribe', subscriber_id)}"

    def preferences(self, subscriber_id: int) -> str:
        return f"{self.site_url}/preferences/{self.tokens.make('preferences', subscriber_id)}"


def confirm_url(project: Project, subscriber_id: int) -> str:
    """`<site_url>/confirm/<token>`, valid for 7 days."""
    return Links(project).confirm(subscriber_id)


def unsubscribe_url(project: Project, subscriber_id: int) -> str:
    """`<site_url>/unsubscribe/<token>`: the one-click (RFC 8058) and footer link; never expires."""
    return Links(project).unsubscribe(subscriber_id)


def preferences_url(project: Project, subscriber_id: int) -> str:
    """`<site_url>/preferences/<token>`: themes, and leave; never expires."""
    return Links(project).preferences(subscriber_id)
