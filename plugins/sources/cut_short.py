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


def cut_short(data: bytes) -> tuple[bool, bool]:
    """(whether `data`, a feed's XML in UTF-8, ends before its root element's end tag, and whether it ends
    inside an entry).

    The rule, on the bytes outside CDATA sections and comments: the document was cut short when no end
    tag of its root element (</rss>, </feed>, </rdf:RDF>) follows the root's start; it ended inside an
    entry when no end tag of the same name follows the last whole start tag of an entry (`_entry`). An end
    tag broken off at the very end (</rss and only white space after it) counts: the element is all there, and
    a document that ends so (feedparser's test corpus has several) would otherwise be called cut short on every
    run. A start tag cut off part-way does not count: the loose parser makes no entry of it, so the entry
    before it, closed, is the last one.
    """
    data = _NOT_MARKUP.sub(b"", data)
    root = _ROOT.search(data)
    if not root or _closed(root[1], data, root.end()):
        return False, False
    starts = list(re.finditer(rb"<(" + _entry(root[1], root[2]) + rb")(?:\s[^<>]*)?(?<!/)>", data, re.I))
    return True, bool(starts) and not _closed(starts[-1][1], data, starts[-1].end())


def _entry(root: bytes, attributes: bytes) -> bytes:
    """A pattern of an entry's name under the root element `root`, its start tag's `attributes` after the name:
    <item> with no prefix in RSS 2.0 (<rss>); <item> in RSS 1.0's namespace (<rdf:RDF>), <entry> in Atom's
    (<feed>), with a prefix the root binds to it, or none if it is the default. An element of another namespace
    named the same (<x:item>) is not an entry, nor one for feedparser. When the namespace cannot be told (not
    declared on the root), <item> or in Atom <entry> under any prefix."""
    if root.lower() == b"rss":
        return rb"item"
    local = root.rpartition(b":")[2].lower()
    name, namespace = (b"entry", _ATOM) if local == b"feed" else (b"item", _RSS_1 if local == b"rdf" else None)
    prefixes = [re.escape(prefix) + b":" if prefix else b""
                for prefix, _, uri in _XMLNS.findall(attributes) if uri.lower() == namespace]
    return rb"(?:" + b"|".join(prefixes or [rb"[\w.-]+:", b""]) + rb")" + name


def _closed(name: bytes, data: bytes, start: int) -> bool:
    return re.compile(rb"</" + re.escape(name) + rb"\s*(?:>|\Z)", re.I).search(data, start) is not None
