"""What keeps the subscribe form from being used to mail strangers: a form token bound to a cookie
(CSRF), an origin check, and rate limits per address and per client (the Host check is `hosts.py`).

The form token is session-free: the cookie holds a random value, the form's hidden field holds that
value signed with the secret and a time. A POST must bring both, matching, and less than a day
old; another site can make a browser send the cookie but cannot read it to forge the field, and
the cookie is SameSite=Strict besides.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from pipeline.web.hosts import DEFAULT_PORTS, AllowedHosts, parse_origin, split_host

FORM_MAX_AGE = 24 * 3600  # seconds a form stays valid
_NONCE_CHARS = 22


class FormTokens:
    def __init__(self, secret: bytes):
        self._serializer = URLSafeTimedSerializer(secret, salt="pipeline-form")

    @staticmethod
    def cookie_name(request: Request) -> str:
        # __Host- cookies must be Secure, so only over https (which, behind a proxy, X-Forwarded-Proto tells)
        return "__Host-pipeline-form" if request.url.scheme == "https" else "pipeline-form"

    def issue(self, request: Request) -> tuple[str, str]:
        """(hidden field value, cookie value) for a form shown to this client; the cookie is reused if it has one."""
        nonce = request.cookies.get(self.cookie_name(request), "")
        if len(nonce) != _NONCE_CHARS or not nonce.isascii() or not nonce.replace("-", "").replace("_", "").isalnum():
            nonce = secrets.token_urlsafe(16)
        return self._serializer.dumps(nonce), nonce

    def set_cookie(self, request: Request, response: Response, nonce: str) -> None:
        response.set_cookie(self.cookie_name(request), nonce, max_age=FORM_MAX_AGE, path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")

    def check(self, request: Request, field: str) -> bool:
        nonce = request.cookies.get(self.cookie_name(request), "")
        try:
            signed = self._serializer.loads(field, max_age=FORM_MAX_AGE)
        except BadData:
            return False
        # compare_digest raises TypeError on non-ASCII text; a client can send any cookie
        return bool(nonce) and nonce.isascii() and isinstance(signed, str) and hmac.compare_digest(signed, nonce)


def same_origin(request: Request, allowed: AllowedHosts) -> bool:
    """False when the browser says the form was posted from another origin. The Origin must be one the app
    answers to, and the request's own or `site_url`'s. No Origin header passes (older browsers send none);
    "null", which a sandboxed frame or a data: page sends, does not."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    said = parse_origin(origin)
    if said is None or not allowed.allows(said[1], said[2]):
        return False
    scheme = request.url.scheme
    host = split_host(request.headers.get("host", ""))
    own = host and (scheme, host[0], host[1] or DEFAULT_PORTS.get(scheme, 0))
    return said in (own, allowed.site_origin)


class RateLimiter:
    """At most `limit` hits per key in any `window` seconds, kept in memory (one process)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one hit; None if it is allowed, else the seconds until the next one will be."""
        now = self.clock()
        with self._lock:
            if key not in self._hits and len(self._hits) >= self.max_keys:  # room for a new key, not one kept
                self._forget_before(now - self.window)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1.0, hits[0] + self.window - now)
            hits.append(now)
            return None

    def _forget_before(self, cutoff: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]
        room = self.max_keys * 3 // 4
        if len(self._hits) > room:
            # Still nearly full, of keys hit in the window: drop the oldest down to three quarters, so that the
            # next new keys do not each scan them all again (a client with many addresses could make every
            # hit that slow). Keys at their limit go last: forgotten, a flood of new keys would free them.
            spare = [key for key, hits in self._hits.items() if len(hits) < self.limit]
            limited = [key for key, hits in self._hits.items() if len(hits) >= self.limit]
            for key in (spare + limited)[: len(self._hits) - room]:
                del self._hits[key]
