"""One RSS 2.0 document: the main feed and every theme's feed are written by `build_feed`.

Built with ElementTree, so titles and HTML are always escaped as text. It follows the W3C feed
validator's rules (checked by tests/feed_rules.py): every URL absolute and in ASCII, as a browser sends it (a host
outside ASCII in its IDNA form, a path %-escaped, a space too: `site.uri`, as the email writes its links), RFC 822
dates, an `atom:link rel="self"` to the feed's own address, a guid that is a permalink only when it is the
item's own URL, authors as `dc:creator` (RSS's own `<author>` must be an email address), and each item's
`description` before its `content:encoded`.

- `description`: the summary alone (a job's closing date and organisation, an event's date and venue
  before it: a reader's list of headlines should not hide those), escaped HTML.
- `content:encoded`: the whole item: a job's or event's details (programme, prices, how to apply,
  booking link), the full sanitised body with every link made absolute, and what else announced it.
- `category`: each theme.
- `link`: the item's own URL, or its page on the site when it has none.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from pipeline import __version__, site
from pipeline.config import Project
from pipeline.item_view import event_when, shorten, slot_line
from pipeline.models import Item
from pipeline.sanitize import clean_html, html_to_text, safe_url, strip_controls
from pipeline.sanitize import one_line as _fold
from pipeline.templating import money
from plugins.sinks.rss.guids import Guids

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
NAMESPACES = {"atom": ATOM, "dc": DC, "content": CONTENT}
FALLBACK_DESCRIPTION_CHARS = 300  # an item with no summary: the start of its first paragraph
# Characters XML 1.0 cannot hold at all, not even as &#...; references: C0 controls other than tab,
# line feed and carriage return, U+FFFE, U+FFFF and lone surrogates. One would make the feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Channel:
    """What a feed says about itself: its title, description, page (`link`) and its own address (`self_url`)."""

    title: str
    description: str
    link: str
    self_url: str


def build_feed(project: Project, items: list[Item], moment: datetime, channel: Channel | None = None,
               memo: dict[tuple, ItemText] | None = None, owners: Mapping[str, str] | None = None,
               guids: Guids | None = None) -> ET.Element:
    """The `<rss>` element for `items` (newest first). Without `channel`, the main feed's.

    `lastBuildDate` is the newest item's date (or `moment` for an empty feed), so the same items give
    the same bytes and an unchanged feed is not rewritten. `memo` keeps each item's text for the next
    feed of the same run (an item is in the main feed and in each of its themes' feeds). `owners`
    (`site.own_pages`) says which item has a page two items' own URLs name, as the archive decides it. `guids`
    gives each item the guid it was given before (`guids.py`); without it, guids are given afresh."""
    core = project.core
    channel = channel or main_channel(project)
    rss = ET.Element("rss", {"version": "2.0"})
    element = ET.SubElement(rss, "channel")
    _text(element, "title", channel.title)
    _text(element, "link", channel.link)
    _text(element, "description", channel.description)
    _text(element, "language", core.language)
    _text(element, "lastBuildDate", rfc822(max((i.published for i in items), default=moment)))
    _text(element, "generator", f"newsletter-pipeline {__version__}")
    _element(element, f"{{{ATOM}}}link", href=channel.self_url, rel="self", type="application/rss+xml")
    guids = Guids() if guids is None else guids
    memo = {} if memo is None else memo
    for item in items:
        key = (item.id, tuple(also.get("id", "") for also in item.also_announced))
        if key not in memo:
            memo[key] = item_text(project, item, owners)
        element.append(item_element(memo[key], guids))
    return rss


def main_channel(project: Project, title: str | None = None, description: str | None = None) -> Channel:
    core = project.core
    return Channel(title=title or core.name,
                   description=description or core.description or f"News, jobs and events from {core.name}",
                   link=site.uri(site.url(project, site.FRONT_PAGE)),
                   self_url=site.uri(site.url(project, site.FEED_FILE)))


def theme_channel(project: Project, theme: str, network: str | None = None) -> Channel:
    """'Test Network: Peer support', linking to the theme's page, its own address as `self`."""
    name = network or project.core.name
    label = theme_label(theme)
    return Channel(title=f"{name}: {label}",
                   description=f"{label}: posts, news, jobs and events from {name}",
                   link=site.uri(site.url(project, site.theme_path(theme) if site.publishes(project, "archive")
                                             else site.FRONT_PAGE)),  # the theme's page, where the archive writes one
                   self_url=site.uri(site.url(project, site.theme_feed_path(theme))))


def left_guid(project: Project, path: str, theme: str | None, split: list[str]) -> str:
    """The guid of the one item of the feed at `path` once no item carries its theme (`left_feed`): where it leads."""
    self_url = site.url(project, path)
    if theme:
        return f"{self_url}#moved-to-{site.theme_path(theme).split('/')[1]}"
    if split:
        return f"{self_url}#split-to-" + "+".join(site.theme_path(each).split("/")[1] for each in split)
    return f"{self_url}#ended"


def left_feed(project: Project, path: str, title: str, theme: str | None, moment: datetime,
              split: list[str] | None = None) -> ET.Element:
    """What a theme's feed at `path` (titled `title`) says once no item carries the theme: one item, dated `moment`,
    naming the theme it became and that one's feed (`theme`), or the themes that shared it and their feeds (`split`:
    two long themes whose addresses were once cut to one), or, for a theme only taken out, that it has ended.
    A static host cannot answer with a redirect, and a feed reader that found the file gone would only show an
    error: this way it is still a valid feed, and tells its reader where to go. Its guid names where it leads, so a
    reader shows it once, and again only if that changes."""
    archive = site.publishes(project, "archive")
    self_url = site.url(project, path)
    split = [] if theme else list(split or [])
    guid = left_guid(project, path, theme, split)
    if theme:
        label, feed = theme_label(theme), site.url(project, site.theme_feed_path(theme))
        page = site.url(project, site.theme_path(theme) if archive else site.FRONT_PAGE)
        heading = f"This feed has moved: {label}"
        text = f"The theme is now {label}. Its feed is {feed}: subscribe to that one to follow it."
    elif split:
        page = site.url(project, site.THEMES if archive else site.FRONT_PAGE)
        feeds = "; ".join(f"{theme_label(each)}: {site.url(project, site.theme_feed_path(each))}" for each in split)
        heading = "This feed has been split"
        text = (f"This feed was {len(split)} themes' at once. Each now has a feed of its own ({feeds}): subscribe "
                f"to those you follow.")
    else:
        page = site.url(project, site.THEMES if archive else site.FRONT_PAGE)
        heading = "This feed has ended"
        text = (f"{project.core.name} no longer has this theme. Everything it publishes is in "
                f"{site.feed_url(project)}.")
    rss = ET.Element("rss", {"version": "2.0"})
    element = ET.SubElement(rss, "channel")
    page = site.uri(page)
    for tag, value in (("title", title), ("link", page), ("description", text), ("language", project.core.language),
                       ("lastBuildDate", rfc822(moment)), ("generator", f"newsletter-pipeline {__version__}")):
        _text(element, tag, value)
    _element(element, f"{{{ATOM}}}link", href=site.uri(self_url), rel="self", type="application/rss+xml")
    item = ET.SubElement(element, "item")
    _text(item, "title", heading)
    _text(item, "link", page)
    _element(item, "guid", guid, isPermaLink="false")
    _text(item, "pubDate", rfc822(moment))
    _text(item, "description", f"<p>{html.escape(text)}</p>")
    return rss


def theme_label(theme: str) -> str:
    """'peer support' -> 'Peer support' on one line, as a page's heading shows it (`site.theme_label`: 'ß' stays)."""
    return site.theme_label(one_line(theme))


@dataclass(frozen=True)
class ItemText:
    """What an item's `<item>` says, the same in every feed it is in."""

    id: str
    title: str
    own_url: str  # its own address, '' when it has none
    link: str
    published: str
    description: str
    content: str
    categories: tuple[str, ...]
    creator: str


def item_text(project: Project, item: Item, owners: Mapping[str, str] | None = None) -> ItemText:
    own = site.uri(own_url(project, item))  # in ASCII, as `link` and a permalink guid must be
    # With no address of its own: its page on the site, if written
    link = site.uri(site.item_link(project, item, owners))
    also_url = None
    if item.also_announced:  # each announcement merged into it links where `item_link` would link it
        page_of = site.pages_of(owners or {})

        def also_url(also: dict[str, str]) -> str:
            return site.also_link(project, also, page_of)

    return ItemText(
        id=item.id, title=item.title or "(untitled)", own_url=own, link=link, published=rfc822(item.published),
        description=describe(project, item),
        content=full_content(project, item, link or site.url(project, site.FRONT_PAGE), also_url),
        categories=tuple(label for theme in item.themes if (label := xml_safe(theme).strip())),
        creator=item.author)


def item_element(text: ItemText, guids: Guids) -> ET.Element:
    """One `<item>`; `guids` gives it the guid it has had (every guid unique)."""
    element = ET.Element("item")
    _text(element, "title", text.title)
    if text.link:
        _text(element, "link", text.link)
    # The own URL, or the id (not a permalink), as given the first time (guids.py). A URL is a permalink only
    # where the link goes too: one on this site that no page answers is not followed, nor an address it has left.
    guid = guids.of(text.id, text.own_url)
    permalink = guid == text.own_url and text.link == text.own_url
    _element(element, "guid", guid, isPermaLink="true" if permalink else "false")
    _text(element, "pubDate", text.published)
    _text(element, "description", text.description)
    _text(element, f"{{{CONTENT}}}encoded", text.content)
    for category in text.categories:
        _text(element, "category", category)
    if text.creator:
        _text(element, f"{{{DC}}}creator", text.creator)
    return element


def own_url(project: Project, item: Item) -> str:
    return safe_url(item.url, site.url(project, site.FRONT_PAGE)) if item.url else ""


# ---- the item's text -----------------------------------------------------------------------------

def describe(project: Project, item: Item) -> str:
    """The `description`: the summary as escaped HTML, after a job's or event's key facts; an item with
    no summary gets the start of its first paragraph."""
    parts = []
    facts = key_facts(project, item)
    if facts:
        parts.append(f"<p>{html.escape(facts)}</p>")
    lead = one_line(item.summary)
    if not lead:
        first = next(iter(html_to_text(item.body_html).splitlines()), "")
        lead = shorten(one_line(first), FALLBACK_DESCRIPTION_CHARS)
    if lead:
        parts.append(f"<p>{html.escape(lead)}</p>")
    return "".join(parts) or f"<p>{html.escape(one_line(item.title) or '(untitled)')}</p>"


def key_facts(project: Project, item: Item) -> str:
    """'Closing date: 14 February 2016 · Open Dialogue UK · London'; 'Tuesday 2 February 2016 · London'."""
    if item.job is not None:
        job = item.job
        facts = [f"Closing date: {job.closing_date.strftime('%-d %B %Y')}" if job.closing_date else "",
                 job.organisation, job.location]
    elif item.event is not None:
        facts = [event_when(item.event, project.tz), item.event.venue]
    else:
        return ""
    return " · ".join(one_line(f) for f in facts if one_line(f))


def full_content(project: Project, item: Item, base_url: str,
                 also_url: Callable[[dict[str, str]], str] | None = None) -> str:
    """The `content:encoded`: the lead image (unless the body shows it already), details (with the programme), then
    the full body, then what else announced it (each linked to `also_url(entry)`, else its own URL)."""
    parts: list[str] = []
    body = clean_html(item.body_html, base_url)
    image = item.image if item.image.startswith(("https://", "http://")) else ""  # as the page and the email show it
    if image and html.escape(image) not in body:
        parts.append(f'<p><img src="{html.escape(image)}" alt="{html.escape(one_line(item.image_alt))}"></p>')
    lines = [html.escape(line) for line in _job_lines(item) + _event_lines(project, item)]
    booking = safe_url(item.event.booking_url) if item.event else ""
    if booking:
        lines.append(f'<a href="{html.escape(booking)}">Book a place</a>')
    if lines:
        parts.append("<p>" + "<br>".join(lines) + "</p>")
    if item.event and item.event.programme:
        parts.append("<p><strong>Programme</strong><br>"
                     + "<br>".join(html.escape(slot_line(slot)) for slot in item.event.programme) + "</p>")
    if body:
        parts.append(body)
    elif item.summary:
        parts.append(f"<p>{html.escape(one_line(item.summary))}</p>")
    for also in item.also_announced:
        parts.append(f"<p>{also_announced_html(also, also_url(also) if also_url else None)}</p>")
    return "\n".join(parts) or f"<p>{html.escape(one_line(item.title) or '(untitled)')}</p>"


def also_announced_html(also: dict[str, str], url: str | None = None) -> str:
    """'Also announced by Open Dialogue UK: <a href="…">We are hiring: …</a>', linking `url` (else its own URL)."""
    by = html.escape(one_line(also.get("by", "")) or "another source")
    title = html.escape(one_line(also.get("title", "")) or "(untitled)")
    url = safe_url(also.get("url", "") if url is None else url)
    return f'Also announced by {by}: ' + (f'<a href="{html.escape(url)}">{title}</a>' if url else title)


def _job_lines(item: Item) -> list[str]:
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


# ---- XML -----------------------------------------------------------------------------------------

def rfc822(moment: datetime) -> str:
    """An RFC 822 date in GMT, as RSS 2.0 requires: 'Fri, 15 Jan 2016 10:00:00 GMT'."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def feed_bytes(root: ET.Element) -> bytes:
    """The document as UTF-8 XML, with the usual `atom:`, `dc:` and `content:` prefixes."""
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
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


def one_line(text: str) -> str:
    """Plain text on one line: control characters left out (not made spaces), white space folded."""
    return _fold(strip_controls(text or ""))


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (ElementTree would write them as they are)."""
    return _NOT_XML.sub("", text)
