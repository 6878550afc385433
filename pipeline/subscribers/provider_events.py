"""What a mail provider's events mean for the list: which addresses to stop sending to, and why.

SendGrid's Event Webhook (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
`bounce` → bounced (but not `type: blocked`, a refusal the receiving server may lift), `dropped` →
complained, unsubscribed or bounced by its reason, `spamreport` → complained, `unsubscribe` and
`group_unsubscribe` → unsubscribed. Every other event (delivered, open, click, deferred...) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.subscribers.addresses import normalise, one_line, valid_address


@dataclass(frozen=True)
class Suppression:
    email: str
    status: str  # unsubscribed, bounced or complained
    how: str  # 'sendgrid webhook: bounce'
    detail: str


def sendgrid_suppressions(events: Any) -> list[Suppression]:
    """The suppressions in a webhook's JSON body (a list of events); anything malformed is skipped."""
    found: list[Suppression] = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        kind, email = str(event.get("event") or ""), normalise(str(event.get("email") or ""))
        reason = one_line(str(event.get("reason") or event.get("status") or ""))
        status = _status(kind, str(event.get("type") or ""), reason)
        if status and valid_address(email):
            found.append(Suppression(email, status, f"sendgrid webhook: {kind}", reason))
    return found


def _status(kind: str, bounce_type: str, reason: str) -> str | None:
    if kind == "bounce":
        return None if bounce_type == "blocked" else "bounced"
    if kind == "dropped":
        if "spam reporting" in reason.lower():
            return "complained"
        return "unsubscribed" if "unsubscribed" in reason.lower() else "bounced"
    return {"spamreport": "complained", "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed"}.get(kind)
