"""The `rss` sink: an RSS 2.0 feed (out_dir/feed.xml) of the newest items, of every kind.

The feed is built with ElementTree, so titles and HTML descriptions are always escaped as
text. It follows the W3C feed validator's rules: every URL absolute, RFC 822 dates, an
`atom:link rel="self"`, a guid that is a permalink only when it is a URL, authors as
`dc:creator` (RSS's own `<author>` must be an email address).

A news item or blog post announcing a job or event that is also in the feed is shown once, on that
job or event (`pipeline/duplicates.py`): the feed's items are chosen from the newest 2 × `limit`,
a job or event as recent as the newest item merged onto it, and then listed by their own dates.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from pydantic import Field

from pipeline import __version__, components, hookimpl
from pipeline.components import Sink, SinkResult
from pipeline.config import Project
from pipeline.duplicates import merge_duplicates
from pipeline.edition import Edition
from pipeline.files import write_atomic
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.sanitize import clean_html, one_line, safe_url
from pipeline.site import archive_url, edition_url, feed_path, feed_url
from pipeline.templating import money
from plugins.sinks.email.view import event_when, slot_line

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
# Characters XML 1.0 cannot hold at all, not even as &#...; references: C0 controls other than tab,
# line feed and carriage return, U+FFFE, U+FFFF and lone surrogates. One would make feed.xml unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class RssSink(Sink):
    """Writes the site's RSS feed on every run, a refresh included."""

    name = "rss"
    description = "RSS 2.0 feed of the newest items (out_dir/feed.xml)"

    class Settings(components.Settings):
        limit: int = Field(default=50, ge=1, le=1000)
        title: str | None = None  # default: the network's name
        description: str | None = None  # default: the network's description

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        items = feed_items(run.store.recent_items(until=run.moment, limit=2 * self.settings.limit),
                           self.settings.limit)
        pages = _edition_pages(run)
        root = build_feed(self.project, items, run.moment, pages,
                          title=self.settings.title, description=self.settings.description)
        path = feed_path(self.project)
        write_atomic(path, feed_bytes(root))
        return SinkResult(f"{len(items)} item{'s' if len(items) != 1 else ''} in {path.name}", [str(path)])


def feed_items(recent: list[Item], limit: int) -> list[Item]:
    """The feed's `limit` items out of `recent` (newest first), each job or event shown once with
    what announced it: the most recently active first, then listed newest first by their own dates."""
    merged = merge_duplicates(recent)
    latest = {item.id: item.published for item in merged.items}
    for item in merged.merged:
        into = merged.into[item.id]
        latest[into] = max(latest[into], item.published)
    chosen = sorted(merged.items, key=lambda i: latest[i.id], reverse=True)[:limit]
    return sorted(chosen, key=lambda i: i.published, reverse=True)


def build_feed(project: Project, items: list[Item], moment: datetime, pages: dict[str, str] | None = None,
               *, title: str | None = None, description: str | None = None) -> ET.Element:
    """The `<rss>` element for `items` (newest first); `pages` maps item ids to their issue page."""
    core = project.core
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _text(channel, "title", title or core.name)
    _text(channel, "link", core.site_url + "/")
    _text(channel, "description", description or core.description or f"News, jobs and events from {core.name}")
    _text(channel, "language", core.language)
    built = max((i.published for i in items), default=moment)
    _text(channel, "lastBuildDate", rfc822(built))
    _text(channel, "generator", f"newsletter-pipeline {__version__}")
    _element(channel, f"{{{ATOM}}}link", href=feed_url(project), rel="self", type="application/rss+xml")
    guids: set[str] = set()
    for item in items:
        channel.append(_item(project, item, (pages or {}).get(item.id, archive_url(project)), guids))
    return rss


def _item(project: Project, item: Item, fallback_link: str, guids: set[str]) -> ET.Element:
    element = ET.Element("item")
    _text(element, "title", item.title or "(untitled)")
    url = safe_url(item.url, project.core.site_url + "/") if item.url else ""
    _text(element, "link", url or fallback_link)
    permalink = bool(url) and url not in guids
    guid = url if permalink else item.id
    guids.add(guid)
    _element(element, "guid", guid, isPermaLink="true" if permalink else "false")
    _text(element, "pubDate", rfc822(item.published))
    _text(element, "description", describe(project, item, url))
    for theme in item.themes:
        _text(element, "category", theme)
    if item.author:
        _text(element, f"{{{DC}}}creator", item.author)
    return element


def describe(project: Project, item: Item, base_url: str = "") -> str:
    """The item's HTML description: job or event details (with the programme), the summary, then the body."""
    parts: list[str] = []
    details = _job_lines(project, item) or _event_lines(project, item)
    lines = [html.escape(line) for line in details]
    booking = safe_url(item.event.booking_url) if item.event else ""
    if booking:
        lines.append(f'<a href="{html.escape(booking)}">Book a place</a>')
    if lines:
        parts.append("<p>" + "<br>".join(lines) + "</p>")
    if item.event and item.event.programme:
        parts.append("<p><strong>Programme</strong><br>"
                     + "<br>".join(html.escape(slot_line(slot)) for slot in item.event.programme) + "</p>")
    if item.summary:
        parts.append(f"<p>{html.escape(item.summary)}</p>")
    body = clean_html(item.body_html, base_url or project.core.site_url + "/")
    if body:
        parts.append(body)
    for also in item.also_announced:
        parts.append(f"<p>{also_announced_html(also)}</p>")
    return "\n".join(parts) or f"<p>{html.escape(item.title)}</p>"


def also_announced_html(also: dict[str, str]) -> str:
    """'Also announced by Open Dialogue UK: <a href="…">We are hiring: …</a>'."""
    by = html.escape(one_line(also.get("by", "")) or "another source")
    title = html.escape(one_line(also.get("title", "")) or "(untitled)")
    url = safe_url(also.get("url", ""))
    return f'Also announced by {by}: ' + (f'<a href="{html.escape(url)}">{title}</a>' if url else title)


def _job_lines(project: Project, item: Item) -> list[str]:
    job = item.job
    if job is None:
        return []
    lines = [f"Organisation: {job.organisation}"]
    for label, value in (("Location", job.location), ("Hours", job.hours), ("Contract", job.contract),
                         ("Salary", job.salary)):
        if value:
            lines.append(f"{label}: {value}")
    if job.closing_date:
        lines.append(f"Closing date: {job.closing_date.strftime('%-d %B %Y')}")
    if job.how_to_apply:
        lines.append(f"How to apply: {job.how_to_apply}")
    return lines


def _event_lines(project: Project, item: Item) -> list[str]:
    event = item.event
    if event is None:
        return []
    lines = [f"Date: {event_when(event, project.tz)}"]  # in the venue's time zone
    if event.venue:
        lines.append(f"Venue: {event.venue}")
    if event.speakers:
        lines.append(f"Speakers: {', '.join(event.speakers)}")
    if event.prices:
        lines.append("Prices: " + "; ".join(f"{p.label} {money(p)}" + (f" ({p.note})" if p.note else "")
                                            for p in event.prices))
    return lines


def _edition_pages(run: RunContext) -> dict[str, str]:
    """Item id -> URL of the first issue page it appeared in, for items without a URL of their own."""
    pages: dict[str, str] = {}
    for record in reversed(run.store.editions()):  # oldest first, so the first issue wins
        for item_id in record.item_ids:
            pages.setdefault(item_id, edition_url(run.project, record.number))
    return pages


def rfc822(moment: datetime) -> str:
    """An RFC 822 date in GMT, as RSS 2.0 requires: 'Fri, 15 Jan 2016 10:00:00 GMT'."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def feed_bytes(root: ET.Element) -> bytes:
    """The document as UTF-8 XML, with the usual `atom:` and `dc:` prefixes."""
    ET.register_namespace("atom", ATOM)
    ET.register_namespace("dc", DC)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    return _element(parent, tag, text)


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    """A child of `parent`; its text and attributes without characters XML cannot hold."""
    element = ET.SubElement(parent, tag, {name: xml_safe(value) for name, value in attributes.items()})
    if text is not None:
        element.text = xml_safe(text)
    return element


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (ElementTree would write them as they are)."""
    return _NOT_XML.sub("", text)


@hookimpl
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    register(RssSink)
