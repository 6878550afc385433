"""Review h203: a partner's news of a job an earlier issue sent, which later issues leave out (review h192), is shown
on the site as the issue and the feed show it: on the job ("Also announced by …"), its own page saying what it
announces, and the lists having it once, on the job."""

from __future__ import annotations

from pathlib import Path

from tests.http_fixtures import Route
from tests.test_review_h192 import issue, network, rss, rss_with_text

JOB = """[[job]]
id = "odu-administrator"
title = "Administrator for the Open Dialogue UK centre in London"
organisation = "Open Dialogue UK"
location = "London"
posted = 2016-02-10
closing_date = 2016-04-30
description = "Help us open the centre."
"""
JOB_TITLE = "Administrator for the Open Dialogue UK centre in London"
HIRING = "We are hiring: administrator for our London centre"
HIRING_TEXT = "Open Dialogue UK needs an administrator for its London centre. Applications close on 30 April 2016."


def with_job(write_project, feed_server) -> Path:
    config = network(write_project, feed_server)
    config.write_text(config.read_text() + '\n[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n')
    (config.parent / "jobs.toml").write_text(JOB)
    return config


def hiring(date: str) -> Route:
    return Route(rss_with_text(HIRING, "https://odu.example.org/news/hiring", date, HIRING_TEXT)
                 .replace(b"</channel>", rss(("Hearing voices news", "https://hvn.example.org/n",
                                              "Tue, 15 Mar 2016 09:00:00 +0000"))
                          .split(b"</description>", 1)[1].split(b"</channel>")[0] + b"</channel>"))


def page(out: Path, folder: str, title: str) -> str:
    (found,) = [p.read_text() for p in (out / folder).glob("*/index.html") if f"<h1>{title}</h1>" in p.read_text()
                or f">{title}</h1>" in p.read_text()]
    return found


def two_months(write_project, feed_server) -> Path:
    """March's issue advertises the job (open until 30 April); Open Dialogue UK's news of it comes in March, and
    April's issue leaves it out (review h192)."""
    config = with_job(write_project, feed_server)
    assert f"* {JOB_TITLE}" in issue(config, "2016-03-01", 1)
    feed_server.routes["/odu.xml"] = hiring("Sat, 05 Mar 2016 09:00:00 +0000")
    sent = issue(config, "2016-04-01", 2)
    assert "Hearing voices news" in sent and HIRING not in sent
    return config.parent / "out"


def test_the_site_shows_a_partners_news_of_a_job_an_earlier_issue_sent_on_the_job(write_project, feed_server):
    """The issue left the news out and the feed showed it on the job ("Also announced by"), but the site linked an
    announcement to its job only within one issue: the job's page did not say it was also announced, and the news
    item's page did not say what it announces. Now both pages say so, as for news merged in the job's own issue."""
    out = two_months(write_project, feed_server)
    job = page(out, "jobs", JOB_TITLE)
    assert f'Also announced by odu.example.org: <a href="https://odu.example.org/news/hiring">{HIRING}</a>' in job
    news = page(out, "news", HIRING)
    assert "This announces <a href=\"../../jobs/administrator-for-the-open-dialogue-uk-centre-in-l-" in news
    assert f">{JOB_TITLE}</a>." in news
    # the feed, as before: the job once, with the news on it
    feed = (out / "feed.xml").read_text()
    assert feed.count(f"<title>{JOB_TITLE}</title>") == 1 and f"<title>{HIRING}</title>" not in feed
    assert "Also announced by odu.example.org" in feed


def test_the_lists_show_the_news_as_they_show_news_merged_in_the_jobs_own_issue(write_project, feed_server):
    """The lists keep what they show of news merged onto a job within one issue: the issues show it on the job alone
    (no issue lists it on its own), the month it was published lists it once, by its own page."""
    out = two_months(write_project, feed_server)
    for number in (1, 2):
        assert f">{HIRING}</a>" not in (out / "archive" / f"issue-{number}.html").read_text(), number
    assert (out / "months" / "2016-03" / "index.html").read_text().count(f">{HIRING}</a>") == 1
    assert (out / "jobs" / "index.html").read_text().count(f">{JOB_TITLE}</a>") == 1


def test_the_issue_that_sent_the_job_is_shown_as_it_was_sent(write_project, feed_server):
    """March's issue went out before the news came: its web version, like the issue re-made, shows the job as it
    sent it, without the later news; the job's own page has it."""
    out = two_months(write_project, feed_server)
    assert "Also announced" not in (out / "archive" / "issue-1.html").read_text()
    assert "Also announced" not in (out / "newsletter" / "issue-1.html").read_text()


def test_a_roundup_naming_the_job_among_other_news_goes_out_and_is_on_its_own(write_project, feed_server):
    """A roundup that April's issue sends (not about the job alone: `about_alone`) is shown on its own on the site
    too, as the issue shows it: its page announces nothing, the job's page does not name it."""
    config = with_job(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    title = "Open Dialogue UK in March: an administrator for our centre, a peer support guide, spring seminars"
    feed_server.routes["/odu.xml"] = Route(rss_with_text(title, "https://odu.example.org/news/march",
                                                         "Sun, 20 Mar 2016 09:00:00 +0000", HIRING_TEXT))
    assert f"* {title}" in issue(config, "2016-04-01", 2)
    out = config.parent / "out"
    assert "This announces" not in page(out, "news", title)
    assert "Also announced" not in page(out, "jobs", JOB_TITLE)


def test_the_site_refreshed_is_the_site_built_afresh(write_project, feed_server):
    """The job's page, made in March without the news, is made again in April with it; the site built again from
    nothing (its tables and files gone) is the same, byte for byte."""
    import sqlite3

    from pipeline.cli import main

    out = two_months(write_project, feed_server)
    site = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "newsletter" not in p.parts}
    db = sqlite3.connect(out.parent / "state" / "pipeline.sqlite")
    with db:
        for table in ("site_pages", "site_items", "site_editions", "site_built"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - the test's own table names
    db.close()
    for path in site:
        path.unlink()
    assert main(["run", "-c", str(out.parent / "pipeline.toml"), "--as-of", "2016-04-01"]) == 0
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "newsletter" not in p.parts} == site
