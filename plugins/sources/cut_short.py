"""Whether a feed that is not well-formed was cut short: it ends before its root element is closed.

So it is when a server stops part-way through a document and the transport does not notice (a body that
ends when the connection closes, a truncated file served with its own length). feedparser's loose parser
still reads such a document, and gives the entry the input ended in as if it were whole.
"""

from __future__ import annotations

import re

# Text that is not markup, so an <item> or </rss> inside it is not a tag; one left open runs to the end.
_NOT_MARKUP = re.compile(rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)", re.S)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)([^<>]*)")  # the first start tag (<?xml, <!DOCTYPE, <!-- do not match)
_XMLNS = re.compile(rb"""\sxmlns(?::([\w.-]+))?\s*=\s*(["'])(.*?)\2""", re.S)
_ATOM, _RSS_1 = b"http://www.w3.org/2005/atom", b"http://purl.org/rss/1.0/"  # lower case, as feedparser matches
_START = re.compile(rb"<((?:([\w.-]+):)?(item|entry))(?:\s[^<>]*)?(?<!/)>", re.I)  # a whole start tag of either


def cut_short(data: bytes) -> tuple[bool, bool]:
    """(whether `data`, a feed's XML in UTF-8, ends before its root element's end tag, and whether it ends
    inside an entry).

    The rule, on the bytes outside CDATA sections and comments: the document was cut short when no end
    tag of its root element (</rss>, </feed>, </rdf:RDF>) follows the root's start; it ended inside an
    entry when no end tag of the same name follows the last whole start tag of an entry (`_entries`). An end
    tag broken off at the very end (</rss and only white space after it) counts: the element is all there, and
    a document that ends so (feedparser's test corpus has several) would otherwise be called cut short on every
    run. A start tag cut off part-way does not count: the loose parser makes no entry of it, so the entry
    before it, closed, is the last one.
    """
    data = _NOT_MARKUP.sub(b"", data)
    root = _ROOT.search(data)
    if not root or _closed(root[1], data, root.end()):
        return False, False
    name, others = _entries(root[1], root[2])
    last = None
    for start in _START.finditer(data, root.end()):  # one pass, however many prefixes the root declares
        if start[3].lower() == name and start[2] not in others:
            last = start
    return True, last is not None and not _closed(last[1], data, last.end())


def _entries(root: bytes, attributes: bytes) -> tuple[bytes, set[bytes | None]]:
    """What an entry is called under the root element `root` (its start tag's `attributes` after the name):
    <item> in RSS (<rss>, <rdf:RDF>), <entry> in Atom (<feed>); and the prefixes that do not make one, those
    the root binds to another namespace than the feed's own (RSS 1.0's or Atom's; RSS 2.0 has none): so
    <media:item> or <x:entry> of an extension is not an entry, as it is not for feedparser, while <item>, and
    a prefix the root binds to the feed's namespace or does not bind at all, is."""
    local = root.rpartition(b":")[2].lower()
    name, namespace = (b"entry", _ATOM) if local == b"feed" else (b"item", _RSS_1 if local == b"rdf" else None)
    return name, {prefix for prefix, _, uri in _XMLNS.findall(attributes) if prefix and uri.lower() != namespace}


def _closed(name: bytes, data: bytes, start: int) -> bool:
    return re.compile(rb"</" + re.escape(name) + rb"\s*(?:>|\Z)", re.I).search(data, start) is not None
