"""`pipeline schedule`: the monthly edition and the regular refresh, on the `schedule` library.

`schedule` has no monthly interval and needs pytz for time zones, so the monthly edition is a
check every minute: once the configured day and time have passed in the project's time zone
and this month's edition does not exist yet, it runs. A machine that was asleep at the
appointed time catches up when it wakes, within two days. A job that fails is reported and the loop goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import schedule

from pipeline.config import Project
from pipeline.state import Store

Job = Callable[[], None]
CATCH_UP = timedelta(days=2)


def monthly_due(project: Project, now: datetime) -> datetime:
    """This month's appointed time for the edition, in the project's time zone."""
    hour, minute = map(int, project.schedule.newsletter_time.split(":"))
    local = now.astimezone(project.tz)
    day = date(local.year, local.month, project.schedule.newsletter_day)
    return datetime.combine(day, time(hour, minute), tzinfo=project.tz)


def next_monthly(project: Project, now: datetime) -> datetime:
    due = monthly_due(project, now)
    if due > now:
        return due
    following = (due.replace(day=1) + timedelta(days=32)).replace(day=project.schedule.newsletter_day)
    return following


def edition_needed(project: Project, store: Store, now: datetime) -> date | None:
    """The date of the edition to make now, or None if it is not time, it exists, or the time
    passed more than CATCH_UP ago (a scheduler started mid-month waits for next month)."""
    due = monthly_due(project, now)
    if now < due or now - due > CATCH_UP or store.edition_on(due.date()) is not None:
        return None
    return due.date()


def build_scheduler(project: Project, monthly: Callable[[date], None], refresh: Job,
                    store: Store, clock: Callable[[], datetime] | None = None) -> schedule.Scheduler:
    clock = clock or (lambda: datetime.now(project.tz))
    scheduler = schedule.Scheduler()
    attempted: set[date] = set()  # one try per month: nothing new, or a failure, waits for a person

    def check_monthly() -> None:
        as_of = edition_needed(project, store, clock())
        if as_of is not None and as_of not in attempted:
            attempted.add(as_of)
            monthly(as_of)

    scheduler.every(1).minutes.do(check_monthly).tag("monthly")
    scheduler.every(project.schedule.refresh_minutes).minutes.do(refresh).tag("refresh")
    return scheduler
