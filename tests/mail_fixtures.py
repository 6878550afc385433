"""Finished newsletter messages for delivery tests, built the way the deliveries build them."""

from __future__ import annotations

import email
import socket
from datetime import datetime
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

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


def held_port() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1, not listening (a connection is refused) until a
    `HeldPortController` serves on it: its port can go into a config before the server starts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


class HeldPortController(Controller):
    """aiosmtpd's threaded Controller on 127.0.0.1, listening on `sock` (a `held_port()`; by default a new one),
    whose port is `.port`. Controller binds the port it is given only in `start()`: a free port chosen and closed
    before that could be taken in between by another test process; a socket bound all along cannot."""

    def __init__(self, handler, sock: socket.socket | None = None, **options):
        self.socket = sock if sock is not None else held_port()
        super().__init__(handler, hostname="127.0.0.1", port=self.socket.getsockname()[1], **options)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.socket, ssl=self.ssl_context)

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert)
        self.socket.close()  # the server closed it already, unless it never started
