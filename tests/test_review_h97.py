"""Review (helper 97): what readers get from the site, the feeds and the calendars. Each test fails while the
problem it names is there."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from pipeline.models import Kind
from tests.test_rss_sink import write_feed  # noqa: F401 (fixture)
from tests.test_withdrawn import BLOG_TOML, EVENTS_TOML, SEMINAR_AT, post_file


def _guids(data: bytes) -> dict[str, str]:
    return {item.findtext("title"): item.findtext("guid") for item in ET.fromstring(data).iter("item")}


def test_an_items_guid_does_not_change_when_a_newer_item_shares_its_url(write_feed, item_factory):  # noqa: F811
    """An item's guid stays the same from run to run when a later item with the same link arrives."""
    first = item_factory(Kind.NEWS, "Shared page", published=datetime(2016, 1, 3, 10, tzinfo=UTC))
    _, _, before, _ = write_feed([first])
    second = dataclasses.replace(first, id="another-id", title="Shared page again",
                                 published=datetime(2016, 1, 4, 10, tzinfo=UTC))
    _, _, after, _ = write_feed([first, second])

    assert _guids(after)["Shared page"] == _guids(before)["Shared page"]



CONFERENCE = '''
[[event]]
id = "conference-2016"
title = "Open Dialogue UK 2016 Conference"
posted = 2016-01-12
start = 2016-02-02
venue = "London"
booking_url = "{booking}"
description = "A day with many of the people developing Open Dialogue around the world."
'''


def test_an_events_guid_survives_a_new_booking_link(pipeline_project):
    """Editing an event's booking link leaves its feed guid as it was, so feed readers do not show it again as new."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": CONFERENCE.format(booking="https://partner.example.org/book"),
                                           "subscribers.csv": "email,name\n"})
    project.run(as_of=date(2016, 2, 1))
    before = project.feed().entries[0].id
    project.write({"events.toml": CONFERENCE.format(booking="https://partner.example.org/conference-2016/tickets")})
    project.refresh(as_of=date(2016, 2, 1))

    assert project.feed().entries[0].id == before




def test_an_events_page_on_the_site_leads_on_when_its_address_changes(pipeline_project):
    """When an event's own address on the site changes, its old page (linked by emails sent) leads on to the new one."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR_AT.format(path="seminars/3/"),
                                           "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    assert "https://network.example.org/seminars/3/" in project.email().html
    project.write({"events.toml": SEMINAR_AT.format(path="seminars/seminar-3/")})
    project.refresh(as_of=date(2016, 2, 1))

    assert "seminar-3/" in project.site("seminars/3/")  # the address in the email sent still leads to the event
    assert project._out("seminars/3/event.ics").is_file()
    project.refresh(as_of=date(2016, 2, 2))  # and goes on doing so in later runs
    assert "seminar-3/" in project.site("seminars/3/") and project._out("seminars/3/event.ics").is_file()


def test_an_event_taken_out_of_the_events_file_is_no_longer_announced_as_coming(pipeline_project):
    """An event the organisers delete (cancelled) leaves the feed and the upcoming list, and its calendar entry says
    CANCELLED."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR_AT.format(path="seminars/3/"),
                                           "subscribers.csv": "email,name\n"})
    project.run(as_of=date(2016, 2, 1))
    assert [e.title for e in project.feed().entries] == ["Seminar 3: Contemporary Developments in Healthcare Practice"]
    project.write({"events.toml": "# no events\n"})
    project.refresh(as_of=date(2016, 2, 1))

    from icalendar import Calendar
    calendar = Calendar.from_ical(project._out("events/calendar.ics").read_bytes())
    statuses = [str(event.get("STATUS", "")) for event in calendar.walk("VEVENT")]
    assert statuses in ([], ["CANCELLED"]), statuses
    assert project.feed().entries == []





def test_making_an_earlier_issue_again_keeps_the_pages_of_newer_items(pipeline_project):
    """Re-making issue 1 with --as-of its date leaves the pages (and feed entries) of posts published since it in
    place."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    project.write({"blog/feb.md": post_file("February post", "2016-02-10")})
    project.refresh(as_of=date(2016, 2, 20))
    assert "February post" in project.site("blog/feb/")
    project.run(as_of=date(2016, 2, 1))  # issue 1 made again (a template fixed, say)

    assert "February post" in project.site("blog/feb/")


def test_making_an_earlier_issue_again_leaves_no_theme_page_linking_a_missing_feed(pipeline_project):
    """After re-making issue 1 while issue 2 exists, every theme page's RSS link (and autodiscovery) still has its
    feed."""
    housing = ('---\ntitle: "Housing first in Leeds"\ndate: 2016-03-10\nthemes: [housing]\n---\n\n'
               "Supported accommodation was discussed by tenants in Leeds.\n")
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    project.write({"blog/housing.md": housing})
    project.run(as_of=date(2016, 5, 1))
    project.run(as_of=date(2016, 2, 1))  # issue 1 made again

    page = project.site("themes/housing/")
    assert 'href="feed.xml"' in page or "themes/housing/feed.xml" in page
    assert project._out("themes/housing/feed.xml").is_file()


JOB = '''
[[job]]
id = "administrator-2016"
title = "{title}"
organisation = "Open Dialogue UK"
posted = 2016-01-20
closing_date = 2016-02-14
description = "Open Dialogue UK wants more administrative help for its London centre."
'''


def test_a_moved_pages_canonical_address_is_the_page_it_leads_to(pipeline_project):
    """The page left where a job was before its title changed names the job's new page as canonical, not itself."""
    project = pipeline_project('[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n',
                               {"jobs.toml": JOB.format(title="Administrator for the new centre"),
                                "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (old,) = [p.name for p in (project.root / "out" / "jobs").iterdir() if p.is_dir()]
    project.write({"jobs.toml": JOB.format(title="Administrator (London centre)")})
    project.refresh(as_of=date(2016, 2, 1))
    (new,) = [p.name for p in (project.root / "out" / "jobs").iterdir() if p.is_dir() and p.name != old]

    moved = project.site(f"jobs/{old}/")
    assert "http-equiv=\"refresh\"" in moved
    assert f'<link rel="canonical" href="https://network.example.org/jobs/{new}/">' in moved


def test_the_vtimezone_puts_the_start_of_summer_time_at_the_right_instant(project_from):
    """Europe/London's VTIMEZONE gives BST's onset in the local time before it (01:00 GMT, RFC 5545 3.6.5), not
    02:00."""
    from zoneinfo import ZoneInfo

    from icalendar import Calendar

    from pipeline.calendars import event_ics
    from pipeline.models import EventDetails
    from pipeline.testing import make_item

    london = ZoneInfo("Europe/London")
    project = project_from('[sinks.archive]\ntype = "archive"\n')
    item = make_item(Kind.EVENT, "Summer seminar", event=EventDetails(
        start=datetime(2016, 6, 2, 9, 30, tzinfo=london), end=datetime(2016, 6, 2, 16, tzinfo=london),
        timezone="Europe/London", venue="Leeds"))
    (zone,) = Calendar.from_ical(event_ics(project, item)).walk("VTIMEZONE")
    read = zone.to_tz(lookup_tzid=False)  # as an app that goes by the VTIMEZONE reads it (its RRULEs expanded)
    # BST began at 01:00 UTC on 27 March 2016 and ended at 01:00 UTC on 30 October 2016.
    for change, before, after in ((datetime(2016, 3, 27, 1, 0, tzinfo=UTC), 0, 1),
                                  (datetime(2016, 10, 30, 1, 0, tzinfo=UTC), 1, 0)):
        assert (change - timedelta(seconds=1)).astimezone(read).utcoffset() == timedelta(hours=before)
        assert change.astimezone(read).utcoffset() == timedelta(hours=after)


WELSH_FEED = '''<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Partner yng Nghymru</title>
    <link>https://partner.example.cymru/</link>
    <description>Newyddion</description>
    <language>cy</language>
    <item>
      <title>Cymorth gan gymheiriaid yng Nghaerdydd</title>
      <link>https://partner.example.cymru/newyddion/cymorth</link>
      <guid>https://partner.example.cymru/newyddion/cymorth</guid>
      <pubDate>Thu, 14 Jan 2016 10:00:00 +0000</pubDate>
      <description>&lt;p&gt;Mae gweithwyr cymorth gan gymheiriaid yn cyfarfod bob mis yng Nghaerdydd.&lt;/p&gt;
      </description>
    </item>
  </channel>
</rss>
'''


def test_a_partner_item_in_another_language_is_marked_so_on_its_page(pipeline_project):
    """A news item from a feed that declares <language>cy</language> is shown with lang="cy" (WCAG 3.1.2), not as
    en-GB."""
    project = pipeline_project('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n',
                               {"partner.xml": WELSH_FEED, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (folder,) = [p for p in (project.root / "out" / "news").iterdir() if p.is_dir()]
    page = (folder / "index.html").read_text(encoding="utf-8")

    assert "Mae gweithwyr cymorth" in page
    assert 'lang="cy"' in page


PARTNER_WITH_IMAGE = '''<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Open Dialogue UK: news</title>
    <link>https://opendialogue-uk.example.org/</link>
    <description>News</description>
    <item>
      <title>Plans for a London centre for training and practice</title>
      <link>https://opendialogue-uk.example.org/news/london-centre-plans</link>
      <guid>https://opendialogue-uk.example.org/news/london-centre-plans</guid>
      <pubDate>Thu, 14 Jan 2016 10:00:00 +0000</pubDate>
      <media:content url="https://opendialogue-uk.example.org/images/centre.jpg" medium="image" type="image/jpeg"/>
      <description>&lt;p&gt;Our centre in London will offer training and therapeutic work in several ways.&lt;/p&gt;
      </description>
    </item>
  </channel>
</rss>
'''


def test_the_lead_image_the_page_shows_is_in_the_feed_too(pipeline_project):
    """A partner item's lead image, shown on its page and in the email, is carried by its feed entry as well."""
    image = "https://opendialogue-uk.example.org/images/centre.jpg"
    project = pipeline_project('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n',
                               {"partner.xml": PARTNER_WITH_IMAGE, "subscribers.csv": "email,name\nr@example.org,R\n"})
    project.run(as_of=date(2016, 2, 1))
    (folder,) = [p for p in (project.root / "out" / "news").iterdir() if p.is_dir()]
    assert image in (folder / "index.html").read_text(encoding="utf-8")
    assert image in project.email().html

    assert image in project._out("feed.xml").read_text(encoding="utf-8")
