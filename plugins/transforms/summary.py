"""`summary`: an extractive summary made only of the item's own, whole, real sentences.

Sentences come from paragraph text only (see `plugins/transforms/paragraphs.py` and `sentences.py`): never from
headings, short bold "heading" lines, list labels, link text such as "Read more →", salutations,
sign-offs, bylines or bare lines like "Key Words: Power – Space – Peer Support". They are cut by
nupunkt, which knows "Dr.", "St.", "e.g.", initials, "9.30" and "£112.50".

The lead comes first: the first real sentence of the first real paragraph (unless it points back, as a later lead
may not, below, at a paragraph left out as no sentence: a line without a stop; a quotation's sentences
may follow it but never lead; the paragraphs inside table cells, and then list items, serve only when the item
has no paragraph sentence: an email laid out in tables has all its paragraphs in cells). The
rest are chosen by how many of the item's frequent words they carry (Luhn's method) from the
sentences after the lead; a sentence that opens with a pronoun or a connective pointing back ("They
join...", "This means...", "Otherwise...") is taken only after the sentence it follows, and a short aside
("Watch this space.": under six words) only when no longer sentence would fit. The chosen sentences keep their
original order, each once (a pull quote repeats a sentence), and never one that only says the item's title again
("We are hiring!" under the title "We are hiring!"): the title is shown above the summary.

`max_chars` is a hard limit and nothing is ever cut: when the lead alone is longer, the first later
real sentence that fits, is not a quotation's, does not open pointing back and does not ask the reader to
act ("Book a place; …") leads instead (a longer lead taken whole would be cut anyway by the email, whose
excerpts stop at 300 characters); when no such sentence fits, the summary is empty. Only the first few
paragraphs (about four times `max_chars` of text, at least 1,200 characters) are read and split: a summary
needs no more, and the transform runs on thousands of items.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import filterfalse
from typing import TYPE_CHECKING

from pydantic import Field

from pipeline import hookimpl
from pipeline.components import Settings, Transform
from pipeline.models import Item
from pipeline.run_context import RunContext

if TYPE_CHECKING:
    from plugins.transforms.paragraphs import Block

# paragraphs.py and sentences.py (about 30 regular expressions) are loaded when first used: a run that
# transforms nothing (every feed unchanged) never compiles them.

WORD = re.compile(r"[a-z][a-z'’\-]+")  # the words counted (found by `_words`, which is quicker)
STOPWORDS = frozenset("""
a about after all also an and any are as at be been but by can could do does for from had has have
he her his how i if in into is it its just more most my no not of on one or our out over she so
some such than that the their them then there these they this those to up us was we were what when
which who will with would you your
""".split())
# ("This week …", "This month's issue …" start afresh: they point to now, not back)
DANGLING = re.compile(r"^(they|them|their|it|its|(?:this|these|that|those)(?!\s+(?:week|weekend|month|year|term|season|"
                      r"summer|autumn|winter|spring|morning|afternoon|evening|issue|edition|newsletter)(?:s|’s|'s)?\b)|"
                      r"he|she|his|her|such|also|but|and|so|yet|still|"
                      r"otherwise|however|instead|therefore|thus|hence|moreover|furthermore|meanwhile|again|then|"
                      r"similarly|likewise|besides|nevertheless|nonetheless|consequently|indeed|as a result|"
                      r"for (?:example|instance)|in (?:addition|particular|turn|short|this way)|on the other hand)\b",
                      re.I)
# A sentence that asks the reader to act ("Book a place; …", "Read the full report on our site."): it may follow the
# lead, but a summary that opens with it (when the first sentence was too long) says what to do, not what it is about.
# A verb that is also a noun or a name ("Book sales rose …", "Visit England said …", "Follow-up care …", "Share
# Community Leeds has …") asks only when what follows it is what an order takes: an article, a pronoun, "now", "here",
# a preposition, a number (a phone's), punctuation.
_ASKING_VERBS = (r"book|register|click|read|see|visit|apply|contact|e-?mail|phone|ring|download|follow|subscribe|buy|"
                 r"reserve|rsvp|share|donate")
_ORDERS_TAKE = (r"(?:a|an|the|our|your|us|it|them|this|these|that|now|here|online|today|early|soon|more|tickets?|"
                r"places?|seats?|on|at|to|for|via|by|in|from|through|with|before|and|or)\b|[\d+,;:!(]|\S+@")
# (what only informs is left alone: "Booking closes on 25 January.", "Tickets cost £25.", "Places are limited.")
ASKING = re.compile(rf"^(?:please\b|(?:sign up|find out|call us|get (?:your|in touch|tickets)|don[’']?t miss|"
                    rf"do not miss|join us)\b|to (?:book|register|apply|reserve|sign up|find out|buy|order|"
                    rf"get tickets|take part)\b|"
                    rf"(?:tickets|places) (?:are available|can be (?:booked|bought|reserved)|go on sale)\b|"
                    rf"booking is (?:essential|required|necessary)\b|(?:{_ASKING_VERBS})(?![\w-]) *(?:{_ORDERS_TAKE}))",
                    re.I)
# WORD's words found without the pattern (`_words`): a text in bytes with each character WORD takes kept, a capital
# made small (A-Z -> a-z), "\x01" standing for "’", and anything else made a space.
_WORD_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or c in b"'-\x01" else 32 for c in range(256))
# What `_words` gives that WORD never finds (a single letter, an empty run), and the stop words: none is scored.
_UNSCORED = frozenset(w.encode() for w in STOPWORDS) | frozenset(bytes([c]) for c in range(97, 123)) | {b""}
_GREETING = re.compile(r"(?i:dear|hi|hello|hey|hiya|greetings|good)\b")  # a salutation's first word
# An opening "it" that stands for nothing before it ("It's been a busy year.", "It is with great sadness …", "It's time
# to …"): a first sentence so opening does not point back at a line before it.
_IT_AFRESH = re.compile(r"(?i:it(?:['’]s| has) been (?:a|an|another|quite|such|some)\b|it (?:is|was) with\b|"
                        r"it(?:['’]s| is) time\b)")
READ_CHARS = 4  # × max_chars: how much paragraph text is read and split (at least 1,200 characters)
CELL_WORDS = 8  # a table cell's paragraph serves with at least this many words (not a timetable's "Welcome.")
MIN_WORDS = 6  # a sentence after the lead has at least this many words, unless none has


def sentences(text: str) -> list[str]:
    """Every sentence of a plain text, a line at a time (a line break always ends a sentence)."""
    from plugins.transforms.sentences import split

    return [s for line in text.split("\n") for s in split(line)]


def summarise(text: str, max_chars: int, max_sentences: int) -> str:
    """The summary of a plain text, each line taken as a paragraph."""
    from plugins.transforms.paragraphs import Block

    blocks = [Block("p", [" ".join(line.split())]) for line in text.split("\n") if line.strip()]
    return _summarise(blocks, text, max_chars, max_sentences, None)


def summarise_html(body_html: str, max_chars: int, max_sentences: int, text: str | None = None,
                   title: str = "") -> str:
    """The summary of a sanitised HTML body. `text`, the body's plain text when at hand, gives the
    word counts; otherwise the paragraphs read do. A sentence that only says `title` again is not taken."""
    from plugins.transforms.paragraphs import paragraphs

    budget = max(1200, READ_CHARS * max_chars)
    return _summarise(paragraphs(body_html, budget), text, max_chars, max_sentences, budget, title)


def _summarise(blocks: list[Block], text: str | None, max_chars: int, max_sentences: int, limit: int | None,
               title: str = "") -> str:
    parts, quoted, unread = _candidates(blocks, limit, _said(title))
    if not parts:
        return ""
    # A later sentence leads only when the first is too long, and then not one that points back nor a quotation's:
    # better no summary than a cut one, or one that starts mid-thought. The first gives way too when it points back
    # at a paragraph left out as no sentence (`unread`: "Co-production involves parity of esteem …" without a stop,
    # then "This requires …"), unless no other can lead.
    lead = next((i for i, part in enumerate(parts) if len(part) <= max_chars and i not in quoted
                 and (not (unread and DANGLING.match(part) and not _IT_AFRESH.match(part)) if i == 0 else
                      not (DANGLING.match(part) or ASKING.match(part)))), None)
    if lead is None and unread and len(parts[0]) <= max_chars:
        lead = 0
    if lead is None:
        return ""
    parts = parts[lead:]
    # A later sentence that would not fit beside the lead is never chosen, whatever its score: only the others are
    # scored and sorted (the order among them is the same), and with one or none (or only the lead to take) the
    # scores decide nothing.
    room = max_chars - len(parts[0]) - 1
    # (max_sentences below 1, which the settings refuse, sets no limit, as it always has for a direct call)
    others = [i for i in range(1, len(parts)) if len(parts[i]) <= room] if max_sentences != 1 else []
    # A short aside ("Watch this space.", "More on this later.") scores high on its few words alone: it is taken only
    # when the text has no longer sentence to offer.
    longer = [i for i in others if parts[i].count(" ") >= MIN_WORDS - 1]
    if longer:
        others = longer
    if len(others) > 1:
        if text is None:
            text = " ".join(b.text for b in blocks)
        counts = Counter(_words(text))  # stop words too (quicker): they are never looked up
        scores = {}
        for index in others:
            words = list(filterfalse(_UNSCORED.__contains__, _words(parts[index])))
            scores[index] = sum(map(counts.__getitem__, words)) / (len(words) ** 0.5 or 1)
        # By score, highest first; among equal scores, in order (a reversed sort keeps equal keys in order).
        others.sort(key=scores.__getitem__, reverse=True)

    chosen: list[int] = [0]  # the lead always fits
    used = len(parts[0])
    for index in others:
        if len(chosen) == max_sentences:
            break
        if DANGLING.match(parts[index]) and index - 1 not in chosen:
            continue
        length = len(parts[index]) + 1
        if used + length <= max_chars:
            chosen.append(index)
            used += length
    return " ".join(parts[i] for i in sorted(chosen))


def _words(text: str) -> list[bytes]:
    r"""WORD's words of `text.lower()` ("’" as "\x01", in bytes), and besides them only single letters and empty
    runs (`_UNSCORED`): made by a table and a split, about twice as quick as the pattern. Each character WORD takes is
    kept and any other made a space, so that a run holds at most one word, from its first letter to its end. İ and K
    (the Kelvin sign) are the only characters but A-Z whose lower case is ASCII; a "\x01" already there is a
    character WORD does not take."""
    if "\u0130" in text or "\u212a" in text:
        text = text.lower()
    if "\x01" in text:
        text = text.replace("\x01", " ")
    runs = text.replace("’", "\x01").encode("ascii", "replace").translate(_WORD_BYTES).split()
    if runs and min(runs) < b"a":  # a run that starts with ' - or ’: its word (if any) starts after them
        runs = [run.lstrip(b"'-\x01") for run in runs]
    return runs


def _said(sentence: str) -> str:
    """What a sentence or a title says, for telling one that repeats the title: its words in lower case, without the
    stop at its end or the quotation marks around it, its apostrophes and quotes all straight ("We’re" is "We're")."""
    return " ".join(sentence.casefold().translate(_STRAIGHT).split()).strip(".!?…:;\"' ")


_STRAIGHT = str.maketrans("’‘“”«»„", "''\"\"\"\"\"")


def _candidates(blocks: list[Block], limit: int | None, title: str = "") -> tuple[list[str], set[int], bool]:
    """The real sentences of the paragraphs and quotes in order, from the first paragraph sentence on, each once,
    and which of them are a quote's (a quote cannot lead); those of the quotes, or else of the paragraphs inside
    table cells (an email laid out in tables; of `CELL_WORDS` or more), or else of the list items, when no paragraph
    has one (the cells and the list items are split only then). A sentence that says `title` (`_said`) again is left
    out: the title is shown above the summary. And whether a paragraph of five words or more, not a greeting, came
    before the first sentence and gave none (a line without a stop, which the first sentence may point back at)."""
    from plugins.transforms.sentences import real_sentences

    found: list[tuple[str, str]] = []
    unread = False
    for block in blocks:
        if block.kind == "p" or block.kind == "quote":
            sentences = real_sentences(block, limit)
            if sentences:
                found += [(block.kind, s) for s in sentences]
            elif not found and block.kind == "p" and not unread:
                words = block.text.split()
                unread = len(words) >= 5 and not _GREETING.match(words[0])
    first = next((n for n, (kind, _) in enumerate(found) if kind == "p"), None)
    if first is None:  # no paragraph: the quotes, or a table's paragraphs, or the list items are the text (may lead)
        found = [("p", s) for kind, s in found if kind == "quote"] or [
            ("p", s) for block in blocks if block.kind == "cell" and block.text.count(" ") >= CELL_WORDS - 1
            for s in real_sentences(block, limit)] or [
            ("li", s) for block in blocks if block.kind == "li" for s in real_sentences(block, limit)]
        first = 0
    parts, quoted, seen = [], set(), set()
    size = len(title)
    for kind, sentence in found[first:]:
        if title and size <= len(sentence) <= size + 3 and _said(sentence) == title:
            continue
        if sentence not in seen:  # a pull quote, or a paragraph a feed repeats: said once
            seen.add(sentence)
            if kind == "quote" and parts:
                quoted.add(len(parts))
            parts.append(sentence)
    return parts, quoted, unread


class SummaryTransform(Transform):
    name = "summary"
    in_workers = True  # needs only its settings and run.text_of
    description = "Extractive summary from the item's own sentences"

    class Settings(Settings):
        max_chars: int = Field(default=300, ge=40)
        max_sentences: int = Field(default=3, ge=1)
        overwrite: bool = False  # replace a summary a source already gave

    def apply(self, items: list[Item], run: RunContext) -> None:
        for item in items:
            if item.summary and not self.settings.overwrite:
                continue
            item.summary = summarise_html(item.body_html, self.settings.max_chars, self.settings.max_sentences,
                                          text=run.text_of(item), title=item.title)


@hookimpl
def register_transforms(register):
    register(SummaryTransform)
