"""Review (helper 102): the events as a reader who adds them to a calendar gets them (the `.ics` files, the links to
them). Each test fails while the problem it names is there."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Calendar

from pipeline.calendars import calendar_ics, event_ics, uid
from pipeline.config import load_project
from pipeline.models import EventDetails, Kind
from pipeline.testing import make_item, write_project_files
from tests.test_withdrawn import EVENTS_TOML, SEMINAR

EVENTS_SOURCE = """
[sources.events]
type = "events"
path = "events.toml"

[sinks.feed]
type = "rss"
"""


def _vevent(data: bytes):
    (event,) = Calendar.from_ical(data).walk("VEVENT")
    return event


def _project_at(root: Path, name: str, site_url: str, events: str):
    """A project at `site_url` whose events file holds `events`."""
    root.mkdir(parents=True, exist_ok=True)
    toml = f'[pipeline]\nname = "{name}"\nsite_url = "{site_url}"\ntimezone = "Europe/London"\nworkers = 1\n'
    return load_project(write_project_files(root, toml + EVENTS_SOURCE, {"events.toml": textwrap.dedent(events)}))


def _events_of(project, run_context):
    return {item.title: item for item in project.sources[0].fetch(run_context(project, date(2016, 2, 1)))}


def test_an_event_whose_notice_gives_its_start_as_its_end_has_no_dtend_at_its_dtstart(project_from, run_context,
                                                                                         tmp_path):
    """The organisers write a drop-in as `start = end = 18:00` (the events file takes it: only an end *before* the
    start is refused), or another source hands over an end before the start. The reader's calendar now gets
    `DTEND` equal to `DTSTART` (`_span` clamps with `max(end, start)`). RFC 5545 3.8.2.2 says of DTEND: "its value
    MUST be later in time than the value of the DTSTART property"; strict parsers (and Outlook's import) reject or
    mangle such an event. With no later end there should be no DTEND at all (3.6.1: it then ends when it starts),
    as the calendar already does for an event that gives no end."""
    (tmp_path / "events.toml").write_text(textwrap.dedent("""
        [[event]]
        id = "drop-in"
        title = "Peer support drop-in"
        posted = 2016-01-18
        start = 2016-02-17T18:00:00
        end = 2016-02-17T18:00:00
        timezone = "Europe/London"
        venue = "Leeds"
    """), encoding="utf-8")
    project = project_from(EVENTS_SOURCE)
    (item,) = _events_of(project, run_context).values()
    backwards = make_item(Kind.EVENT, "Ends before it starts", event=EventDetails(
        start=datetime(2016, 2, 17, 18, tzinfo=UTC), end=datetime(2016, 2, 17, 17, tzinfo=UTC),
        timezone="Europe/London"))

    for event in (item, backwards):
        vevent = _vevent(event_ics(project, event))
        if "DTEND" in vevent:
            assert vevent["DTEND"].dt > vevent["DTSTART"].dt, event.title


def test_two_networks_published_under_one_host_give_their_events_different_uids(tmp_path, run_context):
    """Two networks run by one university publish their sites under one host (the README's `site_url` with a path:
    https://uni.example.ac.uk/coproduction and /peer-support), each with an `[sources.events]` file, and each names
    its annual conference `id = "annual-conference-2016"`. A reader who follows both adds both conferences. Now both
    VEVENTs have the same UID (`calendars.uid`: the item id, a hash of the source's name and the record's id, at
    the host name only, the path left out), so the second import replaces the first, or is taken as a copy of it.
    RFC 5545 3.8.4.7: the UID MUST be globally unique; the site's path (or its whole address) belongs in it."""
    events = """
        [[event]]
        id = "annual-conference-2016"
        title = "{title}"
        posted = 2016-01-12
        start = 2016-03-02
        timezone = "Europe/London"
        venue = "{venue}"
    """
    coproduction = _project_at(tmp_path / "a", "Co-production Network", "https://uni.example.ac.uk/coproduction",
                               events.format(title="Co-production annual conference", venue="Leeds"))
    peer = _project_at(tmp_path / "b", "Peer Support Network", "https://uni.example.ac.uk/peer-support",
                       events.format(title="Peer support annual conference", venue="Sheffield"))
    (first,) = _events_of(coproduction, run_context).values()
    (second,) = _events_of(peer, run_context).values()

    one = str(_vevent(event_ics(coproduction, first))["UID"])
    other = str(_vevent(event_ics(peer, second))["UID"])
    assert (one, other) == (uid(coproduction, first), uid(peer, second))
    assert one != other


def test_the_subscribe_links_subscribe_rather_than_download_a_copy(pipeline_project):
    """A reader on the events page clicks "Subscribe to every event in your calendar" (the event's page has
    "Subscribe to every event" too). The link is a plain relative `calendar.ics`, that is an https address: the
    browser downloads the file and Outlook, Apple Calendar and Thunderbird import it as a one-off copy, which never
    takes a later change, a new event or a withdrawal (REFRESH-INTERVAL is never read). A link that subscribes is
    the `webcal://` form of the calendar's address (which Apple Calendar, Outlook and Thunderbird open as a
    subscription, and Google Calendar takes through its "From URL" handler), as calendar sites offer it."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (page,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]

    for path in ("events/", f"events/{page}/"):
        links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', project.site(path))
        subscribe = [href for href, text in links if "Subscribe to every event" in text]
        assert subscribe, path
        assert all(href == "webcal://network.example.org/events/calendar.ics" for href in subscribe), (path, subscribe)


def test_an_event_in_casablanca_during_ramadan_2016_is_at_its_own_time_by_the_vtimezone(project_from):
    """A reader whose calendar goes by the VTIMEZONE the file carries (Outlook matches a zone by its rules, not by
    its IANA name) adds a seminar at 10:00 in Casablanca on 20 June 2016. Morocco left summer time for Ramadan that
    year (UTC+0 from 5 June to 10 July), but the VTIMEZONE written (`calendars._timezone`, from icalendar's
    `Timezone.from_tzid`) has only the March and October changes, so it says UTC+1 all summer and the seminar lands
    at 09:00 UTC instead of 10:00 UTC. RFC 5545 3.6.5: the VTIMEZONE's observances must give the offset in effect
    at every time the file uses; the zone database has both extra changes."""
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    casablanca = ZoneInfo("Africa/Casablanca")
    item = make_item(Kind.EVENT, "Peer support in Morocco", event=EventDetails(
        start=datetime(2016, 6, 20, 10, tzinfo=casablanca), end=datetime(2016, 6, 20, 16, tzinfo=casablanca),
        timezone="Africa/Casablanca", venue="Casablanca"))
    calendar = Calendar.from_ical(event_ics(project, item))
    (zone,) = calendar.walk("VTIMEZONE")
    from_file = zone.to_tz(lookup_tzid=False)
    start = _vevent(event_ics(project, item))["DTSTART"]

    assert start.dt.replace(tzinfo=None) == datetime(2016, 6, 20, 10, 0)
    assert start.dt.replace(tzinfo=from_file).utcoffset() == timedelta(0)  # as the zone database has it


def test_the_vtimezone_of_london_is_written_as_the_yearly_rules_outlook_reads(project_from, item_factory):
    """A reader on Outlook for Windows (the NHS's and most universities' calendar) adds the summer seminar, or
    subscribes to every event. Each VTIMEZONE is written as icalendar's `Timezone.from_tzid` makes it: one STANDARD or
    DAYLIGHT per change, with the later years' changes as RDATE lists and no RRULE. RFC 5545 3.6.5 allows that form,
    but Outlook's desktop app does not read it (it takes a VTIMEZONE's observances as yearly rules: iCalcreator
    issues #86 and #106, ical files of this shape imported with summer events an hour off, put right by the RRULE
    form), so the seminar at 09:30 BST shows at 10:30 or 08:30. What calendar servers themselves publish (Google's,
    tzurl.org's) is the RRULE form: per observance `RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU` and so on."""
    london = ZoneInfo("Europe/London")
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    summer = item_factory(Kind.EVENT, "Summer seminar", event=EventDetails(
        start=datetime(2016, 6, 2, 9, 30, tzinfo=london), end=datetime(2016, 6, 2, 16, tzinfo=london),
        timezone="Europe/London", venue="Leeds"))
    later = item_factory(Kind.EVENT, "Summer seminar 2018", event=EventDetails(
        start=datetime(2018, 6, 7, 9, 30, tzinfo=london), end=datetime(2018, 6, 7, 16, tzinfo=london),
        timezone="Europe/London", venue="York"))

    for data in (event_ics(project, summer), calendar_ics(project, [summer, later])):
        (zone,) = Calendar.from_ical(data).walk("VTIMEZONE")
        changes = [o for o in zone.walk() if o.name in ("STANDARD", "DAYLIGHT")
                   and o.decoded("TZOFFSETFROM") != o.decoded("TZOFFSETTO")]
        assert changes
        assert all("RRULE" in o and "RDATE" not in o for o in changes), zone.to_ical().decode()
