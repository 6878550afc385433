"""Building one `EmailMessage` per subscriber, and reading back what deliverers need from one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from pipeline.sanitize import one_line
from plugins.sinks.email.render import RenderedEdition
from plugins.sinks.email.subscribers import Subscriber

EDITION_HEADER = "X-Newsletter-Edition"


@dataclass(frozen=True)
class Envelope:
    """What is the same in every message of one issue."""

    edition: int
    sender: Address
    reply_to: str
    unsubscribe: str  # a mailto: or https: URL
    moment: datetime


def address(email: str, name: str = "") -> Address:
    user, _, domain = email.rpartition("@")
    return Address(display_name=one_line(name), username=user, domain=domain)


class MessageFactory:
    """Makes one issue's messages: multipart/alternative (text, then HTML), one recipient each.

    The shared headers are parsed and the body parts encoded once per issue, not once per
    subscriber: the email package's header parsing is slow enough to matter for a long list.
    """

    def __init__(self, rendered: RenderedEdition, envelope: Envelope):
        self.envelope = envelope
        template = EmailMessage()
        template["Subject"] = rendered.subject
        template["From"] = envelope.sender
        if envelope.reply_to:
            template["Reply-To"] = envelope.reply_to
        template["Date"] = format_datetime(envelope.moment)
        template["List-Unsubscribe"] = f"<{envelope.unsubscribe}>"
        if envelope.unsubscribe.startswith("https:"):
            template["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058 one-click
        template[EDITION_HEADER] = str(envelope.edition)
        # Quoted-printable keeps the message 7-bit clean for any relay, and line endings survive a round trip.
        template.set_content(rendered.text, cte="quoted-printable")
        template.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
        self._headers = template.items()  # parsed header objects: assigning them again skips parsing
        self._parts = list(template.iter_parts())

    def message_for(self, subscriber: Subscriber) -> EmailMessage:
        msg = EmailMessage()
        msg["To"] = address(subscriber.email, subscriber.name)
        for name, value in self._headers:
            msg[name] = value
        msg["Message-ID"] = message_id(self.envelope, subscriber.email)
        msg.set_payload(list(self._parts))  # parts are shared, never changed after this
        return msg


def message_id(envelope: Envelope, recipient: str) -> str:
    """The same id for the same issue and recipient, so a message sent twice is recognisably one."""
    digest = hashlib.sha256(f"{envelope.edition}\x1f{recipient}".encode()).hexdigest()[:24]
    return f"<issue-{envelope.edition}.{digest}@{envelope.sender.domain}>"


def recipient_of(msg: EmailMessage) -> str:
    """The one address a newsletter message is sent to."""
    return msg["To"].addresses[0].addr_spec


def edition_of(msg: EmailMessage) -> int:
    return int(msg[EDITION_HEADER])


def body_of(msg: EmailMessage, subtype: str) -> str:
    """The text of the `text/<subtype>` part ("plain" or "html")."""
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""
