"""Whether a job is still open and an event not yet over: one rule for the email (`pipeline/edition.py`), the feeds
(`plugins/sinks/rss`) and the site (`plugins/sinks/archive`), so that all three say the same of an item at a moment.

- A job is open through its closing day (the day the moment falls on, in the project's time zone) and closed from
  the day after. A job with no closing date (a partner feed's advert without details) is open through the
  `UNDATED_JOB_DAYS`th day after the day it was posted: an advert's closing date is rarely further off, and one
  nobody took down would otherwise stay among the open jobs for good.
- An event is over once it has finished (`EventDetails.finishes`: its end, or the end of its last day) at or
  before the moment. An event with no date (a feed's notice without details) is over `UNDATED_EVENT_DAYS` after
  it was posted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pipeline.models import Item, Kind

UNDATED_JOB_DAYS = 90  # a job with no closing date is open this many days after the day it was posted
# An event with no date is upcoming this long after it was posted: longer than a month, so that a notice posted on
# the first of a month is still in the issue that month's items go out in.
UNDATED_EVENT_DAYS = 45


def job_closes(closing: date | None, posted: date) -> date:
    """The last day a job is open: its closing day, or for one with none the `UNDATED_JOB_DAYS`th day after the day
    it was posted (`posted`, in the project's time zone)."""
    return closing if closing is not None else posted + timedelta(days=UNDATED_JOB_DAYS)


def event_ends(finishes: datetime | None, posted: datetime) -> datetime:
    """When an event is over: when it finishes, or for one with no date `UNDATED_EVENT_DAYS` after it was posted."""
    return finishes if finishes is not None else posted + timedelta(days=UNDATED_EVENT_DAYS)


def job_closed(closing: date | None, posted: date, today: date) -> bool:
    """Whether a job closing on `closing` (None: no closing date), posted on `posted`, has closed on `today`."""
    return job_closes(closing, posted) < today


def event_over(finishes: datetime | None, posted: datetime, moment: datetime) -> bool:
    """Whether an event finishing at `finishes` (None: no date), posted at `posted`, is over at `moment`."""
    return event_ends(finishes, posted) <= moment


def is_current(item: Item, moment: datetime, today: date | None = None) -> bool:
    """False for a job closed on `today` (the moment's own day unless given) and an event over at `moment`."""
    today = moment.date() if today is None else today
    if item.kind is Kind.JOB:
        return not job_closed(item.job.closing_date if item.job else None, _posted_day(item, moment), today)
    if item.kind is Kind.EVENT:
        return not event_over(item.event.finishes if item.event else None, item.published, moment)
    return True


def stops_being_current(item: Item, tz: ZoneInfo) -> datetime:
    """When `is_current` turns False for the item: the midnight after a job's last open day (in `tz`), when an event
    is over; the end of time for any other item."""
    if item.kind is Kind.JOB:
        last = job_closes(item.job.closing_date if item.job else None, item.published.astimezone(tz).date())
        return datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=tz)
    if item.kind is Kind.EVENT:
        return event_ends(item.event.finishes if item.event else None, item.published)
    return datetime.max.replace(tzinfo=UTC)


def _posted_day(item: Item, moment: datetime) -> date:
    """The day the item was posted, in the zone of `moment` (the project's)."""
    return item.published.astimezone(moment.tzinfo).date() if moment.tzinfo else item.published.date()
