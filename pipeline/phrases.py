"""Finding many phrases in a text in one pass (Aho-Corasick).

A phrase is a few words; spaces, hyphens and punctuation between them are all the same ("peer-led"
is "peer led"), and so is writing them as one word ("co-production" is "coproduction"); case does
not matter, and a word ending in `*` matches any word it starts ("co-produc*" finds co-production,
co-produced). Matching is by whole words, never inside one ("space" is not in "aerospace").

The text is lower-cased and its words joined by single spaces; every phrase, in the same form and
framed by spaces (a stem left open at its end), goes into one Aho-Corasick automaton (pyahocorasick,
in C), which finds all of them in one pass, overlapping ones included, however many phrases there
are. That is what makes a taxonomy of hundreds of phrases cheap over thousands of items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

WORD = re.compile(r"[^\W_]+")
# A phrase never runs across the end of a sentence or clause, a bracket or a quotation mark: there the
# normalised text gets a "|" that no phrase contains ("plan A, e.g." has no "A&E" in it).
_STOPS = re.compile(r"[.,;:!?()\[\]{}\"“”|\n]+")
_GAPS = re.compile(r"[^\w|]+|_+")
_STEM = "*"
_STOP = "|"


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the taxonomy, for evidence
    words: tuple[str, ...]  # lower case; a trailing "*" on a word makes it a stem
    key: object = None  # what the caller wants back for a match (a theme, an exclusion, ...)
    weight: float = 1.0


class Match(NamedTuple):
    phrase: Phrase
    start: int  # where the match starts and ends in the normalised text (`normalise`, `original_offset`)
    end: int


def phrase(text: str, key: object = None, weight: float = 1.0) -> Phrase:
    """A phrase from its written form: 'co-produc*', 'peer support', 'CCG', 'doing with, not to'."""
    stem = text.rstrip().endswith(_STEM)
    words = normalise(text.rstrip().rstrip(_STEM)).split()
    if not [w for w in words if w != _STOP]:
        raise ValueError(f"phrase {text!r} has no words")
    if stem:
        words[-1] += _STEM
    return Phrase(text, tuple(words), key, weight)


def normalise(text: str) -> str:
    """The text as the automaton reads it: lower case, its words framed and joined by single spaces, with
    a "|" where a sentence, clause or bracket ends."""
    return " " + " ".join(_GAPS.sub(" ", _STOPS.sub(" | ", text.lower())).split()) + " "


def original_offset(text: str, normal_offset: int) -> int:
    """Where in `text` the word at `normal_offset` of `normalise(text)` starts."""
    word = len(WORD.findall(normalise(text)[:normal_offset]))
    starts = [m.start() for m in WORD.finditer(text.lower())]
    return starts[word] if 0 <= word < len(starts) else 0


def _needles(made: Phrase) -> list[str]:
    """How the phrase looks in a normalised text: its words, and written as one word when it has several."""
    forms = [made.words]
    if len(made.words) > 1 and not any(w.endswith(_STEM) or w == _STOP for w in made.words[:-1]):
        joined = "".join(w.rstrip(_STEM) for w in made.words)
        forms.append((joined + (_STEM if made.words[-1].endswith(_STEM) else ""),))
    needles = []
    for words in forms:
        joined = " ".join(words)
        needles.append(" " + joined[:-1] if joined.endswith(_STEM) else " " + joined + " ")
    return needles


class PhraseIndex:
    """Every phrase of a taxonomy in one automaton."""

    def __init__(self, phrases: Iterable[Phrase]):
        by_needle: dict[str, list[Phrase]] = {}  # one written form may serve several themes
        for made in phrases:
            for needle in _needles(made):
                by_needle.setdefault(needle, []).append(made)
        self.automaton = ahocorasick.Automaton()
        for needle, listed in by_needle.items():
            self.automaton.add_word(needle, (needle, tuple(listed)))
        self.empty = not by_needle
        if not self.empty:
            self.automaton.make_automaton()

    def find(self, text: str) -> list[Match]:
        """Every phrase found in `text`, overlapping ones included."""
        if self.empty:
            return []
        found: list[Match] = []
        for last, (needle, listed) in self.automaton.iter(normalise(text)):
            start, end = last - len(needle) + 2, last + 1  # from the first word's first letter
            for made in listed:
                found.append(Match(made, start, end))
        return found
