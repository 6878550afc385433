"""The subscriber list as CSV, in and out: UTF-8, header `email,name`, optional `themes`, `status` and `record`.

The email column may also be headed `Email`, `E-mail`, `Email Address` or `email_address` (in any case), and without
a `name` column, a row's name is its `First Name` and `Last Name` joined. A file of Mailchimp's audience export
(`mailchimp.kind_of`, by its columns) gives each row the status of its file and a `record` saying what Mailchimp
recorded of the row's consent; its rows follow every theme, unless a column is named as one (`CsvRow.ticked`).

`themes` lists theme names separated by `;` (empty: every theme). `status` and `record` are written by
`export --status all` so a whole list, unsubscribed addresses included, can move to another
database: `record` is each address's consent record on one line (when and how it joined, confirmed,
left), which a new address keeps in its own record there, so the move loses no proof of consent.
A bad row is skipped and reported with its file and line, so one typo never stops the rest. An
address a new one cannot have, but a row stored before the limits can
(`addresses.TAKEN_OFF_ANYWAY`), is read only in a row whose `status` says it was stored: one that
left, one pending (counted, never imported), and, when only the limits on a new address refuse it
(`addresses.STORED_BEFORE`), one exported as active, a member still mailed where they joined; such
a row keeps the reason (`CsvRow.taken_anyway`). A row without a status is a new address, and the
limits refuse it. A second row for the same address is skipped quietly, unless it takes the address
off the list (status unsubscribed, bounced or complained) and the first does not: that row wins, and
is reported; or the first is only pending (never imported): then the second is taken, quietly.
Cells that a spreadsheet would run as a formula are written with a leading `'`, and so
are cells that start with a `'` of their own; reading takes one `'` off a cell only when a formula's
start or another `'` follows it, so every value comes back as it was written.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pipeline.errors import SubscriberError
from pipeline.state.subscribers import RECORD_CHARS
from pipeline.subscribers.addresses import STORED_BEFORE, TAKEN_OFF_ANYWAY, checked, one_line, valid_address
from pipeline.subscribers.mailchimp import Kind, kind_of

__all__ = ["CsvList", "CsvRow", "read_csv", "valid_address", "write_csv"]

THEME_SEPARATOR = ";"
EMAIL_COLUMNS = ("email", "e-mail", "email address", "email_address")  # the headers an email column goes by
_FIRST_NAME = ("first name", "first_name")  # taken, with the last name, when there is no `name` column
_LAST_NAME = ("last name", "last_name")
RECORD_SEPARATOR = "; "  # between the changes of a `record` cell


def record_text(record: Sequence) -> str:
    """A consent record in one `record` cell: each change on one line, the wording shown given whole, but "as
    above" when it is the wording last given (a member who joined five times does not carry it five times)."""
    last = ""
    texts = []
    for change in record:
        if change.wording and change.wording == last:
            texts.append(f"{change.text(with_wording=False)} [shown: as above]")
        else:
            last = change.wording or last
            texts.append(change.text())
    return RECORD_SEPARATOR.join(texts)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GUARDED = (*_FORMULA_START, "'")  # a cell starting with one of these is written after a `'`
_LEAVING = ("unsubscribed", "bounced", "complained")  # statuses that suppress an address
NOTHING: frozenset[str] = frozenset()  # one empty set for every row that has none (each new one costs 216 bytes)
_LONE_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+")  # what a row of the list holds in its email cell
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, read with errors="surrogateescape"
_LINE_END = re.compile(r"\r\n|\r|\n")  # what ends a line for the csv reader (not a vertical tab, nor U+2028)


@dataclass(frozen=True, slots=True)  # slots: a Mailchimp export can hold a million rows
class CsvRow:
    line: int
    email: str  # in its one spelling (`addresses.canonical`): two spellings of one mailbox are one row
    name: str
    themes: frozenset[str] = frozenset()  # empty: every theme
    status: str = ""  # the `status` column, when there is one
    taken_anyway: str = ""  # why a new address like it would be refused, for a row its status vouches for (`_taken`)
    record: str = ""  # the `record` column: its consent record where the list came from, on one line
    ticked: frozenset[str] = frozenset()  # a Mailchimp row's own columns filled in: those named as a theme count
    source: str = ""  # the file it came from, when not the list's own (a file of a zip: `the.zip/its.csv`)

    def as_import(self) -> tuple[str, str, frozenset[str], str]:
        """The row as `import_rows` takes it."""
        return self.email, self.name, self.themes, self.record


@dataclass
class CsvList:
    path: Path
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong; what to do"
    not_opted_in: int = 0  # rows of Mailchimp's non-subscribed contacts, who never opted in: not imported
    kind: str = ""  # the file of Mailchimp's export it is (`mailchimp.Kind.name`); "" for a list of our own

    def at(self, row: CsvRow) -> str:
        """`file:line` of one of its rows."""
        return f"{row.source}:{row.line}" if row.source else f"{self.path}:{row.line}"


OpenText = Callable[[], TextIO]  # opens a list's text (UTF-8, a BOM skipped, line ends kept), each time anew


def read_csv(path: Path, open_text: OpenText | None = None) -> CsvList:
    """Every valid, distinct row of `path` in file order, and a problem for each bad row. `open_text` opens its
    text when it is not a file of its own (a file of a zip, which `path` then names: `the.zip/its.csv`).

    Raises SubscriberError (one line naming the file) when the file cannot be read at all.
    """
    opener = open_text or (lambda: path.open(encoding="utf-8-sig", newline=""))
    if open_text is None and path.is_file() and zipfile.is_zipfile(path):  # Mailchimp's export, named as a run's list
        raise SubscriberError(f"{path}: a zip, not a CSV; import it with `pipeline subscribers import`, or name one "
                              f"of its CSV files")
    try:
        with opener() as handle, _Lines(opener) as lines:
            return _read(csv.DictReader(handle), path, lines)
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read the subscriber list ({exc.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise SubscriberError(f"{path}{_undecodable(opener)}: not UTF-8 text; save the subscriber list as UTF-8 CSV"
                              ) from None
    except csv.Error as exc:
        raise SubscriberError(f"{path}: not a CSV file ({exc}); save it as CSV with the header `email,name`") from None


def keep(found: CsvList, seen: dict[str, int], listed: CsvRow) -> None:
    """Add `listed` to `found.rows`, unless a row for its address is there (`seen`: email -> its place): then the one
    taking the address off the list wins, reported whichever comes first; a pending row gives way to any other,
    quietly."""
    earlier = seen.get(listed.email)
    if earlier is None:
        seen[listed.email] = len(found.rows)
        found.rows.append(listed)
    elif listed.status in _LEAVING and found.rows[earlier].status not in _LEAVING:
        # A row added to take someone off the list wins over the row that lists them, wherever it is.
        other = found.rows[earlier]
        there = found.at(other) if other.source != listed.source else f"line {other.line}"
        found.problems.append(f"{found.at(listed)}: {listed.email} is listed on {there} too; this row, "
                              f"{listed.status}, is the one kept; delete the other")
        found.rows[earlier] = listed
    elif found.rows[earlier].status in _LEAVING and listed.status not in _LEAVING:
        # The same conflict, the leaving row first: reported as well, whichever order the rows (or files) come in.
        kept = found.rows[earlier]
        there = found.at(kept) if kept.source != listed.source else f"line {kept.line}"
        found.problems.append(f"{found.at(listed)}: {listed.email} is listed on {there} too, {kept.status}; that "
                              f"row is the one kept; delete this one")
    elif found.rows[earlier].status == "pending" and listed.status != "pending":
        found.rows[earlier] = listed  # a request nobody confirmed is not imported: the member's own row is


def write_csv(out: TextIO, rows: Iterable, *, with_status: bool = False,
              records: Mapping[int, Sequence] | None = None) -> int:
    """Write subscribers (anything with email, name, themes and status) as CSV; the number written. With
    `with_status`, a `status` column, and a `record` column of each one's consent record from `records` (by id:
    changes with a `text()`, oldest first)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "themes", "status", "record"] if with_status else ["email", "name", "themes"])
    count = 0
    for row in rows:
        cells = [row.email, row.name, THEME_SEPARATOR.join(sorted(row.themes))]
        if with_status:
            record = records.get(row.id, ()) if records else ()
            cells += [row.status, record_text(record)]
        writer.writerow([_defused(cell) for cell in cells])
        count += 1
    return count


def _read(reader: csv.DictReader, path: Path, lines: _Lines) -> CsvList:
    if any(_LINE_END.search(name) for name in reader.fieldnames or []):  # a header never runs over two lines
        raise SubscriberError(f"{path}:1: a quote opened in the header runs to line {reader.line_num}, so the list "
                              f"was read as the names of its columns; close the quote (or delete it) and read the "
                              f"list again")
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    emails = [c for c in columns if c in EMAIL_COLUMNS]
    if not emails:
        raise SubscriberError(f"{path}:1: the first line must be the header `email,name` (the email column may be "
                              f"headed Email, E-mail, Email Address or email_address); "
                              f"found {','.join(reader.fieldnames or []) or 'nothing'}")
    if len(set(emails)) > 1:
        raise SubscriberError(f"{path}:1: two email columns ({', '.join(dict.fromkeys(emails))}); keep the one "
                              f"that holds the addresses, and rename or delete the other")
    email_column = emails[0]
    reader.fieldnames = columns
    kind = kind_of(columns, path.name)
    own = frozenset({email_column, "name", *_FIRST_NAME, *_LAST_NAME})
    found = CsvList(path, kind=kind.name if kind is not None else "")
    seen: dict[str, int] = {}  # email: its row's place in found.rows
    ended = reader.line_num  # the last line of the row before
    at = columns.index(email_column)
    for row in reader:
        email_cell = _cell(row, email_column)  # no address holds a comma and a line end: cells of rows run together
        if ("," in email_cell and _LINE_END.search(email_cell)) or any(_swallows(cell, at, len(columns))
                                                                         for cell in _cells(row)):
            # A quote left open (to the end of the file, whose last line end it then holds, so the count of line
            # breaks is no guide): the row starts on the first line after the row before that is not blank.
            start = lines.first_filled(after=ended)
            ended = reader.line_num
            found.problems.append(f"{path}:{start}: a quote opened in this row runs to line {ended}, so every line "
                                  f"to there was read as one cell; close the quote where the cell ends (or delete "
                                  f"it) and read the list again")
            continue
        line = _first_line(reader.line_num, row)
        ended = reader.line_num
        where = f"{path}:{line}"
        email, problem = checked(" ".join(email_cell.split()))
        status = kind.status if kind is not None else _cell(row, "status").strip().lower()
        if not email:
            found.problems.append(f"{where}: no email address in this row; add one or delete the row")
            continue
        if kind is not None and not kind.status:  # never opted in: nothing to import, nor to keep
            found.not_opted_in += 1
            continue
        # A Mailchimp member is a new address here: the limits on one hold (only one that left is taken over them)
        if problem is not None and not _taken(problem, status if kind is None or status in _LEAVING else ""):
            found.problems.append(f"{where}: {email!r} is not a valid email address{f' ({problem})' if problem else ''}"
                                  f"; correct it or delete the row")
            continue
        keep(found, seen, _row(row, kind, path, line, email, status, problem, own))
    return found


def _row(row: dict, kind: Kind | None, path: Path, line: int, email: str, status: str, problem: str | None,
         own: frozenset[str]) -> CsvRow:
    name = _cell(row, "name") if "name" in row else " ".join(
        _first_cell(row, columns) for columns in (_FIRST_NAME, _LAST_NAME))
    if kind is None:
        themes = frozenset(t.strip() for t in _cell(row, "themes").split(THEME_SEPARATOR) if t.strip())
        return CsvRow(line, email, one_line(name), themes, status, problem or "",
                      one_line(_cell(row, "record"), RECORD_CHARS, keep_end=True))
    # Of someone who left Mailchimp's list, the address and the record alone are kept, as of one who left here
    return CsvRow(line, email, "" if status in _LEAVING else one_line(name), NOTHING, status, problem or "",
                  one_line(kind.record(path.name, row), RECORD_CHARS, keep_end=True),
                  NOTHING if status in _LEAVING else kind.ticked(row, own) or NOTHING)


def _first_cell(row: dict, columns: Sequence[str]) -> str:
    return next((_cell(row, column) for column in columns if column in row), "")


def _taken(problem: str, status: str) -> bool:
    """Whether a row is read though its address has `problem`, because its `status` says it was stored before: it
    left, or is pending (either may have a domain IDNA refuses too), or is an exported member over the limits."""
    if status in (*_LEAVING, "pending"):
        return problem in TAKEN_OFF_ANYWAY
    return status == "active" and problem in STORED_BEFORE


def _swallows(cell: str, at: int, width: int) -> bool:
    """Whether a cell holds rows of the list after its first line: a later line of as many cells as the header,
    an address alone in the email column's (`at`). A quote left open runs on over such lines; a name or themes
    written over two lines in quotes holds none ("Ann Smith" / "ann.smith@work.example", "Fay" / "Bcc: evil@…")."""
    for line in _LINE_END.split(cell)[1:]:
        parts = line.split(",")
        if len(parts) == width and _LONE_ADDRESS.fullmatch(parts[at].strip().strip('"')):
            return True
    return False


def _cells(row: dict) -> list[str]:
    return [c for value in row.values() for c in (value if isinstance(value, list) else [value]) if c]


class _Lines:
    """The file's lines as the csv reader counts them (ended by \\n, \\r\\n or \\r): opened only when a quote was
    left open, then read forward as asked, never held whole."""

    def __init__(self, opener: OpenText):
        self._opener = opener
        self._handle: TextIO | None = None
        self._number = 0  # the lines read so far

    def first_filled(self, after: int) -> int:
        """The number of the first line after line `after` that is not blank (`after + 1` if there is none); `after`
        is never less than on the call before."""
        if self._handle is None:
            self._handle = self._opener()
        for line in self._handle:
            self._number += 1
            if self._number > after and line.rstrip("\r\n"):
                return self._number
        return after + 1

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()


def _undecodable(opener: OpenText) -> str:
    """":LINE", the first line (as the csv reader counts them) holding a byte that is not UTF-8; "" if it cannot be
    told. Read again, forward, as the file was (a zip's member as it unpacks)."""
    try:
        with opener() as handle:
            handle.reconfigure(errors="surrogateescape")  # such a byte is a lone surrogate, which UTF-8 never gives
            for number, line in enumerate(handle, 1):
                if _NOT_UTF8.search(line):
                    return f":{number}"
    except Exception:  # the message names the file all the same
        return ""
    return ""


def _first_line(last: int, row: dict) -> int:
    """The line a row starts on: the reader counts to its last, and a quoted cell may hold line breaks."""
    cells = _cells(row)
    return last - sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in cells)


def _cell(row: dict, column: str) -> str:
    value = row.get(column) or ""
    return value[1:] if value.startswith("'") and value[1:2] in _GUARDED else value


def _defused(cell: str) -> str:
    return "'" + cell if cell.startswith(_GUARDED) else cell
