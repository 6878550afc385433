"""Finished newsletter messages for delivery tests, built the way the deliveries build them."""

from __future__ import annotations

import email
import socket
from datetime import datetime
from email import policy
from email.message import EmailMessage

from pipeline.mail.message import Mailing, Recipient, build_message
from plugins.sinks.email.render import RenderedEdition


def mailing_for(rendered: RenderedEdition, edition: int | None, moment: datetime, **fields) -> Mailing:
    """The mailing of issue `edition` of the test network."""
    fields.setdefault("unsubscribe_mailto", "mailto:news@network.example.org?subject=unsubscribe")
    return Mailing(rendered.subject, "news@network.example.org", "Test Network", rendered.text, rendered.html,
                   moment, edition=edition, **fields)


def build_messages(rendered: RenderedEdition, edition: int, moment: datetime, recipients: list[tuple[str, str]]
                   ) -> list[EmailMessage]:
    """One message per (address, name), for issue `edition` of the test network."""
    mailing = mailing_for(rendered, edition, moment)
    return [build_message(mailing, Recipient(email, name)) for email, name in recipients]


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses the addresses it is told to."""

    refusal = "550 5.1.1 No such mailbox here"

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.refuse = set(refuse)
        self.received: list[dict] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "tls": session.ssl is not None,
                              "authenticated": session.authenticated, "raw": envelope.original_content,
                              "options": list(envelope.mail_options),
                              "message": email.message_from_bytes(envelope.content, policy=policy.default)})
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
