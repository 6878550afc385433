"""feedparser's FeedParserDict looking up a plain key as a dict does, without its aliases' detour.

FeedParserDict's `__getitem__` answers old names (`channel`, `guid`, `description`: its `keymap`) and
five keys it works out (`category`, `enclosures`, `license`, `updated`, `updated_parsed`); for any other
key it ends in `dict.__getitem__`, after five comparisons, a lookup in `keymap` and two in the
dictionary. Its `get` calls it in a `try`. feedparser itself asks a FeedParserDict for plain keys
(`contentparams.get("type")` for every piece of text) over forty times per entry: a sixth of the time
it takes.

`use_with(feedparser)` gives FeedParserDict a `__getitem__`, a `get` and a `__contains__` (`in`, which
feedparser's asks of `__getitem__` in a `try`) that look a plain key up as `dict` does and hand everything
else to feedparser's own (kept as their `original`): a key that is not exactly a `str`, one in `keymap`
or one of the five, and for `get` and `in` a subclass (its `__getitem__` may be its own). The answers,
the exceptions and the warnings are the same (tests/test_feedparser_speedups.py compares the results over
feedparser's own corpus, and each lookup with feedparser's). It does so only for a feedparser whose
`__getitem__` names the keys it was read for (`READ_FOR`) and whose `__contains__` names none but
`updated` and `updated_parsed`; another version keeps its own lookups.
"""

from __future__ import annotations

from types import ModuleType

WORKED_OUT = frozenset({"category", "enclosures", "license", "updated", "updated_parsed"})
# The names in feedparser 6.0's FeedParserDict.__getitem__: the five above, the keys it reads them
# from, and its messages (found by their first words)
READ_FOR = WORKED_OUT | {"href", "links", "published", "published_parsed", "rel", "tags", "term"}
_MESSAGES = ("\n        :return:", "To avoid breaking existing software", "object doesn't have key")


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's FeedParserDict the plain lookups (once; harmless to repeat)."""
    feed_parser_dict = feedparser.util.FeedParserDict
    original_getitem, original_get = feed_parser_dict.__getitem__, feed_parser_dict.get
    original_contains = feed_parser_dict.__contains__
    if getattr(original_getitem, "original", None) is not None or not _names_as_read(original_getitem):
        return
    if any(function.__module__ != "feedparser.util" for function in (original_get, original_contains)):
        return  # another's replacement: theirs stays
    if not _names(original_contains) <= {"updated", "updated_parsed"}:
        return
    plain_getitem, plain_get, plain_contains = dict.__getitem__, dict.get, dict.__contains__

    def __getitem__(self, key):
        if type(key) is str and key not in WORKED_OUT and key not in self.keymap:
            return plain_getitem(self, key)
        return original_getitem(self, key)

    def get(self, key, default=None):
        if type(self) is feed_parser_dict and type(key) is str and key not in WORKED_OUT and key not in self.keymap:
            return plain_get(self, key, default)
        return original_get(self, key, default)

    def __contains__(self, key):
        if type(self) is feed_parser_dict and type(key) is str and key not in WORKED_OUT and key not in self.keymap:
            return plain_contains(self, key)
        return original_contains(self, key)

    __getitem__.original, get.original, __contains__.original = original_getitem, original_get, original_contains
    feed_parser_dict.__getitem__, feed_parser_dict.get, feed_parser_dict.__contains__ = __getitem__, get, __contains__


def _names_as_read(getitem) -> bool:
    """Whether feedparser's __getitem__ names exactly the keys this module was written for."""
    return {name for name in _names(getitem) if not name.startswith(_MESSAGES)} == READ_FOR


def _names(function) -> set[str]:
    """The strings among a function's constants, and in its tuples of constants."""
    found = set()
    for constant in function.__code__.co_consts:
        found.update(name for name in (constant if isinstance(constant, tuple) else (constant,))
                     if isinstance(name, str))
    return found
