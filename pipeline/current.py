"""Whether a job is still open and an event not yet over: one rule for the email (`pipeline/edition.py`), the feeds
(`plugins/sinks/rss`) and the site (`plugins/sinks/archive`), so that all three say the same of an item at a moment.

- A job is open through its closing day (the day the moment falls on, in the project's time zone) and closed from
  the day after. A job with no closing date is open until it is withdrawn (taken down at its source).
- An event is over once it has finished (`EventDetails.finishes`: its end, or the end of its last day) at or
  before the moment. An event with no date (a feed's notice without details) is never called over.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pipeline.models import Item


def job_closed(closing: date | None, today: date) -> bool:
    """Whether a job closing on `closing` (None: no closing date) has closed on `today`."""
    return closing is not None and closing < today


def event_over(finishes: datetime | None, moment: datetime) -> bool:
    """Whether an event finishing at `finishes` (None: no date) is over at `moment`."""
    return finishes is not None and finishes <= moment


def is_current(item: Item, moment: datetime, today: date | None = None) -> bool:
    """False for a job closed on `today` (the moment's own day unless given) and an event over at `moment`."""
    today = moment.date() if today is None else today
    if item.job is not None and job_closed(item.job.closing_date, today):
        return False
    return item.event is None or not event_over(item.event.finishes, moment)


def stops_being_current(item: Item, tz: ZoneInfo) -> datetime:
    """When `is_current` turns False for the item: the midnight after a job's closing day (in `tz`), an event's
    finish; the end of time for an item that never stops being current by itself."""
    if item.job is not None and item.job.closing_date is not None:
        return datetime.combine(item.job.closing_date + timedelta(days=1), time(0, 0), tzinfo=tz)
    if item.event is not None:
        return item.event.finishes
    return datetime.max.replace(tzinfo=UTC)
