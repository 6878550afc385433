"""feedparser's base URI of each element, worked out once per distinct pair instead of at every element.

At every start tag feedparser works out the element's base URI: `make_safe_absolute_uri(base, xml:base)`,
which, without an `xml:base`, is the base joined with itself; `urljoin` and three `urlparse` calls, a
seventh of the time feedparser takes over a feed. The function depends on its two strings alone (and on
feedparser's constant list of acceptable schemes), so `use_with(feedparser)` gives the element handler a
cached copy of it; what it returns is unchanged (tests/test_buffered_expat.py compares the results over
feedparser's own corpus).
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType

CACHED = 1024  # distinct (base, xml:base) pairs kept: a feed has a handful


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's element handler (`feedparser.mixin`) the cached function (once; harmless to repeat)."""
    mixin = feedparser.mixin
    if not hasattr(mixin.make_safe_absolute_uri, "cache_info"):
        mixin.make_safe_absolute_uri = lru_cache(maxsize=CACHED)(mixin.make_safe_absolute_uri)
