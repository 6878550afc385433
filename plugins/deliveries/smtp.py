"""The `smtp` delivery: hands each message to a mail server (a relay, or a provider's SMTP service).

One connection per call, STARTTLS by default, and login when `username_env`/`password_env`
name environment variables holding the credentials (never put them in pipeline.toml). A login
is only ever sent over STARTTLS: `starttls = false` with credentials is refused at start-up.
A recipient the server refuses fails alone; a lost connection fails the messages not yet sent.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage

from pydantic import Field, model_validator

from pipeline import components, hookimpl
from pipeline.components import Deliverer, Delivery
from pipeline.config import Project
from pipeline.errors import ConfigError
from pipeline.run_context import RunContext
from pipeline.settings_types import ExistingFile
from plugins.deliveries.environment import EnvVarName
from plugins.sinks.email.message import recipient_of


class Smtp(Deliverer):
    name = "smtp"
    description = "Send through an SMTP server (STARTTLS, optional login from the environment)."

    class Settings(components.Settings):
        host: str
        port: int = Field(default=587, ge=1, le=65535)
        starttls: bool = True
        ca_file: ExistingFile | None = None  # trust this CA too (a relay with a private certificate)
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
            self.credentials = (os.environ[settings.username_env], os.environ[settings.password_env])

    def send(self, messages: list[EmailMessage], run: RunContext) -> list[Delivery]:
        results: list[Delivery] = []
        try:
            with self._connect() as server:
                for msg in messages:
                    results.append(self._send_one(server, msg))
        except (smtplib.SMTPException, OSError) as exc:
            reason = f"SMTP server {self.settings.host}:{self.settings.port}: {_describe(exc)}"
            done = {d.recipient for d in results}
            results.extend(Delivery(recipient_of(m), False, error=reason) for m in messages
                           if recipient_of(m) not in done)
        return results

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

    def _send_one(self, server: smtplib.SMTP, msg: EmailMessage) -> Delivery:
        recipient = recipient_of(msg)
        try:
            server.send_message(msg)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused,
                smtplib.SMTPNotSupportedError) as exc:  # the last: a non-ASCII address, server without SMTPUTF8
            return Delivery(recipient, False, error=f"the server refused it: {_describe(exc)}")
        return Delivery(recipient, True, reference=str(msg["Message-ID"]))


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
