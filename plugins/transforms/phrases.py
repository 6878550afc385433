"""Finding many phrases in a text in one pass over its words.

A phrase is a few words; spaces and hyphens between them are the same ("peer-led" is "peer led"),
case does not matter, and a word ending in `*` matches any word it starts ("co-produc*" finds
co-production, co-produced). Matching is by words, never inside one ("space" is not in
"aerospace"). The text is split into words once; each word looks up the phrases that can start
with it in a dictionary, so the cost grows with the length of the text, not with the number of
phrases, which matters with a taxonomy of hundreds of phrases over thousands of items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # letters and digits; an apostrophe inside a word stays
STEM_KEY = 3  # stems are indexed by their first letters


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the taxonomy, for evidence
    words: tuple[str, ...]  # lower case; a trailing "*" on a word makes it a stem
    key: object = None  # what the caller wants back for a match (a theme, "exclude", ...)
    weight: float = 1.0

    def matches_at(self, words: list[str], start: int) -> bool:
        if start + len(self.words) > len(words):
            return False
        for pattern, word in zip(self.words, words[start:start + len(self.words)], strict=False):
            if pattern.endswith("*"):
                if not word.startswith(pattern[:-1]):
                    return False
            elif word != pattern:
                return False
        return True


@dataclass(frozen=True)
class Match:
    phrase: Phrase
    first: int  # index of the first word
    last: int  # index of the last word
    at: int  # character offset in the text


def phrase(text: str, key: object = None, weight: float = 1.0) -> Phrase:
    """A phrase from its written form: 'co-produc*', 'peer support', 'CCG'."""
    words = tuple(w.lower() + ("*" if star else "") for w, star in _written_words(text))
    if not words:
        raise ValueError(f"phrase {text!r} has no words")
    return Phrase(text, words, key, weight)


def variants(made: Phrase) -> list[Phrase]:
    """The phrase, and its words written as one ("co-produc*" also finds "coproduction")."""
    if len(made.words) < 2 or any(w.endswith("*") for w in made.words[:-1]):
        return [made]
    return [made, Phrase(made.text, ("".join(made.words),), made.key, made.weight)]


def _written_words(text: str) -> Iterator[tuple[str, bool]]:
    for part in re.split(r"[\s\-‐–]+", text.strip()):
        star = part.endswith("*")
        core = part.rstrip("*")
        pieces = WORD.findall(core)
        for n, piece in enumerate(pieces):
            yield piece, star and n == len(pieces) - 1


class PhraseIndex:
    """Every phrase of a taxonomy, indexed by the word it starts with."""

    def __init__(self, phrases: Iterable[Phrase]):
        self.exact: dict[str, list[Phrase]] = {}
        self.stems: dict[str, list[Phrase]] = {}
        for p in (v for given in phrases for v in variants(given)):
            first = p.words[0]
            if first.endswith("*"):
                self.stems.setdefault(first[:-1][:STEM_KEY], []).append(p)
            else:
                self.exact.setdefault(first, []).append(p)
        for table in (self.exact, self.stems):
            for listed in table.values():
                listed.sort(key=lambda p: -len(p.words))  # the longest phrase at a word wins

    def find(self, text: str) -> list[Match]:
        """Every phrase found in `text`, longest first where two start at the same word; phrases may overlap."""
        spans = [(m.group().lower(), m.start()) for m in WORD.finditer(text)]
        words = [w for w, _ in spans]
        found: list[Match] = []
        for n, word in enumerate(words):
            candidates = self.exact.get(word, ())
            stems = self.stems.get(word[:STEM_KEY], ())
            for p in (*candidates, *stems) if stems else candidates:
                if p.matches_at(words, n):
                    found.append(Match(p, n, n + len(p.words) - 1, spans[n][1]))
        return found
