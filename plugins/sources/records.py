"""Reading a TOML file of records (`[[job]]`, `[[event]]`), each validated on its own.

A record that does not validate, or has the id of an earlier one, is reported with the file, its
number and its title, and skipped; the others are still read. `Day` and `DayOrTime` are the records'
dates: a TOML date (or date-time), or the same written as text, and nothing else; pydantic alone would
read a number as seconds since 1970 (`posted = 20160120` was 23 August 1970) and name its own parsers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from pipeline.errors import SourceError
from pipeline.run_context import RunContext
from pipeline.settings_errors import plain_message

Record = TypeVar("Record", bound=BaseModel)

_DAY, _TIME = "a date like 2016-02-14", "a date and time like 2016-02-14T09:30:00"


def _day_or_time(value: object) -> date:
    """A TOML date or date-time, or the same in quotes; anything else is a mistake, said with the form to use."""
    if isinstance(value, date):  # a datetime is a date too
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value.upper() else date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not {_DAY} or {_TIME}")


def _day(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime) and value.time() == datetime.min.time() and value.tzinfo is None:
        return value.date()
    raise ValueError(f"{value!r} is not {_DAY}")


Day = Annotated[date, BeforeValidator(_day)]
DayOrTime = Annotated[date | datetime, BeforeValidator(_day_or_time)]


def read_records(path: Path, table: str, model: type[Record], run: RunContext) -> Iterator[Record]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found; create it or fix the path in pipeline.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    unknown = [key for key in data if key != table]
    if unknown:
        raise SourceError(f"{path}: unexpected table {unknown[0]!r}; records go in [[{table}]] tables")
    records = data.get(table, [])
    if not isinstance(records, list):  # `[job]`, one table, or `job = "..."`: not read a key or a letter at a time
        what = "one table, under [" + table + "]" if isinstance(records, dict) else f"{table} = {_short(records)}"
        raise SourceError(f"{path}: its records are {what}, not a list of them; write each record under a heading "
                          f"of its own with two brackets, [[{table}]]")
    first: dict[object, int] = {}  # the record number that has each id
    for number, raw in enumerate(records, 1):
        title = raw.get("title", "(no title)") if isinstance(raw, dict) else "(not a table)"
        try:
            record = model.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = _key(err["loc"])
            reason = {"missing": "is missing", "extra_forbidden": "is not a known field"}.get(err["type"]) or \
                plain_message(err)
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            run.problem(f"{path} [[{table}]] #{number} {title!r}", f"{key} {reason}{more}; record skipped, fix it")
            continue
        record_id = getattr(record, "id", None)
        if record_id in first:
            run.problem(f"{path} [[{table}]] #{number} {title!r}", f"id {record_id!r} is also the id of "
                                                                    f"#{first[record_id]}; give each record its own "
                                                                    f"id, record skipped")
            continue
        if record_id is not None:
            first[record_id] = number
        yield record


def _short(value: object) -> str:
    said = repr(value)
    return said if len(said) <= 40 else said[:39] + "…"


def _key(loc: tuple[str | int, ...]) -> str:
    """`prices #2 amount`: a list's entries counted from 1, as the records are."""
    return " ".join(f"#{part + 1}" if isinstance(part, int) else str(part) for part in loc) or "(record)"
