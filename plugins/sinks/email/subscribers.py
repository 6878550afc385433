"""Reading the subscriber list: a UTF-8 CSV file with the header `email,name`.

A bad row is skipped and reported as a problem (file and line), so one typo never stops an
issue going to everyone else; a second row for the same address is skipped quietly.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path

from pipeline.errors import SinkError
from pipeline.run_context import RunContext

# Deliberately simple: one @, no spaces or brackets, a dot in the domain. Typos, not RFC 5322 corner cases.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+")


@dataclass(frozen=True)
class Subscriber:
    email: str  # lower case: the key deliveries are recorded under
    name: str = ""


def valid_address(text: str) -> bool:
    """True for a plausible single address such as `ann@example.org`."""
    if not _ADDRESS.fullmatch(text) or ".." in text:
        return False
    try:
        Address(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError):
        return False
    return True


def read_subscribers(path: Path, run: RunContext) -> list[Subscriber]:
    """Every valid, distinct subscriber in `path`, in file order; bad rows go to `run.problem`."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _read(csv.DictReader(handle), path, run)
    except OSError as exc:
        raise SinkError(f"{path}: cannot read the subscriber list ({exc.strerror}); check the file") from None
    except UnicodeDecodeError:
        raise SinkError(f"{path}: not UTF-8 text; save the subscriber list as UTF-8 CSV") from None


def _read(reader: csv.DictReader, path: Path, run: RunContext) -> list[Subscriber]:
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "email" not in columns:
        raise SinkError(f"{path}:1: the first line must be the header `email,name`; "
                        f"found {','.join(reader.fieldnames or []) or 'nothing'}")
    reader.fieldnames = columns
    seen: set[str] = set()
    found: list[Subscriber] = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        email = " ".join((row.get("email") or "").split())
        name = " ".join((row.get("name") or "").split())
        if not email:
            run.problem(where, "no email address in this row; add one or delete the row")
            continue
        if not valid_address(email):
            run.problem(where, f"{email!r} is not a valid email address; correct it or delete the row")
            continue
        key = email.lower()
        if key in seen:
            continue
        seen.add(key)
        found.append(Subscriber(key, name))
    return found
