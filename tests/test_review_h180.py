"""Review h180 of what readers get: the feeds (plugins/sinks/rss/) and the static site (plugins/sinks/archive/)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from pipeline.models import JobDetails, Kind

SINKS = """
[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""


def _feed(project, path: str = "feed.xml") -> ET.Element:
    return ET.fromstring((project.root / "out" / path).read_bytes())


def test_a_new_language_in_pipeline_toml_reaches_the_feeds_on_the_next_refresh(pipeline_project, item_factory):
    """`[pipeline] language` is what every feed's <language> says. The archive makes every page again when it changes;
    the feeds were kept as "unchanged: no item changed" (their key left the language out), so they said the old one
    until an item changed."""
    post = item_factory(Kind.POST, "A post", published=datetime(2016, 1, 10, tzinfo=UTC), themes=["peer support"])
    project = pipeline_project(SINKS, items=[post])
    project.run(as_of=date(2016, 2, 1))
    assert _feed(project).findtext("channel/language") == "en-GB"
    toml = project.config.read_text(encoding="utf-8")
    project.write({"pipeline.toml": toml.replace('[pipeline]\n', '[pipeline]\nlanguage = "cy"\n', 1)})
    project.refresh(as_of=date(2016, 2, 1))
    assert 'lang="cy"' in project.site("")
    assert _feed(project).findtext("channel/language") == "cy"
    assert _feed(project, "themes/peer-support/feed.xml").findtext("channel/language") == "cy"


def test_a_shorter_undated_job_days_takes_an_undated_job_out_of_the_feeds_on_the_next_refresh(pipeline_project,
                                                                                                item_factory):
    """A job with no closing date is open `undated_job_days` after it was posted, in the feeds as on the site. Set
    shorter, the site showed it closed on the next refresh while the feeds, "unchanged", still listed it."""
    job = item_factory(Kind.JOB, "Peer worker", published=datetime(2016, 1, 10, tzinfo=UTC),
                       job=JobDetails(organisation="Org", closing_date=None))
    project = pipeline_project(SINKS, items=[job])
    project.run(as_of=date(2016, 2, 1))
    assert [i.findtext("title") for i in _feed(project).iter("item")] == ["Peer worker"]
    toml = project.config.read_text(encoding="utf-8")
    project.write({"pipeline.toml": toml.replace('[pipeline]\n', '[pipeline]\nundated_job_days = 7\n', 1)})
    project.refresh(as_of=date(2016, 2, 1))
    assert "Closed jobs" in project.site("jobs/")
    assert [i.findtext("title") for i in _feed(project).iter("item")] == []


def _stamps(folder) -> dict[str, tuple[int, int]]:
    """Each file under `folder` -> (inode, modification time): what a file written again, even with the same bytes,
    changes (an atomic write puts a new file in its place), and what a sync to the host goes by."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_making_an_issue_again_with_nothing_changed_rewrites_no_file_of_out(pipeline_project, item_factory):
    """`pipeline run --as-of` the day of an issue already made (a send to finish) makes the issue again: the email
    sink wrote out/newsletter/issue-N.html and .txt again each time, the same bytes in new files, so a sync of out/ to
    the host sent them again, and the run's report named them as written. The site and the feeds leave a file with
    the same bytes alone; now so does the email sink."""
    post = item_factory(Kind.POST, "A post & <b>", published=datetime(2016, 1, 10, tzinfo=UTC), themes=["Café"])
    project = pipeline_project(items=[post])  # the email sink (outbox), rss and archive
    project.run(as_of=date(2016, 2, 1))
    out = project.root / "out"
    before = _stamps(out)
    assert "newsletter/issue-1.html" in before and "newsletter/issue-1.txt" in before
    report = project.run(as_of=date(2016, 2, 1))
    assert _stamps(out) == before
    email = next(result for result in report.results if result.name == "newsletter")
    assert "1 already sent" in email.summary
