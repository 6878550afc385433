"""The `outbox` delivery: writes each message as a standard .eml file instead of sending it.

Useful for a first run, for checking an issue before it goes out, or for handing the files
to another mail system. An issue lands in `<folder>/issue-<n>/<recipient>-<hash>.eml`, any
other message (a confirmation, a test) in `<folder>/messages/`. Files are written atomically,
so after a crash a file is either whole or absent, and the journal can tell which: exactly once.

What the outbox holds is never written over. An issue's file already there when the journal does not hold it as
sent (a copy of the state database put back from before the issue went out) may have been handed on already: it is
kept as it is, and that delivery recorded unknown, as any delivery in doubt (never sent again blindly); when the
organiser sends it again (`pipeline deliveries --resend unknown`), the new file is written beside it, as
`<recipient>-<hash>.2.eml` (.3, ...).

The folder is `outbox/` beside pipeline.toml, never inside `out_dir`: that is the readers' website,
and each message carries its reader's name and never-expiring unsubscribe link, in a file named
after their address, which anyone who knows it could fetch.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator

from pipeline import components, hookimpl
from pipeline.components import Batch, Deliverer, Delivery, Resolution
from pipeline.errors import ConfigError
from pipeline.files import move_folder, write_atomic
from pipeline.mail import EDITION_HEADER
from pipeline.run_context import RunContext
from pipeline.settings_types import ProjectPath

if TYPE_CHECKING:  # the email package's MIME machinery loads when a message is first built
    from email.message import EmailMessage

    from pipeline.mail.message import Mailing, Recipient

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")
_PURPOSE = re.compile(r"[a-z]{1,20}")
_WRITTEN = re.compile(r"\d{8}-\d{6}-\d{6}-.+\.eml$")  # a message's name in messages/ (`path_for`)
_AGAIN = re.compile(r"\.\d+\.eml")  # after a recipient's file name's stem: a copy sent again, written beside it
# Seconds a file written in a batch may seem older than it (`Outbox._on_disk`): FAT keeps times to 2 s, cut down to
# the even second, of a kernel clock that lags the one the batch was journalled by (a tick, milliseconds): more than 2
FILE_TIME_SLACK = 3


class Outbox(Deliverer):
    name = "outbox"
    description = "Write each email as an .eml file (nothing is sent)."

    class Settings(components.Settings):
        folder: ProjectPath | None = None  # default: outbox/ beside pipeline.toml
        # Each file holds a subscriber's address, name and unsubscribe link: kept no longer than useful (0: for ever)
        keep_issues: int = Field(default=12, ge=0)  # the latest issues' folders kept when an issue is sent
        keep_message_days: int = Field(default=90, ge=0)  # days messages/ keeps a confirmation, test or alert

        @field_validator("folder")
        @classmethod
        def _not_published(cls, value: Path | None, info: ValidationInfo) -> Path | None:
            project = (info.context or {}).get("project")
            if value is not None and project is not None and _inside(value, project.core.out_dir):
                raise ValueError(f"{value} is inside out_dir ({project.core.out_dir}), which is published as the "
                                 f"readers' site, so anyone could fetch a subscriber's message and unsubscribe "
                                 f"link; remove the setting (the outbox is then outbox/ beside pipeline.toml) or "
                                 f"choose a folder outside out_dir, and move the files already written there")
            return value

    def __init__(self, instance: str, settings: Settings, project) -> None:
        super().__init__(instance, settings, project)
        self._found: set[tuple[int, str]] = set()  # (issue, recipient) whose file was found already there (`_kept`)

    @property
    def folder(self) -> Path:
        return self.settings.folder or self.project.root / "outbox"

    def prepare(self) -> str:
        """Move the outbox from `<out_dir>/outbox`, where earlier versions kept it (published with the
        site), to `outbox/` beside pipeline.toml, when `folder` is not set.

        Moved, not copied or left behind: a batch a killed run left in flight is settled by whether
        each recipient's file exists (`resolve`), looked for in the new folder only. So it is moved
        here, under the state folder's lock and before anything is settled or sent, by `move_folder`,
        which never leaves a file half in one place (one rename within a file system, else file by
        file; stopped, the next run carries on). Into an outbox/ already there (made empty for systemd
        or Docker, or holding a confirmation `pipeline serve` wrote since) only what it lacks is added;
        a file both hold with other contents stops the command before anything moves, naming it. Any
        failure stops the command (ConfigError): sending on would settle the old batch against files
        not there, and write those messages twice. With `folder` set, an old outbox left in out_dir is
        the organiser's to delete, and each command says so until it is gone."""
        old = self.project.core.out_dir / "outbox"
        if not os.path.lexists(old):
            return ""
        if self.settings.folder is not None:  # the organiser chose the folder: what is left in out/ is theirs to clear
            # a link too: one to the folder set (what the error below advises) publishes every message written now
            if old.is_dir() and any(path.is_file() for path in old.rglob("*")):
                held = (f"is a link to {old.resolve()}, which holds messages" if old.is_symlink() else
                        "still holds messages an earlier version's outbox wrote")
                return (f"{old} {held}, and is published with the site: anyone who knows a subscriber's address can "
                        f"read their message and unsubscribe link there; delete {old} (this outbox writes to "
                        f"{self.folder})")
            return ""
        new, table = self.folder, self._table()
        where = f"{self.project.config_path.name}: {table} (outbox)"
        if old.is_symlink() or not old.is_dir():
            raise ConfigError(f"{where}: {old} is not a folder the outbox wrote; move what it holds to {new}, or "
                              f"set folder in {table} to the folder it leads to, outside {old.parent}")
        if _inside(new, self.project.core.out_dir):  # a link to the old one, or out_dir the project's folder
            raise ConfigError(f"{where}: {new} leads inside out_dir ({self.project.core.out_dir}), which is published "
                              f"as the readers' site, so the outbox cannot be moved out of it; make {new} a folder "
                              f"of its own outside out_dir (not a link to {old}), or set folder in {table} to one")
        try:
            move_folder(old, new)
        except FileExistsError as exc:
            raise ConfigError(f"{where}: cannot move the outbox from {old} to {new}: {exc.filename} is in both, "
                              f"with other contents; keep the right one in {new}, delete {old} and run again"
                              ) from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot move the outbox from {old}, which the site publishes, to {new} "
                              f"({exc.strerror}: {exc.filename or new}); make {new} a folder this user can write "
                              f"(see README, \"Operations\") or move it there yourself, and run again") from None
        return f"moved the outbox from {old} to {new}, out of the published site"

    def open_batch(self, edition: int) -> Batch:
        """A new batch, once the issues and messages kept past `keep_issues` and `keep_message_days` are deleted
        (an older issue is never sent again, and its batches were settled before this one opened)."""
        self._prune(edition)
        return super().open_batch(edition)

    def _prune(self, edition: int | None) -> None:
        """Delete the issues' folders kept past `keep_issues` (none when `edition` is None: a message outside an
        issue) and the messages kept past `keep_message_days`."""
        old = self._old_messages()
        if self.settings.keep_issues and edition is not None:
            old += [path for path in self.folder.glob("issue-*")
                    if path.name[6:].isdigit() and int(path.name[6:]) <= edition - self.settings.keep_issues]
        for path in old:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def _old_messages(self) -> list[Path]:
        """The files in messages/ older than `keep_message_days`: only those the outbox wrote and named (not one
        being written now)."""
        if not self.settings.keep_message_days:
            return []
        cutoff = f"{datetime.now() - timedelta(days=self.settings.keep_message_days):%Y%m%d-%H%M%S}"
        return [path for path in self.folder.glob("messages/*") if _WRITTEN.match(path.name)
                and path.name[:15] < cutoff and path.is_file() and not path.is_symlink()]

    def _table(self) -> str:
        if getattr(self.project, "alert_delivery", None) is self:
            return "[alerts.delivery]"
        sink = next((s.instance for s in self.project.sinks if getattr(s, "deliverer", None) is self), "NAME")
        return f"[sinks.{sink}.delivery]"

    def deliver(self, mailing: Mailing, recipients: list[Recipient], batch: Batch | None,
                run: RunContext | None) -> list[Delivery]:
        from pipeline.mail.message import build_message

        edition = None if mailing.test else mailing.edition
        if edition is None:  # messages/ is pruned as it is written to (alerts' own outbox never sends an issue)
            self._prune(None)
        written = []
        for r in recipients:
            path = self.path_for(edition, r.email, mailing.purpose)
            if edition is not None and path.is_file():  # a message delivered (not a folder in its place)
                if not mailing.again:  # the journal did not know it: never written over, never sent twice blindly
                    written.append(self._kept(edition, r.email, path))
                    continue
                path = _beside(path)
            written.append(self._write(build_message(mailing, r), path))
        return _on_disk(written)

    def send(self, messages: list[EmailMessage], run: RunContext | None) -> list[Delivery]:
        written = []
        for msg in messages:
            edition, recipient = _edition(msg), msg["To"].addresses[0].addr_spec
            path = self.path_for(edition, recipient)
            written.append(self._kept(edition, recipient, path) if edition is not None and path.is_file() else
                           self._write(msg, path))
        return _on_disk(written)

    def _kept(self, edition: int, recipient: str, path: Path) -> Delivery:
        """The issue's file for `recipient` is there already, though the journal did not hold it as sent: kept as it
        is, and the delivery in doubt (`resolve` says unknown)."""
        self._found.add((edition, recipient))
        return Delivery(recipient, False, certain=False, error=(
            f"{path.parent} already holds the issue's file to {recipient}, though the state database did not record "
            f"it sent (a copy put back from before the issue went out?); kept as it is: `pipeline deliveries "
            f"--resend unknown` writes the issue beside it"))

    def resolve(self, batch: Batch, known: list[Delivery]) -> dict[str, Resolution]:
        """A file is written whole or not at all, so its presence is the answer; but for one found already there
        (`_kept`), which may have been handed on: unknown."""
        return {d.recipient: Resolution.UNKNOWN if (batch.edition, d.recipient) in self._found else
                self._on_disk(batch, d.recipient) for d in known}

    def _on_disk(self, batch: Batch, recipient: str) -> Resolution:
        """Sent when the batch wrote `recipient`'s file; unknown when their files there are all older than the batch
        (kept from before it, as `_kept` keeps them: a resend, or a send after a restore, cut short before it
        wrote its own); not sent when there is none."""
        path = self.path_for(batch.edition, recipient)
        stem = path.name[:-len(".eml")]
        copies = [path, *(again for again in path.parent.glob(f"{stem}.*.eml")
                          if _AGAIN.fullmatch(again.name[len(stem):]))]
        written = []
        for copy in copies:
            try:
                if copy.is_file():
                    written.append(copy.stat().st_mtime_ns)
            except OSError:
                continue
        if not written:
            return Resolution.NOT_SENT
        if batch.begun is None:  # when it began is not known: the file is taken for its
            return Resolution.SENT
        # a file system's times may be coarse (a second, two on FAT) and the kernel's a tick behind the clock: both
        since = (batch.begun - timedelta(seconds=FILE_TIME_SLACK)).timestamp() * 1e9
        return Resolution.SENT if max(written) >= since else Resolution.UNKNOWN

    def forget(self, address: str) -> int:
        """Every message to `address`: each issue's, and each confirmation or alert in messages/."""
        return _unlink(self._mail_to(address))

    def kept(self, address: str) -> list[str]:
        """The file of each message to `address` that `forget` deletes, in the order it finds them."""
        return [str(path) for path in self._mail_to(address)]

    def _mail_to(self, address: str) -> list[Path]:
        name = file_name(address)
        stem = name[:-len(".eml")]
        return [path for folder in self._folders()
                for path in (*sorted(folder.glob(f"issue-*/{name}")), *sorted(folder.glob(f"messages/*-{name}")),
                             *sorted(again for again in folder.glob(f"issue-*/{stem}.*.eml")  # sent again (beside)
                                     if _AGAIN.fullmatch(again.name[len(stem):])))]

    def forget_request(self, address: str) -> int:
        """The confirmations to `address` in messages/ (not an alert or a test send to the same address)."""
        return _unlink([path for folder in self._folders()
                        for path in folder.glob(f"messages/*-confirmation-{file_name(address)}")])

    def _folders(self) -> list[Path]:
        """The outbox, and the one an earlier version left in out/ (published with the site) until `prepare` moves
        it or the organiser deletes it: a person's erasure may come first (`subscribers forget`, or a replay)."""
        old = self.project.core.out_dir / "outbox"
        there = old.is_dir() and not old.is_symlink() and not _inside(self.folder, old)
        return [self.folder, old] if there else [self.folder]

    def path_for(self, edition: int | None, recipient: str, purpose: str = "") -> Path:
        if edition is None:  # named when it was written (`_prune` reads that), and for what ("confirmation")
            kind = f"{purpose}-" if purpose and _PURPOSE.fullmatch(purpose) else ""
            return self.folder / "messages" / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{kind}{file_name(recipient)}"
        return self.folder / f"issue-{edition}" / file_name(recipient)

    def _write(self, msg: EmailMessage, path: Path) -> Delivery:
        from pipeline.mail.message import message_bytes

        recipient = msg["To"].addresses[0].addr_spec
        try:
            write_atomic(path, message_bytes(msg), private=True)  # an address, a name and their own links
        except OSError as exc:
            return Delivery(recipient, False, error=f"cannot write {path}: {exc.strerror}")
        return Delivery(recipient, True, reference=str(path))


def _beside(path: Path) -> Path:
    """The first name free beside `path` for a copy sent again: NAME.2.eml, NAME.3.eml, ..."""
    stem = path.name[:-len(".eml")]
    return next(candidate for n in itertools.count(2)
                if not (candidate := path.with_name(f"{stem}.{n}.eml")).exists())


def _unlink(paths: list[Path]) -> int:
    """Delete each of `paths`; how many. One that cannot be deleted does not stop the rest: the first such error is
    raised once every one was tried."""
    failed: OSError | None = None
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed
    return len(paths)


def _on_disk(written: list[Delivery]) -> list[Delivery]:
    """The batch's files, and their names, on the disk before they are recorded delivered (one `sync` a batch, not
    one `fsync` a message), so a power cut cannot leave one empty, or gone, that the journal counts as sent."""
    if any(d.ok for d in written):
        os.sync()
    return written


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


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
