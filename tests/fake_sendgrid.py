"""A fake SendGrid v3 Mail Send API on loopback that keeps the real one's contract for POST /v3/mail/send.

    fake = FakeSendGrid(api_key="SG.test").start()
    ...  # point the sendgrid delivery's `host` at fake.url
    fake.accepted  # the JSON bodies it accepted (202), in order
    fake.fail_next(429, times=2)  # answer the next two requests with 429 (or 500)
    fake.stop()
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY_BYTES = 30 * 1024 * 1024  # SendGrid's limit for a whole request
MAX_PERSONALIZATIONS = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


class FakeSendGrid:
    def __init__(self, api_key: str = "SG.test-key", max_body_bytes: int = MAX_BODY_BYTES):
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.accepted: list[dict] = []  # bodies answered 202
        self.message_ids: list[str] = []  # the X-Message-Id given to each accepted body
        self.statuses: list[int] = []  # every answer given, in order
        self._failures: deque[int] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
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

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` authorised requests with `status` (429 or 5xx)."""
        with self._lock:
            self._failures.extend([status] * times)

    def _next_failure(self) -> int | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _record(self, status: int, body: dict | None = None, message_id: str = "") -> None:
        with self._lock:
            self.statuses.append(status)
            if body is not None:
                self.accepted.append(body)
                self.message_ids.append(message_id)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSendGrid/1.0"

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        fake: FakeSendGrid = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path != "/v3/mail/send":
            return self._errors(fake, 404, [("not found", None)])
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._errors(fake, 401, [("The provided authorization grant is invalid, expired, or revoked",
                                             None)])
        if length > fake.max_body_bytes:
            return self._errors(fake, 413, [("The JSON payload you have included in your request is too large.",
                                             None)])
        failure = fake._next_failure()
        if failure == 429:
            return self._errors(fake, 429, [("too many requests", None)], {
                "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()))})
        if failure is not None:
            return self._errors(fake, failure, [("Internal server error", None)])
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self._errors(fake, 415, [("Content-Type should be application/json.", None)])
        try:
            body = json.loads(raw)
        except ValueError:
            return self._errors(fake, 400, [("Bad Request", None)])
        problems = validate(body)
        if problems:
            return self._errors(fake, 400, problems)
        message_id = uuid.uuid4().hex[:22]
        fake._record(202, body, message_id)
        self.send_response(202)
        self.send_header("X-Message-Id", message_id)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _errors(self, fake: FakeSendGrid, status: int, problems: list[tuple[str, str | None]],
                headers: dict[str, str] | None = None) -> None:
        payload = json.dumps({"errors": [{"message": m, "field": f, "help": f"{_HELP}#{f}" if f else None}
                                         for m, f in problems]}).encode()
        fake._record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def validate(body: object) -> list[tuple[str, str | None]]:
    """The checks SendGrid makes on a mail/send body, with its wording; [] when the body is acceptable."""
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
        for party in to:
            email = str(party.get("email", "")).lower() if isinstance(party, dict) else ""
            if not _EMAIL.fullmatch(email):
                problems.append(("Does not contain a valid address.", f"personalizations.{n}.to"))
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
    return problems


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
