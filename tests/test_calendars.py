"""pipeline/calendars.py: the seed's events (read by the events source from the shipped content) as .ics files
that icalendar parses back with the right times and zones, stable UIDs and bytes, escaping, folding, and
no way for hostile text to add a property."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from pipeline import site
from pipeline.calendars import Stored, calendar_ics, event_ics
from pipeline.models import EventDetails, Item, JobDetails, Kind, ProgrammeSlot
from pipeline.state import Store, schema
from pipeline.testing import make_item

ROOT = Path(__file__).parent.parent
LONDON = ZoneInfo("Europe/London")
CONFERENCE = "Open Dialogue UK 2016 Conference"
SEMINAR = "Seminar 3: Contemporary Developments in Healthcare Practice"
TOML = """
[sources.events]
type = "events"
path = "events.toml"

[sinks.feed]
type = "rss"
"""


@pytest.fixture
def events_from(project_from, run_context, tmp_path):
    """events_from(toml_text=None) -> (project, {title: Item}) as the events source makes them (from the
    shipped content/events.toml by default)."""

    def load(records: str | None = None):
        if records is None:
            shutil.copy(ROOT / "content" / "events.toml", tmp_path / "events.toml")
        else:
            (tmp_path / "events.toml").write_text(textwrap.dedent(records), encoding="utf-8")
        project = project_from(TOML)
        items = list(project.sources[0].fetch(run_context(project, date(2016, 2, 1))))
        return project, {item.title: item for item in items}

    return load


def parse(data: bytes) -> Calendar:
    assert data.endswith(b"\r\n") and b"\r\n" in data  # RFC 5545 lines end in CRLF
    return Calendar.from_ical(data)


def vevent(data: bytes):
    events = parse(data).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_the_seminar_is_at_the_venues_time_with_its_zone(events_from):
    project, items = events_from()
    data = event_ics(project, items[SEMINAR])
    calendar = parse(data)

    assert str(calendar["VERSION"]) == "2.0" and str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["CALSCALE"]) == "GREGORIAN" and str(calendar["PRODID"]).startswith("-//")
    assert str(calendar["X-WR-CALNAME"]) == SEMINAR
    event = vevent(data)
    start, end = event["DTSTART"], event["DTEND"]
    assert start.params["TZID"] == "Europe/London" and end.params["TZID"] == "Europe/London"
    assert b"DTSTART;TZID=Europe/London:20160217T093000\r\n" in data
    assert start.dt == datetime(2016, 2, 17, 9, 30, tzinfo=LONDON)
    assert start.dt.utcoffset() == timedelta(0)  # February: GMT
    # The notice gives no end; the programme's last slot (16:00 networking) is when the day ends at the earliest.
    assert end.dt == datetime(2016, 2, 17, 16, 0, tzinfo=LONDON)
    assert str(event["SUMMARY"]) == SEMINAR and str(event["LOCATION"]) == "St Catherine's"
    # The VTIMEZONE itself (what a client without the zone database reads) says GMT in February.
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/London"
    tz = zone.to_tz(lookup_tzid=False)
    assert datetime(2016, 2, 17, 9, 30, tzinfo=tz).utcoffset() == timedelta(0)
    assert datetime(2016, 6, 17, 9, 30, tzinfo=tz).utcoffset() == timedelta(hours=1)
    assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")


def test_the_conference_is_all_day_with_an_exclusive_end(events_from):
    project, items = events_from()
    data = event_ics(project, items[CONFERENCE])
    event = vevent(data)

    assert b"DTSTART;VALUE=DATE:20160202\r\n" in data and b"DTEND;VALUE=DATE:20160203\r\n" in data
    assert event["DTSTART"].dt == date(2016, 2, 2) and event["DTEND"].dt == date(2016, 2, 3)
    assert not parse(data).walk("VTIMEZONE")  # a day is that day wherever the reader is: no zone needed
    assert str(event["LOCATION"]) == "London"


def test_the_description_carries_summary_speakers_prices_and_programme(events_from):
    project, items = events_from()
    conference, seminar = items[CONFERENCE], items[SEMINAR]
    conference.summary = "A day with many of the people developing Open Dialogue around the world."

    text = str(vevent(event_ics(project, conference))["DESCRIPTION"])
    assert text.startswith("A day with many of the people developing Open Dialogue around the world.\n\n")
    assert "Speakers: Jaakko Seikkula, Volkmar Aderhold, Petra Hohn" in text
    assert ("Prices: Organisation rate £125; Organisation group rate £112.50 (groups of 5 or more); "
            "Independent practitioner rate £85; Student or carer rate £35; Service user or benefits rate £25") in text
    assert "Book a place: https://opendialogue-uk.example.org/conference-2016" in text
    seminar_text = str(vevent(event_ics(project, seminar))["DESCRIPTION"])
    assert "\n10:00 Opening: co-production and power-sharing — John Walsh, Leeds Community Healthcare NHS Trust; " \
           "Pamela Fisher, University of Leeds\n" in seminar_text
    assert "<" not in seminar_text  # plain text, not the body's HTML


def test_uid_dtstamp_and_url_are_derived_from_the_item(events_from):
    project, items = events_from()
    seminar = items[SEMINAR]
    first = event_ics(project, seminar)
    event = vevent(first)

    assert str(event["UID"]) == f"{seminar.id}@network.example.org"
    assert event["DTSTAMP"].dt == datetime(2016, 1, 18, 0, 0, tzinfo=UTC)  # posted 18 January, midnight in London
    assert str(event["URL"]) == site.url(project, site.item_path(project, seminar))
    # The same event gives the same bytes, also as the state database gives it back (fixed UTC offsets).
    assert event_ics(project, seminar) == first
    assert event_ics(project, Item.from_dict(seminar.to_dict())) == first
    assert calendar_ics(project, list(items.values())) == calendar_ics(project, list(items.values()))
    whole = parse(calendar_ics(project, list(items.values())))
    assert {str(e["UID"]) for e in whole.walk("VEVENT")} == {f"{i.id}@network.example.org" for i in items.values()}


def test_summer_is_bst_and_other_zones_get_their_own_vtimezone(events_from):
    project, items = events_from("""
        [[event]]
        id = "summer"
        title = "Summer school"
        posted = 2016-05-01
        start = 2016-06-15T09:30:00
        end = 2016-06-15T17:00:00
        timezone = "Europe/London"

        [[event]]
        id = "winter"
        title = "Winter seminar"
        posted = 2016-01-05
        start = 2016-01-20T09:30:00
        timezone = "Europe/London"

        [[event]]
        id = "helsinki"
        title = "Open Dialogue in Finland"
        posted = 2016-05-01
        start = 2016-09-01T10:00:00
        end = 2016-09-01T15:00:00
        timezone = "Europe/Helsinki"

        [[event]]
        id = "week"
        title = "A week of workshops"
        posted = 2016-05-01
        start = 2016-06-01
        end = 2016-06-03
        timezone = "Europe/London"
    """)
    summer = vevent(event_ics(project, items["Summer school"]))
    assert summer["DTSTART"].dt == datetime(2016, 6, 15, 9, 30, tzinfo=LONDON)
    assert summer["DTSTART"].dt.utcoffset() == timedelta(hours=1)  # BST
    assert summer["DTSTART"].dt.astimezone(UTC) == datetime(2016, 6, 15, 8, 30, tzinfo=UTC)
    assert summer["DTEND"].dt == datetime(2016, 6, 15, 17, 0, tzinfo=LONDON)
    winter = vevent(event_ics(project, items["Winter seminar"]))
    assert winter["DTSTART"].dt.astimezone(UTC) == datetime(2016, 1, 20, 9, 30, tzinfo=UTC)  # GMT
    assert "DTEND" not in winter  # no end and no programme: RFC 5545 says it ends when it starts

    week = vevent(event_ics(project, items["A week of workshops"]))
    assert (week["DTSTART"].dt, week["DTEND"].dt) == (date(2016, 6, 1), date(2016, 6, 4))  # 1–3 June

    data = calendar_ics(project, list(items.values()))
    calendar = parse(data)
    assert sorted(str(z["TZID"]) for z in calendar.walk("VTIMEZONE")) == ["Europe/Helsinki", "Europe/London"]
    finland = next(e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Open Dialogue in Finland")
    assert finland["DTSTART"].params["TZID"] == "Europe/Helsinki"
    assert finland["DTSTART"].dt.astimezone(UTC) == datetime(2016, 9, 1, 7, 0, tzinfo=UTC)  # EEST, UTC+3
    assert data.rindex(b"END:VTIMEZONE") < data.index(b"BEGIN:VEVENT")


def test_the_calendar_holds_every_event_past_ones_included_in_start_order(events_from, item_factory):
    project, items = events_from()
    news = item_factory(Kind.NEWS, "Not an event")
    data = calendar_ics(project, [items[SEMINAR], news, items[CONFERENCE]])
    calendar = parse(data)

    assert [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")] == [CONFERENCE, SEMINAR]
    assert str(calendar["X-WR-CALNAME"]) == "Test Network: events" and str(calendar["NAME"]) == "Test Network: events"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in data and b"X-PUBLISHED-TTL:PT12H\r\n" in data
    assert str(calendar["SOURCE"]) == "https://network.example.org/events/calendar.ics"
    assert str(calendar["METHOD"]) == "PUBLISH" and str(calendar["VERSION"]) == "2.0"
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/London"]  # one per zone used


def test_an_empty_calendar_is_still_a_valid_one(project_from):
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    calendar = parse(calendar_ics(project, []))

    assert calendar.walk("VEVENT") == []
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/London"]  # RFC 5545: one component


def hostile_event(item_factory, title: str, **details) -> Item:
    return item_factory(Kind.EVENT, title, published=datetime(2016, 1, 5, tzinfo=UTC), event=EventDetails(
        start=datetime(2016, 2, 17, 9, 30, tzinfo=UTC), timezone="Europe/London", **details))


def test_commas_semicolons_backslashes_and_newlines_are_escaped(project_from, item_factory):
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    item = hostile_event(item_factory, r"Power, space; and C:\peer support", venue="St Catherine's, Leeds; room 2",
                         programme=[ProgrammeSlot("09:30", "Welcome, tea; coffee"), ProgrammeSlot("10:00", "Talk")])
    data = event_ics(project, item)

    raw = data.replace(b"\r\n ", b"").decode()  # unfolded
    assert "SUMMARY:Power\\, space\\; and C:\\\\peer support\r\n" in raw
    assert "LOCATION:St Catherine's\\, Leeds\\; room 2\r\n" in raw
    assert "09:30 Welcome\\, tea\\; coffee\\n10:00 Talk" in raw
    event = vevent(data)
    assert str(event["SUMMARY"]) == r"Power, space; and C:\peer support"
    assert str(event["LOCATION"]) == "St Catherine's, Leeds; room 2"
    assert "Programme:\n09:30 Welcome, tea; coffee\n10:00 Talk\n" in str(event["DESCRIPTION"])


def test_long_lines_are_folded_at_75_octets(project_from, item_factory):
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    title = "Co-production in mental health care: " + "peer support — “lived experience” — " * 8
    item = hostile_event(item_factory, title.strip(), speakers=[f"Speaker {n} of the seminar" for n in range(30)])
    data = event_ics(project, item)

    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # continuation lines
    for line in lines:
        line.decode("utf-8")  # a fold never splits a character
    event = vevent(data)
    assert str(event["SUMMARY"]) == title.strip()
    assert "Speaker 29 of the seminar" in str(event["DESCRIPTION"])


def test_hostile_text_cannot_add_properties_or_components(project_from, item_factory):
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    inject = "\r\nATTENDEE:mailto:victim@example.org\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:forged"
    item = hostile_event(
        item_factory, f"Evil\x00 seminar\x0b\x1b[31m{inject}\x7f", venue=f"Hall\nRRULE:FREQ=DAILY{inject}",
        speakers=[f"Mallory\r\nORGANIZER:mailto:x@example.org{inject}"],
        programme=[ProgrammeSlot(f"09:30{inject}", f"Talk\rBEGIN:VALARM{inject}", (f"Eve{inject}",))],
        booking_url=f"https://example.org/book{inject}")
    item.summary = f"Summary\r\nX-INJECTED:1{inject}"
    data = event_ics(project, item)

    calendar = parse(data)
    assert len(calendar.walk("VEVENT")) == 1 and calendar.walk("VALARM") == []
    event = calendar.walk("VEVENT")[0]
    assert set(event) == {"UID", "DTSTAMP", "SEQUENCE", "DTSTART", "SUMMARY", "LOCATION", "DESCRIPTION", "URL"}
    assert str(event["UID"]) == f"{item.id}@network.example.org"
    assert str(event["SUMMARY"]).startswith("Evil seminar [31m ATTENDEE:mailto:victim@example.org END:VEVENT")
    for name in ("SUMMARY", "LOCATION", "DESCRIPTION"):
        assert not any(ord(ch) < 32 and ch != "\n" or ord(ch) == 127 for ch in str(event[name])), name
    assert "\n" not in str(event["SUMMARY"]) + str(event["LOCATION"])
    lines = data.split(b"\r\n")
    assert lines.count(b"BEGIN:VEVENT") == 1
    for line in lines[lines.index(b"BEGIN:VEVENT"):]:  # (the VTIMEZONE's observances have RRULEs of their own)
        assert not line.startswith((b"ATTENDEE", b"RRULE", b"ORGANIZER", b"X-INJECTED", b"BEGIN:VALARM")), line
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\x00" not in data and b"\x1b" not in data
    assert "Book a place" not in str(event["DESCRIPTION"])  # a URL with line breaks is no URL


def test_sequence_grows_with_a_new_time_or_place_and_dtstamp_with_anything_else_the_calendar_shows(
        project_from, tmp_path):
    """RFC 5545 3.8.7.4 and RFC 5546 2.1.4: SEQUENCE counts significant revisions (time, place); any other change
    of what the entry shows moves only DTSTAMP and LAST-MODIFIED (2.1.5: at one SEQUENCE the later DTSTAMP wins);
    a change of nothing it shows (themes, author, image...) gives the same bytes."""
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    store = Store(tmp_path / "pipeline.sqlite")
    event = make_item(Kind.EVENT, "Seminar 3", published=datetime(2016, 1, 5, tzinfo=UTC), summary="On peer work.")
    day = iter(range(1, 29))

    def saved(item: Item) -> tuple[int, datetime, bytes]:
        store.save_items([(item, "fp")], datetime(2016, 3, next(day), tzinfo=UTC))
        data = event_ics(project, item, Stored("events/seminar-3/", store.revisions([item.id])[item.id]))
        return vevent(data).sequence, vevent(data).DTSTAMP, data

    try:
        first = saved(event)
        assert first[:2] == (0, datetime(2016, 3, 1, tzinfo=UTC))
        unshown = {"source": "elsewhere", "published": datetime(2016, 1, 9, tzinfo=UTC), "author": "Ann",
                   "image": "https://example.org/a.png", "image_alt": "A room", "themes": ["peer support"],
                   "theme_evidence": {"peer support": {"score": 3}}, "job": JobDetails("Open Dialogue UK"),
                   "also_announced": [{"id": "n1", "source": "news", "by": "News", "title": "T", "url": ""}]}
        for name, value in unshown.items():
            event = dataclasses.replace(event, **{name: value})
            assert saved(event) == first, name
        assert set(unshown) == set(schema._UNSHOWN)  # every field the store takes as not shown, and it is not

        shown = [{"title": "Seminar 3 (full)"}, {"summary": "On peer work, and more."}, {"url": "https://example.org/s3"},
                 {"event": dataclasses.replace(event.event, speakers=["Ann Smith"])},
                 {"event": dataclasses.replace(event.event, booking_url="https://example.org/book-now")}]
        before = first
        for change in shown:
            event = dataclasses.replace(event, **change)
            now = saved(event)
            assert now[0] == 0 and now[1] > before[1] and now[2] != before[2], change
            before = now

        details = event.event
        moved = [{"start": details.start + timedelta(hours=1)}, {"end": details.end + timedelta(hours=1)},
                 {"venue": "York"}, {"all_day": True}, {"timezone": "Europe/Paris"}]
        for sequence, change in enumerate(moved, 1):
            event = dataclasses.replace(event, event=dataclasses.replace(event.event, **change))
            now = saved(event)
            assert now[0] == sequence and now[1] > before[1], change
            before = now
        same_time = event.event.start.astimezone(ZoneInfo("Europe/Paris"))  # the same instant, written otherwise
        event = dataclasses.replace(event, event=dataclasses.replace(event.event, start=same_time))
        assert saved(event)[0] == len(moved)
    finally:
        store.close()


def test_without_an_end_the_programmes_times_are_when_the_event_ends_and_count_as_a_new_time(project_from, tmp_path):
    store = Store(tmp_path / "pipeline.sqlite")
    programme = [ProgrammeSlot("10:00", "Opening"), ProgrammeSlot("16:00", "Networking")]
    event = make_item(Kind.EVENT, "Seminar 3", event=EventDetails(
        start=datetime(2016, 2, 17, 9, 30, tzinfo=UTC), venue="Leeds", programme=programme))
    try:
        store.save_items([(event, "fp")], datetime(2016, 3, 1, tzinfo=UTC))
        renamed = [ProgrammeSlot("10:00", "Welcome"), ProgrammeSlot("16:00", "Networking")]
        event.event = dataclasses.replace(event.event, programme=renamed)
        store.save_items([(event, "fp")], datetime(2016, 3, 2, tzinfo=UTC))
        assert store.revisions([event.id])[event.id].number == 0  # a slot's title: not when the event is
        event.event = dataclasses.replace(event.event, programme=[*renamed[:1], ProgrammeSlot("17:00", "Networking")])
        store.save_items([(event, "fp")], datetime(2016, 3, 3, tzinfo=UTC))
        assert store.revisions([event.id])[event.id].number == 1  # it ends an hour later
        assert vevent(event_ics(project_from('[sinks.feed]\ntype = "rss"\n'), event)).DTEND == datetime(
            2016, 2, 17, 17, 0, tzinfo=LONDON)
    finally:
        store.close()


@pytest.mark.parametrize(("tzid", "years"), [(zone, (2016, 2018)) for zone in [
    "Europe/London", "America/New_York", "Australia/Sydney", "Europe/Berlin", "Africa/Casablanca", "America/Sao_Paulo",
    "Australia/Lord_Howe", "Europe/Dublin", "Asia/Kathmandu", "Asia/Tokyo"]] + [
    ("America/New_York", (2005, 2012)), ("Europe/Istanbul", (2014, 2019)), ("Asia/Ulaanbaatar", (2014, 2018))])
def test_a_vtimezone_gives_the_zone_databases_offset_at_every_moment(tzid, years):
    """A reader whose app goes by the VTIMEZONE alone (Outlook) gets the offset the zone database has, every hour of
    the years and either side of each change (RFC 5545 3.6.5): onsets in the local time before them (British Summer
    Time began at 01:00), Morocco's extra changes in Ramadan, Brazil's Carnival years, half-hour zones, a zone that
    changed its rule (the US in 2007), zones that ended summer time (each rule's UNTIL)."""
    from datetime import UTC, date, timedelta
    from zoneinfo import ZoneInfo

    from pipeline.calendars import _timezone
    from pipeline.vtimezone import changes

    zone, (first, last) = ZoneInfo(tzid), years
    read = Calendar.from_ical(_timezone(tzid, date(first, 1, 1), date(last, 1, 1)).to_ical()).to_tz(lookup_tzid=False)
    start, end = datetime(first, 1, 1, tzinfo=UTC), datetime(last, 1, 1, tzinfo=UTC)
    found = changes(zone, start, end)
    moments = [start + timedelta(hours=n) for n in range(0, int((end - start).total_seconds()) // 3600)]
    moments += [moment for change in found for moment in (change.at - timedelta(seconds=1), change.at)]
    wrong = [moment for moment in moments if moment.astimezone(read).utcoffset() != moment.astimezone(zone).utcoffset()]
    assert wrong == []
    if years == (2016, 2018):  # (the US's rule changed in 2007; Turkey and Mongolia ended summer time in 2016 and 2017)
        assert len(found) == {"Asia/Kathmandu": 0, "Asia/Tokyo": 0, "Africa/Casablanca": 8}.get(tzid, 4)


def test_a_zones_yearly_changes_are_written_as_the_yearly_rules_outlook_reads():
    """Outlook's desktop app reads a VTIMEZONE's observances as yearly rules; given as RDATE lists (icalendar's
    `from_tzid`) its summer events came an hour off. London's two changes are two RRULEs (`BYDAY=-1SU`), as Google's
    and tzurl.org's calendars write them; a change that keeps no yearly rule (Brazil's end of summer time, moved for
    Carnival) is an observance of its own."""
    from datetime import date

    from pipeline.calendars import _timezone

    london = _timezone("Europe/London", date(2016, 1, 1), date(2019, 1, 1))
    rules = sorted((o.name, o.get("RRULE").to_ical().decode()) for o in london.walk() if o.name != "VTIMEZONE")
    assert rules == [("DAYLIGHT", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"),
                     ("STANDARD", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10")]
    brazil = _timezone("America/Sao_Paulo", date(2016, 1, 1), date(2018, 1, 1)).walk()[1:]
    assert ["RRULE" in o for o in brazil if o.name == "DAYLIGHT"] == [True]  # the third Sunday of October
    # February 2015's change, a week late for Carnival, on its own; 2016's and 2017's, the third Sunday, a rule
    assert [(o.decoded("DTSTART").year, "RRULE" in o) for o in brazil if o.name == "STANDARD"] == [(2015, False),
                                                                                                   (2016, True)]
    assert not any("RDATE" in o for o in brazil)
    # A zone that changed its rule (the US in 2007) has a rule for each run of years that kept one
    new_york = _timezone("America/New_York", date(2007, 1, 1), date(2017, 1, 1)).walk()[1:]
    assert sorted((o.name, str(o["RRULE"].to_ical().decode())) for o in new_york if "RRULE" in o) == [
        ("DAYLIGHT", "FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"), ("STANDARD", "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11")]


def claimed_changes(vtimezone) -> list[tuple[datetime, timedelta, timedelta]]:
    """Every change of offset a VTIMEZONE gives, as icalendar reads it (each RRULE expanded by dateutil from DTSTART
    in the offset before, to UNTIL or, without one, to 2038): (instant in UTC, offset before, offset after)."""
    from dateutil.rrule import rrulestr
    from dateutil.tz import tzoffset

    found = []
    for observance in vtimezone.walk():
        if observance.name not in ("STANDARD", "DAYLIGHT"):
            continue
        before, after = observance.decoded("TZOFFSETFROM"), observance.decoded("TZOFFSETTO")
        start = observance.decoded("DTSTART").replace(tzinfo=tzoffset(None, before))
        onsets = [start]
        if "RRULE" in observance:
            rule = rrulestr(observance["RRULE"].to_ical().decode(), dtstart=start)
            onsets = list(rule.between(start, datetime(2038, 1, 1, tzinfo=UTC), inc=True))
        found += [(onset.astimezone(UTC), before, after) for onset in onsets if before != after]
    return sorted(found)


@pytest.mark.parametrize(("tzid", "years"), [
    ("Europe/Moscow", (2009, 2010)),  # summer time by rule to 2010; in March 2011 Moscow kept it all year
    ("Europe/Moscow", (2010, 2015)),  # and in October 2014 went back to winter time for good
    ("America/Sao_Paulo", (2018, 2019)),  # the last end of summer time, February 2019
    ("Asia/Tehran", (2021, 2022)),  # the last summer time, 2022 (on fixed dates, so no yearly rule)
    ("Europe/Istanbul", (2015, 2016)),  # summer time kept all year from 2016
    ("America/New_York", (2005, 2005)),  # the rule of 1987 to 2006; another from 2007
    ("America/Mexico_City", (2020, 2021)),  # summer time ended in October 2022
    ("Europe/London", (2016, 2018)),  # keeps its rules
])
def test_a_vtimezone_gives_no_change_the_zone_stopped_making(project_from, item_factory, tzid, years):
    """A yearly rule the zone stopped keeping (Moscow after 2010, Brazil after 2019, the US's old rule after 2006)
    ends with an UNTIL in UTC (RFC 5545 3.6.5), wherever the calendar's years end: without one a calendar app
    repeats the change for ever (Moscow back to +03:00 every October from 2011). Every change the VTIMEZONE gives is
    one the zone database makes, at that instant and between those offsets; either side of each change in the
    calendar's years the offset is the zone's; a rule the zone still keeps (London's) goes on with no UNTIL."""
    from pipeline.vtimezone import changes

    zone, (first, last) = ZoneInfo(tzid), years
    project = project_from(f'[pipeline]\nname = "N"\ntimezone = "{tzid}"\n[sinks.feed]\ntype = "rss"\n')
    events = [item_factory(Kind.EVENT, f"Meeting {year}", event=EventDetails(
        start=datetime(year, 6, 5, 10, tzinfo=zone), timezone=tzid, venue="Hall")) for year in (first, last)]
    text = calendar_ics(project, events)
    (vtimezone,) = Calendar.from_ical(text).walk("VTIMEZONE")

    second = timedelta(seconds=1)
    claimed = claimed_changes(vtimezone)
    false = [(at.isoformat(), before, after) for at, before, after in claimed
             if ((at - second).astimezone(zone).utcoffset(), at.astimezone(zone).utcoffset()) != (before, after)]
    assert false == []
    read = vtimezone.to_tz(lookup_tzid=False)
    start, end = datetime(first, 1, 1, tzinfo=UTC), datetime(last + 1, 1, 1, tzinfo=UTC)
    moments = [moment for change in changes(zone, start, end) for moment in (change.at - second, change.at)]
    assert [m for m in moments if m.astimezone(read).utcoffset() != m.astimezone(zone).utcoffset()] == []
    untils = [line for line in text.decode().splitlines() if "UNTIL=" in line]
    assert all(line.split("UNTIL=")[1].split(";")[0].endswith("Z") for line in untils), untils
    if tzid == "Europe/London":
        assert untils == [] and [at.month for at, _, _ in claimed if at.year == 2037] == [3, 10]
