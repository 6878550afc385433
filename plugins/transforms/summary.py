"""`summary`: an extractive summary made of the item's own sentences, never cut mid-sentence.

Sentences are scored by how many of the item's frequent words they carry (Luhn's method),
the first sentence gets a small lead bonus, and the best ones that fit `max_chars` are kept
in their original order.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from pipeline import hookimpl
from pipeline.components import Settings, Transform
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.sanitize import html_to_text

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9£])")
WORD = re.compile(r"[a-z][a-z'’\-]+")
STOPWORDS = frozenset("""
a about after all also an and any are as at be been but by can could do does for from had has have
he her his how i if in into is it its just more most my no not of on one or our out over she so
some such than that the their them then there these they this those to up us was we were what when
which who will with would you your
""".split())
LEAD_BONUS = 1.25


def sentences(text: str) -> list[str]:
    found = []
    for line in text.split("\n"):
        found.extend(s.strip() for s in SENTENCE_END.split(line) if s.strip())
    return found


def summarise(text: str, max_chars: int, max_sentences: int) -> str:
    parts = sentences(text)
    if not parts:
        return ""
    if len(parts[0]) > max_chars and len(parts) == 1:
        return _shorten(parts[0], max_chars)
    counts = Counter(w for w in WORD.findall(text.lower()) if w not in STOPWORDS)
    def score(index: int) -> float:
        words = [w for w in WORD.findall(parts[index].lower()) if w not in STOPWORDS]
        value = sum(counts[w] for w in words) / (len(words) ** 0.5 or 1)
        return value * (LEAD_BONUS if index == 0 else 1)
    chosen: list[int] = []
    used = 0
    for index in sorted(range(len(parts)), key=lambda i: (-score(i), i)):
        length = len(parts[index]) + (1 if chosen else 0)
        if used + length <= max_chars:
            chosen.append(index)
            used += length
            if len(chosen) == max_sentences:
                break
    if not chosen:  # no whole sentence fits: the best-scoring one, shortened at a word
        return _shorten(parts[0], max_chars)
    return " ".join(parts[i] for i in sorted(chosen))


def _shorten(sentence: str, max_chars: int) -> str:
    cut = sentence[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return cut + "…"


class SummaryTransform(Transform):
    name = "summary"
    description = "Extractive summary from the item's own sentences"

    class Settings(Settings):
        max_chars: int = Field(default=300, ge=40)
        max_sentences: int = Field(default=3, ge=1)
        overwrite: bool = False  # replace a summary a source already gave

    def apply(self, items: list[Item], run: RunContext) -> None:
        for item in items:
            if item.summary and not self.settings.overwrite:
                continue
            item.summary = summarise(html_to_text(item.body_html), self.settings.max_chars,
                                     self.settings.max_sentences)


@hookimpl
def register_transforms(register):
    register(SummaryTransform)
