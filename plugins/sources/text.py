"""Markdown to safe HTML, for the built-in sources."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from pipeline.sanitize import clean_html

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # here: loading the plugins should not load the Markdown parser

    extensions = ["table", "strikethrough", "replacements", "smartquotes"]
    return MarkdownIt("commonmark", {"typographer": True}).enable(extensions)


def markdown_to_html(text: str, base_url: str = "", local: Callable[[str], str | None] | None = None) -> str:
    """CommonMark to sanitised HTML (raw HTML inside the Markdown is sanitised too); relative links as
    `clean_html` resolves them."""
    return clean_html(_markdown().render(text or ""), base_url, local)
