"""The `smtp` delivery: hands each message to a mail server (a relay, or a provider's SMTP service).

One connection per send, STARTTLS by default, and login when `username_env`/`password_env` name
environment variables holding the credentials (never put them in pipeline.toml). A login is only
ever sent over STARTTLS: `starttls = false` with credentials is refused at start-up. A recipient the
server refuses fails alone and is retried by the next run, unless the refusal says the address
itself is bad for good (`hard_bounce`: a 550, 551, 553 or 556 at RCPT TO whose enhanced status code
is about the recipient's address, Microsoft 365's "5.4.1 Recipient address rejected" included): then
it is a hard bounce, and the host marks the subscriber bounced (`Delivery.bounced`; none when at
least 3, and more than half of those reached, were refused so: `SUSPECT_BOUNCES`). A refusal at MAIL
FROM or of the message after DATA is about the sender or the message, never the address (RFC 5321
§3.3, §4.2.5), so it only fails that delivery, to be retried. A 421 (the server is closing the
connection) fails that message, and the next one is sent on a new connection; but when the
connection kept from an earlier message is found closed (the server hung up on it while it was idle,
or answers 421) before the server accepted DATA, nothing of this message was handed over, so it is
sent again at once on a new connection, once. SMTP cannot take a message back: once DATA was
accepted a message is never sent again; if the connection is lost after its final dot went out and
before the server answered, that one message is `unknown` (it may have been accepted).
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from pydantic import Field, model_validator

from pipeline import components, hookimpl
from pipeline.components import Deliverer, Delivery
from pipeline.config import Project
from pipeline.errors import ConfigError
from pipeline.run_context import RunContext
from pipeline.settings_types import EnvVarName, ExistingFile


class Smtp(Deliverer):
    name = "smtp"
    description = "Send through an SMTP server (STARTTLS, optional login from the environment)."
    batch_size = 1  # each message journalled on its own: a kill leaves at most one outcome unknown

    class Settings(components.Settings):
        host: str
        port: int = Field(default=587, ge=1, le=65535)
        starttls: bool = True
        ca_file: ExistingFile | None = None  # trust this CA file instead of the system's (a relay with a private CA)
        username_env: EnvVarName | None = None
        password_env: EnvVarName | None = None
        timeout: float = Field(default=30.0, gt=0)

        @model_validator(mode="after")
        def _login_needs_tls(self):
            if bool(self.username_env) != bool(self.password_env):
                raise ValueError("set both username_env and password_env, or neither")
            if self.username_env and not self.starttls:
                raise ValueError("starttls = false would send the SMTP password unencrypted; keep starttls = true, "
                                 "or remove username_env and password_env for a relay that needs no login")
            return self

    def __init__(self, instance: str, settings: Settings, project: Project):
        super().__init__(instance, settings, project)
        self.credentials: tuple[str, str] | None = None
        if settings.username_env:
            missing = [v for v in (settings.username_env, settings.password_env) if not os.environ.get(v)]
            if missing:
                variables = "variable " + missing[0] + " is" if len(missing) == 1 else \
                    f"variables {' and '.join(missing)} are"
                raise ConfigError(f"{project.config_path.name}: smtp delivery: environment {variables} not set; "
                                  f"set the SMTP login there, or remove username_env and password_env if the "
                                  f"server needs no login")
            # smtplib sends a login as ASCII only: it would fail every message with nothing sent. Never repeated.
            unsendable = [v for v in (settings.username_env, settings.password_env) if not os.environ[v].isascii()]
            if unsendable:
                raise ConfigError(f"{project.config_path.name}: smtp delivery: the login in {unsendable[0]} has "
                                  f"characters other than ASCII, which Python's smtplib cannot send; use an "
                                  f"ASCII password (an app password, say)")
            self.credentials = (os.environ[settings.username_env], os.environ[settings.password_env])
        self._server: smtplib.SMTP | None = None
        self._down = ""

    def send(self, messages: list[EmailMessage], run: RunContext | None) -> list[Delivery]:
        return [self._send_one(msg) for msg in messages]

    def close(self) -> None:
        if self._server is not None:
            try:
                self._server.quit()
            except (smtplib.SMTPException, OSError):
                self._server.close()
        self._server, self._down = None, ""

    def _connection(self) -> smtplib.SMTP:
        """One connection for the whole send, opened when first needed and again after it is lost."""
        if self._down:  # one failed connect fails the rest at once, rather than timing out for each
            raise ConnectionError(self._down)
        if self._server is None:
            try:
                self._server = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                self._down = f"SMTP server {self.settings.host}:{self.settings.port}: {_describe(exc)}"
                raise ConnectionError(self._down) from None
        return self._server

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            if settings.starttls:
                _starttls(server, settings.ca_file)
            if self.credentials:
                server.login(*self.credentials)
        except BaseException:
            server.close()
            raise
        return server

    def _send_one(self, msg: EmailMessage, *, again: bool = True) -> Delivery:
        """Send one message; uncertain only if the connection is lost after its final dot went out. When the
        connection kept from an earlier message turns out closed (the server hung up on it while idle, or says
        421) before DATA was accepted, nothing of this message was handed over: it is sent again, once, on a
        new connection (`again`)."""
        from pipeline.mail.message import message_bytes, needs_smtputf8  # MIME, loaded with the first message

        recipient = msg["To"].addresses[0].addr_spec  # the list's spelling: a retry is given `msg`, not `sent`
        sent = _ascii_domain(msg)
        kept = again and self._server is not None
        try:
            server = self._connection()
        except ConnectionError as exc:
            return Delivery(recipient, False, error=str(exc))
        where = f"SMTP server {self.settings.host}:{self.settings.port}"
        try:
            refused = _envelope(server, sent["From"].addresses[0].addr_spec, sent["To"].addresses[0].addr_spec,
                                utf8=needs_smtputf8(sent))
        except (smtplib.SMTPException, OSError) as exc:  # DATA was not accepted: nothing of the message went out
            self._lost()
            if kept and isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError):
                return self._send_one(msg, again=False)
            return Delivery(recipient, False, error=f"{where}: {_describe(exc)}")
        if refused:
            self._end_transaction(server, refused.code)
            if kept and refused.code == 421:
                return self._send_one(msg, again=False)
            if refused.stage == "RCPT TO" and hard_bounce(refused.code, refused.text):
                return Delivery(recipient, False, error=f"the server refused the address for good: {refused}",
                                bounced=True)
            return Delivery(recipient, False, error=f"the server refused it: {refused}")
        try:  # from here on the message is never sent again: the server may have it
            server.send(_dot_stuffed(message_bytes(sent)))
        except (smtplib.SMTPException, OSError) as exc:  # the final dot never went out: not accepted
            self._lost()
            return Delivery(recipient, False, error=f"{where}: {_describe(exc)}")
        try:
            code, text = server.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._lost()
            return Delivery(recipient, False, error=f"{where}: connection lost after the message was sent, "
                                                    f"before the server answered ({_describe(exc)})", certain=False)
        if code == 421:  # the server is closing the connection: the next message opens a new one
            self._lost()
        if code != 250:
            return Delivery(recipient, False, error=f"the server refused it: {code} {_text(text)}")
        return Delivery(recipient, True, reference=str(sent["Message-ID"]))

    def _end_transaction(self, server: smtplib.SMTP, code: int) -> None:
        """After a refusal: RSET, so the connection takes the next message; or, when the server is closing it
        (421, to the refused command or to the RSET) or RSET fails, let it go, so the next message opens a new one."""
        if code != 421:
            try:
                if server.rset()[0] == 250:
                    return
            except (smtplib.SMTPException, OSError):
                pass
        self._lost()

    def _lost(self) -> None:
        if self._server is not None:
            self._server.close()
        self._server = None


def _ascii_domain(msg: EmailMessage) -> EmailMessage:
    """`msg`, or a copy whose To gives the recipient's domain in its IDNA form (bücher.de: xn--bcher-kva.de) when only
    the domain is outside ASCII: the list spells a domain so (`addresses.canonical`, cy@xn--bcher-kva.de included),
    and that form reaches the same mailbox through any server, not only one offering SMTPUTF8. The delivery is
    still reported under the list's spelling."""
    [to] = msg["To"].addresses
    if to.domain.isascii() or not to.username.isascii():
        return msg
    import copy
    from email.headerregistry import Address

    from pipeline.subscribers.addresses import ascii_spelling

    spelt = ascii_spelling(to.addr_spec)
    if spelt is None:  # a domain IDNA refuses: sent as it is, with SMTPUTF8
        return msg
    domain = spelt.rpartition("@")[2]
    sent = copy.deepcopy(msg)
    sent.replace_header("To", Address(display_name=to.display_name, username=to.username, domain=domain))
    return sent


@dataclass(frozen=True)
class Refusal:
    """A command of the envelope the server refused: at which stage, and its reply."""

    stage: str  # "MAIL FROM", "RCPT TO", "DATA", or "" when nothing was asked (no SMTPUTF8)
    code: int  # 0 when nothing was asked
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code else self.text


def _envelope(server: smtplib.SMTP, sender: str, recipient: str, *, utf8: bool) -> Refusal | None:
    """MAIL FROM, RCPT TO and DATA (with SMTPUTF8 when `utf8`: an address of the message is not ASCII, and its
    headers are in UTF-8; `sender` and `recipient` are its From and To, so `utf8` covers them); the server's
    refusal, or None when it waits for the message. The caller ends a refused transaction (`Smtp._end_transaction`)."""
    options = []
    server.ehlo_or_helo_if_needed()
    if utf8:
        if not server.has_extn("smtputf8"):
            return Refusal("", 0, "the address is not ASCII and the server does not offer SMTPUTF8")
        options.append("SMTPUTF8")
    for stage, command, wanted in (("MAIL FROM", lambda: server.mail(sender, options), (250,)),
                                   ("RCPT TO", lambda: server.rcpt(recipient), (250, 251)),
                                   ("DATA", lambda: server.docmd("data"), (354,))):
        code, text = command()
        if code not in wanted:
            return Refusal(stage, code, _text(text))
    return None


# RFC 5321 §4.2.2, §4.2.3, and RFC 7504 for 556: the RCPT TO replies that judge the address itself. Not 552,
# which RFC 5321 §4.5.3.1.10 says to take as temporary there ("too many recipients"); not 554 or the others,
# a refusal of the client, its parameters or its policy, which says nothing about the address.
ADDRESS_REPLIES = (550, 551, 553, 556)
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\S)")  # RFC 3463: 5.1.1
# Microsoft 365 refuses an address its directory does not know (directory-based edge blocking) with
# "550 5.4.1 [ann@example.org]: Recipient address rejected: Access denied"; its other 5.4.1s ("Relay Access
# Denied": a domain the tenant does not accept) are about the routing, not the address.
_RECIPIENT_REJECTED = re.compile(r"recipient address rejected", re.IGNORECASE)


def hard_bounce(code: int, text: str) -> bool:
    """Whether a refusal at RCPT TO says the recipient's address is bad for good: a 550, 551, 553 or 556
    whose enhanced status code (RFC 3463; a reply without one is no bounce) is about that address: 5.1.x (bad
    mailbox, bad domain, bad syntax, moved; not 5.1.7 and 5.1.8, the sender's), 5.2.1 (mailbox disabled), or
    5.4.1 saying "Recipient address rejected" (Microsoft 365's answer for an address it does not know; RFC 3463's
    5.4.1 is "no answer from host", so a 5.4.1 without those words is none). A 5.7.x (policy: relaying denied,
    a blocklisted client), 5.2.2 (mailbox full) and the rest leave the address alone: they would otherwise mark
    a whole list bounced for a problem of the sending side."""
    if code not in ADDRESS_REPLIES:
        return False
    enhanced = _ENHANCED.match(text)
    if enhanced is None:  # a bare "550 relaying denied" must not bounce a whole list: without a code, no bounce
        return False
    status, subject, detail = enhanced.groups()
    if status != "5":
        return False
    if (subject, detail) == ("4", "1"):
        return _RECIPIENT_REJECTED.search(text, enhanced.end()) is not None
    return (subject == "1" and detail not in ("7", "8")) or (subject, detail) == ("2", "1")


def _dot_stuffed(raw: bytes) -> bytes:
    """The message as DATA sends it: CR LF line ends, leading dots doubled, then the final dot."""
    data = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r?\n", b"\r\n", raw))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _text(text: bytes | str) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else text


def _starttls(server: smtplib.SMTP, ca_file) -> None:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        server.starttls(context=context)
    except smtplib.SMTPNotSupportedError:
        raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS; set starttls = false only "
                                            "for a relay on this machine") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@hookimpl
def register_deliveries(register) -> None:
    register(Smtp)
