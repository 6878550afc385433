"""The `fast` feed parser: common RSS 2.0 and Atom 1.0 documents read with lxml, exactly as feedparser reads them.

`read()` gives a feed's link and its entries as `parse_feed` would take them from feedparser, or None
("decline") for any document outside the subset read here exactly as feedparser reads it; the caller
then uses feedparser. Declining is always safe, a different answer would be the bug. To stay exact this
module borrows feedparser's own helpers (character encoding, URL joining, dates), follows its rules for
which element wins, and declines whatever else feedparser's handlers would act on: DOCTYPEs, xml:base,
markup or comments inside a field, xhtml or base64 content, unknown or re-bound namespace prefixes,
elements it has no rule for. tests/test_fastfeed.py compares both parsers over feedparser's own corpus.
"""

from __future__ import annotations

import io
import re

from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

from plugins.sources.feed import Entry, lead_images

ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_LANGUAGE = {"language", "dc_language"}
_ROOT = re.compile(rb"<\w")  # the root element's start: a DOCTYPE (and its entities) can only come before it
_AMP_REF = re.compile(r"&([A-Za-z0-9_]+);")

# feedparser's names: the standard prefix of each namespace it knows ('' for RSS and Atom), and every
# element it has a handler for ('title', 'dc_creator', ...). Any other element is filed under its name.
_PREFIXES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_STANDARD = set(_PREFIXES.values()) - {""}
_HANDLED = {name.split("_", 2)[2].lower() for name in dir(_FeedParserMixin) if name.startswith(("_start_", "_end_"))}
# Names feedparser would file a parsed date under (or map onto one): no element may be called so.
_PARSED = {"published_parsed", "updated_parsed", "date_parsed", "issued_parsed", "modified_parsed"}

_TITLE = {"title", "dc_title"}
_ID = {"id", "guid"}
_PUBLISHED = {"published", "issued", "pubdate", "dcterms_issued"}
_UPDATED = {"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"}
_AUTHOR = {"author", "dc_author", "dc_creator"}
_SUMMARY = {"summary", "itunes_summary", "description", "dc_description", "media_description"}
_CONTENT = {"content", "content_encoded"}
_ENTRY = {"item", "entry"}
_IMAGES = {"media_content", "media_thumbnail", "enclosure"}  # read wherever they are in an entry, as feedparser does

# Handled elements whose values parse_feed never reads and whose handlers change nothing it reads.
_TEXTUAL = {"subtitle", "tagline", "itunes_subtitle", "rights", "copyright", "dc_rights", "info",
            "feedburner_browserfriendly", "title", "dc_title", "media_title"}  # markup inside is text to feedparser
_PEOPLE = {"contributor", "dc_contributor", "name", "email", "uri", "url", "homepage", "itunes_name",
           "itunes_email", "webmaster", "dc_publisher"}
_TAGS = {"category", "keywords", "tags", "dc_subject", "itunes_category", "itunes_keywords"}
_MEDIA = {"media_content", "media_thumbnail", "media_category", "media_keywords", "media_rating", "media_credit",
          "media_restriction", "media_license", "media_player", "media_group"}
_OTHER = {"subtitle", "tagline", "itunes_subtitle", "rights", "copyright", "dc_rights", "created",
          "dcterms_created", "expirationdate", "language", "dc_language", "width", "height", "generator", "cloud",
          "enclosure", "itunes_image", "itunes_block", "itunes_explicit", "dcterms_valid"}
_SKIP_IN_ENTRY = _PEOPLE | _TAGS | _MEDIA | _OTHER
_SKIP_IN_FEED = (_PEOPLE | _TAGS | _MEDIA | _OTHER | _TITLE | _AUTHOR | _PUBLISHED | _UPDATED
                 | {"info", "feedburner_browserfriendly", "itunes_author", "managingeditor", "itunes_owner",
                    "newlocation", "media_title"})
_SKIP_IN_SOURCE = _SKIP_IN_FEED | {"link", "id", "guid"}  # an entry's <source>: feedparser files all this apart
# The children feedparser keeps inside <image> and <textinput>: any other resets its state half-way.
_INSIDE = {"image": {"title", "link", "description", "url", "href", "width", "height"},
           "textinput": {"title", "link", "description", "name"}}


class _Decline(Exception):
    """The document is outside what this module reads exactly as feedparser does."""


def read(content: bytes, url: str, content_type: str) -> tuple[str, list[Entry], str] | None:
    """(the feed's link, its entries, its language) as feedparser gives them, or None to leave the document to
    feedparser."""
    headers = {"content-location": url if "://" in url else ""}  # what parse_feed gives feedparser
    if content_type:
        headers["content-type"] = content_type
    result = {}
    data = convert_to_utf8(headers, content, result)  # feedparser's own choice of encoding
    root = _ROOT.search(data)
    if not result["encoding"] or not root or b"<!DOCTYPE" in data[:root.start()]:
        return None
    try:
        events = etree.iterparse(io.BytesIO(data), events=("start-ns",), resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False)
        declared = [namespace for _, namespace in events]
        root = events.root
        if any(key.rpartition("}")[2].lower() == "base" for el in root.iter(etree.Element) for key in el.keys()):
            return None  # xml:base, or a bare `base` attribute, which feedparser honours too
        return _Reader(headers["content-location"], declared).feed(root)
    except (etree.LxmlError, _Decline):
        return None


class _Reader:
    def __init__(self, location: str, declared: list[tuple[str, str]]):
        self.base = location and (make_safe_absolute_uri(location, location) or location)  # as feedparser has it
        self.unknown = _check_namespaces(declared)
        self.names: dict[str, str] = {}

    def feed(self, root) -> tuple[str, list[Entry], str]:
        if root.tag.lower() == "rss":
            channels = [el for el in root if isinstance(el.tag, str)]
            if len(channels) != 1 or self.name(channels[0]) != "channel":
                raise _Decline
            container = channels[0]
            language = root.get(XML_LANG) or ""  # the <rss> element's (not the channel's), unless a <language> says
        elif root.tag == ATOM_FEED:
            container = root
            language = root.get(XML_LANG) or ""
        else:
            raise _Decline  # RSS 1.0 (RDF), Atom 0.3, CDF, ...
        _check_container(container)
        link, entries = None, []
        has_summary = has_content = False  # feedparser's flags, which carry over into the next entry
        for el in container:
            if not isinstance(el.tag, str):
                continue
            name = self.name(el)
            if name in _ENTRY:
                entries.append(self.entry(el, has_content))
                has_content = False
            elif name == "link":
                link = self.link(el, link, in_entry=False)
            elif name in _ID:
                link = self.ident(el, link)[1]
            elif name in _SUMMARY or name in _CONTENT:
                self.text(el, typed=True)
                if name in _CONTENT or (has_summary and not has_content):
                    has_content = has_summary = True
                elif not name.endswith("description"):  # a feed's description is its subtitle
                    has_summary = True
            elif name in _INSIDE:
                for child in el:
                    if isinstance(child.tag, str) and (self.name(child) not in _INSIDE[name] or len(child)):
                        raise _Decline
            else:
                if name in _LANGUAGE:  # the last one, over an xml:lang (in Atom too)
                    language = self.text(el)
                self.skip(el, name, _SKIP_IN_FEED)
        return link or "", entries, language.strip()

    def entry(self, item, has_content: bool) -> Entry:
        """One entry, by feedparser's rules: the last id, author and date of each kind, the last link (or
        a permalink id before any), the first content, else the last summary."""
        _check_container(item)
        ident = link = title = summary = published = updated = None
        author, authors, contents = "", 0, []
        media = ([], [], [])  # feedparser's media_content, media_thumbnail and links (enclosures only)
        for el in item:
            if not isinstance(el.tag, str):
                continue
            name = self.name(el)
            if name in _TITLE:
                if title is not None:
                    raise _Decline  # which one wins depends on feedparser's depth bookkeeping
                title = self.text(el, typed=True)
            elif name == "link":
                link = self.link(el, link, in_entry=True, enclosures=media[2])
            elif name in _ID:
                ident, link = self.ident(el, link)
            elif name in _PUBLISHED:
                published = _parse_date(self.text(el))
            elif name in _UPDATED:
                updated = _parse_date(self.text(el))
            elif name in _AUTHOR:
                if authors and len(el):
                    raise _Decline  # feedparser would mix in parts of the author before it
                author = self.author(el)
                authors += 1
            elif name in _SUMMARY:
                value = self.text(el, typed=True)
                if summary is not None and not has_content:  # a second summary is read as content
                    has_content = True
                    contents.append(value)
                else:
                    summary = value
            elif name in _CONTENT:
                contents.append(self.text(el, typed=True))
                has_content = True
            elif name == "source":
                for child in el.iterchildren(etree.Element):
                    self.skip(child, self.name(child), _SKIP_IN_SOURCE)
            elif name in _LANGUAGE:
                raise _Decline  # an entry's own language: feedparser may take it for the feed's
            else:
                self.skip(el, name, _SKIP_IN_ENTRY)
                if len(el) or name in _IMAGES:
                    self.media(el, *media)
        body = contents[0] if contents else summary or ""
        return Entry(ident, link or "", title or "", body, published or updated, author, lead_images(*media))

    def name(self, el) -> str:
        """feedparser's name for an element: lower case, after its namespace's standard prefix."""
        tag = el.tag
        name = self.names.get(tag)
        if name is None:
            prefix, local = "", tag
            if tag[0] == "{":
                uri, local = tag[1:].split("}", 1)
                prefix = _standard_prefix(uri)
                if prefix is None:
                    prefix = self.unknown.get(uri)
                    if not prefix:
                        raise _Decline  # an unprefixed element in a namespace feedparser does not know
            name = self.names[tag] = f"{prefix}_{local}".lower() if prefix else local.lower()
        return name

    def text(self, el, resolve: bool = False, typed: bool = False) -> str:
        """The element's text as feedparser's pop() leaves it: stripped, resolved (a URI), repaired."""
        if len(el):
            raise _Decline  # markup, a comment or a processing instruction inside
        if typed:
            attrs = _attributes(el)
            if "mode" in attrs or _content_type(attrs.get("type", "text")) not in ("text/plain", "text/html"):
                raise _Decline  # xhtml, base64 or another type feedparser treats apart
        text = (el.text or "").strip()
        if resolve and text:
            text = _urljoin(self.base, text)
        return _repaired(text)

    def link(self, el, current: str | None, in_entry: bool, enclosures: list | None = None) -> str | None:
        attrs = _attributes(el)
        if "url" in attrs or "uri" in attrs:
            raise _Decline
        rel = attrs.get("rel", "alternate")
        if "href" not in attrs:  # RSS: the link is the text
            if in_entry and rel == "enclosure":
                raise _Decline  # feedparser would make the text the enclosure's address too
            link = self.text(el, resolve=True)
            if "&" in link:  # feedparser's repair of `?a=1&b;=2`
                link = _AMP_REF.sub(r"&\g<1>", link.replace("&amp;", "&") if in_entry else link)
            return link
        if len(el):
            raise _Decline
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "enclosure" and enclosures is not None:
            enclosures.append({"rel": rel, "type": kind, "href": _urljoin(self.base, attrs["href"])})
        if rel == "alternate" and _content_type(kind) in ("text/html", "application/xhtml+xml"):
            return _urljoin(self.base, attrs["href"])
        return current

    def ident(self, el, link: str | None) -> tuple[str, str | None]:
        """(the id, the link): an id that is a permalink (the default) is also the link if there is none yet."""
        permalink = _attributes(el).get("ispermalink", "true") == "true"
        ident = self.text(el, resolve=permalink)
        return ident, (ident if permalink and link is None else link)

    def author(self, el) -> str:
        """The text of an RSS author, or an Atom author's 'name (email)', 'name' or 'email'."""
        if not len(el):
            return self.text(el)
        if (el.text or "").strip():
            raise _Decline
        detail = {}
        for child in el:
            if (child.tail or "").strip() or len(child):
                raise _Decline
            if isinstance(child.tag, str):
                name = self.name(child)
                if name not in ("name", "email", "uri", "url", "homepage"):
                    raise _Decline
                detail[name] = (child.text or "").strip()  # feedparser neither repairs nor resolves these
        name, email = detail.get("name"), detail.get("email")
        return f"{name} ({email})" if name and email else name or email or ""

    def media(self, el, contents: list, thumbnails: list, links: list) -> None:
        """The media elements and enclosures in an element `skip` accepted, as feedparser lists them: in
        document order, with their attributes (an enclosure's url as its href). A thumbnail whose address
        is its text declines."""
        for inner in el.iter(etree.Element):
            name = self.name(inner)
            if name not in _IMAGES:
                continue
            attrs = _attributes(inner)
            if name == "media_content":
                contents.append(attrs)
            elif name == "media_thumbnail":
                if len(inner) or (inner.text or "").strip():
                    raise _Decline
                thumbnails.append(attrs)
            else:
                links.append({**_FeedParserMixin._enforce_href(attrs), "rel": "enclosure"})

    def skip(self, el, name: str, allowed: set[str]) -> None:
        """Check an element parse_feed does not read: feedparser must file it away and change nothing else."""
        if (name in _HANDLED and name not in allowed) or name in _PARSED:
            raise _Decline
        if len(el) and name in _TEXTUAL:  # the markup inside is text to feedparser, yet it calls end handlers
            if any(self.name(inner) in _HANDLED for inner in el.iterdescendants(etree.Element)):
                raise _Decline
            return
        for child in el.iterchildren(etree.Element):
            self.skip(child, self.name(child), allowed)


def _check_namespaces(declared: list[tuple[str, str]]) -> dict[str, str]:
    """The prefix of each namespace feedparser does not know (its elements are named after it). Declines
    a document where feedparser's document-wide, first-come prefix tables would name an element otherwise."""
    bound, unknown = {}, {}
    for prefix, uri in declared:
        if not prefix or not uri:
            continue  # default namespaces: elements are named by URI (`name` declines unknown ones)
        if bound.setdefault(prefix, uri) != uri:
            raise _Decline  # one prefix, two namespaces
        standard = _standard_prefix(uri)
        if standard is None:
            if unknown.setdefault(uri, prefix) != prefix:
                raise _Decline  # one namespace, two prefixes
        elif prefix in _STANDARD and prefix != standard:
            raise _Decline  # e.g. `dc` bound to dcterms: feedparser would rename every dc element
    known = {prefix: standard for prefix, uri in bound.items() if (standard := _standard_prefix(uri)) is not None}
    if any(prefix.lower() in known or prefix.lower() in known.values() for prefix in unknown.values()):
        raise _Decline  # an unknown namespace under a prefix feedparser also files a known one under
    return unknown


def _standard_prefix(uri: str) -> str | None:
    low = uri.lower()
    return "" if "backend.userland.com/rss" in low else _PREFIXES.get(low)


def _attributes(el) -> dict[str, str]:
    """Attributes under the names feedparser's handlers look them up by: 'type', 'href', 'rdf:about'."""
    attrs = {}
    for key, value in el.items():
        if key[0] == "{":
            uri, key = key[1:].split("}", 1)
            prefix = _standard_prefix(uri)
            key = f"{prefix}:{key}" if prefix else key  # in RSS, Atom or an unknown namespace: the bare name
        key = key.lower()
        if key in attrs:
            raise _Decline
        attrs[key] = value.lower() if key in ("rel", "type") else value
    return attrs


def _check_container(el) -> None:
    """An item, channel or feed that is RDF (rdf:about) or CDF (href, lastmod) declines."""
    if not {"href", "lastmod", "rdf:about"}.isdisjoint(_attributes(el)):
        raise _Decline


def _content_type(kind: str) -> str:
    kind = kind.lower()
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html",
            "xhtml": "application/xhtml+xml"}.get(kind, kind)


def _repaired(text: str) -> str:
    """feedparser's last touch on element text: UTF-8 read as Latin-1 is repaired, C1 controls become cp1252."""
    if text.isascii():
        return text
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except UnicodeError:
        pass
    return text.translate(_cp1252)
