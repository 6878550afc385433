"""Real sentences out of an item's paragraphs (plugins/transforms/paragraphs.py), for the `summary` transform.

`split(text)` cuts a paragraph into sentences as nupunkt does (Punkt with a shipped model that knows
abbreviations, initials, times such as "9.30" and amounts such as "£112.50"; pure Python, no
dependencies). Most paragraphs need no model: where every stop follows a plain word the model does
not know as an abbreviation ("… peer support. The network …"), nupunkt splits at each, and so does
`split`, much faster; any other paragraph goes to nupunkt. Then `split` mends a split after an
abbreviation that never ends a sentence ("Dr.", "St.", "approx.", an initial; "No.", "pp.", "Jan."
before a number), before a lone closing quote, before a lower-case word, or inside a quotation or
brackets.

`real_sentences(block)` then keeps only what reads as a sentence: it starts with a capital letter
(any script's, or a letter of a script without capitals), a digit or an opening quote, ends with . ! or ?
(or Arabic's ؟ or Urdu's ۔, where `split` cuts too)
(a closing quote or bracket may follow; not an ellipsis, which a feed's cut leaves), has at least three
words, and is not a salutation ("Dear All"), a sign-off ("Best wishes, Pamela"), a byline or a bare line
in title case ("Pamela Fisher, April 2016"), a line of particulars or prices, WordPress's footer, or a
"Label: …" prefix (which is removed, the sentence kept, unless the label names a particular, "Hours: 22.5 per week.",
"Venue: …", "Cost: …", or a caption, "Photo: …", or all that follows the label is in title case: "Panel: Jane Smith
(University of Leeds), Peter Beresford (Brunel).").
"""

from __future__ import annotations

import re
from functools import cache

from plugins.transforms.paragraphs import _ARROWS, Block, _fold, title_case

# An arrow or ">" in a sentence: what is left of a link that pointed elsewhere.
_SENTENCE_ARROW = re.compile(rf"[{re.escape(_ARROWS)}]|(?:^|\s)>+(?:\s|$)")
_ARROW_HINT = re.compile(rf"[{re.escape(_ARROWS)}>]")  # a quick test before _SENTENCE_ARROW
# The same as plain text after a sentence: "… on recovery. Read more → The network …".
_LOOSE_CALL = re.compile(
    rf"(?:(?<=[.!?…\"'”’)])|^)\s*(?i:read more|continue reading|keep reading|find out more|learn more|see more|"
    rf"more info)\b\s*(?:[{re.escape(_ARROWS)}…]+|>+)?(?=\s+[\"“‘(]?[A-Z0-9]|\s*$)")
_LOOSE_CALL_HINT = re.compile(rf"(?i:more|reading)(?:\s*[{re.escape(_ARROWS)}…>]|\s*$| [A-Z])")


# ---- splitting --------------------------------------------------------------------------------------

# Abbreviations after which a split is mended: titles and Latin ones never end a sentence; the
# others only when a number follows ("No. 5", "pp. 12-14", "Jan.–Mar. 2016").
_NEVER_FINAL = re.compile(
    r"(?<![\w.])(?:Dr|Drs|Prof|Profs|Mr|Mrs|Ms|Mx|Messrs|St|Rev|Revd|Fr|Sgt|Capt|Col|Gen|Lt|Hon|Cllr|Rt|[Aa]pprox|"
    r"appx|cf|vs|viz|ca|incl|excl|esp|e\.g|i\.e|E\.g|I\.e|[A-Z])\.$")
# The words `_NEVER_FINAL` matches (tests/test_sentences_speedup.py checks that the two agree).
_NEVER_FINAL_WORDS = frozenset("Dr Drs Prof Profs Mr Mrs Ms Mx Messrs St Rev Revd Fr Sgt Capt Col Gen Lt Hon Cllr Rt "
                               "Approx approx appx cf vs viz ca incl excl esp e.g i.e E.g I.e".split()) | frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_BEFORE_NUMBER = re.compile(
    r"(?<![\w.])(?:No|Nos|no|nos|p|pp|para|paras|[Ff]ig|[Ff]igs|[Vv]ol|[Vv]ols|[Cc]h|[Tt]el|[Ee]xt|[Mm]ob|[Rr]ef|Jan|"
    r"Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.$")
_HAS_WORD = re.compile(r"[^\W_]")
_CAPITALS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def split(text: str) -> list[str]:
    """`text` (one paragraph, no hard breaks) cut into sentences."""
    return _split(text, folded=False)


def _split(text: str, folded: bool) -> list[str]:
    """`split`, told whether `text` is folded already (a block's segment is)."""
    if _has_loose_call(text):
        text, folded = _LOOSE_CALL.sub(" ", text), False
    if not folded:
        text = _fold(text)
    if not text:
        return []
    found: list[str] = []
    begin = 0  # where the last sentence found starts
    for start, end in _plain_spans(text) or _nupunkt().sentence_spans(text):
        piece = text[start:end]
        if found and _glued(found[-1], piece):
            found[-1] = text[begin:end]  # mended: the two are one sentence, with the text between them as it was
        else:
            found.append(piece)
            begin = start
    if not text.isascii() and ("؟" in text or "۔" in text):  # stops nupunkt does not know: Arabic's ؟, Urdu's ۔
        found = [part for piece in found for part in _ARABIC_STOP.split(piece)]
    return found


_ARABIC_STOP = re.compile(r"(?<=[؟۔]) +(?=\S)")


def _has_loose_call(text: str) -> bool:
    """Whether `_LOOSE_CALL_HINT` is in `text`: tried only where "more" or "read" stands (a search
    tries it at every character, which is slow)."""
    low = text.lower()
    if len(low) != len(text):  # lower() lengthened a character: the places do not line up
        return bool(_LOOSE_CALL_HINT.search(text))
    for word in ("more", "read"):
        at = low.find(word)
        while at >= 0:
            if _LOOSE_CALL_HINT.match(text, at):
                return True
            at = low.find(word, at + 1)
    return False


_STOP = re.compile(r"[.!?…](?=[^A-Za-z0-9])")  # a stop nupunkt looks at (not one inside a word or a number)
_LETTERS_AND_DIGITS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_PLAIN_WORD = re.compile(r"[A-Za-z]+(?:[-'’][A-Za-z]+)*")
_CLOSERS = "\"')]}”’»*"  # what nupunkt lets trail a stop
_NOT_AFTER_STOP = frozenset(_CLOSERS + ".!?…")
_ENUMERATOR = re.compile(r"[ \t]*\(?(?:\d{1,3}|[A-Za-z]|[ivxlcIVXLC]{1,6})\)?\.")  # "iv." opening a text


def _nupunkt():
    import nupunkt  # here, not at the top: loading plugins should not load the splitter's model

    return nupunkt


@cache
def _unsure() -> frozenset[str]:
    """The words after which nupunkt weighs a stop: the model's abbreviations, and the first words
    of its collocations (pairs of words a stop does not part)."""
    model = _nupunkt().segmenter("sentence")  # the model nupunkt.sentence_spans uses
    return model.abbreviations | {first for first, _ in model.parameters.collocations}


def _plain_spans(text: str) -> list[tuple[int, int]] | None:
    """The sentence spans nupunkt gives `text` (folded), worked out without it; None unless every
    stop nupunkt looks at is plain. A plain stop is a . ! or ? after a word of letters, then a space
    and no closing quote or further stop: nupunkt (0.8, default model) always splits there, unless
    a "." follows an initial, a `_unsure` word or a list number opening the text. Or it is a stop
    that only closing quotes or brackets follow, to the end: split there or not, they end the last
    sentence. tests/test_sentences_speedup.py checks that the two agree."""
    unsure = _unsure()
    spans, start = [], 0
    for at in _stops(text):
        if text[at + 1] != " ":
            if text[at + 1:].strip(_CLOSERS):
                return None
            continue
        word = text[text.rfind(" ", 0, at) + 1:at]
        mark = text[at]
        if text[at + 2] in _NOT_AFTER_STOP or mark == "…" or not (
                word.isalpha() and word.isascii() or _PLAIN_WORD.fullmatch(word)):  # (ASCII letters: plain)
            return None
        if mark == "." and (len(word) == 1 or word.lower() in unsure
                                or at == len(word) and _ENUMERATOR.fullmatch(text, 0, at + 1)):
            return None
        spans.append((start, at + 1))
        start = at + 2
    spans.append((start, len(text)))
    return spans


def _stops(text: str) -> list[int]:
    """Where `_STOP` matches in `text`; found by str.find when "." is the only stop in it (the pattern tries every
    character, and takes twice as long)."""
    if "!" in text or "?" in text or "…" in text:
        return [stop.start() for stop in _STOP.finditer(text)]
    found, last = [], len(text) - 1
    at = text.find(".")
    while at >= 0:
        if at < last and text[at + 1] not in _LETTERS_AND_DIGITS:
            found.append(at)
        at = text.find(".", at + 1)
    return found


def _never_final(before: str) -> bool:
    """Whether `_NEVER_FINAL` is found in `before`, mostly without trying it: when the text from the last space to the
    final "." is all word characters and dots, the pattern can match only that whole word (its look-behind rules out
    a match starting inside it, and no abbreviation holds a space), so a look-up in `_NEVER_FINAL_WORDS` decides."""
    if before[-1:] == ".":
        word = before[before.rfind(" ", 0, len(before) - 1) + 1:-1]
        if word.isalnum() or word.replace(".", "").replace("_", "").isalnum():  # \w is a letter, a digit or "_"
            return word in _NEVER_FINAL_WORDS
    elif not before.endswith(".\n"):  # "$" matches at the end, or before a line break that ends the text
        return False
    return bool(_NEVER_FINAL.search(before, max(0, len(before) - 9)))  # an abbreviation and its stop: at most 8


def _glued(before: str, after: str) -> bool:
    """Whether a split between `before` and `after` is wrong and the two belong together."""
    if "”" in after and before.count("“") > before.count("”") or ")" in after and before.count("(") > before.count(")"):
        return True  # a split inside a quotation or brackets: “Towards co-production? Reflections …”
    if _never_final(before):  # a title ("Dr. Khan"), an initial ("J. R. Smith"), "e.g."
        return True
    if after[:1] in _CAPITALS:
        return False  # the usual case: none of the tests below passes for a capital letter
    if not (after[:1].isalnum() or _HAS_WORD.search(after)):  # a lone closing quote or bracket
        return True
    first = after.lstrip("“‘\"'([")[:1]
    if first.islower():
        return True
    tail = max(0, len(before) - 9)  # an abbreviation and its stop are at most the last 8 characters
    return (first.isdigit() or first in "£$€–-") and bool(_BEFORE_NUMBER.search(before, tail))


# ---- what counts as a sentence ------------------------------------------------------------------------

_END = re.compile(r"[.!?…؟۔][\"'”’»“)\]]*$")  # (؟ is Arabic's question mark, ۔ Urdu's full stop)
_END_CHARS = frozenset(".!?…؟۔")
_ASCII_LOWER = re.compile("[a-z]")
_TEASER = re.compile(r"[\[(](?:…|\.\.\.)[\])]$")  # "… Hearing Voices and […]": an excerpt cut by its feed
# Opening marks: quotes (“ ‘, French « and German „ too), brackets, and Spanish ¿ ¡ before a question or an exclamation.
_OPENERS = "\"'“‘«„([¿¡"
_START = re.compile(rf"^[{re.escape(_OPENERS)}]* ?[A-Z0-9£$€]")  # (French spaces its quotes: "« Rien …")
_START_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789£$€")  # a sentence starting with one matches _START
_CLOSING = "\"'”’»“)]"
_FOOTER_HEAD, _FOOTER_MIDDLE = "The post ", " appeared first on "


def _wordpress_footer(sentence: str) -> bool:
    """Whether `sentence` is a WordPress feed's line after each post, as `The post .+ appeared first on .+\\.$`
    matches it, read once: only the first " appeared first on " after the title is tried (a later one leaves the
    site less room), where the pattern tried each in turn to the end of the line (k of them cost k·n)."""
    line = sentence[:-1] if sentence.endswith("\n") else sentence  # ($ matches before a final line feed)
    if not line.startswith(_FOOTER_HEAD) or not line.endswith(".") or "\n" in line:
        return False
    middle = line.find(_FOOTER_MIDDLE, len(_FOOTER_HEAD) + 1)  # a title of one character at least
    return middle != -1 and middle + len(_FOOTER_MIDDLE) < len(line) - 1  # and a site before the full stop


# A line of particulars, not a sentence: when and where ("Thursday 23 June 2016, 1.30 to 4.30pm, Leeds Beckett
# University, and online."), or a post's terms ("Band 6, full time, permanent."): short pieces between commas, the
# first a day, a date, a time or a term, as written.
_CLOCK = r"\d{1,2}(?:[.:]\d\d)? ?"  # "2", "1.30 ", "10:00"
_TIME = rf"{_CLOCK}[ap]m\b|{_CLOCK}(?:to|–|-) ?{_CLOCK}[ap]m\b"
_PARTICULAR = re.compile(
    r"[\"'“‘(]*(?:(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)days?|FTE|Permanent|(?:Full|Part)[ -]time|Fixed[ -]term|"
    r"(?:Band|Grade) \d)\b|(?:January|February|March|April|May|June|July|August|September|October|November|"
    rf"December) \d|{_TIME}|\d{{1,2}}(?:st|nd|rd|th)? (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec))")
_PIECES = re.compile(r"(?<!\d),|,(?!\d{3})|[;()]")  # not the comma in "£10,000"
_AMOUNT = re.compile(r"[£$€] ?\d")


def _starts_other_script(sentence: str) -> bool:
    """Whether `sentence` starts (after opening marks) with a capital outside A-Z ("Élise", "Łukasz", "Ωμέγα") or a
    letter of a script without capitals (Arabic, Hebrew)."""
    first = sentence.lstrip(_OPENERS + " ")[:1]
    return first.isupper() or first.isalpha() and not first.islower()


def _short_pieces(sentence: str, most: int) -> bool:
    return all(len(piece.split()) <= most for piece in _PIECES.split(sentence))


def _particulars(sentence: str) -> bool:
    """A line of when and where, or of a post's terms, in three or more short pieces, starting with a day, a date,
    a time or a term (see `_PARTICULAR`), for a sentence with two commas or semicolons or more."""
    return bool(_PARTICULAR.match(sentence)) and len(_PIECES.split(sentence)) >= 3 and _short_pieces(sentence, 5)


def _prices(sentence: str) -> bool:
    """A price list ("Organisation rate £110; Voluntary sector £70; …", "Tickets: £25 (concessions £10).", "Adults
    £5, children £2.50, under-fives free."): two amounts or more, in short pieces, set out as a list (by
    semicolons, after a label, or from its first word), or in pieces of a few words each, most with an amount."""
    if len(_AMOUNT.findall(sentence)) < 2:
        return False
    if (";" in sentence or ":" in sentence or _AMOUNT.match(sentence)) and _short_pieces(sentence, 6):
        return True
    pieces = [piece for piece in _PIECES.split(sentence) if piece.strip(" .")]
    return all(len(piece.split()) <= 4 for piece in pieces) and 2 * sum(
        bool(_AMOUNT.search(piece)) for piece in pieces) >= len(pieces)
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
# A label that names a job's or an event's particulars ("Hours: 22.5 per week.", "Venue: Leeds Beckett University."),
# or an image's caption ("Photo: Pamela Fisher opening the seminar."): the line is one of them, not a sentence of the
# text, with its label or without.
_PARTICULAR_LABEL = re.compile(
    r"(?i:(?:working |contracted )?hours(?: of work)?|salary|pay|wage|grade|band|contract|contract type|term|location|"
    r"base|based|venue|where|when|date|dates|time|times|(?:closing|start|interview) dates?|deadline|cost|costs|price|"
    r"prices|fee|fees|tickets?|admission|entry|speakers?|chair|chairs|facilitators?|hosts?|contact|e-?mail|phone|"
    r"tel|telephone|address|website|ref|reference|duration|(?:photo|image|picture|photograph)(?: credit)?|credit|"
    r"caption|pictured|above|below|left|right):")
_LABEL = re.compile(r"^(?P<label>[A-Z][\w’'/-]*(?: [\w’'/-]+){0,2}):\s+(?=[\"“‘(]?[A-Z0-9])")
# The words the patterns above can start with: a quick test before trying them.
_GREETING_START = re.compile(r"(?i:dear|hi|he|greetings|good)")
_ENDING_START = re.compile(r"(?i:with|best|kind|warm|many|all|good|regards|thank|cheers|yours|sincerely|love|take|"
                           r"speak|see|in|until|bye|posted|written|published|updated|edited|read|find|learn|view|"
                           r"continue|keep|click)")


def _heads(*patterns: re.Pattern) -> tuple[frozenset[str], frozenset[str]]:
    """The first three letters of the words that `patterns` (each "(?i:word|word …)") match at the start of a
    text, and the words of two letters: a text whose first three characters are ASCII can match only if they
    are, in lower case, one of the first, or begin with one of the second (`_may_open`)."""
    words = [word for pattern in patterns for word in pattern.pattern[4:-1].split("|")]
    assert all(word.isascii() and word.isalpha() and word.islower() and len(word) >= 2 for word in words)
    return frozenset(word[:3] for word in words if len(word) > 2), frozenset(word for word in words if len(word) == 2)


def _may_open(sentence: str, heads: tuple[frozenset[str], frozenset[str]]) -> bool:
    """False when `sentence` cannot start with one of the words `heads` come from (see `_heads`). A non-ASCII
    character may match a letter regardless of case ("K", the Kelvin sign, matches "k"), so then True."""
    head = sentence[:3]
    if not head.isascii():
        return True
    head = head.lower()
    return head in heads[0] or head[:2] in heads[1]


_GREETING_HEADS = _heads(_GREETING_START)
_OPENING_HEADS = _heads(_ENDING_START, _GREETING_START)


def tidy(sentence: str) -> str:
    """The sentence without a salutation or a short label in front ("Dear all, here are …" → "Here are …")."""
    greeting = _may_open(sentence, _GREETING_HEADS) and _GREETING_START.match(sentence)
    match = greeting and _SALUTATION.match(sentence)
    if match and match.group("end") and len(match.group("who").split()) <= 4:
        rest = sentence[match.end():]
        if rest:
            sentence = rest[0].upper() + rest[1:]
    elif greeting:
        sentence = _SALUTATION_GLUED.sub("", sentence)
    label = ":" in sentence and _LABEL.match(sentence)
    if label:
        sentence = sentence[label.end():]
    return sentence


def is_real(sentence: str, opening: bool | None = None) -> bool:
    """Whether `sentence` reads as a sentence of running text (see the module's docstring). `opening`, when known, is
    `_may_open(sentence, _OPENING_HEADS)`."""
    if "  " not in sentence and sentence[:1] != " " != sentence[-1:] and sentence.isprintable():
        count = sentence.count(" ") + 1  # folded (no white space but single spaces): its words, not split
    else:
        count = len(sentence.split())
    # (Each quick test before a pattern, here and in `tidy`, passes whenever the pattern would match.)
    if (count < 3 or not (sentence[-1] in _END_CHARS or _END.search(sentence))
            or not (sentence[0] in _START_CHARS or _START.match(sentence) or _starts_other_script(sentence))
            or sentence[-1] in "])\n" and _TEASER.search(sentence)):
        return False
    if not (sentence[1].islower() or _ASCII_LOWER.search(sentence)) and not any(
            c.islower() or c.isalpha() and not c.isupper() for c in sentence):  # (a script without case: Arabic)
        return False
    if (sentence[-1] == "…" or sentence[-1] == "." and sentence.endswith("...")
            or sentence[-1] in _CLOSING and sentence.rstrip(_CLOSING).endswith(("…", "..."))):
        return False  # cut short by its feed ("… and Volkm…"), or trailing off: no whole sentence
    if count <= 30 and (sentence.count(",") + sentence.count(";") >= 2 and _particulars(sentence)
                        or ("£" in sentence or "$" in sentence or "€" in sentence) and _prices(sentence)):
        return False
    if sentence.startswith(_FOOTER_HEAD) and _wordpress_footer(sentence):
        return False
    if opening is None:
        opening = _may_open(sentence, _OPENING_HEADS)
    if opening and (_ENDING_START.match(sentence) or _GREETING_START.match(sentence)):
        if count <= 6 and _SALUTATION.match(sentence):
            return False
        if _SIGN_OFF.match(sentence) or _BYLINE.match(sentence) or _BARE_CALL.match(sentence):
            return False
    if (">" in sentence if sentence.isascii() else _ARROW_HINT.search(sentence)) and _SENTENCE_ARROW.search(
            _unquoted(sentence)):
        return False  # (an ASCII sentence holds no arrow but ">")
    if count <= 10 and title_case(sentence.split()):
        return False  # a title-case line: a heading or a byline, not a sentence
    return True


def _unquoted(sentence: str) -> str:
    """`sentence` without the » that close its « (a French quotation's, not an arrow left of a link)."""
    if "«" not in sentence:
        return sentence
    return sentence.replace("»", "", sentence.count("«"))


_STOP_BEFORE_CAPITAL = re.compile(r"[.!?] +(?=[\"“‘(]?[A-Z])")
_TITLE_STOPS = frozenset({"dr", "mr", "mrs", "ms", "mx", "prof", "st", "rev", "cllr", "sr", "jr", "no", "tel", "ext"})
# A word a single letter after it names a place by, not a person by an initial ("Block B.", "Room C.")
_LETTERED = frozenset({"room", "rooms", "block", "wing", "hall", "floor", "level", "unit", "ward", "building", "suite",
                       "studio", "zone", "gate", "entrance", "door", "bay", "court", "flat", "plot", "stage", "area",
                       "annexe", "annex", "lab", "theatre", "lecture", "seminar", "tower", "house", "site", "park"})


def _after_particular(sentence: str) -> str:
    """What follows the particular `sentence` opens with ("Cost: free." in "Cost: free. Everyone is welcome …",
    which nupunkt may leave joined): the text after its first stop before a capital that ends no title ("Dr.") or
    initial (a room's or a block's letter ends one: "Block B."), or "" when there is none. A particular after it is
    left out too."""
    at = 0  # (where what is left begins: the text is cut once, so a run of particulars is read once)
    while ":" in sentence[at:at + 31] and _PARTICULAR_LABEL.match(sentence, at):
        for stop in _STOP_BEFORE_CAPITAL.finditer(sentence, at):
            words = sentence[max(at, stop.start() - 24):stop.start()].split()[-2:]  # (a few: read once)
            word = words[-1].lstrip("(\"“‘").casefold() if words else ""
            if (len(word) > 1 and word not in _TITLE_STOPS) or (
                    len(words) == 2 and word.isalpha() and words[0].casefold() in _LETTERED):
                at = stop.end()
                break
        else:
            return ""
    return sentence[at:]


def real_sentences(block: Block, limit: int | None = None) -> list[str]:
    """The sentences of `block` that read as running text, tidied. With `limit`, a longer piece of
    text is read only that far, and its last sentence (perhaps cut) is left out."""
    found = []
    for segment in block.segments:
        if limit is not None and len(segment) > limit:
            pieces = _split(segment[:limit].rstrip(), folded=True)[:-1]
        else:
            pieces = _split(segment, folded=True)
        for sentence in pieces:
            if ":" in sentence[:31] and _PARTICULAR_LABEL.match(sentence):
                sentence = _after_particular(sentence)
                if not sentence:
                    continue
            opening = _may_open(sentence, _OPENING_HEADS)  # (a greeting is one of the openings)
            if opening or ":" in sentence:  # else tidy has nothing to remove
                tidied = tidy(sentence)
                if tidied is not sentence and ":" in sentence[:len(sentence) - len(tidied)] and title_case(
                        tidied.split()):
                    continue  # "Speakers: Jane Smith (University of Leeds), …": a label's particulars, any length
                sentence, opening = tidied, None
            if is_real(sentence, opening):
                found.append(sentence)
    return found
