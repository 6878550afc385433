"""What is sent: a `Mailing` (one body for many people) and its `Recipient`s, and the MIME message
built for one recipient by the deliveries that need one (outbox, SMTP; SendGrid sends the
mailing once per batch instead).

A recipient's own links (unsubscribe, preferences) differ only by a signed token, written into the
body as a tag (`%token%`) and filled in per recipient, by `personalize` here or by SendGrid's
substitutions, so an issue is rendered once.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from pipeline.mail import EDITION_HEADER, TOKEN_TAG
from pipeline.mail.headers import check_headers, header_text

TEST_PREFIX = "[TEST] "
# Folding at 78 would turn a long List-Unsubscribe URL into an encoded word no mail client reads;
# RFC 5322's hard limit is 998.
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)
# An address outside ASCII goes with SMTPUTF8 (RFC 6531), and its headers in UTF-8 as they are (RFC 6532):
# RFC 2047 encoded words are not allowed in an address, so `SMTP_POLICY` would write one no client reads.
SMTPUTF8_POLICY = SMTP_POLICY.clone(utf8=True)
ADDRESS_HEADERS = ("From", "To", "Reply-To")
_SAFE_LINK = re.compile(r'[!#-+\--;=?-~]+')  # printable ASCII without space, quotes, comma or angle brackets


class Recipient(NamedTuple):  # a tuple: a send makes one per subscriber, and tuples are cheap to make
    email: str  # a validated address, lower case
    name: str = ""
    token: str = ""  # signs this recipient's own links ("" when they have none)

    def substitutions(self) -> dict[str, str]:
        return {TOKEN_TAG: self.token}


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
    unsubscribe_base: str = ""  # a recipient's one-click link is this followed by their token
    test: bool = False  # `pipeline send-test`: subject marked, nothing recorded
    purpose: str = ""  # of a message that is not an issue: "confirmation" (a delivery that keeps mail files it so)
    extra: dict[str, str] = field(default_factory=dict)  # more headers the same for everyone (no To/From)
    # Of an issue's version: the choices of themes it is for, as the list stores them; a recipient who chose another
    # since the send read them is not handed it (`journal.begin_batch`), and is sent the version of their new one
    choices: tuple[str, ...] = ()
    # Sent again because the organiser asked (`pipeline deliveries --resend`): a delivery that keeps each message as a
    # file (the outbox) writes it beside one already there, never over it
    again: bool = False

    @property
    def safe_subject(self) -> str:
        subject = header_text(self.subject)
        return TEST_PREFIX + subject if self.test and not subject.startswith(TEST_PREFIX) else subject

    def common_headers(self) -> dict[str, str]:
        """Headers that are the same for every recipient, besides From, Reply-To, Subject and Date."""
        headers = {name: header_text(value) for name, value in self.extra.items()}
        if self.one_click:
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if self.list_id:
            headers["List-Id"] = header_text(self.list_id)
        if self.edition is not None:
            headers[EDITION_HEADER] = str(self.edition)
        return headers

    @property
    def one_click(self) -> bool:
        """RFC 8058 one-click unsubscribe: every recipient's own https link takes a POST."""
        base = header_link(self.unsubscribe_base)
        return base.startswith("https://") and _safe_link(base)

    def recipient_headers(self, recipient: Recipient) -> dict[str, str]:
        """List-Unsubscribe (RFC 2369): the recipient's own link, then the mailto: one; in ASCII (`header_link`)."""
        base = header_link(self.unsubscribe_base)
        own = base + recipient.token if recipient.token and base else ""
        own = own if _safe_link(own) else ""
        mailto = self.unsubscribe_mailto if _safe_link(self.unsubscribe_mailto) else ""
        if own and mailto:
            return {"List-Unsubscribe": f"<{own}>, <{mailto}>"}
        if own or mailto:
            return {"List-Unsubscribe": f"<{own or mailto}>"}
        return {}


@functools.lru_cache(maxsize=16)
def header_link(url: str) -> str:
    """`url` as a header takes it, in ASCII as a browser sends it: a host outside ASCII in its IDNA form
    (bücher.de: xn--bcher-kva.de), a path outside it %-escaped in UTF-8 (what is escaped already stays so), so that
    a site_url with an umlaut keeps each issue's one-click unsubscribe link; a port and a user part kept. Given back
    as it is when it is ASCII already, or does not parse (a port out of range) or its host is no name IDNA takes
    (then `_safe_link` leaves it out, as before)."""
    if url.isascii():
        return url
    try:  # an item's address as its source gave it: a port out of range, an unclosed IPv6 host
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port if parts.netloc.rpartition(":")[2].isdigit() else None
    except ValueError:
        return url
    if not host.isascii():
        import idna  # here: a site outside ASCII is rare

        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except UnicodeError:  # idna.IDNAError is one
            return url
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = f"{host}:{port}" if port is not None else host
    escape = "/%!$&'()*+;=:@-._~"  # what a path may hold as it is (RFC 3986), the % of an escape included
    user, at, _ = parts.netloc.rpartition("@")
    netloc = f"{quote(user, safe=escape.replace('/', '').replace('@', ''))}@{netloc}" if at else netloc  # kept
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=escape), quote(parts.query, safe=escape + "?"),
                       quote(parts.fragment, safe=escape + "?")))


def _safe_link(url: str) -> bool:
    return bool(url) and _SAFE_LINK.fullmatch(url) is not None


def personalize(body: str, recipient: Recipient) -> str:
    return body.replace(TOKEN_TAG, recipient.token)


def address(email: str, name: str = "") -> Address:
    user, _, domain = email.rpartition("@")
    return Address(display_name=header_text(name), username=user, domain=domain)


def message_id(mailing: Mailing, recipient: str) -> str:
    """The same id for the same issue of the same list to the same recipient, so a message sent twice is
    recognisably one; another list's issue of that number (a second newsletter from the same domain) has
    its own, or a mailbox that drops repeated ids would hide it."""
    domain = mailing.sender_email.rpartition("@")[2]
    if mailing.edition is None or mailing.test:
        return f"<{uuid.uuid4().hex}@{domain}>"
    digest = hashlib.sha256(f"{mailing.list_id}\x1f{mailing.edition}\x1f{recipient}".encode()).hexdigest()[:24]
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
    headers = {**mailing.common_headers(), **mailing.recipient_headers(recipient)}
    if "List-Unsubscribe" not in headers:
        headers.pop("List-Unsubscribe-Post", None)  # no link to POST to
    for name, value in headers.items():
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


def needs_smtputf8(msg: EmailMessage) -> bool:
    """True when an address of `msg` (From, To, Reply-To) is not ASCII: it must go with SMTPUTF8."""
    return any(not a.addr_spec.isascii() for name in ADDRESS_HEADERS for a in getattr(msg[name], "addresses", ()))


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as sent: headers in UTF-8 as they are when an address needs SMTPUTF8, else 7-bit."""
    return msg.as_bytes(policy=SMTPUTF8_POLICY if needs_smtputf8(msg) else SMTP_POLICY)
