"""What the email shows for each item, worked out once in Python so both templates stay simple.

Every string here is plain text: the templates escape it (HTML) or print it as it is (text).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pipeline.edition import SECTION_TITLES, Edition
from pipeline.models import EventDetails, Item, JobDetails, Kind
from pipeline.sanitize import plain_text, safe_url
from pipeline.templating import money

EXCERPT_CHARS = 300  # keeps a 40-item issue well under Gmail's 102 KB clipping limit
SUBJECT_CHARS = 200
PROGRAMME_SHORT = 8  # programmes this long or shorter are shown whole
PROGRAMME_SHOWN = 6  # otherwise the first few slots, then "and N more"
_BLOCK_TAG = re.compile(r"<(/?)(p|br|li|h[1-6]|div|tr|td|th|blockquote|dd|dt|figcaption)\b", re.I)
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


@dataclass
class ItemView:
    title: str
    url: str
    byline: str
    excerpt: str
    themes: list[str] = field(default_factory=list)
    job: JobView | None = None
    event: EventView | None = None


@dataclass
class SectionView:
    kind: str
    title: str
    items: list[ItemView]


def one_line(text: str) -> str:
    """Plain text on one line: every run of white space (CR and LF included) becomes one space."""
    folded = " ".join((text or "").split())
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cc")


def subject_line(title: str) -> str:
    """A header-safe subject: one line, no control characters, not absurdly long."""
    return shorten(one_line(title), SUBJECT_CHARS)


def shorten(text: str, limit: int) -> str:
    """Cut `text` at a word boundary to at most `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–") + "…"


def excerpt(item: Item) -> str:
    """The item's summary, or the start of its body as plain text; never the whole body."""
    text = item.summary.strip()
    if not text and item.body_html:
        # Blocks run together when tags are stripped ("One.Two."), so space them first.
        text = plain_text(_BLOCK_TAG.sub(r" <\1\2", item.body_html))
    return shorten(one_line(text), EXCERPT_CHARS)


def sections(edition: Edition, tz: ZoneInfo) -> list[SectionView]:
    """Non-empty sections in newsletter order (posts, news, jobs, events)."""
    return [SectionView(kind.value, SECTION_TITLES[kind], [item_view(i, tz) for i in edition.sections[kind]])
            for kind in Kind if edition.sections.get(kind)]


def intro(edition: Edition) -> str:
    """'In this issue: 3 blog posts, 1 partner news item, 2 jobs and 4 events.'"""
    nouns = {Kind.POST: ("blog post", "blog posts"), Kind.NEWS: ("partner news item", "partner news items"),
             Kind.JOB: ("job", "jobs"), Kind.EVENT: ("event", "events")}
    parts = []
    for kind in Kind:
        count = len(edition.sections.get(kind, []))
        if count:
            parts.append(f"{count} {nouns[kind][0] if count == 1 else nouns[kind][1]}")
    if not parts:
        return "Nothing new this time."
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"In this issue: {listed}."


def item_view(item: Item, tz: ZoneInfo) -> ItemView:
    published = item.published.astimezone(tz).strftime("%-d %B %Y")
    byline = " · ".join(p for p in (one_line(item.author or item.source), published) if p)
    return ItemView(
        title=one_line(item.title),
        url=safe_url(item.url),
        byline=byline,
        excerpt=excerpt(item),
        themes=[one_line(t) for t in item.themes if one_line(t)],
        job=job_view(item.job) if item.job else None,
        event=event_view(item.event, tz) if item.event else None,
    )


def job_view(job: JobDetails) -> JobView:
    return JobView(
        organisation=one_line(job.organisation),
        closing=job.closing_date.strftime(DAY) if job.closing_date else "",
        where=one_line(job.location),
        terms=" · ".join(one_line(p) for p in (job.hours, job.contract) if p.strip()),
        salary=one_line(job.salary),
        how_to_apply=one_line(job.how_to_apply),
    )


def event_view(event: EventDetails, tz: ZoneInfo) -> EventView:
    slots = event.programme
    shown = slots if len(slots) <= PROGRAMME_SHORT else slots[:PROGRAMME_SHOWN]
    programme = []
    for slot in shown:
        line = f"{one_line(slot.time)} {one_line(slot.title)}".strip()
        if slot.speakers:
            line += f" ({', '.join(one_line(s) for s in slot.speakers)})"
        programme.append(line)
    return EventView(
        when=event_when(event.start, event.end, tz),
        venue=one_line(event.venue),
        speakers=", ".join(one_line(s) for s in event.speakers),
        programme=programme,
        programme_more=len(slots) - len(shown),
        prices=[PriceView(one_line(p.label), money(p), one_line(p.note)) for p in event.prices],
        booking_url=safe_url(event.booking_url),
    )


def event_when(start: datetime, end: datetime | None, tz: ZoneInfo) -> str:
    """'Tuesday 2 February 2016, 09:30–17:00 GMT', in the project's time zone."""
    start = start.astimezone(tz)
    if end is None:
        return start.strftime(f"{DAY}, %H:%M %Z")
    end = end.astimezone(tz)
    if end.date() == start.date():
        if start.tzname() == end.tzname():
            return f"{start.strftime(DAY)}, {start:%H:%M}–{end:%H:%M} {end:%Z}"
        return f"{start.strftime(DAY)}, {start:%H:%M %Z}–{end:%H:%M %Z}"
    return f"{start.strftime(DAY)}, {start:%H:%M %Z} to {end.strftime(DAY)}, {end:%H:%M %Z}"
