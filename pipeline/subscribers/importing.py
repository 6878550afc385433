"""Importing a CSV list: the one way the run's `subscribers` list and `pipeline subscribers import` take it.

Each row is checked first: a theme the taxonomy renamed is taken under its new name (`themes.choice_now`),
with a note; a theme the newsletter does not have (not in the `themes` transform's taxonomy) is
reported as a `file:line:` problem and left out of the row (a member's row left with none is not
imported, as it would follow every theme; a row taking an address off the list is, whatever its
themes); a `status` other than pending, active, unsubscribed, bounced or complained is reported and the
row skipped. A pending row
(a request nobody confirmed, whose link names the old database's id) is not imported either, and
only counted: `pending_note` says so once for the file, as no problem. An active row over the limits
on a new address (`CsvRow.taken_anyway`: a member stored before them, still mailed where they joined)
is imported, with a note for it. Then, unless only a check was asked for (`write=False`, as in
`pipeline run --dry-run`), in this order (the callers end requests not confirmed within 7 days first,
with `expiry.expire_requests`):

- rows with status unsubscribed, bounced or complained (a list written by `export --status all`)
  suppress their address, so it is never made active (`import_suppressed`);
- the active rows, and those without a status, are imported as active (`import_rows`), which never
  brings back an address that unsubscribed, bounced or complained, nor activates one that asked again
  after leaving.

A row of Mailchimp's export (`mailchimp`) comes with its status and its record; it follows every theme, unless one
of the audience's own columns it fills in (`CsvRow.ticked`) is named as a theme of the taxonomy: then those.
Mailchimp's non-subscribed contacts are only counted (`not_opted_in_note`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from pipeline.site import moved_themes
from pipeline.state import Store
from pipeline.state.subscribers import (
    SUPPRESSED,
    count_not_active,
    import_rows,
    import_suppressed,
)
from pipeline.subscribers.csv_io import CsvList, CsvRow
from pipeline.subscribers.themes import choice_now, spelling

__all__ = ["ListImport", "import_list", "not_opted_in_note", "pending_note"]


@dataclass
class ListImport:
    rows: int  # valid rows in the file, to import (not the pending ones)
    activated: int = 0  # newly active
    left_off: int = 0  # rows to make active that are not: they left, or they await their own confirmation
    suppressed: int = 0  # addresses a `status` column suppressed
    pending: int = 0  # rows with status pending, not imported (`pending_note`)
    not_opted_in: int = 0  # Mailchimp's non-subscribed contacts, not imported (`not_opted_in_note`)
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong; what to do"
    notes: list[str] = field(default_factory=list)  # "file:line: what was done", for rows imported as they are
    written: bool = False  # False: checked only, nothing changed


def import_list(store: Store, listed: CsvList, known_themes: Collection[str], *, how: str, at: datetime,
                write: bool = True) -> ListImport:
    """Check the rows of `listed` (from `csv_io.read_csv`) and, if `write`, import them; what happened.

    `known_themes` are the newsletter's themes (`taxonomy_themes(project)`); when there are none
    (no `themes` transform), a row's themes are taken as they are. The problems of `listed` itself
    come first in the result's problems.
    """
    spell = spelling(known_themes)  # "Peer Support" is the taxonomy's "peer support", kept in its spelling
    moved = moved_themes(store) if known_themes else {}
    report = ListImport(len(listed.rows), problems=list(listed.problems), not_opted_in=listed.not_opted_in)
    active: list[CsvRow] = []
    left: list[tuple[str, str, str, frozenset[str], str]] = []
    for row in listed.rows:
        where = listed.at(row)
        if row.ticked and known_themes:  # a Mailchimp row: its columns named as a theme, if any; else every theme
            row = replace(row, themes=frozenset(theme for theme in map(spell, row.ticked) if theme is not None))
        if row.status == "pending":  # nobody confirmed it, and its link names the other database's id
            report.pending += 1
            report.rows -= 1
            continue
        if row.status not in ("", "active", *SUPPRESSED):
            report.problems.append(f"{where}: status {row.status!r} is not imported; "
                                   f"use active, unsubscribed, bounced or complained")
            report.rows -= 1
            continue
        if known_themes:
            spelt = {theme: spell(theme) for theme in row.themes}
            for theme, found in spelt.items():  # a list written before the taxonomy renamed a theme: the new name
                if found is None and (became := choice_now([theme], known_themes, moved)[0]):
                    spelt[theme] = next(iter(became))
                    report.notes.append(f"{where}: theme {theme!r} taken as {spelt[theme]!r}, "
                                        f"the name the taxonomy gives it now")
            unknown = sorted(theme for theme, found in spelt.items() if found is None)
            themes = frozenset(found for found in spelt.values() if found is not None)
            if unknown:
                which = (f"{where}: unknown theme{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(t) for t in unknown)} (known: {'; '.join(known_themes)})")
                # Imported without them, a member's row would follow every theme: the opposite of its wish. A row
                # that takes an address off the list is taken all the same: a theme never keeps someone on it.
                if not themes and row.status not in SUPPRESSED:
                    report.problems.append(f"{which}; row not imported, as with none of its themes it would get "
                                           f"every one: correct the spelling, or empty the cell for every theme")
                    report.rows -= 1
                    continue
                report.problems.append(f"{which}; imported without {'them' if len(unknown) > 1 else 'it'}")
            if themes != row.themes:
                row = replace(row, themes=themes)
        if row.status in SUPPRESSED:
            left.append((row.email, row.status, row.name, row.themes, row.record))
        else:
            active.append(row)
            if row.taken_anyway:  # csv_io takes such an address only in an exported member's row
                report.notes.append(f"{where}: {row.email} taken as exported ({row.status}), "
                                    f"though a new address like it would be refused ({row.taken_anyway})")
    if not write:
        return report
    report.suppressed = import_suppressed(store, left, how=how, at=at)
    report.activated = import_rows(store, [row.as_import() for row in active], how=how, at=at,
                                   stored_before=[row.email for row in active if row.taken_anyway])
    report.left_off = count_not_active(store, (row.email for row in active))
    report.written = True
    return report


def not_opted_in_note(path: Path, count: int) -> str:
    """The one line saying what came of the `count` non-subscribed contacts of Mailchimp's export in `path`."""
    they = "they" if count != 1 else "it"
    return (f"{path}: {count} contact{'s' if count != 1 else ''} Mailchimp held as non-subscribed not imported: "
            f"{they} never opted in to the newsletter; {they} can subscribe on the form")


def pending_note(path: Path, count: int) -> str:
    """The one line saying what came of a file's `count` pending rows (`ListImport.pending`)."""
    who = "they have" if count != 1 else "its owner has"
    return (f"{path}: {count} pending request{'s' if count != 1 else ''} not imported: {who} not confirmed; "
            f"they can ask again on the form")
