"""`themes`: tags items with the network's themes, each tag kept with its evidence.

Each theme of the taxonomy (in pipeline.toml) has phrases, optional exclusions and weights:

    [transforms.themes.taxonomy]
    "space" = ["safe space*", "recovery space*"]         # a list of phrases, each weighing 1
    [transforms.themes.taxonomy."peer support"]
    phrases = ["peer support*", "peer-led", { phrase = "peer mentor*", weight = 2 }]
    exclude = ["peer review*"]                            # words where a phrase does not count

A theme's score adds up its phrases: each phrase's weight, times `title_weight` in the title,
times 1 + ln n for a phrase found n times (a word said ten times is not ten times the evidence).
A match inside an exclusion does not count, nor one inside an email or web address or a handle.
A theme is given when its score reaches what the
text's length asks for (`min_score` times the square root of how many `words_per_point` the body
has, at least once) and `relative` of the strongest theme's score, and only the `max_themes`
strongest are kept, so a long post gets its main themes and a short notice its one or two.
Every candidate keeps its evidence (score, what was needed, the phrases and where they matched)
in `Item.theme_evidence`, which `pipeline explain` shows.
"""

from __future__ import annotations

import math
import re
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline import hookimpl
from pipeline.components import Settings, Transform
from pipeline.models import Item
from pipeline.phrases import Phrase, PhraseIndex, normalise, normalise_counting, phrase
from pipeline.run_context import RunContext

EXCLUDE = "exclude"
MAX_EVIDENCE = 8  # matches listed per theme given
MAX_PASSED_OVER = 3  # and per theme not given
STRONG, WEAK = 2.0, 0.4


class WeightedPhrase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built with the settings
    phrase: str
    weight: float = Field(default=1.0, gt=0, le=10)


class ThemeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built with the settings
    phrases: list[str | WeightedPhrase] = Field(default_factory=list)  # each weighs 1 unless it says
    strong: list[str] = Field(default_factory=list)  # each weighs STRONG: the theme's own names for itself
    weak: list[str] = Field(default_factory=list)  # each weighs WEAK: everyday words that need company
    exclude: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0, le=10)  # multiplies every phrase of the theme

    def weighted(self) -> list[tuple[str, float]]:
        given = [(p, 1.0) if isinstance(p, str) else (p.phrase, p.weight) for p in self.phrases]
        return [*given, *((p, STRONG) for p in self.strong), *((p, WEAK) for p in self.weak)]


class ThemesTransform(Transform):
    name = "themes"
    in_workers = True  # needs only its settings and run.text_of
    description = "Tags items with themes from a taxonomy of weighted phrases, keeping the evidence"

    class Settings(Settings):
        taxonomy: dict[str, list[str] | ThemeSpec] = Field(min_length=1)
        max_themes: int = Field(default=4, ge=1)  # the strongest themes kept per item
        min_score: float = Field(default=1.0, gt=0)  # what a short text needs
        words_per_point: int = Field(default=100, ge=10)  # more body than this needs more evidence (below)
        relative: float = Field(default=0.2, ge=0, le=1)  # a theme below this share of the top score is dropped
        title_weight: float = Field(default=2.0, ge=0)  # a match in the title counts this many times
        min_matches: int = Field(default=1, ge=1)  # phrase matches needed as well (a phrase found twice: two)

        @field_validator("taxonomy")
        @classmethod
        def _phrases(cls, value: dict) -> dict:
            for theme, spec in value.items():
                listed = spec if isinstance(spec, list) else [text for text, _ in spec.weighted()] + spec.exclude
                texts = [p if isinstance(p, str) else p.phrase for p in listed]
                if not texts or not all(isinstance(t, str) and t.strip("* ") for t in texts):
                    raise ValueError(f"theme {theme!r} needs a list of non-empty phrases")
                if not isinstance(spec, list) and not spec.weighted():
                    raise ValueError(f"theme {theme!r} has no phrases: give phrases, strong or weak, not only exclude")
                for text in texts:
                    try:
                        made = phrase(text)
                    except ValueError as exc:
                        raise ValueError(f"theme {theme!r}: {exc}") from None
                    if any(w.endswith("*") and len(w) < 4 for w in made.words):
                        raise ValueError(f"theme {theme!r}: {text!r}: a word ending in * needs at least 3 "
                                         f"letters before the *")
            return value

    def __init__(self, *args):
        super().__init__(*args)
        self.weights: dict[str, dict[str, float]] = {}  # per theme, per phrase text: its first phrase's weight
        for theme, spec in self._specs():
            for text, weight in spec.weighted():
                # a text listed twice matches where its first listing does, and only that one counts
                self.weights.setdefault(theme, {}).setdefault(text, weight * spec.weight)
        # Scanning, scoring and listing the evidence know a theme by its place in the taxonomy: a list index
        # is a cheaper look-up than a name, for every match of every item.
        self.themes = list(self.settings.taxonomy)
        self.placed_weights = [self.weights[theme] for theme in self.themes]
        self._nothing = ((),) * len(self.themes)  # `_counted` starts from one empty list per theme

    def _specs(self):
        for theme, spec in self.settings.taxonomy.items():
            yield theme, ThemeSpec(phrases=spec) if isinstance(spec, list) else spec

    @cached_property
    def index(self) -> PhraseIndex:
        """Every phrase and exclusion of the taxonomy in one automaton: built on first use, so a run that
        transforms nothing (every feed unchanged) never builds it."""
        phrases = []
        for place, (_, spec) in enumerate(self._specs()):
            phrases += [phrase(text, place, weight * spec.weight) for text, weight in spec.weighted()]
            phrases += [phrase(text, (EXCLUDE, place)) for text in spec.exclude]
        return PhraseIndex(phrases, entry=_entry)

    def themes_of(self, text: str, title: str = "") -> list[str]:
        """The themes this transform gives a text (and a title), strongest first."""
        return [theme for theme, found in self.judge(title, text).items() if found["kept"]]

    def judge(self, title: str, body: str) -> dict[str, dict[str, Any]]:
        """Every theme with a match: its score, what was needed, whether it is kept and why, the evidence."""
        # words: len(body.split()), without making the words
        normal, words = normalise_counting(_blank_addresses(body))
        in_title, in_body = self._counted(normalise(_blank_addresses(title))), self._counted(normal)
        settings = self.settings
        # Evidence grows with the square root of length: a 900-word post needs three times what a note does.
        needed = settings.min_score * math.sqrt(max(1.0, words / settings.words_per_point))
        ranked = self._ranked(in_title, in_body)
        top = -ranked[0][0] if ranked else 0.0
        below = f" is below the {needed:g} a text of {words} words needs"
        shown_needed = round(needed, 2)
        min_matches, relative, max_themes = settings.min_matches, settings.relative, settings.max_themes
        fewer = f"fewer than {min_matches} phrase matches"  # the reasons that name no score, made once
        beyond = f"beyond the {max_themes} strongest themes"
        under = f"under {relative:.0%} of the strongest theme's score {top:g}"
        themes = self.themes
        judged: dict[str, dict[str, Any]] = {}
        kept = 0
        for negative, place, count in ranked:
            score = -negative
            given = False
            if score < needed:
                why = f"score {score:g}{below}"
            elif count < min_matches:
                why = fewer
            elif score < relative * top:
                why = under
            elif kept >= max_themes:
                why = beyond
            else:
                why = "kept"
                given = True
                kept += 1
            # a theme not given keeps a little of its evidence: it is stored with every item. Its first
            # matches, the title's then the body's: [phrase, "title" or "body", offset] (lists, not dicts).
            most = MAX_EVIDENCE if given else MAX_PASSED_OVER
            matches = []
            if spans := in_title[place]:
                for k in range(0, min(len(spans), 3 * most), 3):
                    matches.append([spans[k + 2], "title", spans[k]])
            if spans := in_body[place]:
                for k in range(0, min(len(spans), 3 * (most - len(matches))), 3):
                    matches.append([spans[k + 2], "body", spans[k]])
            judged[themes[place]] = {"score": score, "needed": shown_needed, "kept": given, "why": why,
                                     "count": count, "matches": matches, "more": count - len(matches)}
        return judged

    def _ranked(self, in_title: list[list], in_body: list[list]) -> list[tuple[float, int, int]]:
        """Every matched theme as (-score, place in the taxonomy, how many matches it has), strongest first and
        then in the taxonomy's order (no two themes share a place, so no tie is left); the score is rounded to
        2 places. The title's matches count `title_weight` times, and a phrase said n times 1 + ln n times.
        The same sums, in the same order, as one loop over the title's matches and the body's each with its
        factor: a phrase said once adds its weight times the factor (1 + ln 1 is 1), and the body's factor is 1."""
        factor = self.settings.title_weight
        growths, log = _GROWTHS, math.log
        ranked = []
        for place, (title_spans, spans) in enumerate(zip(in_title, in_body, strict=True)):
            if not (spans or title_spans):
                continue
            weights = self.placed_weights[place]
            score, count = 0.0, 0
            if title_spans:
                if len(title_spans) == 3:
                    score = 0.0 + weights[title_spans[2]] * factor
                    count = 1
                else:
                    texts = title_spans[2::3]
                    for text in dict.fromkeys(texts):
                        n = texts.count(text)
                        score += weights[text] * factor * (growths[n] if n < GROWTHS else 1 + log(n))
                    count = len(texts)
            if spans:
                if len(spans) == 3:
                    score += weights[spans[2]]
                    count += 1
                else:
                    texts = spans[2::3]
                    for text in dict.fromkeys(texts):
                        n = texts.count(text)
                        score += weights[text] * (growths[n] if n < GROWTHS else 1 + log(n))
                    count += len(texts)
            ranked.append((-round(score, 2), place, count))
        ranked.sort()
        return ranked

    def _counted(self, normal: str) -> list[list]:
        """Per theme, by its place in the taxonomy, each match in `normal` (a normalised text) that no exclusion
        of the theme, nor a longer match of it, covers, in order; flat: [start, last, phrase text, start, ...],
        `last` the offset of the match's last character.

        The automaton gives matches in the order they end, so a match can cover, of those before it, only
        the last of its theme's list (when it ends there too) or a tail of the list (those starting no
        earlier). The matches kept never cover one another, so the list is in order of start too: no sort.
        The automaton keeps, for each written form, its phrases as (place, text), an exclusion as
        (place, None) (`_entry`), so this loop, run for every match of every item, looks nothing else up."""
        found: list[list] = list(map(list, self._nothing))
        barred: dict[int, tuple[int, int]] = {}  # per theme, the exclusion that ends last (the longest there)
        barred_until = -1  # where the last exclusion's word ended: a bar covers only a match that ends by then
        for last, (back, listed) in self.index.scan_normal(normal):
            start = last - back
            for place, name in listed:
                spans = found[place]
                if name is None:  # an exclusion of the theme
                    # It covers the matches that start in it and end by the end of its last word: one ending in a
                    # stem ("cost recover*") covers a whole word ("recovery") too. Those that ended already go now,
                    # those ending later are barred as they come.
                    end = normal.find(" ", last)
                    while spans and spans[-3] >= start:
                        del spans[-3:]
                    bar = barred.get(place)
                    if bar is None or bar[1] < end or bar[0] > start:
                        barred[place] = (start, end)
                    barred_until = max(barred_until, end)
                    continue
                if spans and spans[-2] >= start:  # the last match of the theme ends where this one starts or later
                    if spans[-2] == last and spans[-3] <= start:
                        continue  # the last match covers this one (or is this one, of a phrase listed earlier)
                    while spans and spans[-3] >= start:
                        del spans[-3:]
                if last <= barred_until:
                    bar = barred.get(place)
                    if bar is not None and last <= bar[1] and bar[0] <= start:
                        continue
                spans += (start, last, name)
        return found

    def apply(self, items: list[Item], run: RunContext) -> None:
        spelt = {theme.casefold(): theme for theme in self.themes}
        for item in items:
            judged = self.judge(item.title, run.text_of(item))
            found = [theme for theme, verdict in judged.items() if verdict["kept"]]
            # A theme the source gave in another case ("Peer Support") is the taxonomy's, in its spelling, once.
            given: dict[str, str] = {}
            for theme in [*item.themes, *found]:
                given.setdefault(theme.casefold(), spelt.get(theme.casefold(), theme))
            item.themes = list(given.values())
            item.theme_evidence = judged


_LETTERS = re.compile(r"[^\W\d_]+")
_ASCII_X = str.maketrans(dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "x"))
_MARKS = ("@", "://", "www.")
_WHITE = [chr(code) for code in range(0x3001) if chr(code).isspace()]  # all of str.split's white space
_ASCII_WHITE = [char for char in _WHITE if char.isascii()]
# An email address's "@": a name, then a domain with a dot inside it ("research@leeds.ac.uk", not "Recovery@Home" nor
# "co-production@its best"); a handle's: at the start of its token, after any opening mark ("@Recovery_College").
_EMAIL = re.compile(r"[\w.+'-]@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2}")
_HANDLE = re.compile(r"[\"'“‘(\[<]*@\w")


def _blank_addresses(text: str) -> str:
    """`text` with the letters of each email address, web address or handle made "x" ("research@leeds.ac.uk",
    "https://…/peer-support/…", "www.recovery-college.org.uk", "@Recovery_College"): a theme named only in an address
    is not what the text is about. An address is the whole run of characters between two white spaces (any: a
    no-break space or a tab too) around "://", "www.", or an "@" of an email address or a handle (an "@" inside a
    word, "Recovery@Home", is none). Each keeps its length and its words, so the offsets of the matches (which
    `pipeline explain` finds again in the text as it is) and the count of words stay as they were. A text without
    "@", "://" or "www." (most) is given back as it is, after three quick searches; in one with them, each character
    is searched at most a few times (once for each kind of white space and mark), however many addresses it has."""
    if "@" not in text and ("/" not in text or "://" not in text) and "www." not in text:  # (one character: quicker)
        return text
    size = len(text)
    spaces = [char for char in (_ASCII_WHITE if text.isascii() else _WHITE) if char in text]
    # The next place of each white space and each mark, found again only once passed: every search starts beyond
    # the last one's find, so none reads a character twice.
    next_space = dict.fromkeys(spaces, -1)
    next_mark = dict.fromkeys(_MARKS, -1)

    def following(nexts: dict[str, int], at: int) -> int:
        for char, place in nexts.items():
            if place < at:
                found = text.find(char, at)
                nexts[char] = place = size if found == -1 else found
        return min(nexts.values(), default=size)

    pieces, done, floor = [], 0, 0  # (floor: the end of the last token read, an address or not)
    at = following(next_mark, 0)
    while at < size:
        # the token's start: the last white space before the mark, searched back only to the last token's end
        start = max(max([text.rfind(char, floor, at) for char in spaces], default=-1) + 1, floor)
        floor = end = following(next_space, at)
        token = text[start:end]
        if "://" in token or "www." in token or _HANDLE.match(token) or _EMAIL.search(token):
            pieces += (text[done:start], token.translate(_ASCII_X) if token.isascii() else _LETTERS.sub(
                lambda run: "x" * len(run[0]), token))
            done = end
        at = following(next_mark, end)
    pieces.append(text[done:])
    return "".join(pieces)


def _entry(made: Phrase) -> tuple[int, str | None]:
    """What the automaton keeps of a phrase for `_counted`: (its theme's place, its text), or (the place, None)
    for an exclusion."""
    key = made.key
    return (key[1], None) if key.__class__ is tuple else (key, made.text)


GROWTHS = 64
_GROWTHS = [0.0, *(1 + math.log(n) for n in range(1, GROWTHS))]  # 1 + ln n, for a phrase said n times


@hookimpl
def register_transforms(register):
    register(ThemesTransform)
