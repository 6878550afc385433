"""What a mail provider's events mean for the list: which addresses to stop sending to, and why.

SendGrid's Event Webhook (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
`bounce` → bounced when its `type` is `bounce` (or missing, as in older posts): not `blocked`, a refusal the
receiving server may lift, nor `expired`, a message deferred (a mailbox full, a server down) until SendGrid stopped
trying after 72 hours, nor a type not known here; a real hard bounce that is missed so still stops mail, as SendGrid
then drops mail to that address for its bounce list and says so (`dropped`, "Bounced Address"). `spamreport` →
complained, `unsubscribe` and `group_unsubscribe` → unsubscribed, and `dropped` only when its reason is
about the address (https://docs.sendgrid.com/glossary/drops): the address is on SendGrid's own
suppression lists. A message dropped for what it holds or how it was sent ("Spam Content", "Invalid
SMTPAPI header", "Duplicate message"...) says nothing about the address and is ignored, as is every
other event (delivered, open, click, deferred...), `group_resubscribe` too: someone back on one of SendGrid's
unsubscribe groups (which this list's mail belongs to none of) comes back to this list only as anyone does, through
the form and its confirmation, and an address erased at its owner's request stays a suppression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.subscribers.addresses import STORED_BEFORE, checked, one_line


@dataclass(frozen=True)
class Suppression:
    email: str
    status: str  # unsubscribed, bounced or complained
    how: str  # 'sendgrid webhook: bounce'
    detail: str
    occurred: datetime | None = None  # the event's own `timestamp`, when it has a sane one


# The `type` of a `bounce` event that says the address is refused for good ("" for a post without one).
HARD_BOUNCE_TYPES = ("bounce", "")

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
        kind = str(event.get("event") or "")
        reason = one_line(str(event.get("reason") or event.get("status") or ""))
        status = _status(kind, str(event.get("type") or ""), reason)
        if status is None:  # most of a batch (delivered, open...): its address is not spelt out for nothing
            continue
        # In the list's spelling: the sendgrid delivery sends ann@bücher.de as ann@xn--bcher-kva.de (IDNA 2008, by
        # which xn--strae-oqa.de is straße.de), and its events name it so.
        email, problem = checked(str(event.get("email") or ""))
        # Over the limits on a new address (64 characters before the @, no IP address after it) is still an
        # address: one stored before them was mailed, and its bounce or complaint must stop that. A domain IDNA
        # refuses is not: SendGrid is never handed one (the delivery's `sendable`), and any text can be spelt so.
        if problem is None or problem in STORED_BEFORE:
            found.append(Suppression(email, status, f"sendgrid webhook: {kind}", reason,
                                     _moment(event.get("timestamp"))))
    return found


def _status(kind: str, bounce_type: str, reason: str) -> str | None:
    if kind == "bounce":  # `type`: bounce, blocked or expired; only the first is the address refused for good
        return "bounced" if bounce_type.strip().lower() in HARD_BOUNCE_TYPES else None
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
