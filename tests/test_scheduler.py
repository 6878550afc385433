"""The schedule: the monthly edition on its day and time (in the project's zone), and the refresh."""

from __future__ import annotations

import sqlite3
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


def test_a_subscriber_whose_themes_had_nothing_in_the_issue_is_no_send_to_resume(pipeline_project):
    """Bob follows housing; the issue has only a post on peer support, so he was sent nothing, on purpose. Neither
    `pipeline schedule` nor `pipeline status` takes him for someone the send has not reached (they did for the whole
    catch-up window). Cat, who joined for peer support after the issue was made, is not one either (a resume would
    have sent her last month's issue, or not, by whether the scheduler restarted); Ann, whose delivery a send cut
    short never made, is."""
    from pipeline.cli import main
    from pipeline.config import load_project
    from pipeline.scheduler import RESUME
    from tests.newsletter_network import newsletter_toml

    toml = newsletter_toml() + '''
    [transforms.themes]
    type = "themes"
    taxonomy = { "peer support" = ["peer support"], "housing" = ["housing"] }
    '''
    post = "---\ntitle: \"Peer support in Leeds\"\ndate: 2016-02-15\n---\n\nWhat peer support can do in Leeds.\n"
    readers = "email,name,themes\nann@example.org,Ann,\nbob@example.org,Bob,housing\n"
    project = pipeline_project(toml, {"blog/post.md": post, "subscribers.csv": readers})
    project.run(as_of=date(2016, 3, 1))
    loaded = load_project(project.config)
    now = datetime(2016, 3, 1, 12, 0, tzinfo=loaded.tz)  # within the catch-up window of the issue's slot

    def resumes() -> list[str]:
        store = Store(project.root / "state" / "pipeline.sqlite")
        try:
            return [d.why for d in due(store, loaded, now, last_refresh=now) if d.kind == RESUME]
        finally:
            store.close()

    assert resumes() == []
    project.write({"cat.csv": "email,name,themes\ncat@example.org,Cat,peer support\n"})
    assert main(["subscribers", "import", "-c", str(project.config), str(project.root / "cat.csv")]) == 0
    assert resumes() == []
    with sqlite3.connect(project.root / "state" / "pipeline.sqlite") as db:  # as a send cut short leaves it
        db.execute("DELETE FROM deliveries WHERE recipient = 'ann@example.org'")
    db.close()
    assert resumes() == ["issue 1 has not reached 1 active subscriber not yet sent"]
