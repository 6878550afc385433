"""The `outbox` delivery: writes each message as a standard .eml file instead of sending it.

Useful for a first run, for checking an issue before it goes out, or for handing the files
to another mail system. Files land in `<folder>/issue-<n>/<recipient>-<hash>.eml`.
"""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

from pipeline import components, hookimpl
from pipeline.components import Deliverer, Delivery
from pipeline.files import write_atomic
from pipeline.run_context import RunContext
from pipeline.settings_types import ProjectPath
from plugins.sinks.email.message import edition_of, recipient_of

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class Outbox(Deliverer):
    name = "outbox"
    description = "Write each email as an .eml file (nothing is sent)."

    class Settings(components.Settings):
        folder: ProjectPath | None = None  # default: <out_dir>/outbox

    @property
    def folder(self) -> Path:
        return self.settings.folder or self.project.core.out_dir / "outbox"

    def send(self, messages: list[EmailMessage], run: RunContext) -> list[Delivery]:
        return [self._write(msg) for msg in messages]

    def _write(self, msg: EmailMessage) -> Delivery:
        recipient = recipient_of(msg)
        path = self.folder / f"issue-{edition_of(msg)}" / file_name(recipient)
        try:
            write_atomic(path, msg.as_bytes(policy=policy.SMTP))
        except OSError as exc:
            return Delivery(recipient, False, error=f"cannot write {path}: {exc.strerror}")
        return Delivery(recipient, True, reference=str(path))


def file_name(recipient: str) -> str:
    """'ann@example.org-2c26b46b68.eml': the address made safe, plus a hash of the exact address,
    so two addresses that are made safe alike (jö@ and jä@) never share a file."""
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', recipient)[:100]}-{digest}.eml"


@hookimpl
def register_deliveries(register) -> None:
    register(Outbox)
