"""The `outbox` delivery: writes each message as a standard .eml file instead of sending it.

Useful for a first run, for checking an issue before it goes out, or for handing the files
to another mail system. An issue lands in `<folder>/issue-<n>/<recipient>-<hash>.eml`, any
other message (a confirmation, a test) in `<folder>/messages/`. Files are written atomically,
so after a crash a file is either whole or absent, and the journal can tell which: exactly once.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import components, hookimpl
from pipeline.components import Batch, Deliverer, Delivery, Resolution
from pipeline.files import write_atomic
from pipeline.mail import EDITION_HEADER
from pipeline.run_context import RunContext
from pipeline.settings_types import ProjectPath

if TYPE_CHECKING:  # the email package's MIME machinery loads when a message is first built
    from email.message import EmailMessage

    from pipeline.mail.message import Mailing, Recipient

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class Outbox(Deliverer):
    name = "outbox"
    description = "Write each email as an .eml file (nothing is sent)."

    class Settings(components.Settings):
        folder: ProjectPath | None = None  # default: <out_dir>/outbox

    @property
    def folder(self) -> Path:
        return self.settings.folder or self.project.core.out_dir / "outbox"

    def deliver(self, mailing: Mailing, recipients: list[Recipient], batch: Batch | None,
                run: RunContext | None) -> list[Delivery]:
        from pipeline.mail.message import build_message

        edition = None if mailing.test else mailing.edition
        return [self._write(build_message(mailing, r), self.path_for(edition, r.email)) for r in recipients]

    def send(self, messages: list[EmailMessage], run: RunContext | None) -> list[Delivery]:
        return [self._write(msg, self.path_for(_edition(msg), msg["To"].addresses[0].addr_spec)) for msg in messages]

    def resolve(self, batch: Batch, known: list[Delivery]) -> dict[str, Resolution]:
        """A file is written whole or not at all, so its presence is the answer."""
        return {d.recipient: Resolution.SENT if self.path_for(batch.edition, d.recipient).is_file()
                else Resolution.NOT_SENT for d in known}

    def path_for(self, edition: int | None, recipient: str) -> Path:
        if edition is None:
            return self.folder / "messages" / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{file_name(recipient)}"
        return self.folder / f"issue-{edition}" / file_name(recipient)

    def _write(self, msg: EmailMessage, path: Path) -> Delivery:
        from pipeline.mail.message import message_bytes

        recipient = msg["To"].addresses[0].addr_spec
        try:
            write_atomic(path, message_bytes(msg))
        except OSError as exc:
            return Delivery(recipient, False, error=f"cannot write {path}: {exc.strerror}")
        return Delivery(recipient, True, reference=str(path))


def _edition(msg: EmailMessage) -> int | None:
    value = str(msg[EDITION_HEADER] or "")
    return int(value) if value.isdigit() else None


def file_name(recipient: str) -> str:
    """'ann@example.org-2c26b46b68.eml': the address made safe, plus a hash of the exact address,
    so two addresses that are made safe alike (jö@ and jä@) never share a file."""
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', recipient)[:100]}-{digest}.eml"


@hookimpl
def register_deliveries(register) -> None:
    register(Outbox)
