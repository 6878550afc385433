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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import ahocorasick

WORD = re.compile(r"[^\W_]+")
# A phrase never runs across the end of a sentence or clause, a bracket or a quotation mark: there the
# normalised text gets a "|" that no phrase contains ("plan A, e.g." has no "A&E" in it).
_STOP_CHARS = '.,;:!?()[]{}"“”|\n'
_STEM = "*"
_STOP = "|"


_JOINERS = "\u00ad\u2060"  # a soft hyphen or a word joiner inside a word: invisible, the word is one ("sup&shy;port")


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """What a character of lower-cased text becomes: itself in a word, "|" at a stop, nothing if it joins, else a
    space."""
    return char if WORD.fullmatch(char) else _STOP if char in _STOP_CHARS else "" if char in _JOINERS else " "


# `normalise` works on UTF-8 bytes: one table marks every ASCII character at C speed (upper case lowered;
# other bytes stay), and the few other characters a text has are then marked one distinct character at a time.
_ASCII = bytes(range(128))
_ASCII_KINDS = bytes(ord(_kind(chr(b).lower())) if b < 128 else b for b in range(256))
# The same with every other byte a gap: for a text whose other characters are all gaps or stops (’ – → £ “”
# and the like, as in most English texts), each of their bytes can be a space, as a gap is, at the same speed.
_GAPS = bytes(_ASCII_KINDS[b] if b < 128 else ord(" ") for b in range(256))
_UTF8 = ("utf-8", "surrogatepass")  # a lone surrogate is a gap, as for the regexes, not an error
# Two stops or two spaces then any more: a pattern that starts with two literal bytes is looked for by those two,
# where "  +" would be tried at every space of the text (a fifth faster).
_STOPS, _SPACES = re.compile(rb"\|\|\|*"), re.compile(rb"   *")
_SIGMA = "\u03a3"  # the one letter whose lower case depends on the letters around it (final sigma)


@lru_cache(maxsize=4096)
def _marked(char: str) -> bytes:
    """What a character of a text (not lowered) becomes, as UTF-8: its lower case, each character marked."""
    return "".join(_kind(c) for c in char.lower()).encode(*_UTF8)


@lru_cache(maxsize=4096)
def _plan(chars: frozenset[str]) -> tuple[bool, tuple[bytes, ...], tuple[tuple[bytes, bytes], ...] | None]:
    """How `_normalise` marks a text whose characters beyond ASCII are `chars` (the same few, text after text):
    whether one of them is white space; and, when each is a gap or a stop, the UTF-8 codes of the stops and None
    (a table then makes every other byte of theirs a space), else () and (code, mark) for each that changes."""
    marks = [(char.encode(*_UTF8), _marked(char)) for char in chars]
    spaced = any(char.isspace() for char in chars)
    if all(mark == b" " or mark == b"|" for _, mark in marks):
        return spaced, tuple(code for code, mark in marks if mark == b"|"), None
    return spaced, (), tuple((code, mark) for code, mark in marks if mark != code)


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
    words: list[str] = []
    for part in text.split():
        pieces = normalise(part.rstrip(_STEM)).split()
        if pieces and part.endswith(_STEM):
            pieces[-1] += _STEM
        words += pieces
    if not [w for w in words if w != _STOP]:
        raise ValueError(f"phrase {text!r} has no words")
    return Phrase(text, tuple(words), key, weight)


def normalise(text: str) -> str:
    """The text as the automaton reads it: lower case, its words framed and joined by single spaces, with
    a "|" where a sentence, clause or bracket ends.

    Lower case comes from the tables and `_marked`, character by character, as `str.lower` gives it but
    for a capital sigma, where a text with one is lowered whole."""
    return _normalise(text, False)[0]


def normalise_counting(text: str) -> tuple[str, int]:
    """`normalise(text)`, and how many words `text.split()` gives, found from the same bytes (most of the
    cost of `len(text.split())` is making the words)."""
    return _normalise(text, True)


def _normalise(text: str, count: bool) -> tuple[str, int]:
    data = text.encode(*_UTF8)
    words = -1
    if text.isascii():
        if count:
            words = _words(data)
        marked = data.translate(_ASCII_KINDS)
    else:
        chars = frozenset(data.translate(None, _ASCII).decode(*_UTF8))
        spaced, stops, marks = _plan(chars)
        if count:  # white space beyond ASCII (no-break space, line separator ...) cannot be told by its bytes
            words = len(text.split()) if spaced else _words(data)
        if _SIGMA in chars:  # lowered whole, for its final sigma; lowering again then changes nothing
            data = text.lower().encode(*_UTF8)
            spaced, stops, marks = _plan(frozenset(data.translate(None, _ASCII).decode(*_UTF8)))
        if marks is None:
            for code in stops:
                data = data.replace(code, b"|")
            marked = data.translate(_GAPS)
        else:
            marked = data.translate(_ASCII_KINDS)
            for code, mark in marks:
                marked = marked.replace(code, mark)
    # A run of stops is one stop, framed by spaces; then every run of spaces is one (the text's words are
    # not split out and joined again: a few hundred objects a text).
    marked = _SPACES.sub(b" ", b" " + _STOPS.sub(b"|", marked).replace(b"|", b" | ") + b" ")
    return (marked.decode(*_UTF8) if len(marked) > 1 else "  "), words  # a text with no word is two spaces


# Every ASCII white space character (as str.split sees it) a space, every other byte an "x".
_INKED = bytes(ord(" ") if b < 128 and chr(b).isspace() else ord("x") for b in range(256))


def _words(data: bytes) -> int:
    """len(text.split()) for the UTF-8 bytes of a text whose only white space is ASCII: a word starts at each
    byte that is not white space and follows white space, or starts the text (two passes in C)."""
    inked = data.translate(_INKED)
    return inked.count(b" x") + inked.startswith(b"x")


_JOINED_WORD = re.compile(rf"[^\W_]+(?:[{_JOINERS}]+[^\W_]+)*")  # a word of the text, as `normalise` reads it


def original_offset(text: str, normal_offset: int) -> int:
    """Where in `text` the word at `normal_offset` of `normalise(text)` starts."""
    word = len(WORD.findall(normalise(text)[:normal_offset]))
    lowered = text.lower()  # the words as normalise reads them: "İ" lowers to two characters, "i" and a dot above
    starts = [m.start() for m in _JOINED_WORD.finditer(lowered)]
    if not 0 <= word < len(starts):
        return 0
    if len(lowered) == len(text):
        return starts[word]
    return len(_lowered_prefix_source(text, starts[word]))


def _lowered_prefix_source(text: str, lowered_length: int) -> str:
    """The start of `text` whose lower case is `lowered_length` characters long (a character lowered to several
    counts as all of them)."""
    made = 0
    for end, char in enumerate(text):
        if made >= lowered_length:
            return text[:end]
        made += len(char.lower())
    return text


INNER_ENDINGS = ("", "s", "es", "d", "ed", "ing", "er", "ers")  # what a * inside a phrase stands for


def _spelled(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The phrase with each `*` but the last spelled out with the common endings ("shift* power" is
    "shift power", "shifts power", "shifting power" ...): a stem inside a phrase cannot be an open end."""
    forms: list[tuple[str, ...]] = [()]
    for n, word in enumerate(words):
        if word.endswith(_STEM) and n < len(words) - 1:
            forms = [form + (word[:-1] + ending,) for form in forms for ending in INNER_ENDINGS]
        else:
            forms = [form + (word,) for form in forms]
    return forms


def _needles(made: Phrase) -> list[str]:
    """How the phrase looks in a normalised text: its words, and written as one word when it has several."""
    return [needle for words in _spelled(made.words) for needle in _forms(words)]


def _forms(words: tuple[str, ...]) -> list[str]:
    """The words as a needle, and run together as one word too when there are several."""
    forms = [words]
    if len(words) > 1 and _STOP not in words:
        joined = "".join(w.rstrip(_STEM) for w in words)
        forms.append((joined + (_STEM if words[-1].endswith(_STEM) else ""),))
    needles = []
    for words in forms:
        joined = " ".join(words)
        needles.append(" " + joined[:-1] if joined.endswith(_STEM) else " " + joined + " ")
    return needles


class PhraseIndex:
    """Every phrase of a taxonomy in one automaton.

    With `entry`, the automaton keeps `entry(phrase)` for each phrase of a written form instead of the
    phrase itself, and `scan` gives those (for a caller that wants its own form of a phrase at hand, not
    looked up for every match); `find` needs the phrases themselves."""

    def __init__(self, phrases: Iterable[Phrase], entry: Callable[[Phrase], object] | None = None):
        by_needle: dict[str, list[Phrase]] = {}  # one written form may serve several themes
        for made in phrases:
            for needle in _needles(made):
                by_needle.setdefault(needle, []).append(made)
        self.automaton = ahocorasick.Automaton()
        for needle, listed in by_needle.items():
            kept = tuple(listed) if entry is None else tuple(entry(made) for made in listed)
            self.automaton.add_word(needle, (len(needle) - 2, kept))
        self.empty = not by_needle
        if not self.empty:
            self.automaton.make_automaton()

    def scan(self, text: str) -> Iterator[tuple[int, tuple[int, tuple[Phrase, ...]]]]:
        """Every written form found in `text`, as `(last, (back, phrases))`, for a caller that must be quick:
        it spans `start = last - back` to `end = last + 1` of the normalised text, and they come in the
        order they end."""
        return self.scan_normal(normalise(text))

    def scan_normal(self, normal: str) -> Iterator[tuple[int, tuple[int, tuple[Phrase, ...]]]]:
        """`scan` of a text normalised already (`normalise`, `normalise_counting`)."""
        return self.automaton.iter(normal) if not self.empty else iter(())

    def find(self, text: str) -> list[Match]:
        """Every phrase found in `text`, overlapping ones included."""
        found: list[Match] = []
        for last, (back, listed) in self.scan(text):
            found += [Match(made, last - back, last + 1) for made in listed]  # from the first word's first letter
        return found
