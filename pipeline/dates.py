"""Dates for plugin authors: everything the pipeline stores is timezone-aware."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def aware(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A timezone-aware datetime: a bare date is midnight, a naive time is local to `tz`."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    return value if value.tzinfo else value.replace(tzinfo=tz)
