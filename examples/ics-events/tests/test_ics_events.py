"""The ics-events source on a temporary project, with the pipeline's own fixtures (pipeline/testing.py)."""
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TOML = '[sources.seminars]\ntype = "ics-events"\npath = "seminars.ics"\n'


def test_events_keep_their_times_and_reach_the_email_and_the_site(pipeline_project):
    project = pipeline_project(TOML, {"seminars.ics": (Path(__file__).parent / "seminars.ics").read_bytes()})
    project.run(as_of=date(2016, 2, 1))
    seminar, open_day = project.items()
    assert seminar.event.start == datetime(2016, 2, 17, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    assert (seminar.event.venue, seminar.event.timezone) == ("St Catherine's, Leeds", "Europe/London")
    assert open_day.event.all_day and open_day.event.start.date() == open_day.event.end.date() == date(2016, 3, 9)
    assert "Seminar 3: Contemporary developments" in project.email().text
    assert "Recovery college open day" in project.site("events/")
    assert "UID:" in project.site("events/calendar.ics")
