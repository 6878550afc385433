"""feedparser's copy of a content element's parameters, made directly instead of by `copy.deepcopy`.

When an element that holds content ends (a title, a summary, each `content`), feedparser's `mixin.pop`
stores beside its value a copy of the element's parameters (`contentparams`: a FeedParserDict of its
type, language and base, and `src` for some) by `copy.deepcopy`. That goes through the general
machinery (`__reduce_ex__`, a memo, each key and value copied in turn, each set through
FeedParserDict's `__setitem__`) three times per entry: a twelfth of the time feedparser takes.

`use_with(feedparser)` gives `feedparser.mixin` this module as its `copy`. Its `deepcopy` copies a
FeedParserDict with only feedparser's own parameter names as keys, immutable values of the types
`copy.deepcopy` returns as they are (strings, numbers, None) and no attributes set on it, as a new
FeedParserDict with the same items in the same order, which is what `copy.deepcopy` makes of it;
anything else goes to `copy.deepcopy`. The results are the same (tests/test_feedparser_speedups.py compares
them over feedparser's own corpus); a feed's content cannot add a key, and a copy costs at most
`len(PARAMETERS)` steps.
"""

from __future__ import annotations

import copy as original
import sys
from types import ModuleType

from feedparser.util import FeedParserDict

# The keys feedparser puts in `contentparams`, and `value`, which it adds to the copy. None is in
# FeedParserDict.keymap (its __setitem__ would rename it), none is a name Python looks up on the object.
PARAMETERS = frozenset({"type", "language", "base", "base64", "mode", "src", "value"})
_AS_THEY_ARE = frozenset({str, bytes, int, float, bool, type(None)})  # copy.deepcopy returns these untouched


def deepcopy(value, memo=None, _nil=[]):  # noqa: B006 (copy.deepcopy's own signature)
    """copy.deepcopy(value), made directly for feedparser's parameters."""
    if memo is None and type(value) is FeedParserDict and value.keys() <= PARAMETERS and not value.__dict__:
        for item in value.values():
            if type(item) not in _AS_THEY_ARE:
                break
        else:
            return FeedParserDict(value)
    return original.deepcopy(value, memo, _nil)


def __getattr__(name: str):
    """Every other name of the `copy` module, as it is."""
    return getattr(original, name)


def use_with(feedparser: ModuleType) -> None:
    """Give feedparser's element handler (`feedparser.mixin`) this module as `copy` (once; harmless to repeat)."""
    mixin = feedparser.mixin
    if mixin.copy is original:  # not done already, nor another's replacement (theirs stays)
        mixin.copy = sys.modules[__name__]
