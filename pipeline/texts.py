"""The plain text of items' bodies, worked out once per item for all the transforms of a run."""

from __future__ import annotations

from pipeline.models import Item
from pipeline.sanitize import html_to_text


class BodyTexts:
    """Each item's `html_to_text(body_html)`, kept by id with the body it came from: a transform that
    rewrites a body gets the new body's text from the next `text_of`, never the old one's."""

    def __init__(self) -> None:
        self._texts: dict[str, tuple[str, str]] = {}

    def text_of(self, item: Item) -> str:
        cached = self._texts.get(item.id)
        if cached is not None and cached[0] is item.body_html:
            return cached[1]
        text = html_to_text(item.body_html)
        self._texts[item.id] = (item.body_html, text)
        return text

    def clear(self) -> None:
        self._texts.clear()
