"""`POST <site_url's path>/webhooks/sendgrid`: SendGrid's Event Webhook, signed, suppresses bounced, complaining and
unsubscribed addresses.

The signature (ECDSA P-256 over the timestamp and the raw body) is checked with the official
library's helper, against the verification key in the environment variable `[serve]
webhook_key_env` names. No key set: 503, nothing accepted. Unsigned or badly signed: 403, nothing
changes; a request without the signature headers is told from them, before the body is read. One with them while
no key is set (serve started without the variable) is said in the log: SendGrid's posts are not lost unheard. A
request SendGrid signed more than 5 minutes from this server's clock (the signed timestamp header) is
refused too (403), so a captured request cannot be replayed later (judged once the signature verifies:
anyone can send an old time, and the log says so only of SendGrid's own); and an event that
happened before the subscriber's latest change to active or pending (they subscribed again after
the bounce) changes nothing, so neither can a replay within those minutes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from time import monotonic

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from pipeline.state import Store, provider_reports
from pipeline.state.subscribers import suppress_all
from pipeline.subscribers.provider_events import sendgrid_suppressions
from pipeline.web.server_log import Sparing

log = logging.getLogger("pipeline.web")
MAX_BODY = 8 * 1024 * 1024  # SendGrid posts events in batches: a generous bound (the README's nginx lets it in)
MAX_SKEW = timedelta(minutes=5)  # how far the signed timestamp may be from now, either way
# Suppressions of a batch applied in one transaction (one write of the suppression log, one fsync): a fraction of a
# second's hold on the database, so a run writing meanwhile never waits out its busy timeout, whatever the batch.
PER_TRANSACTION = 1000


async def sendgrid(request: Request) -> Response:
    web = request.app.state.web
    variable = web.project.serve.webhook_key_env
    key = os.environ.get(variable, "")
    verifier = _verifier(key, variable, _bad_keys(request))
    signature = request.headers.get(EventWebhookHeader.SIGNATURE)
    if verifier is None:
        if signature and not key.strip():  # (a key that can never verify is said apart, by `_verifier`)
            _refused(request, "no key", f"a request with SendGrid's signature headers was refused (503): {variable} "
                                        f"is not set where serve runs. If SendGrid's Event Webhook posts here, put its "
                                        f"verification key there: until then no bounce, spam report or unsubscribe "
                                        f"it reports changes the list, and SendGrid gives up on each after 24 hours")
        return PlainTextResponse(f"the event webhook is not configured here: set {variable}\n", status_code=503)
    timestamp = request.headers.get(EventWebhookHeader.TIMESTAMP)
    # What the headers alone refuse is refused before the body (up to MAX_BODY, from anyone) is read.
    signed_at = _signed_at(timestamp or "")
    if not signature or signed_at is None:
        return PlainTextResponse("signature missing or not valid\n", status_code=403)
    body = await request.body()
    if not _verified(verifier, body, signature, timestamp):
        _refused(request, "signature", f"a SendGrid webhook request was refused (403): its signature does not verify "
                                       f"with the key in {variable}. If SendGrid's Event Webhook posts here, put its "
                                       f"current verification key there (SendGrid makes a new one each time signed "
                                       f"posts are turned on again): until then no bounce, spam report or unsubscribe "
                                       f"it reports changes the list")
        return PlainTextResponse("signature missing or not valid\n", status_code=403)
    # Judged once the signature is SendGrid's: anyone can send an old time, and its line would then tell of a
    # stranger's post, not of SendGrid's own requests refused for this clock.
    now = datetime.now(UTC)
    if abs(now - signed_at) > MAX_SKEW:
        _refused(request, "skew", f"a SendGrid webhook request was signed at {signed_at:%Y-%m-%d %H:%M:%S} UTC, "
                                  f"more than {MAX_SKEW.seconds // 60} minutes from this server's clock, and refused "
                                  f"(403): a replay, or this machine's clock is off (keep it in sync, with NTP)")
        return PlainTextResponse(f"signed more than {MAX_SKEW.seconds // 60} minutes from now: a replay, or a "
                                 f"clock out of step\n", status_code=403)
    _refusals(request).forget()  # one verified: a refusal after it is said again at once
    changed = await run_in_threadpool(_apply, web.store, body, now)
    if changed is None:
        return PlainTextResponse("the body is not JSON\n", status_code=400)
    return PlainTextResponse(f"{changed} address{'es' if changed != 1 else ''} suppressed\n")


def _refused(request: Request, why: str, line: str) -> None:
    """Log `line` the first time a request is refused for `why` ("signature", "skew", "no key"), then, while such
    refusals go on, at most once an hour (`server_log.EVERY`) with how many came since; a request that verifies
    starts it over. So a flood of forged posts cannot fill the log, nor, said early, hide a key SendGrid changed
    later (its refusals are still said within the hour)."""
    due = _refusals(request).due(why)
    if due is None:
        return
    count, since = due
    if not count:
        log.warning(line)
    else:
        log.warning("%s (%d such request%s in the last %d minutes)", line, count, "s" if count != 1 else "",
                    round(since / 60))


def _refusals(request: Request) -> Sparing:
    """When the app last said each kind of refusal (as long as it serves)."""
    sparing = getattr(request.app.state, "webhook_refused", None)
    if sparing is None:
        # (the clock read at each call, through this module: a test sets it)
        sparing = request.app.state.webhook_refused = Sparing(clock=lambda: monotonic())
    return sparing


def _bad_keys(request: Request) -> set[str]:
    """The digests of the keys that could never verify a request which the log has named so far (as long as the app
    serves)."""
    said = getattr(request.app.state, "webhook_bad_keys", None)
    if said is None:
        said = request.app.state.webhook_bad_keys = set()
    return said


def _verifier(key: str, variable: str, said: set[str]) -> EventWebhook | None:
    """The verifier of `key`; None when there is none, or it could never verify a request of SendGrid's. Such a key
    is logged once (its digest then in `said`), not for every post, which anyone may send."""
    key = "".join(key.split())
    if not key:
        return None
    if _p256(key):  # SendGrid signs with ECDSA on P-256: another key could never verify a request
        try:
            return EventWebhook(key)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
    if digest not in said:
        said.add(digest)
        log.error("%s does not hold SendGrid's verification key (an ECDSA P-256 public key, base64, as SendGrid "
                  "shows it); webhook requests are refused", variable)
    return None


def usable(key: str) -> bool:
    """Whether `key` (the variable's value) could verify SendGrid's posts: `pipeline serve` records at start that it
    listens (`provider_reports.listening`), so that a webhook SendGrid never reaches is noticed (the alerts)."""
    return _p256("".join(key.split()))


def _p256(key: str) -> bool:
    """Whether `key` (base64 DER, as SendGrid shows it) is an ECDSA P-256 public key; judged here, not by the
    object the sendgrid library makes of it, which has been of three libraries' types across its versions."""
    try:
        public = load_der_public_key(base64.b64decode(key, validate=True))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)


def _verified(verifier: EventWebhook, body: bytes, signature: str, timestamp: str) -> bool:
    try:
        return verifier.verify_signature(body.decode("utf-8"), signature, timestamp) is True
    except Exception:  # not UTF-8, not base64, not DER, not an EC key: whatever the reason, not verified
        return False


def _signed_at(timestamp: str) -> datetime | None:
    """The signed timestamp header (Unix seconds) as a time; None when it is none."""
    try:
        return datetime.fromtimestamp(int(timestamp.strip()), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _apply(store: Store, body: bytes, at: datetime) -> int | None:
    """How many addresses the batch `body` suppressed (`PER_TRANSACTION` at a time); None when it is not JSON. Called
    in a worker thread: reading a batch of thousands of events (each address spelt as the list keeps it) takes
    seconds, which on the event loop would hold up every other request the while."""
    provider_reports.heard(store, at)  # SendGrid reaches us, whatever the batch holds
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):  # (nested deeper than the parser goes: not a batch of events either)
        return None
    reports = [(s.email, s.status, s.how, s.detail, s.occurred) for s in sendgrid_suppressions(events)]
    return sum(suppress_all(store, reports[start:start + PER_TRANSACTION], at=at)
               for start in range(0, len(reports), PER_TRANSACTION))
