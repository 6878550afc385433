"""The `sendgrid` delivery: SendGrid's v3 Mail Send API through the official client.

One request per batch of up to 1000 recipients, one personalization each (so nobody sees
anyone else's address). Rate limits (429) and server errors (5xx) are retried; any other
refusal fails that batch with SendGrid's own explanation. The API key is read from the
environment variable named by `api_key_env`, never from pipeline.toml.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from urllib.error import URLError

from pydantic import Field
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from pipeline import components, hookimpl
from pipeline.components import Deliverer, Delivery
from pipeline.config import Project
from pipeline.errors import ConfigError
from pipeline.run_context import RunContext
from plugins.deliveries.environment import EnvVarName
from plugins.sinks.email.message import EDITION_HEADER, body_of, edition_of, recipient_of

PASSED_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post", EDITION_HEADER)
HINTS = {
    401: "check the API key in {env}",
    403: "the key needs the Mail Send permission and the sender must be verified in SendGrid",
    413: "the request is too large; lower batch_size",
}


class SendGrid(Deliverer):
    name = "sendgrid"
    description = "Send through SendGrid's v3 Mail Send API (key from the environment)."

    class Settings(components.Settings):
        api_key_env: EnvVarName = "SENDGRID_API_KEY"  # the variable's name; the key itself is never printed
        host: str = "https://api.sendgrid.com"
        batch_size: int = Field(default=1000, ge=1, le=1000)  # SendGrid's personalizations limit
        max_retries: int = Field(default=3, ge=0, le=10)
        max_wait_seconds: float = Field(default=60.0, ge=0)
        timeout: float = Field(default=30.0, gt=0)

    def __init__(self, instance: str, settings: Settings, project: Project):
        super().__init__(instance, settings, project)
        key = os.environ.get(settings.api_key_env, "").strip()
        if not key:
            raise ConfigError(f"{project.config_path.name}: sendgrid delivery: environment variable "
                              f"{settings.api_key_env} is not set; set it to your SendGrid API key, "
                              f"or use type = \"outbox\" to write .eml files instead")
        self.client = SendGridAPIClient(api_key=key, host=settings.host)
        self.client.client.timeout = settings.timeout  # the client has no timeout otherwise

    def send(self, messages: list[EmailMessage], run: RunContext) -> list[Delivery]:
        results: list[Delivery] = []
        for batch in self._batches(messages):
            ok, outcome = self._post(payload(batch))
            results.extend(Delivery(recipient_of(m), ok, outcome if ok else "", "" if ok else outcome)
                           for m in batch)
        return results

    def _batches(self, messages: list[EmailMessage]) -> Iterator[list[EmailMessage]]:
        """Messages with identical content, `batch_size` at a time (one issue is one group)."""
        groups: dict[tuple, list[EmailMessage]] = {}
        for msg in messages:
            groups.setdefault(content_key(msg), []).append(msg)
        size = self.settings.batch_size
        for group in groups.values():
            for start in range(0, len(group), size):
                yield group[start:start + size]

    def _post(self, body: dict) -> tuple[bool, str]:
        """(True, X-Message-Id) once SendGrid accepts `body`; (False, reason) when it will not."""
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            try:
                response = self.client.send(body)
                return True, response.headers.get("X-Message-Id", "") or ""
            except HTTPError as exc:
                reason = describe(exc, self.settings.api_key_env)
                if exc.status_code != 429 and exc.status_code < 500:
                    return False, reason
                headers = exc.headers
            except (URLError, OSError) as exc:  # refused, reset, timed out: worth another try
                reason, headers = f"cannot reach SendGrid at {self.settings.host}: {_cause(exc)}", {}
            if attempt + 1 < attempts:
                time.sleep(retry_delay(headers, attempt, time.time(), self.settings.max_wait_seconds))
        return False, f"{reason} (gave up after {attempts} attempts)"


def payload(batch: list[EmailMessage]) -> dict:
    """The v3 mail/send body: one personalization per recipient, text/plain before text/html."""
    first = batch[0]
    body = {
        "personalizations": [{"to": [_party(m["To"].addresses[0])]} for m in batch],
        "from": _party(first["From"].addresses[0]),
        "subject": str(first["Subject"] or ""),
        "content": [{"type": "text/plain", "value": body_of(first, "plain")},
                    {"type": "text/html", "value": body_of(first, "html")}],
        "headers": {name: str(first[name]) for name in PASSED_HEADERS if first[name]},
        "custom_args": {"edition": str(edition_of(first))},
    }
    if first["Reply-To"]:
        body["reply_to"] = _party(first["Reply-To"].addresses[0])
    return body


def content_key(msg: EmailMessage) -> tuple:
    """What must be equal for two messages to share one request (bodies compared as encoded, which is cheap)."""
    headers = tuple(str(msg[h] or "") for h in ("Subject", "From", "Reply-To", *PASSED_HEADERS))
    parts = tuple((p.get_content_type(), p.get_payload()) for p in msg.walk() if not p.is_multipart())
    return headers + parts


def retry_delay(headers: Mapping[str, str], attempt: int, now: float, cap: float) -> float:
    """Seconds to wait: until X-RateLimit-Reset for a 429, else 1, 2, 4 ... seconds; never above `cap`."""
    reset = headers.get("X-RateLimit-Reset") if headers else None
    try:
        wait = float(reset) - now if reset else 2.0 ** attempt
    except ValueError:
        wait = 2.0 ** attempt
    return min(max(wait, 0.0), cap)


def describe(exc: HTTPError, key_env: str) -> str:
    """'SendGrid answered 400: The from address does not match a verified Sender Identity.'"""
    details = "; ".join(_error_messages(exc.body)) or str(getattr(exc, "reason", "") or "no details")
    hint = HINTS.get(exc.status_code, "").format(env=key_env)
    return f"SendGrid answered {exc.status_code}: {details}" + (f" ({hint})" if hint else "")


def _error_messages(body: bytes | str | None) -> list[str]:
    try:
        data = json.loads(body or b"")
        return [str(e.get("message", "")).strip() for e in data.get("errors", []) if e.get("message")]
    except (ValueError, AttributeError, TypeError):
        return []


def _party(addr: Address) -> dict[str, str]:
    party = {"email": addr.addr_spec}
    if addr.display_name:
        party["name"] = addr.display_name
    return party


def _cause(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or exc) or type(exc).__name__


@hookimpl
def register_deliveries(register) -> None:
    register(SendGrid)
