"""Markdown to safe HTML, for the built-in sources."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt

from pipeline.sanitize import clean_html


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    extensions = ["table", "strikethrough", "replacements", "smartquotes"]
    return MarkdownIt("commonmark", {"typographer": True}).enable(extensions)


def markdown_to_html(text: str, base_url: str = "") -> str:
    """CommonMark to sanitised HTML (raw HTML inside the Markdown is sanitised too)."""
    return clean_html(_markdown().render(text or ""), base_url)
