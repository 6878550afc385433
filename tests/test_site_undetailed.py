"""A feed read as jobs or events gives items with no job or event details: the site still builds, and says
only what it knows (no closing date, no calendar for an event with no date)."""

from __future__ import annotations

from pipeline.cli import main

RSS = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d</description>"
       "<item><title>{title}</title><link>https://p.example.org/{slug}</link><guid>{slug}</guid>"
       "<pubDate>{date}</pubDate><description>Peer support work in Leeds.</description></item></channel></rss>")


def test_jobs_and_events_from_feeds_without_details(write_project):
    config = write_project("""
        [sources.vacancies]
        type = "feed"
        url = "jobs.xml"
        kind = "job"
        [sources.notices]
        type = "feed"
        url = "events.xml"
        kind = "event"
        [sources.events]
        type = "events"
        path = "events.toml"
        [sinks.site]
        type = "archive"
        """, {"events.toml": '[[event]]\nid = "seminar-4"\ntitle = "Seminar 4: space"\nposted = 2016-04-01\n'
                             'start = 2016-05-20\ntimezone = "Europe/London"\nvenue = "Leeds"\n',
              "jobs.xml": RSS.format(title="Peer worker", slug="job-1", date="Fri, 15 Jan 2016 10:00:00 +0000"),
              "events.xml": RSS.format(title="Spring seminar", slug="event-1",
                                       date="Mon, 18 Apr 2016 10:00:00 +0000")})

    assert main(["refresh", "-c", str(config), "--as-of", "2016-05-01"]) == 0  # the job was posted 107 days ago

    out = config.parent / "out"
    [job_page] = [p for p in out.glob("jobs/*/index.html")]
    job = job_page.read_text(encoding="utf-8")
    assert "This job has closed." in job and "closed on" not in job  # no closing date: closed 90 days after posting
    [event_page] = [p for p in out.glob("events/*/index.html") if "Spring seminar" in p.read_text(encoding="utf-8")]
    event = event_page.read_text(encoding="utf-8")
    assert "This event is over." not in event  # posted 13 days ago, with no date of its own: still upcoming
    assert "event.ics" not in event and not list(event_page.parent.glob("*.ics"))
    events = (out / "events" / "index.html").read_text(encoding="utf-8")
    assert events.index("Seminar 4: space") < events.index("Spring seminar")  # a dated event first, soonest first
    for page in (out / "jobs" / "index.html", out / "events" / "index.html"):  # lists: what is known, no stray " · "
        text = page.read_text(encoding="utf-8")
        assert '<p class="meta">Job · Posted 15 January 2016</p>' in text or \
            '<p class="meta">Event · Posted 18 April 2016</p>' in text, text
