"""feedparser's table of Windows-1252 characters, with every ASCII character mapped to itself as well.

At the end of each element with text, feedparser's `mixin.pop` maps the characters 128 to 159 (Windows-1252's
curly quotes and dashes, written into a feed as Latin-1) to what they were meant to be:
`output.translate(_cp1252)`. `str.translate` looks each distinct character of an ASCII text up in the table
once per call, and each that is missing (all of them: the table has none below 128) raises a KeyError that it
then clears: half the time of the call, 68,000 calls over the bench corpus.

`use_with(feedparser)` gives `feedparser.mixin` a copy of the table (`Table`, keeping feedparser's as its
`original`) in which each of the 128 ASCII characters also maps to itself, which is what a missing one
becomes; feedparser's own entries are kept as they are, so every text is translated the same
(tests/test_feedparser_speedups.py compares the results over feedparser's own corpus, and the translation of every
character below 256 and random texts).
"""

from __future__ import annotations

from types import ModuleType


class Table(dict):
    """feedparser's table with each ASCII character mapped to itself; feedparser's own as `original`."""

    original: dict


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's element handler (`feedparser.mixin`) the fuller table (once; harmless to repeat)."""
    mixin = feedparser.mixin
    original = mixin._cp1252
    if original is not feedparser.html._cp1252:  # done already, or another's replacement: theirs stays
        return
    table = Table((code, code) for code in range(128))
    table.update(original)
    table.original = original
    mixin._cp1252 = table
