"""The pieces of the archive: index entries, and issue pages made from the web version's HTML."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

from pipeline.edition import SECTION_TITLES, Edition
from pipeline.models import Kind
from pipeline.site import edition_page

NOUNS = {
    Kind.POST: ("blog post", "blog posts"),
    Kind.NEWS: ("news item", "news items"),
    Kind.JOB: ("job", "jobs"),
    Kind.EVENT: ("event", "events"),
}
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.I)
_HEAD_CLOSE = re.compile(r"</head\s*>", re.I)


@dataclass(frozen=True)
class Count:
    kind: Kind
    section: str  # "Jobs"
    number: int
    words: str  # "3 jobs"


@dataclass(frozen=True)
class IndexEntry:
    """One issue as the index lists it."""

    number: int
    as_of: date
    title: str
    href: str
    counts: list[Count]
    themes: list[str]


def index_entry(edition: Edition) -> IndexEntry:
    counts = [Count(kind, SECTION_TITLES[kind], len(items), plural(len(items), *NOUNS[kind]))
              for kind, items in edition.sections.items() if items]
    return IndexEntry(edition.number, edition.as_of, edition.title, edition_page(edition.number),
                      counts, edition.themes)


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def issue_page(email_html: str, *, index_href: str, feed_href: str, feed_title: str) -> str:
    """The email's HTML with a feed link in <head> and a 'back to the archive' link after <body>."""
    feed = (f'<link rel="alternate" type="application/rss+xml" title="{html.escape(feed_title)}" '
            f'href="{html.escape(feed_href)}">\n')
    back = (f'<nav aria-label="Archive" style="max-width:600px;margin:0 auto;padding:12px 16px;'
            f'font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;">'
            f'<a href="{html.escape(index_href)}" style="color:#1d4f91;">&larr; All issues</a></nav>')
    page = _HEAD_CLOSE.sub(lambda m: feed + m.group(0), email_html, count=1)
    match = _BODY_OPEN.search(page)
    at = match.end() if match else 0
    return page[:at] + back + page[at:]


