"""Real sentences out of an item's sanitised HTML, for the `summary` transform.

Two steps:

1. `paragraphs(body_html)` reads the block structure with the standard library's `html.parser`.
   Headings (`<h1>`-`<h6>`), table cells, captions, `<pre>`, short bold-only "heading" paragraphs,
   link-only paragraphs and list-item labels ("**Power in research.** …") are left out; a
   call-to-action link inside a paragraph ("Read more →", "Click here") is dropped and stands as a
   sentence break, as does `<br>`. Each block keeps its kind: `p` (a paragraph, or text outside
   any block), `quote` (inside `<blockquote>`) or `li` (a list item).
2. `split(text)` cuts a paragraph into sentences with nupunkt (Punkt with a shipped model that
   knows abbreviations, initials, times such as "9.30" and amounts such as "£112.50"; pure Python,
   no dependencies), then mends a split it may still make after an abbreviation that never ends a
   sentence ("Dr.", "St.", "approx.", an initial; "No.", "pp.", "Jan." before a number), before a
   lone closing quote, before a lower-case word, or inside a quotation or brackets.

`real_sentences(block)` then keeps only what reads as a sentence: it starts with a capital letter,
a digit or an opening quote, ends with . ! ? or … (a closing quote or bracket may follow), has at
least three words, and is not a salutation ("Dear All"), a sign-off ("Best wishes, Pamela"), a
byline or a bare line in title case ("Pamela Fisher, April 2016"), or a "Label: …" prefix (which is
removed, the sentence kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

SKIPPED = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "th", "td", "caption", "figcaption",
                     "pre", "script", "style", "title", "nav", "header", "footer", "aside", "form", "button",
                     "select", "textarea", "label", "summary"})
BLOCKS = frozenset({"p", "li", "blockquote", "div", "section", "article", "main", "ul", "ol", "dl", "table",
                    "thead", "tbody", "tfoot", "tr", "figure", "hr", "details", "address"}) | SKIPPED
VOID = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "source", "area", "col", "embed"})
BOLD = frozenset({"b", "strong"})

_SPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")
_ARROWS = "→⟶➔➜➞»›⇒▶►"
# A link that only points elsewhere: "Read more →", "Continue reading", "Click here". Dropped when it
# stands where a sentence would start, or when it carries an arrow; kept when it is part of a sentence
# ("You can <a>read more</a> about it on our site.", "<a>Book a place</a>; there are rates …").
_CALL_TO_ACTION = re.compile(
    r"^(?:(?:read|see|find out|learn|view|show|discover) more|continue reading|keep reading|read on|"
    r"read the full (?:story|post|article|report)|full (?:story|article|post|details)|click here|more info(?:rmation)?|"
    r"more|details|further details)\b[^.!?]{0,30}$", re.I)
_ARROW = re.compile(rf"[{re.escape(_ARROWS)}]|(?:^|\s)>+(?:\s|$)|\.\.\.$|…$")
_SENTENCE_ARROW = re.compile(rf"[{re.escape(_ARROWS)}]|(?:^|\s)>+(?:\s|$)")
# The same as plain text after a sentence: "… on recovery. Read more → The network …".
_LOOSE_CALL = re.compile(
    rf"(?:(?<=[.!?…\"'”’)])|^)\s*(?i:read more|continue reading|keep reading|find out more|learn more|see more|"
    rf"more info)\b\s*(?:[{re.escape(_ARROWS)}…]+|>+)?(?=\s+[\"“‘(]?[A-Z0-9]|\s*$)")
_LOOSE_CALL_HINT = re.compile(rf"(?i:more|reading)(?:\s*[{re.escape(_ARROWS)}…>]|\s*$| [A-Z])")
_SENTENCE_STARTED = re.compile(r"(?:^|[.!?…:;][\"'”’)\]]*)\s*$")


@dataclass
class Block:
    kind: str  # "p", "quote" or "li"
    segments: list[str]  # pieces between hard breaks, white space folded

    @property
    def text(self) -> str:
        return " ".join(self.segments)


@dataclass
class _Run:
    text: str
    bold: bool
    link: bool


@dataclass
class _Open:
    kind: str
    runs: list[_Run | None] = field(default_factory=list)  # None is a hard break


class _Stop(Exception):
    pass


class _Parser(HTMLParser):
    def __init__(self, budget: int | None):
        super().__init__(convert_charrefs=True)
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
        if outer == "skip" or tag in SKIPPED or tag == "table":
            kind = "skip"
        elif tag == "li":
            kind = "li"
        elif tag == "blockquote" and outer == "p":
            kind = "quote"
        else:
            kind = outer
        self.stack.append((tag, kind))
        self.current = _Open(kind)

    def _flush(self) -> None:
        if self.link is not None:  # an unclosed link ends with its block
            self.current.runs.extend(self.link)
            self.link = None
        block = _finish(self.current)
        if block is not None:
            self.blocks.append(block)
            length = len(block.text)
            self.seen += length
            if block.kind != "li":
                self.used += length
        self.current = _Open(self._kind())
        if self.budget is not None and (self.used >= self.budget or self.seen >= 4 * self.budget):
            raise _Stop

    # -- events ----------------------------------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self._add(None)
        elif tag in BLOCKS:
            self._flush()
            if tag not in VOID:
                self._open(tag)
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
            if any(open_tag == tag for open_tag, _ in self.stack):
                self._flush()
                while self.stack and self.stack.pop()[0] != tag:
                    pass
                self.current = _Open(self._kind())
        elif tag in BOLD:
            self.bold = max(0, self.bold - 1)
        elif tag == "a" and self.link is not None:
            runs, self.link = self.link, None
            text = _SPACE.sub(" ", "".join(r.text for r in runs if r is not None)).strip()
            before = "".join(r.text if r is not None else "." for r in self.current.runs[-3:])
            if text and (_ARROW.search(text) or (_CALL_TO_ACTION.match(text) and _SENTENCE_STARTED.search(before))):
                self.current.runs.append(None)  # the link goes, and nothing is glued across it
            else:
                self.current.runs.extend(runs)

    def handle_data(self, data):
        if not data:
            return
        if self.current.kind == "p" and not self.stack and "\n" in data:
            # Text outside any block (plain text, or a sanitised <div>): a blank line ends a paragraph.
            for n, piece in enumerate(re.split(r"\n[ \t]*\n", data)):
                if n:
                    self._flush()
                self._add(_Run(piece, self.bold > 0, self.link is not None))
            return
        self._add(_Run(data, self.bold > 0, self.link is not None))

    def _add(self, run: _Run | None) -> None:
        (self.link if self.link is not None else self.current.runs).append(run)


def _finish(open_block: _Open) -> Block | None:
    """The block made of its runs, or None when it is not paragraph text at all."""
    if open_block.kind == "skip":
        return None
    runs = [r for r in open_block.runs if r is None or r.text]
    text = "".join(r.text for r in runs if r is not None)
    if not _LETTER.search(text):
        return None
    if any(r is not None and (r.bold or r.link) for r in runs):
        letters = len(_LETTER.findall(text))
        bold = sum(len(_LETTER.findall(r.text)) for r in runs if r is not None and r.bold)
        linked = sum(len(_LETTER.findall(r.text)) for r in runs if r is not None and r.link)
        if bold >= 0.9 * letters and len(text.split()) <= 12:
            return None  # a bold-only line is a heading ("**Key words: power, space, peer support.**")
        if linked >= 0.9 * letters:
            return None  # a link on its own is navigation ("Download the report (PDF)")
        runs = _without_label(runs)
    segments, piece = [], []
    for run in runs + [None]:
        if run is None:
            folded = _SPACE.sub(" ", "".join(piece)).strip()
            if folded:
                segments.append(folded)
            piece = []
        else:
            piece.append(run.text)
    return Block(open_block.kind, segments) if segments else None


def _without_label(runs: list[_Run | None]) -> list[_Run | None]:
    """Drop a leading bold label ("**Power in research.** Unpaid …", "**Where:** Leeds"): bold text
    of at most eight words that ends with . : ! ? or is followed by a colon or a dash. Bold words that
    simply begin a sentence ("**The network** published …") stay."""
    start = 0
    while start < len(runs) and (runs[start] is None or not runs[start].text.strip()):
        start += 1
    end = start
    while end < len(runs) and runs[end] is not None and (runs[end].bold or not runs[end].text.strip()):
        end += 1
    if end == start or end == len(runs):
        return runs
    label = _SPACE.sub(" ", "".join(r.text for r in runs[start:end])).strip()
    rest = runs[end]
    if rest is None or len(label.split()) > 8:
        return runs
    after = rest.text.lstrip()
    if re.search(r"[.:!?]$", label) or re.match(r"[:–—-]", after):
        stripped = re.sub(r"^[:–—-]\s*", "", after)
        return [None, _Run(stripped, rest.bold, rest.link)] + runs[end + 1:]
    return runs


def paragraphs(body_html: str, budget: int | None = None) -> list[Block]:
    """The text blocks of `body_html` in document order. With `budget`, reading stops once that many
    characters of paragraph and quote text (or four times as many of any text) are in hand: a summary
    needs only the first few paragraphs."""
    parser = _Parser(budget)
    try:
        parser.feed(body_html or "")
        parser.close()
        parser._flush()
    except _Stop:
        pass
    return parser.blocks


# ---- splitting --------------------------------------------------------------------------------------

# Abbreviations after which a split is mended: titles and Latin ones never end a sentence; the
# others only when a number follows ("No. 5", "pp. 12-14", "Jan.–Mar. 2016").
_NEVER_FINAL = re.compile(
    r"(?<![\w.])(?:Dr|Drs|Prof|Profs|Mr|Mrs|Ms|Mx|Messrs|St|Rev|Revd|Fr|Sgt|Capt|Col|Gen|Lt|Hon|Cllr|Rt|[Aa]pprox|"
    r"appx|cf|vs|viz|ca|incl|excl|esp|e\.g|i\.e|E\.g|I\.e|[A-Z])\.$")
_BEFORE_NUMBER = re.compile(
    r"(?<![\w.])(?:No|Nos|no|nos|p|pp|para|paras|[Ff]ig|[Ff]igs|[Vv]ol|[Vv]ols|[Cc]h|[Tt]el|[Ee]xt|[Mm]ob|[Rr]ef|Jan|"
    r"Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.$")
_HAS_WORD = re.compile(r"[^\W_]")


def split(text: str) -> list[str]:
    """`text` (one paragraph, no hard breaks) cut into sentences."""
    if _LOOSE_CALL_HINT.search(text):
        text = _LOOSE_CALL.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    if not text:
        return []
    spans: list[list[int]] = []
    import nupunkt  # here, not at the top: loading plugins should not load the splitter's model

    for start, end in nupunkt.sentence_spans(text):
        if spans and _glued(text[spans[-1][0]:spans[-1][1]], text[start:end]):
            spans[-1][1] = end  # mended: the two are one sentence, with the text between them as it was
        else:
            spans.append([start, end])
    return [text[start:end] for start, end in spans]


def _glued(before: str, after: str) -> bool:
    """Whether a split between `before` and `after` is wrong and the two belong together."""
    if not _HAS_WORD.search(after):  # a lone closing quote or bracket
        return True
    if before.count("“") > before.count("”") and "”" in after or before.count("(") > before.count(")") and ")" in after:
        return True  # a split inside a quotation or brackets: “Towards co-production? Reflections …”
    first = after.lstrip("“‘\"'([")[:1]
    if first.islower():
        return True
    tail = before[-16:]
    if _NEVER_FINAL.search(tail):  # a title ("Dr. Khan"), an initial ("J. R. Smith"), "e.g."
        return True
    return bool(_BEFORE_NUMBER.search(tail)) and (first.isdigit() or first in "£$€–-")


# ---- what counts as a sentence ------------------------------------------------------------------------

_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_TEASER = re.compile(r"[\[(](?:…|\.\.\.)[\])]$")  # "… Hearing Voices and […]": an excerpt cut by its feed
_START = re.compile(r"^[\"'“‘(\[]*[A-Z0-9£$€]")
_SALUTATION = re.compile(
    r"^(?:dear|hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening))(?=[\s,!.:;–—-]|$)"
    r"(?P<who>[^,.!?:;\n–—]{0,40}?)(?P<end>[,.!:;–—-]+|$)\s*", re.I)
# "Dear All Below are some notes …" where a line break was lost.
_SALUTATION_GLUED = re.compile(
    r"^(?i:dear|hi|hello|hey|greetings)\s+(?:(?i:all|everyone|everybody|colleagues|friends|members|folks|team|both)|"
    r"[A-Z][\w’'-]+)\s+(?=[A-Z])")
_SIGN_OFF = re.compile(  # the phrase, then at most a name: "Best wishes, Pamela", "Thanks!"
    r"^(?i:(?:with )?(?:best|kind|warm|warmest|many|all (?:the )?best|good) (?:wishes|regards|thanks)|best|regards|"
    r"thanks|thank you|many thanks|cheers|yours(?: sincerely| faithfully| truly| ever)?|sincerely|love|take care|"
    r"speak soon|see you(?: soon| there| then)?|in solidarity|until next time|bye)"
    r"[,!.]*(?:\s+(?:[A-Z][\w’'.-]*|and|&|the))*[.!]*$")
_BYLINE = re.compile(r"^(?:posted|written|published|updated|edited)\s+(?:by|on)\b", re.I)
_BARE_CALL = re.compile(r"^(?:read|find out|learn|see|view) more\W*$|^(?:continue|keep) reading\W*$|^click here\W*$",
                        re.I)
_LABEL = re.compile(r"^(?P<label>[A-Z][\w’'/-]*(?: [\w’'/-]+){0,2}):\s+(?=[\"“‘(]?[A-Z0-9])")
_SMALL_WORDS = frozenset("a an and at by for from in of on or the to with & – — -".split())


def tidy(sentence: str) -> str:
    """The sentence without a salutation or a short label in front ("Dear all, here are …" → "Here are …")."""
    match = _SALUTATION.match(sentence)
    if match and match.group("end") and len(match.group("who").split()) <= 4:
        rest = sentence[match.end():]
        if rest:
            sentence = rest[0].upper() + rest[1:]
    else:
        sentence = _SALUTATION_GLUED.sub("", sentence)
    label = _LABEL.match(sentence)
    if label:
        sentence = sentence[label.end():]
    return sentence


def is_real(sentence: str) -> bool:
    """Whether `sentence` reads as a sentence of running text (see the module's docstring)."""
    words = sentence.split()
    if len(words) < 3 or not _END.search(sentence) or not _START.match(sentence) or _TEASER.search(sentence):
        return False
    if not any(c.islower() for c in sentence):
        return False
    if _SALUTATION.match(sentence) and len(words) <= 6:
        return False
    if _SIGN_OFF.match(sentence) or _BYLINE.match(sentence) or _BARE_CALL.match(sentence):
        return False
    if _SENTENCE_ARROW.search(sentence):
        return False
    content = [w for w in words if w.lower() not in _SMALL_WORDS]
    if len(words) <= 10 and all(w.lstrip("\"'“‘([").strip()[:1].isupper() or w[:1].isdigit()
                                or not _LETTER.search(w) for w in content):
        return False  # a title-case line: a heading or a byline, not a sentence
    return True


def real_sentences(block: Block, limit: int | None = None) -> list[str]:
    """The sentences of `block` that read as running text, tidied. With `limit`, a longer piece of
    text is read only that far, and its last sentence (perhaps cut) is left out."""
    found = []
    for segment in block.segments:
        if limit is not None and len(segment) > limit:
            pieces = split(segment[:limit])[:-1]
        else:
            pieces = split(segment)
        for sentence in pieces:
            sentence = tidy(sentence)
            if is_real(sentence):
                found.append(sentence)
    return found
