"""feedparser's `_add_tag` without comparing each new tag with every one before it.

`mixin._add_tag` keeps each distinct tag (term, scheme, label) of an entry, or of the feed, once: `if value not in
tags`, a comparison with every tag the element has so far. An entry with n categories cost n²/2 comparisons: 5,000
took a second, 50,000 would take a source's whole deadline, and a feed may give as many as it likes.

`use_with(feedparser)` gives `_FeedParserMixin` an `_add_tag` (keeping feedparser's as its `original`) that looks
the tag up among those before the last in a set kept for each list by the parser, and compares it with the last as
feedparser does: the last tag is the only one feedparser changes after adding it (`_end_category` gives it its
term), so a tag is added exactly when feedparser's would add it. A list found longer or shorter than this method
left it, or holding a tag whose values cannot be a set's, is read afresh or left to feedparser's own. The
results are the same (tests/test_feedparser_speedups.py compares them over feedparser's own corpus, and over random
categories, keywords and their changes).
"""

from __future__ import annotations

from types import ModuleType


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's element handler the set-backed `_add_tag` (once; harmless to repeat)."""
    mixin = feedparser.mixin._FeedParserMixin
    original = mixin._add_tag
    if getattr(original, "original", None) is not None or original.__module__ != "feedparser.mixin":
        return  # done already, or another's replacement: theirs stays
    feed_parser_dict = feedparser.util.FeedParserDict

    def _add_tag(self, term, scheme, label):
        if (not term) and (not scheme) and (not label):
            return original(self, term, scheme, label)  # (feedparser's: it adds an empty list of tags, no tag)
        tags = self._get_context().setdefault("tags", [])
        seen = self.__dict__.setdefault("_tags_seen", {})  # id(list) -> [the list, keys of all but its last, length]
        kept = seen.get(id(tags))
        try:
            if kept is None or kept[0] is not tags or kept[2] != len(tags):
                kept = seen[id(tags)] = [tags, {frozenset(tag.items()) for tag in tags[:-1]}, len(tags)]
            value = feed_parser_dict(term=term, scheme=scheme, label=label)
            if frozenset(value.items()) in kept[1] or (tags and value == tags[-1]):
                return
            if tags:
                kept[1].add(frozenset(tags[-1].items()))
        except TypeError:  # a value no set can hold: feedparser's own comparisons
            seen.pop(id(tags), None)
            return original(self, term, scheme, label)
        tags.append(value)
        kept[2] = len(tags)

    _add_tag.original = original
    mixin._add_tag = _add_tag
