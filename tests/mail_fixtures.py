"""Finished newsletter messages for delivery tests, built the way the deliveries build them."""

from __future__ import annotations

from datetime import datetime
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
