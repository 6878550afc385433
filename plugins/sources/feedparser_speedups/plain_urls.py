"""feedparser's join of a plain absolute URL with the element's base: the URL itself, found without joining.

feedparser resolves each `link`, `id` (of a guid that is a permalink) and other URL element against the
element's base URI (`mixin.resolve_uri`: `urls._urljoin`). That takes extra slashes out after the scheme
with a regular expression, whose replacement template Python 3.11 expands in Python at each call, then
calls `urljoin`, which parses both and puts the URL together again: a sixteenth of the time feedparser
takes, for URLs that are nearly always absolute already.

For a URL that is absolute and plain (`PLAIN`: http or https in lower case, a host name of ASCII letters,
digits, dots and hyphens, a port perhaps, then a path, a query and a fragment of ASCII characters that need
no escaping, each non-empty if its mark is there, no parameters), `_urljoin` gives the URL itself whatever
the base, as long as the base is empty or parses (when it does not, it gives ""). `use_with(feedparser)`
gives the element handler (`feedparser.mixin`) a `_urljoin` that answers so and hands anything else to
feedparser's own (kept as its `original`); the results are the same (tests/test_feedparser_speedups.py compares
them over feedparser's own corpus, and this function with feedparser's over generated URLs and bases).
"""

from __future__ import annotations

from types import ModuleType

# The URLs urljoin gives back as they are, whatever the base, as long as the base parses (else feedparser gives "")
from pipeline.sanitize import PLAIN_URL as PLAIN
from pipeline.sanitize import base_parses


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's element handler the shortcut (once; harmless to repeat)."""
    mixin = feedparser.mixin
    if mixin._urljoin is not feedparser.urls._urljoin:  # done already, or another's replacement: theirs stays
        return
    original = mixin._urljoin

    def _urljoin(base, uri):
        if type(uri) is str and PLAIN.fullmatch(uri) and (not base or type(base) is str and base_parses(base)):
            return uri
        return original(base, uri)

    _urljoin.original = original
    mixin._urljoin = _urljoin
