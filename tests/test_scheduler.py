"""The schedule: the monthly edition on its day and time (in the project's zone), and the refresh."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.scheduler import build_scheduler, edition_needed, next_monthly
from pipeline.state import Store

LONDON = ZoneInfo("Europe/London")
SCHEDULE = """
[schedule]
newsletter_day = 3
newsletter_time = "08:30"
refresh_minutes = 15
[sinks.feed]
type = "rss"
"""


def test_next_monthly_run(project_from):
    project = project_from(SCHEDULE)
    assert next_monthly(project, datetime(2016, 2, 1, 12, tzinfo=LONDON)) == datetime(2016, 2, 3, 8, 30, tzinfo=LONDON)
    assert next_monthly(project, datetime(2016, 2, 3, 9, tzinfo=LONDON)) == datetime(2016, 3, 3, 8, 30, tzinfo=LONDON)
    assert next_monthly(project, datetime(2016, 12, 20, tzinfo=LONDON)) == datetime(2017, 1, 3, 8, 30, tzinfo=LONDON)


def test_edition_is_due_once_the_time_has_passed_until_it_exists(project_from, tmp_path):
    project = project_from(SCHEDULE)
    store = Store(tmp_path / "s.sqlite")
    assert edition_needed(project, store, datetime(2016, 2, 3, 8, 29, tzinfo=LONDON)) is None
    assert edition_needed(project, store, datetime(2016, 2, 3, 8, 30, tzinfo=LONDON)) == date(2016, 2, 3)
    assert edition_needed(project, store, datetime(2016, 2, 4, 20, tzinfo=LONDON)) == date(2016, 2, 3)  # catch up
    assert edition_needed(project, store, datetime(2016, 2, 20, tzinfo=LONDON)) is None  # too late: next month
    start = datetime(2016, 1, 3, tzinfo=LONDON)
    store.create_edition(date(2016, 2, 3), start, start, lambda n: "t", [], start)
    assert edition_needed(project, store, datetime(2016, 2, 4, tzinfo=LONDON)) is None
    store.close()


def test_scheduler_runs_the_monthly_job_when_due_and_refreshes(project_from, tmp_path):
    project = project_from(SCHEDULE)
    store = Store(tmp_path / "s.sqlite")
    now = {"t": datetime(2016, 2, 3, 8, 0, tzinfo=LONDON)}
    monthly, refreshes = [], []
    scheduler = build_scheduler(project, monthly.append, lambda: refreshes.append(1), store, clock=lambda: now["t"])
    refresh_job = next(j for j in scheduler.jobs if "refresh" in j.tags)
    assert refresh_job.interval == 15 and refresh_job.unit == "minutes"
    scheduler.run_all()  # the clock says 08:00: not yet
    assert monthly == [] and refreshes == [1]
    now["t"] += timedelta(minutes=45)
    scheduler.run_all()
    assert monthly == [date(2016, 2, 3)]
    store.close()


def test_a_month_with_nothing_new_is_tried_once_not_every_minute(project_from, tmp_path):
    project = project_from(SCHEDULE)
    store = Store(tmp_path / "s.sqlite")
    monthly = []
    scheduler = build_scheduler(project, monthly.append, lambda: None, store,
                                clock=lambda: datetime(2016, 2, 3, 9, tzinfo=LONDON))
    for _ in range(3):
        scheduler.run_all()
    assert monthly == [date(2016, 2, 3)]
    store.close()
