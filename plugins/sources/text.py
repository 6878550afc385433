"""Helpers the built-in sources share: Markdown to safe HTML, and dates in the project's time zone."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from markdown_it import MarkdownIt

from pipeline.sanitize import clean_html


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"typographer": True}).enable(["table", "strikethrough", "replacements", "smartquotes"])


def markdown_to_html(text: str, base_url: str = "") -> str:
    """CommonMark to sanitised HTML (raw HTML inside the Markdown is sanitised too)."""
    return clean_html(_markdown().render(text or ""), base_url)


def aware(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A timezone-aware datetime: a bare date is midnight, a naive time is local to `tz`."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    return value if value.tzinfo else value.replace(tzinfo=tz)
