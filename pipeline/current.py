"""Whether a job is still open and an event not yet over: one rule for the email (`pipeline/edition.py`), the feeds
(`plugins/sinks/rss`) and the site (`plugins/sinks/archive`), so that all three say the same of an item at a moment.

- A job is open through its closing day (the day the moment falls on, in the project's time zone) and closed from
  the day after. A job with no closing date (a partner feed's advert without details) is open through the
  `Horizons.job_days`th day after the day it was posted (`[pipeline] undated_job_days`, 90): an advert's closing
  date is rarely further off, and one nobody took down would otherwise stay among the open jobs for good.
- An event is over once it has finished (`EventDetails.finishes`: its end, or the end of its last day) at or
  before the moment. An event with no date (a feed's notice without details) is over `Horizons.event_days` after
  it was posted (`[pipeline] undated_event_days`, 45).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pipeline.models import Item, Kind

if TYPE_CHECKING:
    from pipeline.config import Project

UNDATED_JOB_DAYS = 90  # `[pipeline] undated_job_days`' default
# An event with no date is upcoming this long after it was posted: longer than a month, so that a notice posted on
# the first of a month is still in the issue that month's items go out in.
UNDATED_EVENT_DAYS = 45  # `[pipeline] undated_event_days`' default


@dataclass(frozen=True)
class Horizons:
    """How long an item with no date of its own stays current after it was posted."""
    job_days: int = UNDATED_JOB_DAYS  # a job with no closing date is open through this many days after its posting day
    event_days: int = UNDATED_EVENT_DAYS  # an event with no date is upcoming this many days after it was posted


def horizons(project: Project) -> Horizons:
    """The project's `Horizons` (`[pipeline] undated_job_days`, `undated_event_days`)."""
    return Horizons(project.core.undated_job_days, project.core.undated_event_days)


def job_closes(closing: date | None, posted: date, horizon: Horizons) -> date:
    """The last day a job is open: its closing day, or for one with none the `horizon.job_days`th day after the day
    it was posted (`posted`, in the project's time zone)."""
    return closing if closing is not None else posted + timedelta(days=horizon.job_days)


def event_ends(finishes: datetime | None, posted: datetime, horizon: Horizons) -> datetime:
    """When an event is over: when it finishes, or for one with no date `horizon.event_days` after it was posted."""
    return finishes if finishes is not None else posted + timedelta(days=horizon.event_days)


def job_closed(closing: date | None, posted: date, today: date, horizon: Horizons) -> bool:
    """Whether a job closing on `closing` (None: no closing date), posted on `posted`, has closed on `today`."""
    return job_closes(closing, posted, horizon) < today


def event_over(finishes: datetime | None, posted: datetime, moment: datetime, horizon: Horizons) -> bool:
    """Whether an event finishing at `finishes` (None: no date), posted at `posted`, is over at `moment`."""
    return event_ends(finishes, posted, horizon) <= moment


def is_current(item: Item, moment: datetime, horizon: Horizons, today: date | None = None) -> bool:
    """False for a job closed on `today` (the moment's own day unless given) and an event over at `moment`."""
    today = moment.date() if today is None else today
    if item.kind is Kind.JOB:
        return not job_closed(item.job.closing_date if item.job else None, _posted_day(item, moment), today, horizon)
    if item.kind is Kind.EVENT:
        return not event_over(item.event.finishes if item.event else None, item.published, moment, horizon)
    return True


def stops_being_current(item: Item, tz: ZoneInfo, horizon: Horizons) -> datetime:
    """When `is_current` turns False for the item: the midnight after a job's last open day (in `tz`), when an event
    is over; the end of time for any other item."""
    if item.kind is Kind.JOB:
        last = job_closes(item.job.closing_date if item.job else None, item.published.astimezone(tz).date(), horizon)
        return datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=tz)
    if item.kind is Kind.EVENT:
        return event_ends(item.event.finishes if item.event else None, item.published, horizon)
    return datetime.max.replace(tzinfo=UTC)


def _posted_day(item: Item, moment: datetime) -> date:
    """The day the item was posted, in the zone of `moment` (the project's)."""
    return item.published.astimezone(moment.tzinfo).date() if moment.tzinfo else item.published.date()
