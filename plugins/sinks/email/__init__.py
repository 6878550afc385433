"""The `email` sink: renders each new issue once and sends it to every subscriber, exactly once.

    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"          # header: email,name
    from_email = "news@network.example.org"
    unsubscribe = "mailto:news@network.example.org?subject=unsubscribe"
    max_items_per_section = 10               # the rest are in the web version (the archive)
    delivery = { type = "outbox" }           # or "sendgrid", "smtp", with their settings
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from pipeline import components, hookimpl
from pipeline.components import Deliverer, Delivery, Sink, SinkResult
from pipeline.config import Project
from pipeline.edition import Edition
from pipeline.errors import SinkError
from pipeline.files import write_atomic
from pipeline.run_context import RunContext
from pipeline.settings_types import ExistingFile
from plugins.sinks.email.message import Envelope, MessageFactory, address
from plugins.sinks.email.render import RenderedEdition, render_edition
from plugins.sinks.email.subscribers import read_subscribers, valid_address

# Deliveries are recorded after each chunk, so a crash part-way loses at most one chunk's records.
# A deliverer with a `batch_size` setting (SendGrid: one request per batch) gets chunks of that size.
CHUNK = 500


class EmailSink(Sink):
    name = "email"
    description = "Send each new issue to the subscriber list (HTML and plain text)."

    class Settings(components.Settings):
        subscribers: ExistingFile
        from_email: str
        from_name: str | None = None
        reply_to: str = ""
        unsubscribe: str
        max_items_per_section: int = Field(default=10, ge=1)  # fewer if needed to stay under Gmail's clip
        delivery: dict[str, Any] = Field(default_factory=lambda: {"type": "outbox"})

        @field_validator("from_email", "reply_to")
        @classmethod
        def _address(cls, value: str) -> str:
            value = value.strip()
            if value and not valid_address(value):
                raise ValueError(f"{value!r} is not an email address like news@example.org")
            return value

        @field_validator("unsubscribe")
        @classmethod
        def _unsubscribe_link(cls, value: str) -> str:
            value = value.strip()
            if not value.startswith(("mailto:", "https://")) or any(c.isspace() for c in value):
                raise ValueError(f"{value!r} must be a mailto: or https:// link with no spaces, where "
                                 f"subscribers can unsubscribe")
            return value

    def __init__(self, instance: str, settings: Settings, project: Project):
        super().__init__(instance, settings, project)
        self.deliverer: Deliverer = project.build_component(
            "delivery", f"{project.config_path.name}: [sinks.{instance}.delivery]", settings.delivery)

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        if edition is None:
            return SinkResult("no new edition; nothing sent")
        rendered = render_edition(edition, run, unsubscribe=self.settings.unsubscribe,
                                  max_per_section=self.settings.max_items_per_section)
        files = self._save(edition.number, rendered)
        latest = run.store.latest_edition()
        if latest is not None and latest.number != edition.number:  # never mail an old issue to new readers
            return SinkResult(f"issue {edition.number} re-rendered; not sent, since issue {latest.number} "
                              f"is newer", files)
        subscribers = read_subscribers(self.settings.subscribers, run)
        already = run.store.delivered_to(edition.number)
        pending = [s for s in subscribers if s.email not in already]
        factory = MessageFactory(rendered, self._envelope(edition.number, run))
        sent, failed = 0, []
        size = getattr(self.deliverer.settings, "batch_size", None) or CHUNK
        for start in range(0, len(pending), size):
            chunk = pending[start:start + size]
            messages = [factory.message_for(s) for s in chunk]
            for delivery in self._send(messages, [s.email for s in chunk], run):
                if delivery.ok:
                    run.store.record_delivery(edition.number, delivery.recipient, self.deliverer.name,
                                              delivery.reference, run.moment)
                    sent += 1
                else:
                    failed.append(delivery)
        channel = self.deliverer.name
        if failed:
            first = failed[0]
            raise SinkError(f"issue {edition.number}: {len(failed)} of {len(pending)} messages failed via "
                            f"{channel} (first, to {first.recipient}: {first.error}); {sent} sent and recorded, "
                            f"so running again sends only the failed ones")
        skipped = len(subscribers) - len(pending)
        return SinkResult(f"issue {edition.number}: {sent} sent via {channel}, {skipped} already sent", files)

    def _send(self, messages: list[EmailMessage], recipients: list[str], run: RunContext) -> list[Delivery]:
        """Deliver, and count a recipient the deliverer did not report on as failed, never as sent."""
        results = {d.recipient: d for d in self.deliverer.send(messages, run)}
        return [results.get(r) or Delivery(r, False, error="the delivery method reported nothing for it")
                for r in recipients]

    def _envelope(self, number: int, run: RunContext) -> Envelope:
        sender_name = self.project.core.name if self.settings.from_name is None else self.settings.from_name
        return Envelope(number, address(self.settings.from_email, sender_name), self.settings.reply_to,
                        self.settings.unsubscribe, run.moment)

    def _save(self, number: int, rendered: RenderedEdition) -> list[str]:
        folder: Path = self.project.core.out_dir / "newsletter"
        html, text = folder / f"issue-{number}.html", folder / f"issue-{number}.txt"
        write_atomic(html, rendered.html)
        write_atomic(text, rendered.text)
        return [str(html), str(text)]


@hookimpl
def register_sinks(register) -> None:
    register(EmailSink)
