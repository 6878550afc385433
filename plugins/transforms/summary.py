"""`summary`: an extractive summary made of the item's own sentences, never cut mid-sentence.

The first sentence always leads (news is written that way); the rest are chosen by how many of
the item's frequent words they carry (Luhn's method), and a sentence that opens with a pronoun
pointing back ("They join...", "This means...") is taken only after the sentence it follows.
The chosen sentences keep their original order and fit `max_chars`. Only a first sentence
longer than `max_chars` on its own is shortened, at a word, with an ellipsis.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from pipeline import hookimpl
from pipeline.components import Settings, Transform
from pipeline.models import Item
from pipeline.run_context import RunContext

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9£])")
WORD = re.compile(r"[a-z][a-z'’\-]+")
STOPWORDS = frozenset("""
a about after all also an and any are as at be been but by can could do does for from had has have
he her his how i if in into is it its just more most my no not of on one or our out over she so
some such than that the their them then there these they this those to up us was we were what when
which who will with would you your
""".split())
DANGLING = re.compile(r"^(they|them|their|it|its|this|these|those|he|she|his|her|such|also|but|and|so)\b", re.I)


def sentences(text: str) -> list[str]:
    found = []
    for line in text.split("\n"):
        found.extend(s.strip() for s in SENTENCE_END.split(line) if s.strip())
    return found


def summarise(text: str, max_chars: int, max_sentences: int) -> str:
    parts = sentences(text)
    if not parts:
        return ""
    if len(parts[0]) > max_chars:
        return _shorten(parts[0], max_chars)
    counts = Counter(w for w in WORD.findall(text.lower()) if w not in STOPWORDS)

    def score(index: int) -> float:
        if index == 0:
            return float("inf")
        words = [w for w in WORD.findall(parts[index].lower()) if w not in STOPWORDS]
        return sum(counts[w] for w in words) / (len(words) ** 0.5 or 1)

    chosen: list[int] = []
    used = 0
    for index in sorted(range(len(parts)), key=lambda i: (-score(i), i)):
        if index > 0 and DANGLING.match(parts[index]) and index - 1 not in chosen:
            continue
        length = len(parts[index]) + (1 if chosen else 0)
        if used + length <= max_chars:
            chosen.append(index)
            used += length
            if len(chosen) == max_sentences:
                break
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
            item.summary = summarise(run.text_of(item), self.settings.max_chars,
                                     self.settings.max_sentences)


@hookimpl
def register_transforms(register):
    register(SummaryTransform)
