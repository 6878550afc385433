"""Review h186: holes found in this round's later changes (SIGHUP, deliveries, the site's search and pages)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC

import pytest

from tests.test_review_h181 import _env, signal_the_group_mid_parse

# -- SIGHUP reaching the forkserver ---------------------------------------------------------------------------------

def test_the_terminal_closing_while_the_scheduler_runs_lets_the_run_finish_without_breaking_its_pool(write_project):
    """Closing the terminal sends SIGHUP to the whole foreground group. The workers ignore it (hear_no_interrupt),
    but they are children of multiprocessing's forkserver, which did not: it died, every worker's sentinel (a pipe
    the forkserver holds) closed with it, so the pool broke as if each worker had crashed, the run said 'killed for
    memory, or a crash' and parsed the feed again, and the resource tracker died too ('process died unexpectedly').
    Should: the run finishes as it was, then the scheduler ends, exit 129."""
    returncode, out, err = signal_the_group_mid_parse(write_project, signal.SIGHUP)
    assert returncode == 129, (returncode, err)
    assert "stopped by SIGHUP after the run ended" in err, err
    assert "killed for memory, or a crash" not in err and "died unexpectedly" not in err, err
    assert " big " in out and "12000 items" in out, out


# -- a link's name from the title its author gave ----------------------------------------------------------------

def test_an_image_link_keeps_the_name_its_author_gave_in_a_title():
    """A link whose only content is an image without alt text is named by where it leads ('The image at full size
    (example.org)'). But a link with a title already has a name (axe's link-name takes it), one its author wrote
    ('Volunteers at the fair'), and an image's title says what it shows: both were overwritten by the generic one,
    and an empty link with a title was dropped. Should: the link's own title is kept as its name, link and all;
    an image's title, not the generic phrase, becomes its alt."""
    from pipeline.sanitize import clean_html
    from plugins.sinks.archive.render import body_html

    def page(html: str) -> str:
        clean = clean_html(html)
        return str(body_html(getattr(clean, "html", clean)))

    titled_link = page('<p><a href="https://example.org/big.jpg" title="Volunteers at the fair">'
                       '<img src="https://example.org/small.jpg"></a></p>')
    assert 'title="Volunteers at the fair"' in titled_link and "full size" not in titled_link, titled_link
    assert '<img alt="" src="https://example.org/small.jpg">' in titled_link, titled_link

    empty_titled = page('<p><a href="https://example.org/report.pdf" title="The annual report"></a></p>')
    assert 'href="https://example.org/report.pdf"' in empty_titled, empty_titled

    titled_image = page('<p><a href="https://example.org/route"><img src="https://example.org/map.png" '
                        'title="A map of the route"></a></p>')
    assert 'alt="A map of the route"' in titled_image and "A link to" not in titled_image, titled_image

    untitled = page('<p><a href="https://example.org/big.jpg"><img src="https://example.org/small.jpg"></a></p>')
    assert 'alt="The image at full size (example.org)"' in untitled, untitled


# -- an event's zone that is no place's ---------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_an_event_in_a_zone_that_is_no_place_is_skipped_as_the_project_s_zone_is_refused(pipeline_project, zone):
    """[pipeline] timezone = "localtime" (or posixrules, Factory) is refused: a name in the time zone database, but
    of no one place, whose times follow whatever machine runs the project. In events.toml the same name passed: the
    event's times were the machine's (an hour out on a server in UTC all summer), its calendar file said
    TZID:localtime, which no calendar knows. Should: that record is skipped, naming it, as an unknown zone's is."""
    from datetime import date

    from tests.test_review_h185 import EVENTS

    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n',
                               {"events.toml": EVENTS.replace('"Europe"', f'"{zone}"')})
    report = project.run(as_of=date(2016, 2, 1), check=False)
    assert all(result.ok for result in report.results), [r.summary for r in report.results]
    problems = [problem.partition(".toml ")[2] for problem in project.problems]
    assert len(problems) == 1 and problems[0].startswith(
        f"[[event]] #1 'Spring seminar': timezone '{zone}' is no place's zone"), problems
    assert "record skipped" in problems[0], problems
    assert [item.title for item in project.items()] == ["Summer seminar"]


# -- the scheduler's line for the issue it makes by the real clock ------------------------------------------------

def test_the_scheduler_names_the_issue_it_makes_by_the_real_clock(write_project):
    """Since the scheduler makes the latest newsletter day's issue as a run without --as-of does (at the time it
    runs), its line for that run said 'edition None (...)': the date it no longer passes, not the issue's. Should:
    the issue's date, as with a fake clock."""
    from datetime import datetime

    config = write_project('[pipeline]\nname = "N"\ntimezone = "UTC"\nworkers = 1\n[schedule]\nnewsletter_day = 1\n'
                           'newsletter_time = "00:00"\ncatch_up_hours = 744\n[sinks.feed]\ntype = "rss"\n')
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "schedule", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={key: value for key, value in _env().items() if key != "PIPELINE_FAKE_NOW"})
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if re.search(r"\d\d:\d\d: edition", line):
                break
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    first_of_month = datetime.now(UTC).date().replace(day=1).isoformat()
    said = [line for line in lines if re.search(r"\d\d:\d\d: edition", line)]
    assert said and f"edition {first_of_month} (" in said[0] and "None" not in said[0], lines
