"""Events as iCalendar files (RFC 5545, written with the `icalendar` library): one `.ics` per event and one
subscribable calendar of every event. The site's sink calls `event_ics` and `calendar_ics` and writes
the files where `pipeline/site.py` puts them.

What each file holds:

- A VEVENT per event: UID `<item id>@<site host>`, then `/<path>` for a site_url with a path (stable, so a
  calendar that imported the event updates it instead of adding a copy; an event under a new id, its id corrected,
  keeps the UID it had: `Stored.uid_of`); DTSTAMP and LAST-MODIFIED when what
  this entry shows of the stored item last changed, and SEQUENCE how many significant revisions it has had, a
  new time or place (its `Revision`, kept by the state database: schema.py, `REVISION_TRIGGERS`): RFC 5545
  3.8.7.2 to 3.8.7.4 and RFC 5546 2.1.4. An app that reads the file again keeps the copy with the higher
  SEQUENCE, and of two with one SEQUENCE the later DTSTAMP (RFC 5546 2.1.5), so it takes a changed time, place or price
  over what it kept. All three come from the store, not the clock: an unchanged event gives the same
  bytes (so does a change of what the entry does not show: its themes, its author), and the site can
  leave its file alone. An item given no revision (never stored) has its publication time and
  SEQUENCE 0. ORGANIZER is the newsletter's sender (a project with an email sink; RFC 5546 3.2.1 asks a
  PUBLISH for one). Then SUMMARY, LOCATION, DESCRIPTION (the summary, speakers, prices, programme and booking
  link, as plain text) and URL (the event's page on the site, as the archive assigns it).
- Every address (URL, SOURCE, those in the text) in ASCII, as a browser sends it (a URI, RFC 5545 3.3.13: a host
  outside ASCII in its IDNA form, a path %-escaped, a space too: `site.uri`, as the feeds write them).
- Times in the venue's own zone (`EventDetails.timezone`, else the project's): `DTSTART;TZID=Europe/London`
  with the matching VTIMEZONE built from the zone database (GMT in February, BST in June:
  `pipeline/vtimezone.py`). An event with no end time ends when its programme's last slot begins (the
  seminar's 16:00 networking), or, without a programme, has no DTEND (RFC 5545: it ends when it starts), as
  has one whose end is not after its start (DTEND MUST be later).
- An event the organisers withdrew keeps its own .ics, with STATUS:CANCELLED (`event_ics(cancelled=True)`): the
  withdrawal counts a revision, so its SEQUENCE is higher than that of any copy an app imported.
- An all-day event (a notice with dates but no times) as VALUE=DATE, DTEND the day after its last
  day (DTEND is exclusive), with no time zone at all: it is that day wherever the reader is.

Every text goes through icalendar's escaping (commas, semicolons, backslashes, line breaks) and line
folding; control characters are removed first, and single-line fields (title, venue) are folded to
one line, so no text can end a property and start another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from icalendar import Calendar, Event, Timezone, vCalAddress, vText

from pipeline import site
from pipeline.config import Project
from pipeline.item_view import slot_line, venue_zone
from pipeline.models import EventDetails, Item
from pipeline.sanitize import html_to_text, one_line, safe_url, strip_controls
from pipeline.state import Revision
from pipeline.templating import money

PRODID = "-//newsletter-pipeline//events//EN"
# How often a subscribed calendar app should fetch the calendar again (RFC 7986 REFRESH-INTERVAL, and
# Outlook's X-PUBLISHED-TTL): events are announced weeks ahead, and the site is a static file.
REFRESH = timedelta(hours=12)
_SLOT_TIME = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


@dataclass(frozen=True)
class Stored:
    """What the calendar takes from the site and the store about an event besides the item itself: its page
    (a site path: the archive's, which is not the page its own URL names when an older item has that one),
    its revision, and the id whose UID it keeps."""

    page: str
    revision: Revision | None = None
    uid_of: str = ""  # the id whose UID it keeps (an event under a new id, its id corrected), '' for its own


# Where the item is not in the mapping given: the page `site.item_path` names, and no revision.
StoredEvents = Mapping[str, Stored]


def event_ics(project: Project, item: Item, stored: Stored | None = None, *, cancelled: bool = False) -> bytes:
    """One event as a calendar file (`site.event_calendar_path`): a VCALENDAR with its VEVENT. With `cancelled`,
    the event the organisers withdrew: STATUS:CANCELLED (RFC 5545 3.8.1.11), its revision (`stored`) counted on by
    the withdrawal, so an app that imported it from this address and reads it again marks it cancelled."""
    calendar = _calendar(item.title or "Event")
    _add_events(project, calendar, [item], {item.id: stored} if stored else {})
    if cancelled:
        for event in calendar.walk("VEVENT"):
            event.add("STATUS", "CANCELLED")
            event["DESCRIPTION"] = vText(f"Withdrawn by the organisers.\n\n{event['DESCRIPTION']}")
    return calendar.to_ical()


def calendar_ics(project: Project, events: Iterable[Item], stored: StoredEvents | None = None) -> bytes:
    """Every event in `events` (past ones too; items that are not events are left out) as one subscribable
    calendar (`site.CALENDAR`), in the order they start; `stored` gives each one's page and revision."""
    name = project.core.name
    calendar = _calendar(f"{name}: events")
    calendar.add("DESCRIPTION", vText(f"Conferences, seminars and other events from {name}"))
    calendar.add("X-WR-CALDESC", vText(f"Conferences, seminars and other events from {name}"))
    calendar.add("URL", site.uri(site.url(project, site.EVENTS)), parameters={"VALUE": "URI"})
    calendar.add("SOURCE", site.uri(site.url(project, site.CALENDAR)), parameters={"VALUE": "URI"})
    calendar.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", "PT12H")
    items = sorted((i for i in events if i.event is not None), key=lambda i: (i.event.start, i.id))
    _add_events(project, calendar, items, stored or {})
    return calendar.to_ical()


def uid(project: Project, item: Item, of: str = "") -> str:
    """'3f2a…@network.example.org': the item's stable id (or `of`, the id of the event it is under a new id) at the
    site's host, and the site's path when it has one ('3f2a…@uni.example.ac.uk/coproduction'), so that two networks
    published on one host never share a UID (RFC 5545 3.8.4.7: globally unique)."""
    parts = urlsplit(project.core.site_url)
    path = parts.path.strip("/")
    return f"{of or item.id}@{parts.hostname or 'localhost'}" + (f"/{path}" if path else "")


# ---- building ----------------------------------------------------------------------------------

def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("NAME", vText(one_line(name)))
    calendar.add("X-WR-CALNAME", vText(one_line(name)))
    return calendar


def _add_events(project: Project, calendar: Calendar, items: list[Item], stored: StoredEvents) -> None:
    """VTIMEZONEs first (a reader meets each zone before the times that use it), then the events."""
    events = [_vevent(project, item, stored.get(item.id)) for item in items if item.event is not None]
    days = [d for item in items if item.event is not None for d in _days(project, item.event)]
    zones = sorted({tzid for event in events for tzid in _tzids(event)})
    if not events:  # RFC 5545 wants at least one component: an empty calendar still says its zone
        zones = [project.core.timezone]
    first = date(min(days).year, 1, 1) if days else date(1970, 1, 1)
    last = date(max(days).year + 1, 1, 1) if days else date(2038, 1, 1)
    for zone in zones:
        calendar.add_component(_timezone(zone, first, last))
    for event in events:
        calendar.add_component(event)


def _vevent(project: Project, item: Item, stored: Stored | None) -> Event:
    details = item.event
    assert details is not None
    page = stored.page if stored else site.item_path(project, item)
    revision = stored.revision if stored else None
    event = Event()
    event.add("UID", uid(project, item, stored.uid_of if stored else ""))
    if revision is not None:
        event.DTSTAMP = revision.updated
        event.LAST_MODIFIED = revision.updated
        event.sequence = revision.number
    else:
        event.DTSTAMP = item.published
        event.sequence = 0
    start, end = _span(project, details)
    event.add("DTSTART", start)
    if end is not None:
        event.add("DTEND", end)
    event.add("SUMMARY", vText(one_line(item.title) or "(untitled)"))
    if one_line(details.venue):
        event.add("LOCATION", vText(one_line(details.venue)))
    event.add("DESCRIPTION", vText(description(project, item, page)))
    event.add("URL", site.uri(site.url(project, page)), parameters={"VALUE": "URI"})
    if organizer := site.organizer(project):  # RFC 5546 3.2.1: a PUBLISH names its ORGANIZER
        address, name = organizer
        event.add("ORGANIZER", vCalAddress(f"mailto:{address}"), parameters={"CN": one_line(name)} if name else {})
    return event


def _span(project: Project, details: EventDetails) -> tuple[date | datetime, date | datetime | None]:
    """DTSTART and DTEND: dates for an all-day event (DTEND the day after the last), else times in
    the venue's zone; an end the notice does not give is the start of the programme's last slot."""
    zone = venue_zone(details, project.tz)
    start = details.start.astimezone(zone)
    if details.all_day:
        last = details.end.astimezone(zone).date() if details.end else start.date()
        return start.date(), max(last, start.date()) + timedelta(days=1)
    if details.end is not None:  # an end not after the start is none: DTEND MUST be later (RFC 5545 3.8.2.2)
        end = details.end.astimezone(zone)
        return start, end if end > start else None
    return start, _programme_end(details, start)


def _programme_end(details: EventDetails, start: datetime) -> datetime | None:
    """When the last slot of the programme begins, on the day the event starts, if that is after the start."""
    times = []
    for slot in details.programme:
        match = _SLOT_TIME.match(slot.time)
        if match and int(match[1]) < 24 and int(match[2]) < 60:
            times.append(time(int(match[1]), int(match[2])))
    if not times:
        return None
    end = datetime.combine(start.date(), max(times), tzinfo=start.tzinfo)
    return end if end > start else None


def _days(project: Project, details: EventDetails) -> list[date]:
    zone = venue_zone(details, project.tz)
    days = [details.start.astimezone(zone).date()]
    if details.end is not None:
        days.append(details.end.astimezone(zone).date())
    return days


def _tzids(event: Event) -> set[str]:
    """The TZIDs an event's times use (none for UTC or dates)."""
    found = set()
    for name in ("DTSTART", "DTEND"):
        value = event.get(name)
        if value is not None and value.params.get("TZID"):
            found.add(str(value.params["TZID"]))
    return found - {"UTC"}


@lru_cache(maxsize=64)
def _timezone(tzid: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE of `tzid` for times from `first` to `last` (`pipeline/vtimezone.py`; building one takes a few
    milliseconds, so each is made once: they are only ever serialised, never changed)."""
    from pipeline.vtimezone import vtimezone

    return vtimezone(tzid, first, last)


# ---- text --------------------------------------------------------------------------------------

def description(project: Project, item: Item, page: str | None = None) -> str:
    """The event in plain text: summary (or the body's first paragraph), speakers, prices, programme,
    booking link; one fact a line, no control characters (icalendar escapes the line breaks)."""
    details = item.event
    lines: list[str] = []
    lead = one_line(item.summary) or next(iter(html_to_text(item.body_html).splitlines()), "")
    if lead:
        lines += [one_line(lead), ""]
    if details is not None:
        if details.speakers:
            lines.append("Speakers: " + ", ".join(one_line(s) for s in details.speakers))
        if details.prices:
            lines.append("Prices: " + "; ".join(
                one_line(f"{p.label} {money(p)}" + (f" ({p.note})" if p.note else "")) for p in details.prices))
        if details.programme:
            lines.append("Programme:")
            lines.extend(slot_line(slot) for slot in details.programme)
        booking = site.uri(safe_url(details.booking_url))
        if booking:
            lines.append(f"Book a place: {booking}")
    lines.append(f"More: {site.uri(site.url(project, page if page is not None else site.item_path(project, item)))}")
    return strip_controls("\n".join(lines).strip()).replace("\r", "")
