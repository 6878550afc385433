"""One email sent at once, outside any issue: a subscription's confirmation, a test send, an alert.

It goes through the delivery of the project's first sink that sends mail (the `email` sink),
from the same sender, with nothing recorded in the delivery journal; an alert through
[alerts.delivery] when there is one (`AlertMail`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from pipeline.components import Deliverer
from pipeline.config import Project
from pipeline.errors import PipelineError
from pipeline.mail.message import Mailing, Recipient


class MailSink(Protocol):
    deliverer: Deliverer

    def sender(self) -> tuple[str, str, str]:
        """(from address, from name, reply-to address or "")."""


def find_mail_sink(project: Project) -> MailSink | None:
    """The first sink that sends mail, or None."""
    for sink in project.sinks:
        if isinstance(getattr(sink, "deliverer", None), Deliverer) and hasattr(sink, "sender"):
            return sink  # type: ignore[return-value]
    return None


def project_deliverer(project: Project) -> Deliverer | None:
    """The delivery of the project's mail (its first sink that sends mail), or None."""
    sink = find_mail_sink(project)
    return sink.deliverer if sink is not None else None


def forget_mail(project: Project, addresses: Iterable[str]) -> tuple[int, list[str]]:
    """Delete the mail to each of `addresses` (a person and the spellings merged into their address) that the
    project's deliveries keep (`Deliverer.forget`, `keeping_mail`: a person's erasure, by `subscribers forget` or
    again from the suppression log after a restore): how many files, and why, naming no address, for each address
    whose mail could not all be deleted. One that fails does not keep the others' from being deleted."""
    files, failed, addresses = 0, [], list(addresses)
    for deliverer in keeping_mail(project):
        for address in addresses:
            try:
                files += deliverer.forget(address)
            except Exception as exc:  # OSError, or a delivery plugin's own: the rest is deleted all the same
                failed.append(_why(exc))
    return files, failed


def kept_mail(project: Project, addresses: Iterable[str]) -> tuple[list[str], list[str]]:
    """Where the project's deliveries keep mail to each of `addresses` (`Deliverer.kept`: `subscribers show`), each
    once; and why, naming no address, for a delivery that could not say."""
    found, failed, addresses = [], [], list(addresses)
    for deliverer in keeping_mail(project):
        if type(deliverer).kept is Deliverer.kept and type(deliverer).forget is not Deliverer.forget:
            # A delivery written before `kept` (its default: nothing) that keeps mail, as its own `forget` says
            failed.append(f"{deliverer.name}: it deletes such mail on an erasure (forget) but has no kept() to list "
                          f"it; look in its own records")
            continue
        for address in addresses:
            try:
                found += deliverer.kept(address)
            except Exception as exc:  # OSError, or a delivery plugin's own: the others are listed all the same
                failed.append(_why(exc))
    return list(dict.fromkeys(found)), failed


def keeping_mail(project: Project) -> list[Deliverer]:
    """The deliveries that may keep mail to a person: the newsletter's, and [alerts.delivery] (an organiser's
    alerts, in an outbox of their own)."""
    found = [project_deliverer(project), project.alert_delivery]
    return [d for n, d in enumerate(found) if d is not None and all(d is not other for other in found[:n])]


def _why(exc: Exception) -> str:
    from pipeline.subscribers.addresses import without_addresses

    return without_addresses(exc.strerror if isinstance(exc, OSError) and exc.strerror else
                             f"{type(exc).__name__}: {exc}")


def mail_sink(project: Project) -> MailSink:
    """The first sink that sends mail; a one-line error when there is none."""
    if (sink := find_mail_sink(project)) is not None:
        return sink
    raise PipelineError(f"{project.config_path.name}: no [sinks.*] table of type \"email\", so there is no way to "
                        f"send mail; add one (see README, \"Components\")")


class AlertMail:
    """How the organisers' alerts are sent: through [alerts.delivery], or else the email sink's delivery."""

    def __init__(self, project: Project):
        sink, settings = find_mail_sink(project), project.alerts
        if project.alert_delivery is None:
            if sink is None:
                raise PipelineError(f"{project.config_path.name}: [alerts]: no [alerts.delivery] table and no "
                                    f"[sinks.*] table of type \"email\", so there is no way to send alerts; add one")
            self.deliverer: Deliverer = sink.deliverer
        else:
            self.deliverer = project.alert_delivery
        sender_email, sender_name, reply_to = sink.sender() if sink is not None else ("", project.core.name, "")
        if settings.from_email:  # the alerts' own sender: a reply goes to it, not to the newsletter's reply_to
            sender_email, reply_to = settings.from_email, ""
        self._sender = (sender_email, sender_name, reply_to)

    def sender(self) -> tuple[str, str, str]:
        return self._sender


def send_now(project: Project, *, to_email: str, to_name: str, subject: str, text: str,
             html: str | None = None, purpose: str = "") -> str:
    """Send one message to one person right away; return its reference (message id or file path). `purpose`
    ("confirmation") lets a delivery that keeps mail find it again (`Deliverer.forget_request`)."""
    sink = mail_sink(project)
    sender_email, sender_name, reply_to = sink.sender()
    mailing = Mailing(subject, sender_email, sender_name, text, html, datetime.now(UTC), reply_to=reply_to,
                      purpose=purpose)
    return deliver_now(sink.deliverer, mailing, Recipient(to_email.lower(), to_name))


def deliver_now(deliverer: Deliverer, mailing: Mailing, recipient: Recipient) -> str:
    try:
        [delivery] = deliverer.deliver(mailing, [recipient], None, None)
    finally:
        deliverer.close()
    if not delivery.ok:
        raise PipelineError(f"could not send to {recipient.email} via {deliverer.name}: {delivery.error}")
    return delivery.reference
