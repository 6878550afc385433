"""Finished newsletter messages for delivery tests, built the way the email sink builds them."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from plugins.sinks.email.message import Envelope, MessageFactory, address
from plugins.sinks.email.render import RenderedEdition
from plugins.sinks.email.subscribers import Subscriber


def build_messages(rendered: RenderedEdition, edition: int, moment: datetime, recipients: list[tuple[str, str]]
                   ) -> list[EmailMessage]:
    """One message per (address, name), for issue `edition` of the test network."""
    envelope = Envelope(edition, address("news@network.example.org", "Test Network"), "",
                        "mailto:news@network.example.org?subject=unsubscribe", moment)
    factory = MessageFactory(rendered, envelope)
    return [factory.message_for(Subscriber(email, name)) for email, name in recipients]
