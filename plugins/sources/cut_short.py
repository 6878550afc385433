"""Whether a feed that is not well-formed was cut short: it ends before its root element is closed.

So it is when a server stops part-way through a document and the transport does not notice (a body that
ends when the connection closes, a truncated file served with its own length). feedparser's loose parser
still reads such a document, and gives the entry the input ended in as if it were whole.
"""

from __future__ import annotations

import re

# Text that is not markup, so an <item> or </rss> inside it is not a tag; one left open runs to the end.
_NOT_MARKUP = re.compile(rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)", re.S)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")  # the first start tag (<?xml, <!DOCTYPE and <!-- do not match)


def cut_short(data: bytes) -> tuple[bool, bool]:
    """(whether `data`, a feed's XML in UTF-8, ends before its root element's end tag, and whether it ends
    inside an entry).

    The rule, on the bytes outside CDATA sections and comments: the document was cut short when no end
    tag of its root element (</rss>, </feed>, </rdf:RDF>) follows the root's start; it ended inside an
    entry when no end tag of the same name follows the last whole start tag of an entry (<item> in RSS,
    <entry> in Atom, under any namespace prefix). A start tag cut off part-way does not count: the loose
    parser makes no entry of it, so the entry before it, closed, is the last one.
    """
    data = _NOT_MARKUP.sub(b"", data)
    root = _ROOT.search(data)
    if not root or _closed(root[1], data, root.end()):
        return False, False
    entry = rb"entry" if root[1].rpartition(b":")[2].lower() == b"feed" else rb"item"
    starts = list(re.finditer(rb"<((?:[\w.-]+:)?" + entry + rb")(?:\s[^<>]*)?(?<!/)>", data, re.I))
    return True, bool(starts) and not _closed(starts[-1][1], data, starts[-1].end())


def _closed(name: bytes, data: bytes, start: int) -> bool:
    return re.compile(rb"</" + re.escape(name) + rb"\s*>", re.I).search(data, start) is not None
