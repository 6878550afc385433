"""`pipeline subscribers list|show|add|remove|themes|import|export`: the list, from the command line.

Each action calls the same functions as the web app (`pipeline.state.subscribers`); each change is
recorded with how it was made ('cli', 'csv import FILE').
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from pipeline.commands.core import _console
from pipeline.config import Project, load_project
from pipeline.errors import ConfigError, PipelineError, SubscriberError
from pipeline.mail.transactional import forget_mail, keeping_mail, kept_mail, project_deliverer
from pipeline.runner import state_path
from pipeline.state import Store, journal, readmissions
from pipeline.state.access import cannot_open
from pipeline.state.subscribers import (
    STATUSES,
    add,
    find_subscriber,
    forget,
    history,
    listing,
    records,
    remove,
    requests_of,
    set_themes,
    spellings,
)
from pipeline.subscribers.archive import read_list
from pipeline.subscribers.confirmation import ask_to_subscribe, send_confirmation
from pipeline.subscribers.csv_io import write_csv
from pipeline.subscribers.expiry import expire_requests
from pipeline.subscribers.importing import import_list, not_opted_in_note, pending_note
from pipeline.subscribers.signing import Links
from pipeline.subscribers.suppressions import keep as keep_suppressions
from pipeline.subscribers.themes import spelling, taxonomy_themes

CommandMaker = Callable[[str, Callable, str], argparse.ArgumentParser]


def register(command: CommandMaker) -> None:
    """Add `pipeline subscribers ACTION` to the CLI; `command` is the CLI's own helper for a sub-command."""
    from pipeline.cli import action_options

    parent = command("subscribers", _no_action, "list, add, remove, import and export subscribers")
    actions = parent.add_subparsers(required=True, metavar="ACTION")

    def action(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help)
        action_options(sub)  # --config, -v, -q, --log-file after the action too
        sub.set_defaults(command=handler)
        return sub

    listed = action("list", cmd_list, "list subscribers, with the latest change of each")
    listed.add_argument("--status", choices=STATUSES, help="only those with this status")
    shown = action("show", cmd_show, "show one subscriber and the record of every change (the consent record)")
    shown.add_argument("email")
    added = action("add", cmd_add, "add an active subscriber (the organiser vouches for them)")
    added.add_argument("email")
    added.add_argument("--name", default="", help="their name")
    added.add_argument("--theme", action="append", default=[], metavar="THEME",
                       help="a theme to follow (repeat for more; none: every theme)")
    added.add_argument("--invite", action="store_true",
                       help="send a confirmation email instead: they are subscribed once they confirm")
    removed = action("remove", cmd_remove, "take an address off the list (kept as unsubscribed, never re-imported)")
    removed.add_argument("email")
    forgotten = action("forget", cmd_forget, "erase what is held about a person at their request, keeping the "
                                            "address alone so no list adds it back (UK GDPR art. 17)")
    forgotten.add_argument("email")
    themed = action("themes", cmd_themes, "set the themes a subscriber follows (none: every theme)")
    themed.add_argument("email")
    themed.add_argument("themes", nargs="*", metavar="THEME")
    imported = action("import", cmd_import, "add every address of a CSV file (header email,name[,themes][,status]), "
                                            "or of Mailchimp's audience export (its zip, or one of its CSV files)")
    imported.add_argument("file", type=Path)
    exported = action("export", cmd_export, "write subscribers as CSV (to a file, or to standard output)")
    exported.add_argument("file", type=Path, nargs="?", help="where to write (default: standard output)")
    exported.add_argument("--status", choices=[*STATUSES, "all"], default="active",
                          help="whom to export (default: active; 'all' adds a status column)")


def _no_action(args) -> int:  # argparse requires an action, so this is never reached
    return 2


def cmd_list(args) -> int:
    with _opened(args) as (project, store):
        rows = listing(store, args.status)
    table = Table("id", "email", "name", "status", "themes", "since", "how", box=None)
    for subscriber, event in rows:
        table.add_row(str(subscriber.id), escape(subscriber.email), escape(subscriber.name), subscriber.status,
                      escape("; ".join(sorted(subscriber.themes)) or "all"), f"{event.at:%Y-%m-%d %H:%M}",
                      escape(event.how))
    console = _console()
    console.print(table, soft_wrap=True)
    console.print(f"{len(rows)} subscriber{'s' if len(rows) != 1 else ''}"
                  f"{f' with status {args.status}' if args.status else ''}")
    return 0


def cmd_show(args) -> int:
    with _opened(args) as (project, store):
        subscriber = _known(store, args.email)
        events = history(store, subscriber.id)
        asked = requests_of(store, subscriber.id)
        sent = journal.deliveries_to(store, subscriber.email)
        spelt = spellings(store, subscriber.id)
        returning = subscriber.email in readmissions.waiting(store)
        kept, unlisted = kept_mail(project, spelt)  # what `forget` would delete, mail to a merged spelling too
    # Everything held about the person (UK GDPR art. 15): the row, each open request, the consent record, each issue,
    # the mail a delivery keeps
    console = _console()
    console.print(f"{escape(subscriber.email)} ({escape(subscriber.name) or 'no name'}): {subscriber.status}, "
                  f"themes: {escape('; '.join(sorted(subscriber.themes)) or 'all')}", soft_wrap=True)
    for other in spelt[1:]:
        console.print(f"  also spelt {escape(other)} (merged into this address)", soft_wrap=True)
    if returning:
        console.print("  came back after leaving: to be taken off the delivery's own suppression lists before the "
                      "next send", soft_wrap=True)
    for at, name, themes in asked:
        console.print(f"  request of {at:%Y-%m-%d %H:%M:%S} UTC, not confirmed: name {escape(name) or 'none'}, themes "
                      f"{escape('; '.join(sorted(themes)) or 'all')}", soft_wrap=True)
    wordings: dict[str, int] = {}  # what they were shown when they gave consent, each listed once below
    for event in events:
        detail = f" ({escape(event.detail)})" if event.detail else ""
        number = wordings.setdefault(event.wording, len(wordings) + 1) if event.wording else 0
        shown = escape(f" [shown wording {number}]") if number else ""
        console.print(f"  {event.at:%Y-%m-%d %H:%M:%S} UTC  {event.status:<12} {escape(event.how)}{detail}{shown}",
                      soft_wrap=True)
    for text, number in wordings.items():
        console.print(f"  wording {number}: {escape(text)}", soft_wrap=True)
    for issue, status, reference, error, at in sent:
        said = f" ({escape(error)})" if error else f" ({escape(reference)})" if reference else ""
        console.print(f"  issue {issue}: {status.replace('_', ' ')}, {at:%Y-%m-%d %H:%M:%S} UTC{said}", soft_wrap=True)
    for path in kept:  # on the disk now (an issue's file above may have been pruned since)
        console.print(f"  mail kept: {escape(path)}", soft_wrap=True)
    for why in unlisted:
        console.print(f"  mail kept: the {_names(keeping_mail(project))} delivery could not list it ({escape(why)})",
                      soft_wrap=True)
    return 0


def cmd_add(args) -> int:
    now = datetime.now(UTC)
    with _opened(args) as (project, store):
        themes = _known_themes(project, args.theme, "--theme")
        if args.invite:
            left = find_subscriber(store, args.email)
            if left is not None and left.status in ("unsubscribed", "bounced", "complained"):
                # PECR: an email asking for consent is itself marketing, to someone who said no
                raise SubscriberError(f"{args.email}: {left.status}, so no invitation is sent (asking again is itself "
                                      f"a marketing email); if they want the newsletter again, they use the form")
            request = ask_to_subscribe(store, args.email, args.name, themes, how="cli invitation", at=now,
                                       deliverer=project_deliverer(project))
            if request is None:
                raise SubscriberError(f"{args.email}: already subscribed, or it reported the newsletter as spam; "
                                      f"nothing sent (`pipeline subscribers show {args.email}` says which)")
            reference = send_confirmation(project, request, Links(project))
            _console().print(f"{escape(request.subscriber.email)}: pending; confirmation sent ({escape(reference)})")
            return 0
        expire_requests(store, project_deliverer(project), at=now)
        subscriber = add(store, args.email, args.name, themes, how="cli", at=now)
    _console().print(f"{escape(subscriber.email)}: active")
    return 0


def cmd_remove(args) -> int:
    with _opened(args) as (project, store):
        changed = remove(store, args.email, how="cli", at=datetime.now(UTC))
        subscriber = _known(store, args.email)
    _console().print(f"{escape(subscriber.email)}: {'now ' if changed else 'already '}{subscriber.status}")
    return 0


def cmd_forget(args) -> int:
    # a refusal (not on the list, a send in flight) names no address either: the error line goes to the log
    with _opened(args) as (project, store):
        erased, spellings = forget(store, args.email, at=datetime.now(UTC))
        files, failed = forget_mail(project, spellings)  # mail to a merged spelling too (spellings[0]: the stored one)
    _console().print(f"{escape(spellings[0])}: erased (name, themes, consent record, requests, {erased} "
                     f"deliveries, {files} files of mail to it); the address alone is kept, so no list adds it back. "
                     f"Backups made before keep it until they expire.", soft_wrap=True)
    if failed:
        # no address in the line, which the log keeps: the person asked to be forgotten
        raise PipelineError(f"subscribers forget: the mail to that address the {_names(keeping_mail(project))} "
                            f"delivery keeps could not all be deleted ({failed[0]}); delete what is left by hand, "
                            f"or run `pipeline subscribers forget EMAIL` again once it can be")
    return 0


def _names(deliverers: list) -> str:
    """"outbox", or "sendgrid and outbox": the deliveries a line speaks of."""
    return " and ".join(dict.fromkeys(deliverer.name for deliverer in deliverers))


def cmd_themes(args) -> int:
    with _opened(args) as (project, store):
        subscriber = _known(store, args.email)
        themes = _known_themes(project, args.themes, "THEME")
        if subscriber.status not in ("active", "pending"):
            raise SubscriberError(f"{subscriber.email}: {subscriber.status}, so there are no themes to set")
        set_themes(store, subscriber.id, themes, how="cli", at=datetime.now(UTC))
    _console().print(f"{escape(subscriber.email)}: follows {escape('; '.join(sorted(themes)) or 'every theme')}")
    return 0


def cmd_import(args) -> int:
    listed = read_list(args.file)
    with _opened(args) as (project, store):
        now = datetime.now(UTC)
        expire_requests(store, project_deliverer(project), at=now)
        done = import_list(store, listed, taxonomy_themes(project), how=f"csv import {args.file}", at=now)
    console = _console()
    for problem in done.problems:
        _console(stderr=True).print(f"[yellow]problem:[/yellow] {escape(problem)}", soft_wrap=True)
    for note in done.notes:
        _console(stderr=True).print(f"[cyan]note:[/cyan] {escape(note)}", soft_wrap=True)
    rows = f"{done.rows} row{'s' if done.rows != 1 else ''}"
    console.print(f"{escape(str(args.file))}: {rows}; {done.activated} newly active, "
                  f"{done.left_off} left off (they unsubscribed, bounced or complained, or await their own "
                  f"confirmation), {done.suppressed} suppressed; "
                  f"{len(done.problems)} problem{'s' if len(done.problems) != 1 else ''}", soft_wrap=True)
    if done.pending:
        console.print(escape(pending_note(args.file, done.pending)), soft_wrap=True)
    if done.not_opted_in:
        console.print(escape(not_opted_in_note(args.file, done.not_opted_in)), soft_wrap=True)
    return 3 if done.problems else 0  # a note and the pending rows are no problem


def cmd_export(args) -> int:
    moving = args.status == "all"  # the whole list, to move to another database: with each consent record
    with _opened(args) as (project, store):
        rows = [subscriber for subscriber, _ in listing(store, None if moving else args.status)]
        kept = records(store) if moving else None
    text = io.StringIO()
    count = write_csv(text, rows, with_status=moving, records=kept)
    if args.file is None or str(args.file) == "-":
        sys.stdout.write(text.getvalue())
        return 0
    _write_private(args.file, text.getvalue())
    _console(stderr=True).print(f"{escape(str(args.file))}: {count} subscriber{'s' if count != 1 else ''}")
    return 0


# -- helpers -----------------------------------------------------------------------------------

@contextmanager
def _opened(args) -> Iterator[tuple[Project, Store]]:
    project = load_project(getattr(args, "config", Path("pipeline.toml")))
    path = state_path(project)
    try:
        store = Store(path)
    except (OSError, sqlite3.Error) as exc:
        if (refused := cannot_open(path, exc)) is not None:  # the one line: its rights, a folder in its place, damage
            raise refused from None
        raise ConfigError(f"{path}: cannot open the state database ({exc}); check [pipeline] state_dir") from None
    try:
        keep_suppressions(store, project)
        yield project, store
    finally:
        store.close()


def _known(store: Store, email: str):
    subscriber = find_subscriber(store, email)
    if subscriber is None:
        raise SubscriberError(f"{email}: not on the list; `pipeline subscribers list` shows who is")
    return subscriber


def _known_themes(project: Project, themes: list[str], where: str) -> list[str]:
    """The themes given, each in the taxonomy's spelling (`spelling`)."""
    known = taxonomy_themes(project)
    if not known:
        return themes
    spell = spelling(known)
    spelt = {theme: spell(theme) for theme in themes}
    for theme, found in spelt.items():
        if found is None:
            raise SubscriberError(f"{where} {theme!r}: not a theme of this newsletter; use one of: {'; '.join(known)}")
    return [spelt[theme] for theme in themes]


def _write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only: a subscriber list is personal data."""
    path = path.resolve()
    temp = None
    try:
        descriptor, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError as exc:
        if temp:
            Path(temp).unlink(missing_ok=True)
        raise PipelineError(f"{path}: cannot write the export ({exc.strerror}); check the folder") from None

