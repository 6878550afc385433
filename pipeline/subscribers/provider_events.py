"""What a mail provider's events mean for the list: which addresses to stop sending to, and why.

SendGrid's Event Webhook (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
`bounce` → bounced (but not `type: blocked`, a refusal the receiving server may lift), `spamreport` →
complained, `unsubscribe` and `group_unsubscribe` → unsubscribed, and `dropped` only when its reason is
about the address (https://docs.sendgrid.com/glossary/drops): the address is on SendGrid's own
suppression lists. A message dropped for what it holds or how it was sent ("Spam Content", "Invalid
SMTPAPI header", "Duplicate message"...) says nothing about the address and is ignored, as is every
other event (delivered, open, click, deferred...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.subscribers.addresses import normalise, one_line, valid_address


@dataclass(frozen=True)
class Suppression:
    email: str
    status: str  # unsubscribed, bounced or complained
    how: str  # 'sendgrid webhook: bounce'
    detail: str
    occurred: datetime | None = None  # the event's own `timestamp`, when it has a sane one


# `dropped` reasons naming a list the address is on (SendGrid's glossary, "Drops"), and what they mean here.
DROPPED_ADDRESS_REASONS = {
    "bounced address": "bounced",  # on the bounce list (repeated bounces)
    "invalid": "bounced",  # on the invalid emails list
    "unsubscribed address": "unsubscribed",  # on the global or the group unsubscribe list
    "spam reporting address": "complained",  # on the spam report list
}


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
            for address in dict.fromkeys((email, _unicode_domain(email))):  # as sent, and as the subscriber typed it
                found.append(Suppression(address, status, f"sendgrid webhook: {kind}", reason,
                                         _moment(event.get("timestamp"))))
    return found


def _unicode_domain(address: str) -> str:
    """ann@xn--bcher-kva.de -> ann@bücher.de: the sendgrid delivery sends a domain outside ASCII in its IDNA
    2008 form, and its events name the address so; `address` itself when it has no such domain. Read back
    by IDNA 2008 too: Python's own codec (IDNA 2003) refuses xn--strae-oqa.de, which is straße.de."""
    local, _, domain = address.rpartition("@")
    if "xn--" not in domain:
        return address
    import idna  # here: an address outside ASCII is rare

    try:
        return f"{local}@{idna.decode(domain)}"
    except UnicodeError:  # idna.IDNAError is one
        return address


def _status(kind: str, bounce_type: str, reason: str) -> str | None:
    if kind == "bounce":
        return None if bounce_type == "blocked" else "bounced"
    if kind == "dropped":
        return DROPPED_ADDRESS_REASONS.get(" ".join(reason.lower().split()))
    return {"spamreport": "complained", "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed"}.get(kind)


def _moment(value: Any) -> datetime | None:
    """A Unix timestamp in seconds, as SendGrid sends it; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None
