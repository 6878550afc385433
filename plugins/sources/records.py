"""Reading a TOML file of records (`[[job]]`, `[[event]]`), each validated on its own.

A record that does not validate, or has the id of an earlier one, is reported with the file, its
number and its title, and skipped; the others are still read.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.errors import SourceError
from pipeline.run_context import RunContext

Record = TypeVar("Record", bound=BaseModel)


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
    first: dict[object, int] = {}  # the record number that has each id
    for number, raw in enumerate(data.get(table, []), 1):
        title = raw.get("title", "(no title)") if isinstance(raw, dict) else "(not a table)"
        try:
            record = model.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "(record)"
            reason = {"missing": "is missing", "extra_forbidden": "is not a known field"}.get(
                err["type"], err["msg"].removeprefix("Value error, "))
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
