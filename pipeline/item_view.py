"""What each item shows, worked out once in Python so every template stays simple: the email, its
text part and the site's pages all read these views.

Every string here is plain text: a template escapes it (HTML) or prints it as it is (text). In the
email every field is cut (`whole=False`) so one enormous field cannot push an issue over Gmail's
clipping limit; the site shows them whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pipeline.changes import Change, as_told
from pipeline.edition import Edition
from pipeline.models import EventDetails, Item, JobDetails, Kind, ProgrammeSlot, zone_named
from pipeline.sanitize import one_line, plain_text, safe_url
from pipeline.templating import money

EXCERPT_CHARS = 300  # an excerpt, never the whole body: the email must stay under Gmail's clipping limit
# The email cuts every other field too (a 140 KB "how to apply" must not push the other items out of
# it); `whole=True` (the site) shows them whole.
TITLE_CHARS = 200
FIELD_CHARS = 200  # organisation, location, hours, salary, venue, a theme, a price's label...
HOW_TO_APPLY_CHARS = 600
SPEAKERS_CHARS = 600
PROGRAMME_LINE_CHARS = 300
THEMES_SHOWN = 30
PROGRAMME_SHORT = 16  # in the email, programmes this long or shorter are shown whole (a day seminar has ~12 slots)
PROGRAMME_SHOWN = 12  # longer ones: the first slots, then "and N more"; the web version shows every slot
# Where a block's tag starts: a space goes before it (a plain replacement, which `re` makes without a template)
_BLOCK_TAG = re.compile(r"<(?=/?(?:p|br|li|h[1-6]|div|tr|td|th|blockquote|dd|dt|figcaption)\b)", re.I)
DAY = "%A %-d %B %Y"


@dataclass
class JobView:
    organisation: str
    closing: str
    where: str
    terms: str  # hours and contract
    salary: str
    how_to_apply: str


@dataclass
class PriceView:
    label: str
    amount: str
    note: str


@dataclass
class EventView:
    when: str
    venue: str
    speakers: str
    programme: list[str]
    programme_more: int
    prices: list[PriceView]
    booking_url: str
    more_url: str = ""  # where the programme is shown whole, when this shows `programme_more` fewer (the email)


@dataclass
class AlsoView:
    """'Also announced by Open Dialogue UK: We are hiring…': an item merged onto this one (pipeline/duplicates.py)."""

    by: str
    title: str
    url: str


@dataclass
class ItemView:
    title: str
    url: str
    byline: str
    excerpt: str
    themes: list[str] = field(default_factory=list)
    job: JobView | None = None
    event: EventView | None = None
    also: list[AlsoView] = field(default_factory=list)
    calendar_url: str = ""  # an event's .ics on the site, when the project publishes the site
    image: str = ""  # the lead image (http or https), shown above the text
    image_alt: str = ""
    language: str = ""  # the item's language when another than the site's (`site.other_language`): its `lang`


def shorten(text: str, limit: int) -> str:
    """Cut `text` at a word boundary to at most `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–") + "…"


def fit(text: str, limit: int, whole: bool = False) -> str:
    """`text` on one line, without control characters; cut to `limit` characters unless `whole`."""
    line = one_line(text)
    return line if whole else shorten(line, limit)


def link(url: str) -> str:
    """`safe_url(url)`, with any control or other unprintable character percent-encoded as a browser
    would: MRML rejects the whole template if one reaches it raw."""
    return "".join(ch if ch.isprintable() else quote(ch, errors="ignore") for ch in safe_url(url))


def excerpt(item: Item) -> str:
    """The item's summary, or the start of its body as plain text; never the whole body."""
    text = item.summary.strip()
    if not text and item.body_html:
        text = _opening_text(item.body_html)
    return shorten(one_line(text), EXCERPT_CHARS)


def _opening_text(body_html: str) -> str:
    """The plain text of the start of a sanitised body, enough of it that `shorten` cuts it where it would cut the
    whole body's: read from its first 16 × EXCERPT_CHARS characters (to the end of the last tag in them), then four
    times as many until that gives more text than the excerpt takes, so that a body of megabytes is not read whole,
    in every sink, for 300 characters. (The body is nh3's: the text of its start is the start of its text.)"""
    size = 16 * EXCERPT_CHARS
    while True:
        head = body_html if size >= len(body_html) else body_html[:_cut_before(body_html, size)]
        # Blocks run together when tags are stripped ("One.Two."), so space them first.
        text = plain_text(_BLOCK_TAG.sub(" <", head))
        if head is body_html or len(one_line(text)) > EXCERPT_CHARS + 64:
            return text
        size *= 4


def _cut_before(html: str, size: int) -> int:
    """Where to cut `html` at or before `size` characters so that no tag or entity is cut (half of one, in a table,
    would be read as text and moved before the table): before a tag that runs past it, else at the last space of
    the text, else after the last tag."""
    tag_end = html.rfind(">", 0, size)
    tag_start = html.rfind("<", 0, size)
    if tag_start > tag_end:
        return tag_start
    return max(html.rfind(" ", tag_end + 1, size), tag_end + 1)


@dataclass
class ChangeView:
    """'Seminar 4: now Thursday 23 June 2016, 14:00–16:00 BST, not 13:30–16:00 BST': a job or event an earlier issue
    sent that changed since (`pipeline/changes.py`)."""

    title: str
    url: str
    what: str  # what changed, old and new
    language: str = ""


def changes_title(changes: list[Change]) -> str:
    """'Changed since issue 3', the earliest issue whose word `changes` puts right; '' for no change."""
    return f"Changed since issue {min(change.since for change in changes)}" if changes else ""


def change_view(change: Change, tz: ZoneInfo, *, whole: bool = False, url: str | None = None,
                language: str = "") -> ChangeView:
    item = change.item
    return ChangeView(fit(item.title, TITLE_CHARS, whole), link(item.url if url is None else url),
                      change_what(change, tz), language)


def change_what(change: Change, tz: ZoneInfo) -> str:
    """What changed, the new value first: 'cancelled'; 'now closes Sunday 15 May 2016, not Saturday 30 April 2016';
    'now Thursday 23 June 2016, 14:00–16:00 BST, not 13:30–16:00 BST; now at Leeds Civic Hall, not Leeds Beckett'."""
    job = change.item.kind is Kind.JOB
    if change.cancelled:
        return "withdrawn" if job else "cancelled"
    now = as_told(change.item, change.now)
    if job:
        closing = now.job.closing_date if now.job else None
        if change.back:
            return f"open again: closes {closing.strftime(DAY)}" if closing else "open again"
        was = as_told(change.item, change.was).job
        before = was.closing_date if was else None
        if closing is None:
            return f"now has no closing date, not {before.strftime(DAY)}" if before else "closing date changed"
        return f"now closes {closing.strftime(DAY)}" + (f", not {before.strftime(DAY)}" if before else "")
    event = now.event
    if change.back:
        return f"on again: {event_when(event, tz)}" if event else "on again"
    was = as_told(change.item, change.was).event
    if event is None or was is None:
        return f"now {event_when(event, tz)}" if event else "date and time to be announced"
    parts = []
    new_when, old_when = event_when(event, tz), event_when(was, tz)
    if new_when != old_when:
        day, _, rest = old_when.partition(", ")
        same_day = rest and new_when.startswith(f"{day}, ")
        parts.append(f"now {new_when}, not {rest if same_day else old_when}")
    new_venue, old_venue = fit(one_line(event.venue), FIELD_CHARS), fit(one_line(was.venue), FIELD_CHARS)
    if new_venue.casefold() != old_venue.casefold():  # the same place typed again in capitals is no move
        parts.append(f"now at {new_venue}, not {old_venue}" if new_venue and old_venue
                     else f"now at {new_venue}" if new_venue else f"venue to be announced, not {old_venue}")
    return "; ".join(parts)  # "" when nothing shown changed (the zone named another way, the same times)


def intro(edition: Edition) -> str:
    """'In this issue: 3 blog posts, 1 partner news item, 2 jobs and 4 events.'"""
    return intro_of({kind: len(items) for kind, items in edition.sections.items()})


def intro_of(counts: dict[Kind, int]) -> str:
    """`intro` from how many items of each kind an issue holds."""
    nouns = {Kind.POST: ("blog post", "blog posts"), Kind.NEWS: ("partner news item", "partner news items"),
             Kind.JOB: ("job", "jobs"), Kind.EVENT: ("event", "events")}
    parts = []
    for kind in Kind:
        count = counts.get(kind, 0)
        if count:
            parts.append(f"{count} {nouns[kind][0] if count == 1 else nouns[kind][1]}")
    if not parts:
        return "Nothing new this time."
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"In this issue: {listed}."


def item_view(item: Item, tz: ZoneInfo, *, whole: bool = False, calendar_url: str = "",
              url: str | None = None, also_url: Callable[[dict[str, str]], str] | None = None,
              language: str = "") -> ItemView:
    """`whole` (the site): every field and an event's whole programme, however long. `url`: where the
    title links, when not the item's own URL (`site.item_link`); `also_url(entry)`: where each announcement merged
    into it links, when not its own URL (`site.also_link`); `language`: the item's, when another than the site's
    (`site.other_language`), for the `lang` of its title and text."""
    themes = [theme for t in item.themes if (theme := fit(t, FIELD_CHARS, whole))]
    return ItemView(
        title=fit(item.title, TITLE_CHARS, whole),
        url=link(item.url if url is None else url),
        byline=byline(item, tz, whole=whole),
        excerpt=excerpt(item),
        themes=themes if whole else themes[:THEMES_SHOWN],
        job=job_view(item.job, whole=whole) if item.job else None,
        event=event_view(item.event, tz, whole=whole) if item.event else None,
        also=[also_view(entry, whole=whole, url=also_url(entry) if also_url else None)
              for entry in item.also_announced],
        calendar_url=link(calendar_url) if item.event else "",
        image=item.image if item.image.startswith(("https://", "http://")) else "",
        image_alt=fit(item.image_alt, FIELD_CHARS, whole),
        language=language,
    )


def also_view(entry: dict[str, str], *, whole: bool = False, url: str | None = None) -> AlsoView:
    return AlsoView(by=fit(entry.get("by", ""), FIELD_CHARS, whole) or "another source",
                    title=fit(entry.get("title", ""), TITLE_CHARS, whole) or "(untitled)",
                    url=link(entry.get("url", "") if url is None else url))


def byline(item: Item, tz: ZoneInfo, *, whole: bool = False) -> str:
    """'Pamela Fisher · 15 January 2016', or 'Posted 12 January 2016' when no author is known.

    Never the source's name: that is a key in pipeline.toml, not something a reader knows.
    """
    published = item.published.astimezone(tz).strftime("%-d %B %Y")
    author = fit(item.author, FIELD_CHARS, whole)
    return f"{author} · {published}" if author else f"Posted {published}"


def job_view(job: JobDetails, *, whole: bool = False) -> JobView:
    return JobView(
        organisation=fit(job.organisation, FIELD_CHARS, whole),
        closing=job.closing_date.strftime(DAY) if job.closing_date else "",
        where=fit(job.location, FIELD_CHARS, whole),
        terms=" · ".join(t for t in (fit(job.hours, FIELD_CHARS, whole), fit(job.contract, FIELD_CHARS, whole)) if t),
        salary=fit(job.salary, FIELD_CHARS, whole),
        how_to_apply=fit(job.how_to_apply, HOW_TO_APPLY_CHARS, whole),
    )


def event_view(event: EventDetails, tz: ZoneInfo, *, whole: bool = False) -> EventView:
    """`tz`: the project's zone, for events that do not name their own."""
    slots = event.programme
    shown = slots if whole or len(slots) <= PROGRAMME_SHORT else slots[:PROGRAMME_SHOWN]
    return EventView(
        when=event_when(event, tz),
        venue=fit(event.venue, FIELD_CHARS, whole),
        speakers=fit(", ".join(s for s in map(one_line, event.speakers) if s), SPEAKERS_CHARS, whole),
        programme=[fit(slot_line(slot), PROGRAMME_LINE_CHARS, whole) for slot in shown],
        programme_more=len(slots) - len(shown),
        prices=[PriceView(fit(p.label, FIELD_CHARS, whole), fit(money(p), FIELD_CHARS, whole),
                          fit(p.note, FIELD_CHARS, whole)) for p in event.prices],
        booking_url=link(event.booking_url),
    )


def slot_line(slot: ProgrammeSlot) -> str:
    """'10:00 Opening — John Walsh, Leeds Community Healthcare; Pamela Fisher, University of Leeds'.

    Speakers are separated by semicolons: a speaker often comes with an affiliation after a comma.
    """
    line = f"{one_line(slot.time)} {one_line(slot.title)}".strip()
    if slot.speakers:
        line += " — " + "; ".join(one_line(s) for s in slot.speakers)
    return line


def venue_zone(event: EventDetails, default: ZoneInfo) -> ZoneInfo:
    """The event's own time zone, or `default` (the project's) when it has none or an unknown one."""
    return zone_named(event.timezone) or default


def event_when(event: EventDetails, default_tz: ZoneInfo) -> str:
    """When the event is, in the venue's own time: 'Tuesday 2 February 2016, 09:30–17:00 GMT',
    'Wednesday 17 February 2016, from 09:30 GMT'; an all-day event by its dates only."""
    tz = venue_zone(event, default_tz)
    start = event.start.astimezone(tz)
    end = event.end.astimezone(tz) if event.end else None
    if event.all_day:
        return day_span(start.date(), max(end.date(), start.date()) if end else start.date())
    if end is None:
        return f"{start.strftime(DAY)}, from {start:%H:%M %Z}"
    if end.date() == start.date():
        if start.tzname() == end.tzname():
            return f"{start.strftime(DAY)}, {start:%H:%M}–{end:%H:%M} {end:%Z}"
        return f"{start.strftime(DAY)}, {start:%H:%M %Z}–{end:%H:%M %Z}"
    return f"{start.strftime(DAY)}, {start:%H:%M %Z} to {end.strftime(DAY)}, {end:%H:%M %Z}"


def day_span(first: date, last: date) -> str:
    """'Tuesday 2 February 2016', or 'Tue 2 – Thu 4 February 2016' for several days."""
    if first == last:
        return first.strftime(DAY)
    if (first.year, first.month) == (last.year, last.month):
        head = "%a %-d"
    elif first.year == last.year:
        head = "%a %-d %B"
    else:
        head = "%a %-d %B %Y"
    return f"{first.strftime(head)} – {last.strftime('%a %-d %B %Y')}"
