"""The schedule: the monthly edition on its day and time (in the project's zone), and the refresh."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pipeline.scheduler import EDITION, due, next_slot
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
    assert next_slot(project, datetime(2016, 2, 1, 12, tzinfo=LONDON)) == datetime(2016, 2, 3, 8, 30, tzinfo=LONDON)
    assert next_slot(project, datetime(2016, 2, 3, 9, tzinfo=LONDON)) == datetime(2016, 3, 3, 8, 30, tzinfo=LONDON)
    assert next_slot(project, datetime(2016, 12, 20, tzinfo=LONDON)) == datetime(2017, 1, 3, 8, 30, tzinfo=LONDON)


def edition_needed(project, store, now):
    """The date of the edition `due` says to make now, or None."""
    return next((d.as_of for d in due(store, project, now, last_refresh=now) if d.kind == EDITION), None)


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
