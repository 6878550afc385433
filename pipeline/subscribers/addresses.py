"""What counts as an email address here: a plausible single address, kept in one spelling (`canonical`)."""

from __future__ import annotations

import ipaddress
import re
from email.errors import HeaderParseError
from email.headerregistry import Address

from pipeline.redact import MASK

# Deliberately simple: one @, no spaces or brackets, a dot in the domain. Typos, not RFC 5322 corner cases.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+")
MAX_LENGTH = 254  # RFC 5321's limit on a path
MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1: the part before the @
LONG_LOCAL = f"the part before the @ is longer than {MAX_LOCAL} characters"
BARE_IP = "mail to an IP address needs brackets, which the list does not take: use the domain's name"
NON_ASCII_NAME = ("the part before the @ has letters outside ASCII (RFC 6531), which SendGrid and many mail servers "
                  "cannot deliver to: ask for another address")
UNREACHABLE = "no mail server takes its domain"
# Refused for a new address, but an address all the same: a row stored before these limits is still mailed, and
# whatever takes an address off the list (a status column, a webhook event) must still reach it.
STORED_BEFORE = (LONG_LOCAL, BARE_IP, NON_ASCII_NAME)
# What a row the upgrade to one spelling kept may have wrong besides (a domain IDNA refuses, left in its spelling):
# a list's row saying such an address left, or a suppression, must still take it off.
TAKEN_OFF_ANYWAY = (*STORED_BEFORE, UNREACHABLE)


# The words of a text with an @, each looked for only from its first character (from every one, a long word with no
# @ in it cost its length squared)
_ANY_ADDRESS = re.compile(r"(?<![^@\s<>()\[\],;:\"'/\\])[^@\s<>()\[\],;:\"'/\\]+@[^@\s<>()\[\],;:\"'/\\]+")


def without_addresses(text: str) -> str:
    """`text` with every address in it (anything with an @) as "<an address>": for lines kept or mailed to the
    organisers (the run history, alerts, the log), which should hold no subscriber's address."""
    return _ANY_ADDRESS.sub(_masked_address, text)


def _masked_address(found: re.Match) -> str:
    # a URL's password masked already ("https://ann:***@host/", `pipeline/redact.py`) is no address: kept legible
    return found[0] if found[0].startswith(MASK + "@") else "<an address>"


def valid_address(text: str) -> bool:
    """True for a plausible single address such as `ann@example.org`."""
    return address_problem(text) is None


def address_problem(text: str) -> str | None:
    """None for a plausible single address; else why not, as a clause for a message: `LONG_LOCAL`, `BARE_IP`,
    or '' (nothing like an address)."""
    if len(text) > MAX_LENGTH or not _ADDRESS.fullmatch(text) or ".." in text:
        return ""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in a JSON body): no text at all, and nothing stores it
        return ""
    if not text.rpartition("@")[0].isascii():
        return NON_ASCII_NAME
    try:
        Address(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError):
        return ""
    local, _, domain = text.rpartition("@")
    if len(local) > MAX_LOCAL:
        return LONG_LOCAL
    if domain.rpartition(".")[2].isdigit():  # no top-level domain is all digits: 192.168.1.1 is an IP address
        return BARE_IP if _ip_address(domain) else ""
    return None


def refusal(text: str, like: str) -> str | None:
    """None for a plausible single address that mail can reach; else a clause for a one-line error: "'text' is not an
    email address like `like`", and why when there is more to say (`address_problem`, or `UNREACHABLE`)."""
    problem = address_problem(text)
    if problem is None and canonical(text) is None:
        problem = UNREACHABLE
    if problem is None:
        return None
    return f"{text!r} is not an email address like {like}{f' ({problem})' if problem else ''}"


def sender_spelling(text: str) -> str:
    """An address the newsletter is sent from (or replied to), as every server takes it: its domain in the IDNA form
    (news@bücher.de: news@xn--bcher-kva.de), so no message needs SMTPUTF8 for it and the `mailto:` unsubscribe
    link, the List-Id and the Message-ID stay ASCII. ValueError saying why when it is not an address, or no mail
    reaches it."""
    why = refusal(text, "news@example.org")
    if why is not None:
        raise ValueError(why)
    # Never None here: `refusal` takes no name outside ASCII before the @, nor a domain IDNA refuses.
    return ascii_spelling(text) or text


def _ip_address(domain: str) -> bool:
    try:
        ipaddress.IPv4Address(domain)
    except ValueError:
        return False
    return True


def normalise(text: str) -> str:
    """An address trimmed and in lower case (`canonical` then reads its domain as mail servers do)."""
    return text.strip().lower()


def canonical(text: str) -> str | None:
    """The one spelling an address is stored, compared and looked up in: `normalise`d, then its domain as
    `mail_spelling` gives it, so every spelling that reaches one mailbox is one address; None for a domain IDNA
    refuses. Text longer than any address is only normalised (idna never sees it)."""
    return mail_spelling(normalise(text))


def checked(text: str) -> tuple[str, str | None]:
    """(`canonical(text)`, None) for an address to store; else (`text` normalised, why not: `address_problem`'s
    reason, or `UNREACHABLE` for a domain IDNA refuses)."""
    spelt = canonical(text)
    if spelt is None:
        return normalise(text), UNREACHABLE
    return spelt, address_problem(spelt)


_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}  # where dots in the name reach one mailbox


def mailbox(address: str) -> str:
    """What the limits on mail to one inbox count under, for an address in its one spelling (`canonical`): without a
    `+tag` (RFC 5233 subaddresses: Gmail, Outlook, Fastmail, iCloud deliver ann+x@ to ann@), and at Gmail without
    dots (a.nn@googlemail.com is ann@gmail.com). Only for counting: the address is stored and mailed as given."""
    local, _, domain = address.rpartition("@")
    local = local.partition("+")[0] or local
    if domain in _DOTLESS:
        local, domain = local.replace(".", "") or local, _DOTLESS[domain]
    return f"{local}@{domain}"


def mail_spelling(address: str) -> str | None:
    """`address` with its domain as IDNA (UTS 46) reads it, which is how mail servers and the sendgrid delivery
    read it: ann@exam\u00adple.org (a soft hyphen), ann@\uff45xample.org (a full-width e) and ann@example\u3002org
    all reach ann@example.org, and ann@xn--bcher-kva.de is ann@bücher.de; None for a domain IDNA refuses (a
    direction mark, a control), which no mail reaches. Longer than any address (`valid_address` refuses it), it
    is given back as it is: some versions of idna take time that grows with the square of the length."""
    local, _, domain = address.rpartition("@")
    if len(address) > MAX_LENGTH or (domain.isascii() and "xn--" not in domain):
        return address
    import idna  # here: a domain outside ASCII is rare

    try:
        return f"{local}@{idna.decode(idna.encode(domain, uts46=True))}"
    except UnicodeError:  # idna.IDNAError is one
        return None


def one_line(text: str, limit: int = 200, *, keep_end: bool = False) -> str:
    """A name as typed, on one line with single spaces and no control characters, at most `limit` characters. With
    `keep_end`, a longer text keeps its start and its end, " … " between (a consent record: the consent given first
    and the latest change both matter)."""
    # Most names and records are printable: no character to look at one by one. Anything else, a plugin's list of
    # names or None too, goes the long way, which gives what it always gave (the same text, or the same error).
    if not isinstance(text, str) or not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    if len(text) <= limit or not keep_end:
        return text[:limit]
    head = limit // 4
    return f"{text[:head]} … {text[len(text) - (limit - head - 3):]}"


def ascii_spelling(address: str) -> str | None:
    """`address` as a server without SMTPUTF8 (and SendGrid) takes it: a domain outside ASCII in its IDNA 2008 form
    (bücher.de: xn--bcher-kva.de; straße.de: xn--strae-oqa.de, not IDNA 2003's strasse.de, another domain); None for
    a local part outside ASCII (RFC 6531) or a domain IDNA refuses."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return None
    if domain.isascii():
        return address
    import idna  # here: an address outside ASCII is rare

    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except UnicodeError:  # idna.IDNAError is one
        return None
