"""feedparser made cheaper without changing what it gives: each module here replaces one of its internals with
an exact equivalent, keeps the original (`.original`), and is applied by `use_with(feedparser)`, at most once
however often it is called, and only over feedparser's own: what another plugin replaced first stays its.

- `buffered_expat`: expat fed in large buffers, the same events in the same order;
- `base_uri_cache`: each element's base URI worked out once per distinct (base, xml:base) pair;
- `params_copy`: each content element's parameters copied directly, not by `copy.deepcopy`;
- `plain_keys`: a FeedParserDict's plain keys looked up as a dict's are (its aliases as before);
- `plain_urls`: an absolute http(s) link taken as it is instead of joined with the base;
- `cp1252_table`: ASCII text translated without a KeyError per character;
- `unique_tags`: each new tag (a category, a keyword) looked up in a set, not compared with every one before it.

tests/test_feedparser_speedups.py compares each with feedparser's own code, and the whole over feedparser's
test corpus.
"""

from __future__ import annotations

from types import ModuleType


def use_with(feedparser: ModuleType) -> None:
    """Apply every speed-up to `feedparser` (harmless to repeat)."""
    # buffered_expat loads xml.sax, as feedparser's strict parser does anyway
    from plugins.sources.feedparser_speedups import (
        base_uri_cache,
        buffered_expat,
        cp1252_table,
        params_copy,
        plain_keys,
        plain_urls,
        unique_tags,
    )

    for speedup in (buffered_expat, base_uri_cache, params_copy, plain_keys, plain_urls, cp1252_table, unique_tags):
        speedup.use_with(feedparser)
