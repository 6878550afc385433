"""A fake SendGrid v3 API on 127.0.0.1 keeping the real contract for mail send, batches and scheduled sends.

    fake = FakeSendGrid(api_key="SG.test", latency=0.0, now=None).start()  # now: clock callable (time.time)
    client = sendgrid.SendGridAPIClient(api_key=fake.api_key, host=fake.url); ...; fake.stop()

Every request needs `Authorization: Bearer <api_key>` (else 401); errors are {"errors": [{message, field, help}]}.
    POST   /v3/mail/send                    202 + X-Message-Id, empty body; 400 for an uncreated batch_id, a
                                            non-integer send_at or one over 72 h ahead (past: sent at once); 413, 415;
                                            400 naming each bad recipient's field ("personalizations.3.to.0.email":
                                            nothing of the request is taken)
    POST   /v3/mail/batch                   201 {"batch_id"}
    GET    /v3/mail/batch/{id}              200 {"batch_id"} | 400 "invalid batch id"
    POST   /v3/user/scheduled_sends         {"batch_id", "status": "cancel"|"pause"} -> 201 same object | 400
    GET    /v3/user/scheduled_sends[/{id}]  200 [{"batch_id", "status"}], [] when the batch has no status
    PATCH  /v3/user/scheduled_sends/{id}    {"status"} -> 204 | 404 "batch id not found"
    DELETE /v3/user/scheduled_sends/{id}    204 (paused mail already past send_at goes out now) | 404
    DELETE /v3/suppression/bounces/{email}   204 (off the bounce list) | 404 when it is not on it
    DELETE /v3/asm/suppressions/global/{email}  204 (off the global unsubscribes) | 404 when it is not on it
    DELETE /v3/suppression/spam_reports/{email}  204 | 404, the same for spam reports
    DELETE /v3/suppression/invalid_emails/{email}  204 | 404, the same for invalid emails
A recipient on a suppression list (fake.suppress(email, "bounces" | "unsubscribes" | "spam_reports" |
"invalid_emails"), as SendGrid adds one that bounced, unsubscribed, reported spam or was judged invalid;
fake.suppressions[list] holds them) is accepted with the rest (202) and then dropped, never delivered, as SendGrid
does, until it is deleted from every list holding it; unless the body's mail_settings bypass that list
(bypass_bounce_management: the bounce list alone; bypass_unsubscribe_management: the global unsubscribes alone;
bypass_spam_management: the spam reports alone; bypass_list_management: every list, invalid emails too, and it
cannot be combined with the others). No bypass filter but bypass_list_management passes the invalid emails list.
A recipient whose `name` holds a comma or a semicolon is accepted with the rest (202) and then dropped, never
delivered, as SendGrid documents ("to.name ... cannot include commas or semicolons") and does: it reads the name as
addresses and finds them invalid (fake.dropped lists such recipients).
Cancel/pause is refused (400) later than 10 minutes before the batch's earliest pending send_at, and while 10
batches hold a status whose send_at hasn't passed ("max limit reached"). Mail without send_at goes out at once and
can't be cancelled; scheduled mail is discarded at send_at if its batch is cancelled then, held if paused (expired
72 h later), else delivered.

Observe: fake.accepted / fake.message_ids (mail/send bodies taken into the ledger, faulted ones included),
fake.statuses (every status answered), fake.log ([Request(n, method, path, time, status (None: dropped), batch_id,
recipients, fault)] in the order answered), fake.batches ({batch_id: None|"pause"|"cancel"}),
fake.delivered(pending=True) (Counter of copies per lower-case to/cc/bcc address; pending=False leaves out mail
whose send_at hasn't come), fake.cancelled_batches(), fake.now(), fake.advance(seconds) (moves the clock on).
Faults, each for the next `times` matching requests; on="send" (default), "batch" (POST /v3/mail/batch),
"validate" (GET /v3/mail/batch/{id}), "scheduled_sends" (any), "suppressions" (any), "*", or a tuple of these:
    fail_before(status=500)  answer status, accept nothing (429 comes with X-RateLimit-Limit/Remaining/Reset;
                             reset_in=seconds puts its Reset that far ahead, as a daily cap's is, else now)
    fail_after(status=500)   accept (ledger, batch, status change), then answer status
    drop_before() / drop_after()  close the connection unanswered, before / after accepting
    delay(seconds)           accept, then wait before answering (set it above the client's timeout)
    cancel_too_late()        refuse cancel/pause (scheduled_sends POST/PATCH) as if past the 10-minute cutoff
    refuse_addresses(*emails) judge these well-formed addresses invalid, as SendGrid's validator may: every request
                             naming one gets 400 "Does not contain a valid address." for its field, until heal()
    fail_next(status, times) the old name of fail_before(status, times)
    on_request(callback)     callback(n, path, phase), phase "received" or "accepted" (applied, not answered yet);
                             n numbers requests from 1; its exceptions go to fake.errors
As a process: python tests/fake_sendgrid.py --port 0 --latency 0.1 --api-key SG.x [--ledger PATH] prints its URL
first, and on SIGTERM/SIGINT writes delivered() to PATH as JSON.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

MAX_BODY_BYTES = 30 * 1024 * 1024  # SendGrid's limit for a whole request
MAX_PERSONALIZATIONS = 1000
MAX_SCHEDULE_AHEAD = 72 * 3600  # send_at at most 72 hours ahead
CANCEL_CUTOFF = 10 * 60  # no cancel/pause later than 10 minutes before send_at
MAX_STATUSES = 10  # batches paused or cancelled at one time
PAUSE_EXPIRY = 72 * 3600  # paused mail is discarded as expired this long after its send_at
TARGETS = frozenset({"send", "batch", "validate", "scheduled_sends", "suppressions", "*"})
SUPPRESSION_LISTS = ("bounces", "unsubscribes", "spam_reports", "invalid_emails")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
_SEND_AT = ("The send_at parameter is expecting a Unix timestamp as an integer. We will send immediately if you "
            "include a send_at timestamp that is in the past.")
_TOO_LATE = "cannot cancel or pause a scheduled send later than 10 minutes before its send_at"  # wording not published


@dataclass
class Request:
    """One entry of fake.log: status None means the connection was closed without an answer."""
    n: int
    method: str
    path: str
    time: float
    status: int | None = None
    batch_id: str | None = None
    recipients: tuple[str, ...] = ()
    fault: str | None = None


@dataclass
class Message:
    """Accepted mail going out at one send_at: scheduled -> delivered | discarded | held -> delivered | expired."""
    message_id: str
    batch_id: str | None
    send_at: float
    recipients: tuple[str, ...]
    state: str = "scheduled"


@dataclass
class _Fault:
    kind: str
    targets: frozenset[str]
    times: int
    status: int = 500
    seconds: float = 0.0
    reset_in: float = 0.0  # a 429's X-RateLimit-Reset, this long after now


@dataclass
class _Reply:
    status: int
    payload: object = None  # JSON, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


class FakeSendGrid:
    def __init__(self, api_key: str = "SG.test-key", max_body_bytes: int = MAX_BODY_BYTES, latency: float = 0.0,
                 now: Callable[[], float] | None = None, port: int = 0):
        self.api_key, self.max_body_bytes, self.latency = api_key, max_body_bytes, latency
        self.accepted: list[dict] = []
        self.dropped: list[str] = []  # recipients accepted and then dropped (a name with "," or ";")
        self.message_ids: list[str] = []
        self.statuses: list[int] = []
        self.log: list[Request] = []
        self.batches: dict[str, str | None] = {}
        self.errors: list[BaseException] = []  # raised by the on_request callback
        self._clock, self._offset = now or time.time, 0.0
        self._messages: list[Message] = []
        self._by_batch: dict[str, list[Message]] = {}
        self._scheduled: list[tuple[float, int, Message]] = []  # heap by send_at
        self._held: list[Message] = []
        self._faults: list[_Fault] = []
        self._too_late = 0
        self._invalid: set[str] = set()  # addresses SendGrid's validator refuses
        self.suppressions: dict[str, set[str]] = {name: set() for name in SUPPRESSION_LISTS}
        self._hook: Callable[[int, str, str], object] | None = None
        self._requests = 0
        self._lock = threading.RLock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- clock and ledger ------------------------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
            self._settle()

    def delivered(self, pending: bool = True) -> Counter[str]:
        """Copies per recipient; with pending, scheduled mail of batches without a status counts as it will go out."""
        with self._lock:
            self._settle()
            counts: Counter[str] = Counter()
            for m in self._messages:
                if m.state == "delivered" or (pending and m.state == "scheduled" and not self.batches.get(m.batch_id)):
                    counts.update(m.recipients)
            return counts

    def cancelled_batches(self) -> set[str]:
        with self._lock:
            return {b for b, status in self.batches.items() if status == "cancel"}

    def _settle(self) -> None:
        """Resolve mail whose send_at has come, by its batch's status at that moment (called before every change)."""
        now = self.now()
        while self._scheduled and self._scheduled[0][0] <= now:
            m = heapq.heappop(self._scheduled)[2]
            m.state = {"cancel": "discarded", "pause": "held"}.get(self.batches.get(m.batch_id), "delivered")
            if m.state == "held":
                self._held.append(m)
        for m in [m for m in self._held if now > m.send_at + PAUSE_EXPIRY]:
            m.state = "expired"
            self._held.remove(m)

    # -- faults ----------------------------------------------------------------------------------------------------
    def heal(self) -> None:
        """Forget every fault still waiting: the outage is over."""
        with self._lock:
            self._faults.clear()
            self._invalid.clear()

    def suppress(self, email: str, kind: str = "bounces") -> None:
        """Put `email` on one of SendGrid's suppression lists, as its own bounce, unsubscribe or spam handling does."""
        with self._lock:
            self.suppressions[kind].add(email.lower())

    def suppressed(self, email: str) -> bool:
        with self._lock:
            return any(email.lower() in listed for listed in self.suppressions.values())

    def refuse_addresses(self, *emails: str) -> None:
        """SendGrid judges these addresses invalid (its own checks go beyond their form)."""
        with self._lock:
            self._invalid.update(e.lower() for e in emails)

    def fail_before(self, status: int = 500, times: int = 1, on: str | Iterable[str] = "send",
                    reset_in: float = 0.0) -> None:
        self._add("fail_before", on, times, status=status, reset_in=reset_in)

    def fail_after(self, status: int = 500, times: int = 1, on: str | Iterable[str] = "send") -> None:
        self._add("fail_after", on, times, status=status)

    def drop_before(self, times: int = 1, on: str | Iterable[str] = "send") -> None:
        self._add("drop_before", on, times)

    def drop_after(self, times: int = 1, on: str | Iterable[str] = "send") -> None:
        self._add("drop_after", on, times)

    def delay(self, seconds: float, times: int = 1, on: str | Iterable[str] = "send") -> None:
        self._add("delay", on, times, seconds=seconds)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` authorised mail/send requests with `status` (429 or 5xx)."""
        self.fail_before(status, times)

    def cancel_too_late(self, times: int = 1) -> None:
        with self._lock:
            self._too_late += times

    def on_request(self, callback: Callable[[int, str, str], object] | None) -> None:
        self._hook = callback

    def _add(self, kind: str, on: str | Iterable[str], times: int, **params) -> None:
        targets = frozenset([on] if isinstance(on, str) else on)
        if not targets <= TARGETS:
            raise ValueError(f"on= must be among {sorted(TARGETS)}, not {sorted(targets - TARGETS)}")
        with self._lock:
            self._faults.append(_Fault(kind, targets, times, **params))

    def _take(self, kinds: tuple[str, ...], target: str) -> _Fault | None:
        for fault in self._faults:
            if fault.kind in kinds and (target in fault.targets or "*" in fault.targets):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _call_hook(self, n: int, path: str, phase: str) -> None:
        if self._hook is not None:
            try:
                self._hook(n, path, phase)
            except Exception as error:  # noqa: BLE001 - a test's hook must not break the server
                self.errors.append(error)

    # -- serving ---------------------------------------------------------------------------------------------------
    def _serve(self, method: str, path: str, headers, raw: bytes) -> _Reply:
        with self._lock:
            self._requests += 1
            entry = Request(self._requests, method, path.split("?")[0], self.now())
        self._call_hook(entry.n, entry.path, "received")
        target, handlers, arg = _route(entry.path)
        with self._lock:
            self._settle()
            reply = self._precheck(entry, target, handlers, headers, len(raw))
            if reply is None:
                reply = getattr(self, handlers[method])(entry, headers, raw, arg)
        if entry.fault is None and 200 <= reply.status < 300:
            self._call_hook(entry.n, entry.path, "accepted")
            with self._lock:
                fault = self._take(("fail_after", "drop_after", "delay"), target)
            if fault is not None:
                entry.fault = fault.kind
                if fault.kind == "fail_after":
                    reply = _failure(fault.status, self.now(), fault.reset_in)
                reply.drop, reply.delay = fault.kind == "drop_after", fault.seconds
        with self._lock:
            entry.status = None if reply.drop else reply.status
            self.log.append(entry)
            if entry.status is not None:
                self.statuses.append(entry.status)
        return reply

    def _precheck(self, entry: Request, target, handlers, headers, length: int) -> _Reply | None:
        if target is None:
            return _error(404, "not found")
        if entry.method not in handlers:
            return _error(405, "method not allowed")
        auth = headers.get("Authorization")
        if auth != f"Bearer {self.api_key}":
            return _error(401, "The provided authorization grant is invalid, expired, or revoked" if auth
                          else "authorization required")
        if target == "send" and length > self.max_body_bytes:
            return _error(413, "The JSON payload you have included in your request is too large.")
        fault = self._take(("fail_before", "drop_before"), target)
        if fault is None:
            return None
        entry.fault = fault.kind
        return _Reply(0, drop=True) if fault.kind == "drop_before" else \
            _failure(fault.status, self.now(), fault.reset_in)

    def _send(self, entry: Request, headers, raw: bytes, _) -> _Reply:
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return _error(415, "Content-Type should be application/json.")
        try:
            parsed = json.loads(raw)
        except ValueError:
            return _error(400, "Bad Request")
        body = parsed if isinstance(parsed, dict) else {}
        groups: dict[object, list[str]] = {}  # send_at -> recipients
        dropped: list[str] = []  # a name with "," or ";": accepted, then dropped as invalid
        personalizations = body.get("personalizations")
        settings = body.get("mail_settings") if isinstance(body.get("mail_settings"), dict) else {}
        bypassed = {kind for kind, setting in (("bounces", "bypass_bounce_management"),
                                               ("unsubscribes", "bypass_unsubscribe_management"),
                                               ("spam_reports", "bypass_spam_management"))
                    if isinstance(settings.get(setting), dict) and settings[setting].get("enable") is True}
        whole = settings.get("bypass_list_management")
        if isinstance(whole, dict) and whole.get("enable") is True:
            if bypassed:  # SendGrid: "This filter cannot be combined with any other bypass filters."
                return _error(400, "bypass_list_management cannot be combined with any other bypass filters",
                              "mail_settings.bypass_list_management")  # wording not published
            bypassed = set(SUPPRESSION_LISTS)
        checked = [kind for kind in SUPPRESSION_LISTS if kind not in bypassed]
        for p in personalizations if isinstance(personalizations, list) else []:
            p = p if isinstance(p, dict) else {}
            parties = [party for key in ("to", "cc", "bcc")
                       for party in (p.get(key) if isinstance(p.get(key), list) else []) if isinstance(party, dict)]
            gone = [party for party in parties if any(mark in str(party.get("name", "")) for mark in ",;")
                    or any(str(party.get("email", "")).lower() in self.suppressions[kind] for kind in checked)]
            dropped += [str(party.get("email", "")).lower() for party in gone]
            groups.setdefault(p.get("send_at", body.get("send_at")), []).extend(
                str(party.get("email", "")).lower() for party in parties if party not in gone)
        entry.batch_id = body.get("batch_id")
        entry.recipients = tuple(r for rs in groups.values() for r in rs)
        problems = validate(parsed, self._invalid)
        if not problems and entry.batch_id is not None and entry.batch_id not in self.batches:
            problems = [("invalid batch id", "batch_id")]
        now = self.now()
        if not problems and any(s is not None and s > now + MAX_SCHEDULE_AHEAD for s in groups):
            problems = [("Scheduling more than 72 hours in advance is forbidden.", "send_at")]
        if problems:
            return _errors(400, problems, help=True)
        message_id = uuid.uuid4().hex[:22]
        self.dropped += dropped
        for send_at, recipients in groups.items():
            later = send_at is not None and send_at > now
            m = Message(message_id, entry.batch_id, send_at if later else now, tuple(recipients),
                        "scheduled" if later else "delivered")
            self._messages.append(m)
            if entry.batch_id:
                self._by_batch.setdefault(entry.batch_id, []).append(m)
            if later:
                heapq.heappush(self._scheduled, (m.send_at, len(self._messages), m))
        self.accepted.append(body)
        self.message_ids.append(message_id)
        return _Reply(202, headers={"X-Message-Id": message_id})

    def _create_batch(self, entry: Request, *_) -> _Reply:
        entry.batch_id = uuid.uuid4().hex
        self.batches[entry.batch_id] = None
        return _Reply(201, {"batch_id": entry.batch_id})

    def _validate_batch(self, entry: Request, headers, raw, batch_id: str) -> _Reply:
        entry.batch_id = batch_id
        return _Reply(200, {"batch_id": batch_id}) if batch_id in self.batches else _error(400, "invalid batch id")

    def _post_status(self, entry: Request, headers, raw: bytes, _) -> _Reply:
        body = _json_object(raw)
        entry.batch_id = batch_id = body.get("batch_id")
        if not isinstance(batch_id, str) or batch_id not in self.batches:
            return _error(400, "invalid batch id", "batch_id")
        if self.batches[batch_id]:
            return _error(400, "a status for this batch id exists, try PATCH to update the status", "batch_id")
        refusal = self._refuse_status(entry, body.get("status"))
        if refusal:
            return refusal
        if sum(1 for b, s in self.batches.items() if s and self._in_force(b)) >= MAX_STATUSES:
            return _error(400, "max limit reached")
        self.batches[batch_id] = body["status"]
        return _Reply(201, {"batch_id": batch_id, "status": body["status"]})

    def _list_statuses(self, *_) -> _Reply:
        return _Reply(200, [{"batch_id": b, "status": s} for b, s in self.batches.items() if s])

    def _get_status(self, entry: Request, headers, raw, batch_id: str) -> _Reply:
        entry.batch_id, status = batch_id, self.batches.get(batch_id)
        return _Reply(200, [{"batch_id": batch_id, "status": status}] if status else [])

    def _patch_status(self, entry: Request, headers, raw: bytes, batch_id: str) -> _Reply:
        entry.batch_id, status = batch_id, _json_object(raw).get("status")
        if not self.batches.get(batch_id):
            return _error(404, "batch id not found")
        refusal = self._refuse_status(entry, status)
        if refusal:
            return refusal
        self.batches[batch_id] = status
        if status == "cancel":
            self._release(batch_id, "discarded")
        return _Reply(204)

    def _delete_status(self, entry: Request, headers, raw, batch_id: str) -> _Reply:
        entry.batch_id = batch_id
        if not self.batches.get(batch_id):
            return _error(404, "batch id not found")
        self.batches[batch_id] = None
        self._release(batch_id, "delivered")
        return _Reply(204)

    def _delete_suppression(self, entry: Request, headers, raw, where: tuple[str, str]) -> _Reply:
        kind, email = where
        listed = self.suppressions[kind]
        entry.recipients = (email.lower(),)
        if email.lower() not in listed:
            return _error(404, f"{email} is not on the {kind.replace('_', ' ')} list")  # wording not published
        listed.discard(email.lower())
        return _Reply(204)

    def _release(self, batch_id: str, state: str) -> None:
        """Mail held by a batch's pause past its send_at: delivered now or discarded."""
        for m in [m for m in self._held if m.batch_id == batch_id]:
            m.state = state
            self._held.remove(m)

    def _refuse_status(self, entry: Request, status: object) -> _Reply | None:
        if status not in ("cancel", "pause"):
            return _error(400, 'status must be "cancel" or "pause"', "status")
        pending = [m.send_at for m in self._by_batch.get(entry.batch_id, []) if m.state == "scheduled"]
        if self._too_late:
            self._too_late -= 1
            entry.fault = "cancel_too_late"
            return _error(400, _TOO_LATE)
        if pending and self.now() > min(pending) - CANCEL_CUTOFF:
            return _error(400, _TOO_LATE)
        return None

    def _in_force(self, batch_id: str) -> bool:
        """Whether a batch's status still counts towards the limit: its send_at has not passed (or it has no mail)."""
        mail = self._by_batch.get(batch_id, [])
        return not mail or any(m.state in ("scheduled", "held") for m in mail)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSendGrid/1.0"

    def date_time_string(self, timestamp=None) -> str:  # Date by the fake's clock, as SendGrid's by its own
        return formatdate(self.server.fake.now() if timestamp is None else timestamp, usegmt=True)

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        fake: FakeSendGrid = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = fake._serve(self.command, self.path, self.headers, raw)
        if fake.latency + reply.delay:
            time.sleep(fake.latency + reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        payload = b"" if reply.payload is None else json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            if reply.payload is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up waiting
            self.close_connection = True

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET


def _route(path: str) -> tuple[str | None, dict[str, str], str | tuple[str, str] | None]:
    """(fault target, {method: FakeSendGrid method name}, batch id in the path) for a request path."""
    parts = path.strip("/").split("/")
    if parts == ["v3", "mail", "send"]:
        return "send", {"POST": "_send"}, None
    if parts == ["v3", "mail", "batch"]:
        return "batch", {"POST": "_create_batch"}, None
    if len(parts) == 4 and parts[:3] == ["v3", "mail", "batch"]:
        return "validate", {"GET": "_validate_batch"}, parts[3]
    if parts == ["v3", "user", "scheduled_sends"]:
        return "scheduled_sends", {"POST": "_post_status", "GET": "_list_statuses"}, None
    if len(parts) == 4 and parts[:3] == ["v3", "user", "scheduled_sends"]:
        return "scheduled_sends", {"GET": "_get_status", "PATCH": "_patch_status", "DELETE": "_delete_status"}, parts[3]
    if len(parts) == 4 and parts[:2] == ["v3", "suppression"] and parts[2] in ("bounces", "spam_reports",
                                                                                "invalid_emails"):
        return "suppressions", {"DELETE": "_delete_suppression"}, (parts[2], unquote(parts[3]))
    if len(parts) == 5 and parts[:4] == ["v3", "asm", "suppressions", "global"]:
        return "suppressions", {"DELETE": "_delete_suppression"}, ("unsubscribes", unquote(parts[4]))
    return None, {}, None


def _json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _errors(status: int, problems: list[tuple[str, str | None]], headers: dict[str, str] | None = None,
            help: bool = False) -> _Reply:
    return _Reply(status, {"errors": [{"message": m, "field": f, "help": f"{_HELP}#{f}" if f and help else None}
                                      for m, f in problems]}, headers or {})


def _error(status: int, message: str, field: str | None = None) -> _Reply:
    return _errors(status, [(message, field)])


def _failure(status: int, now: float, reset_in: float = 0.0) -> _Reply:
    if status == 429:
        return _errors(429, [("too many requests", None)], {
            "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(now + reset_in))})
    return _error(status, "Internal server error" if status == 500 else HTTPStatus(status).phrase)


def validate(body: object, invalid: Iterable[str] = ()) -> list[tuple[str, str | None]]:
    """The checks SendGrid makes on a mail/send body, with its wording and fields; [] when the body is acceptable.
    `invalid`: addresses its validator refuses although they look well-formed."""
    invalid = frozenset(invalid)
    if not isinstance(body, dict):
        return [("Bad Request", None)]
    problems: list[tuple[str, str | None]] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(("The personalizations field is required and must have at least one personalization.",
                         "personalizations"))
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        problems.append((f"The personalizations field must have no more than {MAX_PERSONALIZATIONS} items.",
                         "personalizations"))
    seen: set[str] = set()
    for n, personalization in enumerate(personalizations):
        to = personalization.get("to") if isinstance(personalization, dict) else None
        if not isinstance(to, list) or not to:
            problems.append(("The to array is required for all personalization objects, and must have at least "
                             "one email object with a valid email address.", f"personalizations.{n}.to"))
            continue
        if not _is_timestamp(personalization.get("send_at", 0)):
            problems.append((_SEND_AT, f"personalizations.{n}.send_at"))
        for m, party in enumerate(to):
            email = str(party.get("email", "")).lower() if isinstance(party, dict) else ""
            if not _EMAIL.fullmatch(email) or email in invalid:
                problems.append(("Does not contain a valid address.", f"personalizations.{n}.to.{m}.email"))
            elif email in seen:
                problems.append((f"Each email address in the personalization block should be unique between "
                                 f"to, cc, and bcc. We found the first duplicate instance of [{email}] in the "
                                 f"personalizations.{n}.to field.", f"personalizations.{n}.to"))
            seen.add(email)
    sender = body.get("from")
    if not isinstance(sender, dict) or not _EMAIL.fullmatch(str(sender.get("email", ""))):
        problems.append(("The from object must be provided for every email send. It is an object that requires "
                         "the email parameter, but may also contain a name parameter.", "from"))
    if not isinstance(body.get("subject"), str) or not body["subject"]:
        problems.append(("The subject is required. You can get around this requirement if you use a template "
                         "with a subject defined or if every personalization has a subject defined.", "subject"))
    problems.extend(_content_problems(body.get("content")))
    if "batch_id" in body and not isinstance(body["batch_id"], str):
        problems.append(("The batch_id must be a string.", "batch_id"))
    if not _is_timestamp(body.get("send_at", 0)):
        problems.append((_SEND_AT, "send_at"))
    return problems


def _is_timestamp(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _content_problems(content: object) -> list[tuple[str, str | None]]:
    if not isinstance(content, list) or not content:
        return [("Unless a valid template_id is provided, the content parameter is required. There must be at "
                 "least one defined content block. We typically suggest both text/plain and text/html blocks "
                 "are included, but only one block is required.", "content")]
    problems = []
    types = [c.get("type") if isinstance(c, dict) else None for c in content]
    expected = [t for t in ("text/plain", "text/html") if t in types]
    if types[:len(expected)] != expected:
        problems.append(("If present, text/plain must be first, followed by text/html, followed by any other "
                         "content.", "content"))
    for n, block in enumerate(content):
        value = block.get("value") if isinstance(block, dict) else None
        if not isinstance(value, str) or not value:
            problems.append(("The content value must be a string at least one character in length.",
                             f"content.{n}.value"))
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake SendGrid v3 API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--api-key", default="SG.test-key")
    parser.add_argument("--ledger", help="write delivered() here as JSON on SIGTERM or SIGINT")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the address is printed: a caller may stop it at once
        signal.signal(sig, lambda *_: done.set())
    fake = FakeSendGrid(api_key=args.api_key, latency=args.latency, port=args.port).start()
    print(fake.url, flush=True)
    while not done.wait(0.2):
        pass
    fake.stop()
    if args.ledger:
        with open(args.ledger + ".tmp", "w", encoding="utf-8") as out:
            json.dump(dict(sorted(fake.delivered().items())), out, indent=1)
        os.replace(args.ledger + ".tmp", args.ledger)


if __name__ == "__main__":
    main()
