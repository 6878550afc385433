"""The paragraphs of an item's sanitised HTML, for the `summary` transform (plugins/transforms/sentences.py
cuts them into sentences).

`paragraphs(body_html)` reads the block structure. Headings (`<h1>`-`<h6>`), table cells, captions,
`<pre>`, short bold-only "heading" paragraphs, link-only paragraphs and list-item labels ("**Power in
research.** …") are left out (but for a `<p>` inside a table's `<td>`, a block of kind `cell`: an email laid out in
tables has all its paragraphs there); a call-to-action link inside a paragraph ("Read more →", "Click here")
is dropped and stands as a sentence break, as does `<br>`. Each block keeps its kind: `p` (a
paragraph, or text outside any block), `quote` (inside `<blockquote>`), `li` (a list item) or `cell`. One
class, `_Parser`, decides all this from tag and text events; a regular expression sends them for
HTML as nh3 writes it (quoted attributes, no comments or scripts), and the standard library's
`html.parser` for anything else, with the same events for the same HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser

SKIPPED = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "th", "td", "caption", "figcaption",
                     "pre", "script", "style", "title", "nav", "header", "footer", "aside", "form", "button",
                     "select", "textarea", "label", "summary"})
BLOCKS = frozenset({"p", "li", "blockquote", "div", "section", "article", "main", "ul", "ol", "dl", "table",
                    "thead", "tbody", "tfoot", "tr", "figure", "hr", "details", "address"}) | SKIPPED
VOID = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "source", "area", "col", "embed"})
BOLD = frozenset({"b", "strong"})
_NOT_CELLS = SKIPPED - {"td"}  # inside a table, what is skipped whole: a header cell, a caption, a heading …

_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_ARROWS = "→⟶➔➜➞»›⇒▶►"
# A link that only points elsewhere: "Read more →", "Continue reading", "Click here". Dropped when it
# stands where a sentence would start, or when it carries an arrow; kept when it is part of a sentence
# ("You can <a>read more</a> about it on our site.", "<a>Book a place</a>; there are rates …").
_CALL_TO_ACTION = re.compile(
    r"^(?:(?:read|see|find out|learn|view|show|discover) more|continue reading|keep reading|read on|"
    r"read the full (?:story|post|article|report)|full (?:story|article|post|details)|click here|more info(?:rmation)?|"
    r"more|details|further details)\b[^.!?]{0,30}$", re.I)
_ARROW = re.compile(rf"[{re.escape(_ARROWS)}]|(?:^|\s)>+(?:\s|$)|\.\.\.$|…$")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SENTENCE_STARTED = re.compile(r"(?:^|[.!?…:;][\"'”’)\]]*)\s*$")


# Invisible characters a paste or a CMS leaves in text (a soft hyphen, a zero-width space, a byte-order mark, marks of
# direction): a reader never sees them, so a sentence is read without them ("\u200bThe …" starts with a capital).
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e"
                                "\u2066\u2067\u2068\u2069"))


def _fold(text: str) -> str:
    """`text` with white space folded to single spaces and invisible characters dropped, stripped."""
    text = text.strip()
    if "  " not in text and text.isprintable():
        return text  # already folded (any white space but " " is unprintable, and so is each invisible character)
    return " ".join(text.translate(_INVISIBLE).split())


def _mostly(runs: list[str], text: str) -> bool:
    """Whether `runs` (pieces of `text`) hold at least 90% of the letters of `text`."""
    ascii_text = text.encode("ascii", "ignore")
    if sum(map(len, runs)) < 0.9 * (len(ascii_text) - len(ascii_text.translate(None, _ASCII_LETTERS))):
        return False  # quick: fewer characters in all than 90% of the ASCII letters alone
    return sum(len(_LETTER.findall(run)) for run in runs) >= 0.9 * len(_LETTER.findall(text))


@dataclass
class Block:
    kind: str  # "p", "quote", "li" or "cell" (a paragraph inside a table's cell)
    segments: list[str]  # pieces between hard breaks, white space folded

    @property
    def text(self) -> str:
        return " ".join(self.segments)


# (text, bold, link): the text between two tags, a plain tuple (quicker to make and read than a class), so
# run[0] is its text, run[1] whether it is bold, run[2] whether it is inside a link.
_Run = tuple[str, bool, bool]


class _Open:
    __slots__ = ("kind", "runs")

    def __init__(self, kind: str):
        self.kind = kind
        self.runs: list[_Run | None] = []  # None is a hard break


class _Stop(Exception):
    pass


class _Unsure(Exception):
    """The fast reader met HTML it does not read the way html.parser does."""


class _Parser:
    """Decides the blocks, from the tag and text events of `_read` or of html.parser (`_Driver`)."""

    def __init__(self, budget: int | None):
        self.blocks: list[Block] = []
        self.stack: list[tuple[str, str]] = []  # open block tags, each with the kind of text inside it
        self.current = _Open("p")
        self.bold = 0
        self.link: list[_Run | None] | None = None  # runs of the <a> being read
        self.budget = budget
        self.used = 0  # characters of paragraph and quote text read
        self.seen = 0  # characters of any text read

    # -- where are we --------------------------------------------------------------------------------
    def _kind(self) -> str:
        return self.stack[-1][1] if self.stack else "p"

    def _open(self, tag: str) -> None:
        if tag == "p" and self.stack and self.stack[-1][0] == "p":
            self.stack.pop()  # a <p> left open ends where the next begins
        elif tag == "li":  # so does an <li> in the same list
            for n in range(len(self.stack) - 1, -1, -1):
                if self.stack[n][0] in ("ul", "ol"):
                    break
                if self.stack[n][0] == "li":
                    del self.stack[n:]
                    break
        outer = self._kind()
        if outer == "table":  # a table's text is not read, but for a paragraph of a cell (`cell`) but a header's
            kind = "cell" if tag == "p" else "skip" if tag in _NOT_CELLS else "table"
        elif outer == "skip" or tag in SKIPPED:
            kind = "skip"
        elif tag == "table":
            kind = "table"
        elif tag == "li":
            kind = "li"
        elif tag == "blockquote" and outer == "p":
            kind = "quote"
        else:
            kind = outer
        self.stack.append((tag, kind))  # (the caller's _flush then opens the block's runs)

    def _flush(self) -> None:
        if self.link is not None:  # an unclosed link ends with its block
            self.current.runs.extend(self.link)
            self.link = None
        runs = self.current.runs  # nothing to finish in no text, or in the line break between two blocks
        empty = not runs or len(runs) == 1 and runs[0] is not None and runs[0][0].isspace()
        block = None if empty else _finish(self.current)
        if block is not None:
            self.blocks.append(block)
            segments = block.segments
            length = len(segments[0]) if len(segments) == 1 else len(block.text)
            self.seen += length
            if block.kind == "p" or block.kind == "quote":  # (a list's or a table's text may come before them)
                self.used += length
        kind = self.stack[-1][1] if self.stack else "p"
        if self.current.kind == kind:
            runs.clear()  # the same _Open serves, emptied (a block keeps none of its runs)
        else:
            self.current = _Open(kind)
        if self.budget is not None and (self.used >= self.budget or self.seen >= 4 * self.budget):
            raise _Stop

    # -- events ----------------------------------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self._add(None)
        elif tag in BLOCKS:
            if tag not in VOID:
                self._open(tag)  # the stack first: _flush finishes the block before and starts this one
            self._flush()
        elif tag in BOLD:
            self.bold += 1
        elif tag == "a":
            if self.link is not None:
                self.current.runs.extend(self.link)
            self.link = []

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self._add(None)
        elif tag in BLOCKS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in BLOCKS and tag not in VOID:
            stack = self.stack
            if stack and stack[-1][0] == tag or tag in [open_tag for open_tag, _ in stack]:
                while stack and stack.pop()[0] != tag:
                    pass
                self._flush()  # the stack first: _flush finishes the block and starts the runs of the one around it
        elif tag in BOLD:
            self.bold = max(0, self.bold - 1)
        elif tag == "a" and self.link is not None:
            runs, self.link = self.link, None
            text = _fold("".join([r[0] for r in runs if r is not None]))
            # (the pattern is tried only where it can match: ASCII text holds no arrow but ">", or "..." at its end)
            arrow = (">" in text or "..." in text or not text.isascii()) and _ARROW.search(text)
            if text and (arrow or (_CALL_TO_ACTION.match(text) and _SENTENCE_STARTED.search(
                    "".join(r[0] if r is not None else "." for r in self.current.runs[-3:])))):
                self.current.runs.append(None)  # the link goes, and nothing is glued across it
            else:
                self.current.runs.extend(runs)

    def handle_data(self, data):
        if not data:
            return
        if "\n" in data and self.current.kind == "p" and not self.stack and _BLANK_LINE.search(data):
            # Text outside any block (plain text, or a sanitised <div>): a blank line ends a paragraph.
            for n, piece in enumerate(_BLANK_LINE.split(data)):
                if n:
                    self._flush()
                self._add((piece, self.bold > 0, self.link is not None))
            return
        (self.link if self.link is not None else self.current.runs).append((data, self.bold > 0, self.link is not None))

    def _add(self, run: _Run | None) -> None:
        (self.link if self.link is not None else self.current.runs).append(run)


def _finish(open_block: _Open) -> Block | None:
    """The block made of its runs, or None when it is not paragraph text at all."""
    if open_block.kind == "skip" or open_block.kind == "table":
        return None
    runs = [r for r in open_block.runs if r is None or r[0]]
    text = "".join([r[0] for r in runs if r is not None])
    if not _LETTER.search(text):
        return None
    bold = [r[0] for r in runs if r is not None and r[1]]
    linked = [r[0] for r in runs if r is not None and r[2]]
    if bold or linked:
        if bold and len(text.split()) <= 12 and _mostly(bold, text):
            return None  # a bold-only line is a heading ("**Key words: power, space, peer support.**")
        if linked and _mostly(linked, text):
            return None  # a link on its own is navigation ("Download the report (PDF)")
        runs = _without_label(runs)
        if None not in runs:
            text = "".join([r[0] for r in runs])
    if None not in runs and "\n" not in text:  # one segment: the common case, made quicker
        folded = _fold(text)
        return Block(open_block.kind, [folded]) if folded else None
    segments, piece = [], []
    for run in runs + [None]:
        if run is None:
            for part in _lines_apart("".join(piece)):
                folded = _fold(part)
                if folded:
                    segments.append(folded)
            piece = []
        else:
            piece.append(run[0])
    return Block(open_block.kind, segments) if segments else None


def title_case(words: list[str]) -> bool:
    """Whether `words` (at most ten) are a heading's or a byline's: each a capitalised word, a number or a sign, but
    for small words ("of", "and", "the")."""
    return all(w.lstrip("\"'“‘([").strip()[:1].isupper() or w[:1].isdigit() or not _LETTER.search(w)
               for w in words if w.lower() not in _SMALL_WORDS)


_SMALL_WORDS = frozenset("a an and at by for from in of on or the to with & – — -".split())
_LINE_ENDS = frozenset(".!?…:;,")


def _lines_apart(text: str) -> list[str]:
    """`text` cut around each line that stands apart from the text under it, with only a line break between: a
    heading, a byline or a bare line in title case ("Pamela Fisher, April 2016", "Key Words: Power – Space – Peer
    Support"), ending without a stop or a small word ("and"), before a line that starts with a capital. Any other line
    break is a space."""
    if "\n" not in text:
        return [text]
    lines = text.split("\n")
    pieces, start = [], 0
    for n in range(len(lines) - 1):
        line, below = lines[n].strip(), lines[n + 1].lstrip()
        words = line.split()
        if (line and line[-1] not in _LINE_ENDS and below[:1].isupper() and len(words) <= 10
                and words[-1].lower() not in _SMALL_WORDS and title_case(words)):  # ("… Touchstone and": wrapped)
            pieces += ["\n".join(lines[start:n]), line]
            start = n + 1
    return [*pieces, "\n".join(lines[start:])]


def _without_label(runs: list[_Run | None]) -> list[_Run | None]:
    """Drop a leading bold label ("**Power in research.** Unpaid …", "**Where:** Leeds"): bold text
    of at most eight words that ends with . : ! ? or is followed by a colon or a dash. Bold words that
    simply begin a sentence ("**The network** published …") stay."""
    start = 0
    while start < len(runs) and (runs[start] is None or not runs[start][0].strip()):
        start += 1
    end = start
    while end < len(runs) and runs[end] is not None and (runs[end][1] or not runs[end][0].strip()):
        end += 1
    if end == start or end == len(runs):
        return runs
    label = _fold("".join(r[0] for r in runs[start:end]))
    rest = runs[end]
    if rest is None or len(label.split()) > 8:
        return runs
    after = rest[0].lstrip()
    if "\n" in rest[0][:len(rest[0]) - len(after)] and after[:1].isupper():  # a line of its own, a sentence under it
        return [None, (after, rest[1], rest[2])] + runs[end + 1:]
    if re.search(r"[.:!?]$", label) or re.match(r"[:–—-]", after):
        stripped = re.sub(r"^[:–—-]\s*", "", after)
        return [None, (stripped, rest[1], rest[2])] + runs[end + 1:]
    return runs


class _Driver(HTMLParser):
    """html.parser sending its events to a `_Parser`: for HTML that `_read` leaves to it."""

    def __init__(self, parser: _Parser):
        super().__init__(convert_charrefs=True)
        self.handle_starttag = parser.handle_starttag
        self.handle_startendtag = parser.handle_startendtag
        self.handle_endtag = parser.handle_endtag
        self.handle_data = parser.handle_data


_WS = "[ \t\n\r\f]"  # html.parser's white space in a tag (not \s, which is wider)
# Text up to the next "<"; a start tag as nh3 writes it (attributes with double-quoted values, maybe
# "/>"); an end tag; or a "<" that starts neither.
_EVENT = re.compile(rf'([^<]+)|<(?:([a-zA-Z][a-zA-Z0-9]*)(?:{_WS}+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:{_WS}*={_WS}*"[^"]*")?)*'
                    rf'{_WS}*(/?)|/([a-zA-Z][a-zA-Z0-9]*){_WS}*)>|<')
# Elements whose content html.parser reads as raw text (the list grew in later Pythons).
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
                       "plaintext"}) | frozenset(HTMLParser.CDATA_CONTENT_ELEMENTS)
_TAG_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/!?")


def _unescape(text: str) -> str:
    """`html.unescape(text)`, quicker when its only references are "&nbsp;" and "&amp;" (each "&" starts one): each
    is read on its own, so replacing them gives the same text."""
    if text.count("&") == text.count("&nbsp;") + text.count("&amp;"):
        return text.replace("&nbsp;", "\xa0").replace("&amp;", "&")
    return unescape(text)


def _read(parser: _Parser, body_html: str) -> None:
    """Send the events of `body_html` to `parser` as html.parser would, text unescaped a piece at a
    time between tags. A "<" that starts no tag is text on its own, as there; a comment, a
    declaration, raw text or a tag nh3 would not write raises _Unsure."""
    handle_data, handle_starttag, handle_endtag = parser.handle_data, parser.handle_starttag, parser.handle_endtag
    for event in _EVENT.finditer(body_html):
        which = event.lastindex
        if which == 1:
            text = event[1]
            handle_data(_unescape(text) if "&" in text else text)
        elif which == 3:
            tag = event[2].lower()
            if tag in _RAW_TEXT:
                raise _Unsure
            if event[3]:
                parser.handle_startendtag(tag, ())
            else:
                handle_starttag(tag, ())
        elif which == 4:
            tag = event[4].lower()
            if tag in _RAW_TEXT:
                raise _Unsure
            handle_endtag(tag)
        elif body_html[event.end():event.end() + 1] in _TAG_START:
            raise _Unsure
        else:
            handle_data("<")


def paragraphs(body_html: str, budget: int | None = None) -> list[Block]:
    """The text blocks of `body_html` in document order. With `budget`, reading stops once that many
    characters of paragraph and quote text (or four times as many of any text) are in hand: a summary
    needs only the first few paragraphs."""
    parser = _Parser(budget)
    try:
        try:
            _read(parser, body_html or "")
        except _Unsure:
            parser = _Parser(budget)
            driver = _Driver(parser)
            driver.feed(body_html)
            driver.close()
        parser._flush()
    except _Stop:
        pass
    return parser.blocks
