"""feedparser's base URI of each element, worked out once per distinct pair instead of at every element.

At every start tag feedparser works out the element's base URI: `make_safe_absolute_uri(base, xml:base)`,
which, without an `xml:base`, is the base joined with itself; `urljoin` and three `urlparse` calls, a
seventh of the time feedparser takes over a feed. The function depends on its two strings alone (and on
feedparser's constant list of acceptable schemes), so `use_with(feedparser)` gives the element handler a
cached copy of it; what it returns is unchanged (tests/test_feedparser_speedups.py compares the results over
feedparser's own corpus). Only short pairs are kept, so a hostile feed with long `xml:base` values cannot fill
memory for the life of the process; and feedparser's list of acceptable schemes is taken as the constant it is.
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType

CACHED = 256  # distinct (base, xml:base) pairs kept: a feed has a handful
LONGEST = 2048  # characters of a pair worth keeping: a few megabytes at most in all


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's element handler (`feedparser.mixin`) the cached function (once; harmless to repeat)."""
    mixin = feedparser.mixin
    if mixin.make_safe_absolute_uri is not feedparser.urls.make_safe_absolute_uri:  # done, or another's: theirs stays
        return
    original = mixin.make_safe_absolute_uri
    cached = lru_cache(maxsize=CACHED)(original)

    def make_safe_absolute_uri(base, rel=None):
        if len(base or "") + len(rel or "") > LONGEST:
            return original(base, rel)
        return cached(base, rel)

    make_safe_absolute_uri.original, make_safe_absolute_uri.cached = original, cached
    mixin.make_safe_absolute_uri = make_safe_absolute_uri
