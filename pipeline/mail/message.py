"""What is sent: a `Mailing` (one body for many people) and its `Recipient`s, and the MIME message
built for one recipient by the deliveries that need one (outbox, SMTP; SendGrid sends the
mailing once per batch instead).

Per-recipient links are written into the body as tags (`%unsubscribe_url%`) and filled in per
recipient, by `personalize` here or by SendGrid's substitutions, so an issue is rendered once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from pipeline.mail.headers import check_headers, header_text

EDITION_HEADER = "X-Newsletter-Edition"
UNSUBSCRIBE_TAG = "%unsubscribe_url%"
PREFERENCES_TAG = "%preferences_url%"
TEST_PREFIX = "[TEST] "
# Folding at 78 would turn a long List-Unsubscribe URL into an encoded word no mail client reads;
# RFC 5322's hard limit is 998.
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str  # a validated address, lower case
    name: str = ""
    unsubscribe_url: str = ""  # this recipient's own one-click link ("" when there is none)
    preferences_url: str = ""

    def substitutions(self) -> dict[str, str]:
        return {UNSUBSCRIBE_TAG: self.unsubscribe_url, PREFERENCES_TAG: self.preferences_url}


@dataclass(frozen=True)
class Mailing:
    """One subject and body for many recipients: an issue (for one choice of themes), or one email."""

    subject: str
    sender_email: str
    sender_name: str
    text: str
    html: str | None
    moment: datetime
    reply_to: str = ""
    edition: int | None = None  # None for a message that is not an issue (a confirmation email)
    list_id: str = ""  # 'Network news <newsletter.network.example.org>'
    unsubscribe_mailto: str = ""  # also offered in List-Unsubscribe, for clients without one-click
    test: bool = False  # `pipeline send-test`: subject marked, nothing recorded
    extra: dict[str, str] = field(default_factory=dict)  # more headers the same for everyone (no To/From)

    @property
    def safe_subject(self) -> str:
        subject = header_text(self.subject)
        return TEST_PREFIX + subject if self.test and not subject.startswith(TEST_PREFIX) else subject

    def common_headers(self) -> dict[str, str]:
        """Headers that are the same for every recipient, besides From, Reply-To, Subject and Date."""
        headers = {name: header_text(value) for name, value in self.extra.items()}
        if self.list_id:
            headers["List-Id"] = header_text(self.list_id)
        if self.edition is not None:
            headers[EDITION_HEADER] = str(self.edition)
        return headers

    def recipient_headers(self, recipient: Recipient) -> dict[str, str]:
        """List-Unsubscribe (RFC 2369) with the recipient's own link, and RFC 8058 one-click when it is https."""
        links = [f"<{url}>" for url in (recipient.unsubscribe_url, self.unsubscribe_mailto) if _safe_link(url)]
        headers = {}
        if links:
            headers["List-Unsubscribe"] = ", ".join(links)
        if recipient.unsubscribe_url.startswith("https://") and _safe_link(recipient.unsubscribe_url):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers


def _safe_link(url: str) -> bool:
    return bool(url) and not any(c.isspace() or c in "<>,\"" or not c.isprintable() for c in url)


def personalize(body: str, recipient: Recipient) -> str:
    for tag, value in recipient.substitutions().items():
        body = body.replace(tag, value)
    return body


def address(email: str, name: str = "") -> Address:
    user, _, domain = email.rpartition("@")
    return Address(display_name=header_text(name), username=user, domain=domain)


def message_id(mailing: Mailing, recipient: str) -> str:
    """The same id for the same issue and recipient, so a message sent twice is recognisably one."""
    domain = mailing.sender_email.rpartition("@")[2]
    if mailing.edition is None or mailing.test:
        return f"<{uuid.uuid4().hex}@{domain}>"
    digest = hashlib.sha256(f"{mailing.edition}\x1f{recipient}".encode()).hexdigest()[:24]
    return f"<issue-{mailing.edition}.{digest}@{domain}>"


def build_message(mailing: Mailing, recipient: Recipient) -> EmailMessage:
    """The multipart/alternative message (text, then HTML) for one recipient, its headers checked."""
    msg = EmailMessage()
    msg["Subject"] = mailing.safe_subject
    msg["From"] = address(mailing.sender_email, mailing.sender_name)
    msg["To"] = address(recipient.email, recipient.name)
    if mailing.reply_to:
        msg["Reply-To"] = address(mailing.reply_to)
    msg["Date"] = format_datetime(mailing.moment)
    msg["Message-ID"] = message_id(mailing, recipient.email)
    for name, value in {**mailing.common_headers(), **mailing.recipient_headers(recipient)}.items():
        msg[name] = value
    # Quoted-printable keeps the message 7-bit clean for any relay, and line endings survive a round trip.
    msg.set_content(personalize(mailing.text, recipient), cte="quoted-printable")
    if mailing.html:
        msg.add_alternative(personalize(mailing.html, recipient), subtype="html", cte="quoted-printable")
    expected = {name.lower(): 1 for name in msg.keys()}
    expected.update({"mime-version": 1, "content-type": 1})
    if not mailing.html:
        expected["content-transfer-encoding"] = 1
    check_headers(message_bytes(msg), expected, recipient.email)
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP_POLICY)
