"""Untrusted HTML in, safe HTML out: an allow-list sanitiser (nh3) and plain-text helpers.

Every HTML field from a source passes through `clean_html` before it is stored, and every
title through `plain_text`, so no sink ever sees markup it did not write itself.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import nh3

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# Block elements stay (div, section, article included): unwrapped, their texts would run together.
TAGS = {
    "a", "abbr", "article", "b", "blockquote", "br", "caption", "cite", "code", "dd", "div", "dl", "dt", "em",
    "figcaption", "section",
    "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s", "small",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_SPACE = re.compile(r"\s+")
_BLOCK_END = re.compile(
    r"<(?:br|/p|/li|/h[1-6]|/div|/section|/article|/blockquote|/tr|/td|/th|/dd|/dt|/pre|/figcaption|/caption)\b[^>]*>",
    re.I)
# Characters no output can carry: XML 1.0 forbids them, MJML chokes on them, mail clients show junk.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')  # a tag as nh3 writes it: attribute values in double quotes
_ASCII_CONTROLS = bytes([*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])  # what _CONTROL finds in ASCII
_UNSAFE_IN_URL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")  # _CONTROL, tab, line feed, CR
# An absolute URL that urljoin gives back as it is, whatever the base (one that parses), and whose scheme safe_url
# allows: http or https in lower case, an ASCII host name, a port perhaps, then a path, and a query and fragment
# each non-empty if its mark is there, of ASCII characters that need no escaping; no parameters (";")
_URL_PART = r"[\w\-.~!$&'()*+,=:@%/]"
PLAIN_URL = re.compile(rf"https?://[A-Za-z0-9][A-Za-z0-9.\-]*(?::[0-9]+)?(?:/{_URL_PART}*)?(?:\?{_URL_PART}+)?"
                       rf"(?:#{_URL_PART}+)?", re.ASCII)
_STRIP_ALL = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"}, attributes={})
# Block elements nested this deep are the most a fragment keeps: deeper ones are read as their content. At each block's
# start html5ever (under nh3) looks through every element still open, so a hostile feed's <div> nested 20,000 times
# cost the depth squared, 1.4 s a call (Chromium's parser stops nesting at 512 too).
MAX_DEPTH = 256
_NESTING_BLOCK = re.compile(r"<(/?)(?:address|article|aside|blockquote|center|details|dialog|dir|div|dl|fieldset|"
                            r"figcaption|figure|footer|header|hgroup|main|menu|nav|ol|search|section|ul)"
                            r"(?![A-Za-z0-9-])[^<>]*>", re.IGNORECASE)  # (not past a "<": "<div" 10,000 times, no ">")


_base = threading.local()  # the base URL of the fragment being cleaned, and its origin once needed, per thread
# A path from the root with nothing urljoin would change: no empty, "." or ".." segment (nor one starting with
# "."), no parameters, query or fragment, ASCII letters, digits and punctuation that needs no escaping only
_ROOT_PATH = re.compile(r"(?:/[\w\-~!$&'()*+,=:@%][\w\-.~!$&'()*+,=:@%]*)+/?", re.ASCII)


def _absolute(url: str) -> str | None:
    """Called by nh3 for each relative URL: a file of the source's own (`clean_html`'s `local`), else resolved
    against the current base, or dropped."""
    local = getattr(_base, "local", None)
    if local is not None and (address := local(url)):
        return address
    base = getattr(_base, "url", "")
    if not base:
        return None
    if url[:1] == "/" and _ROOT_PATH.fullmatch(url):  # half of all relative links: safe_url gives the origin + url
        origin = getattr(_base, "origin", None)
        if origin is None:
            origin = _base.origin = _origin(base)
        if origin:
            return origin + url
    return safe_url(url, base) or None


def _origin(base_url: str) -> str:
    """"scheme://host" of an http(s) URL with a host, as urljoin puts a path from the root after it; else ""."""
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


# One cleaner for every call: nh3 checks schemes itself and asks Python only about relative URLs.
_CLEANER = nh3.Cleaner(
    tags=TAGS,
    clean_content_tags={"script", "style"},
    attributes=ATTRIBUTES,
    url_schemes=set(ALLOWED_SCHEMES),
    url_relative=_absolute,
    link_rel="noopener noreferrer",
)


class Clean(str):
    """HTML exactly as `clean_html` returned it. The host does not clean a body of this very type again (the built-in
    sources clean their own, in the worker processes): any change to it (`+`, `.replace`, a slice) gives a plain
    `str`, which the host cleans, so a source that copies HTML from elsewhere into a body cannot skip the cleaning by
    mistake."""

    __slots__ = ()


def clean_html(fragment: str, base_url: str = "", local: Callable[[str], str | None] | None = None) -> Clean:
    """Sanitise an HTML fragment; relative links are made absolute against `base_url`, or dropped. `local`, when
    given, is asked first about each relative link: the address of a file of the source's own that the site
    publishes (the blog's images), or None."""
    if not fragment:
        return Clean()
    _base.url, _base.origin, _base.local = base_url, None, local
    return Clean(_CLEANER.clean(_shallow(strip_controls(fragment))).strip())


def plain_text(fragment: str) -> str:
    """Text of an HTML (or plain) fragment, entities decoded, white space folded: for titles."""
    if not fragment:
        return ""
    if "<" in fragment:
        fragment = _STRIP_ALL.clean(_shallow(fragment))
    return _SPACE.sub(" ", strip_controls(html.unescape(fragment))).strip()


# An entity a feed escaped twice ("It&amp;#8217;s", shown as "It&#8217;s"): a character reference, or one of the
# typographic named entities WordPress writes. Never "&amp;amp;" nor "&amp;lt;": a post about HTML writes them to show
# "&amp;" and "&lt;", and a single "&amp;" is an ampersand.
_TWICE = re.compile(r"&amp;(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|(?:nbsp|ensp|emsp|thinsp|ndash|mdash|hellip|lsquo|"
                    r"rsquo|sbquo|ldquo|rdquo|bdquo|laquo|raquo|lsaquo|rsaquo|bull|middot|pound|euro|copy|reg|trade);)")


def escaped_once(fragment: str) -> str:
    """`fragment` (HTML, or a feed's title) with each entity its feed escaped twice escaped once (`_TWICE`)."""
    return _TWICE.sub(r"&\1", fragment) if "&amp;" in fragment else fragment


def _shallow(fragment: str) -> str:
    """`fragment` without the start and end tags of blocks nested deeper than `MAX_DEPTH` (their content stays); as it
    is when none is (a fragment with fewer tags than that cannot be)."""
    if fragment.count("<") <= MAX_DEPTH:
        return fragment
    kept, at, depth = [], 0, 0
    for tag in _NESTING_BLOCK.finditer(fragment):
        if tag[1]:  # an end tag: of a block dropped while it is deeper than the limit
            depth = max(depth - 1, 0)
            deeper = depth >= MAX_DEPTH
        else:
            depth += 1
            deeper = depth > MAX_DEPTH
        if deeper:
            kept.append(fragment[at:tag.start()])
            at = tag.end()
    if not kept:
        return fragment
    kept.append(fragment[at:])
    return "".join(kept)


def strip_controls(text: str) -> str:
    """The text without control characters (tab, line feed and carriage return stay)."""
    if text.isascii():  # most bodies: bytes.translate looks for the controls four times as fast as the pattern
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_CONTROLS)) == len(data):
            return text
    return _CONTROL.sub("", text)


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*", re.ASCII)  # BCP 47's shape: "cy", "en-GB"


def language_tag(text: str) -> str:
    """A language tag as a feed gives it ("cy", "en-GB", " fr "), trimmed; "" for anything else, which no `lang`
    attribute may carry."""
    text = (text or "").strip()
    return text if len(text) <= 35 and _LANGUAGE_TAG.fullmatch(text) else ""


def one_line(text: str) -> str:
    """Plain text folded to one line: no line breaks or control characters can reach a header."""
    if not text:
        return ""
    if text.isprintable():  # the common case: its only white space is " " (any other is unprintable)
        return text.strip() if "  " not in text else _SPACE.sub(" ", text).strip()
    return _SPACE.sub(" ", "".join(ch if ch.isprintable() else " " for ch in text)).strip()


def safe_url(url: str, base_url: str = "") -> str:
    """The URL made absolute if it is http, https or mailto; an empty string otherwise (also for a
    URL with control characters or one that does not parse)."""
    url = (url or "").strip()
    if PLAIN_URL.fullmatch(url) and (not base_url or isinstance(base_url, str) and base_parses(base_url)):
        return url  # what the rest gives it (most links), without joining and parsing
    if _UNSAFE_IN_URL.search(url):
        return ""
    try:
        url = urljoin(base_url, url) if base_url else url
        return url if urlsplit(url).scheme in ALLOWED_SCHEMES else ""
    except ValueError:  # e.g. "http://[oops/" (an unclosed IPv6 host)
        return ""


def base_parses(url: str) -> bool:
    """Whether urljoin can parse this base (it raises ValueError for some hosts): with PLAIN_URL, whether joining
    a URL to it gives that URL as it is (also for feedparser's join, plugins/sources/feedparser_speedups)."""
    try:
        urlsplit(url, "", True)  # as urljoin parses it, and kept in urlsplit's cache: a base is used again and again
    except ValueError:
        return False
    return True


def html_to_text(fragment: str) -> str:
    """Text of sanitised HTML (as every `Item.body_html` is: `clean_html` made it) with one line per
    block (paragraph, list item, heading). Run anything else through `clean_html` first.

    Sanitised HTML quotes every attribute value and escapes every "<" in text, so tags can be cut out
    by a pattern; this runs for every item in every transform, at a third of the cost of re-parsing.

    Every line's white space is folded at the end, so a source line break (only block ends start a
    line) need only become a space first, not a whole folding pass; the entities sanitised HTML has
    (&amp; &lt; &gt; &nbsp;) are decoded without `html.unescape`'s call per entity; and a text with no
    control character and no white space but spaces (what `str.isprintable` tells of each line, at C
    speed) is folded by stripping its lines. Anything else takes the general way: the same string.
    """
    if not fragment:
        return ""
    text = _TAG.sub("", _BLOCK_END.sub("\n", fragment.replace("\n", " ")))
    if "&" in text:
        text = _unescaped(text)
    lines = text.split("\n")
    if all(map(str.isprintable, lines)):  # no control characters, and no white space but " "
        if "  " in text:
            while "  " in text:
                text = text.replace("  ", " ")
            lines = text.split("\n")
        return "\n".join(filter(None, map(str.strip, lines)))
    if _CONTROL.search(text):  # rare: clean_html strips them; folded first, as a white space control is a gap
        return _html_to_text_folded_first(fragment)
    return "\n".join(filter(None, map(" ".join, map(str.split, lines))))


# The entities sanitised HTML writes in text; &nbsp; is a space here, as folding makes every white space one.
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "nbsp": " "}


def _unescaped(text: str) -> str:
    """`html.unescape(text)`, up to white space, as `html_to_text` folds it: quick for the entities above."""
    parts = text.split("&")
    out = [parts[0]]
    for part in parts[1:]:
        name, semicolon, rest = part.partition(";")
        char = _ENTITIES.get(name)
        if char is None or not semicolon:
            return html.unescape(text)
        out += (char, rest)
    return "".join(out)


def _html_to_text_folded_first(fragment: str) -> str:
    """`html_to_text` for a text with control characters: white space folded before they are removed."""
    text = _TAG.sub("", _BLOCK_END.sub("\n", " ".join(fragment.split())))
    if "&" in text:
        text = html.unescape(text)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return "\n".join(filter(None, (" ".join(line.split()) for line in text.split("\n"))))


def image_url(url: str, base_url: str = "") -> str:
    """The URL made absolute if it is an http or https URL with a host; an empty string otherwise: an image
    is fetched by every reader's mail client, so mailto, data and relative URLs never qualify."""
    if not (url or "").strip():
        return ""  # not the base itself, as urljoin would have it
    url = safe_url(url, base_url)
    parts = urlsplit(url)  # safe_url has parsed it once already (or seen it needs no parsing)
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


# Each tag of sanitised HTML in turn, so an "<img" inside an attribute value is never taken for one.
_IMG_OR_TAG = re.compile(r'<(img\s)?[^>"]*(?:"[^"]*"[^>"]*)*>')
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')


def first_image(body_html: str, src: str = "") -> tuple[str, str]:
    """(src, alt) of the first `<img>` in sanitised HTML with an absolute http(s) `src` (that `src`, if
    given), entities decoded; ("", "") if there is none. Images declared 1 pixel wide or high (tracking
    pixels) are passed over."""
    if not body_html or "<img" not in body_html:
        return "", ""
    for tag in _IMG_OR_TAG.finditer(body_html):
        if not tag.group(1):
            continue
        attrs = dict(_ATTRIBUTE.findall(tag.group()))
        if attrs.get("width") in ("0", "1") or attrs.get("height") in ("0", "1"):
            continue
        url = image_url(html.unescape(attrs.get("src", "")))
        if url and (not src or url == src):
            return url, one_line(html.unescape(attrs.get("alt", "")))
    return "", ""
