"""The quick paths of `paragraphs.py` and `sentences.py` read HTML and cut sentences as the slow ones do.

The regular-expression reader must send `_Parser` the events html.parser would, and the plain-stop
splitter must give the spans nupunkt would. A comment at the end of a body makes the reader hand the
body to html.parser (which ignores the comment), so `paragraphs(html + COMMENT)` is the reference.
"""

from __future__ import annotations

import pytest

from pipeline.sanitize import clean_html
from plugins.transforms.paragraphs import Block, paragraphs
from plugins.transforms.sentences import real_sentences, split
from plugins.transforms.summary import summarise_html

COMMENT = "<!-- html.parser reads this body -->"


def blocks(body: str, budget: int | None = None) -> list[tuple[str, list[str]]]:
    return [(block.kind, block.segments) for block in paragraphs(body, budget)]


@pytest.mark.parametrize("body, expected", [
    ("<p>One <b>two</b><p>Three &amp; four &lt;p&gt; five", [("p", ["One two"]), ("p", ["Three & four <p> five"])]),
    ("<ul><li>a<ul><li>b</li></ul>c</li><li>d</ul>", [("li", ["a"]), ("li", ["b"]), ("li", ["c"]), ("li", ["d"])]),
    ("x < y and 3<4 <br>next", [("p", ["x < y and 3<4", "next"])]),  # a stray "<" is text
    ("<p>Ends with <", [("p", ["Ends with <"])]),
    ("<p>line<br>break<br/>again<br />end</p>", [("p", ["line", "break", "again", "end"])]),
    ("Plain text\n\nsecond para", [("p", ["Plain text"]), ("p", ["second para"])]),
    ("<p>It costs &pound;10&nbsp;&ndash; or nothing&#8217;s lost &#x2192; AT&T &amp</p>",
     [("p", ["It costs £10 – or nothing’s lost → AT&T &"])]),
    ('<p>See <img src="a.jpg" alt="a > b"> this.</p>', [("p", ["See this."])]),
    ("<blockquote><p>Quoted words here.</p></blockquote><h2>Heading</h2><p>After.</p>",
     [("quote", ["Quoted words here."]), ("p", ["After."])]),
    ('<p><a href="/x" rel="noopener noreferrer">Read more →</a></p><p>Text <a href="/y">Read more&nbsp;&rarr;</a> '
     'More text.</p>', [("p", ["Text", "More text."])]),
    ("<p><strong>Where:</strong> Leeds Town Hall, upstairs.</p>", [("p", ["Leeds Town Hall, upstairs."])]),
])
def test_the_reader_finds_the_blocks_html_parser_finds(body, expected):
    assert blocks(body) == expected
    assert blocks(body + COMMENT) == expected


@pytest.mark.parametrize("body", [
    "<p>A <!-- c --> B</p>",  # a comment
    "<p>Before</p><script>var p = '<p>';</script><p>After</p>",  # raw text
    "<P CLASS=x>Upper case and a bare attribute</P>",  # not as nh3 writes a tag
    "<p>An <a href='single'>odd</a> quote and an unclosed <b>bold",
    "<!doctype html><p>Declared</p>",
    "<p>Broken </ p> end tag and <?pi?> too</p>",
])
def test_html_the_reader_leaves_to_html_parser_reads_the_same(body):
    assert blocks(body) == blocks(body + COMMENT)
    assert blocks(body) == blocks(COMMENT + body)


def test_a_tag_cut_off_at_the_end_is_text():
    assert blocks("<p>An <a href='single'>odd</a> quote and an unclosed <b") == [
        ("p", ["An odd quote and an unclosed <b"])]


def test_the_budget_stops_both_readers_at_the_same_block():
    body = "".join(f"<p>Paragraph {n} has some words in it, enough to count.</p>\n" for n in range(40))
    assert blocks(body, 200) == blocks(body + COMMENT, 200)
    assert len(blocks(body, 200)) < 40


def test_sanitised_html_from_a_feed_reads_the_same_both_ways():
    body = clean_html('<div><h3>News</h3><p class="x">Peer support in <em>Leeds</em>. <a href="https://a.org/b?c=1&d=2">'
                      'Read more</a></p><ul><li>One</li><li><strong>Two:</strong> three.</li></ul>'
                      '<script>alert(1)</script><figure><img src="https://a.org/i.jpg"><figcaption>A caption'
                      '</figcaption></figure><p>It&#8217;s 9.30 &amp; we&rsquo;re off.</p></div>')
    assert "<script" not in body
    assert blocks(body) == blocks(body + COMMENT)
    assert summarise_html(body, 300, 3) == summarise_html(body + COMMENT, 300, 3)


@pytest.mark.parametrize("text, expected", [
    ("Dr. Smith met St. John at 9.30 for £112.50. Then he left.",
     ["Dr. Smith met St. John at 9.30 for £112.50.", "Then he left."]),
    ("We met e.g. on Monday. J. R. R. Tolkien wrote it.", ["We met e.g. on Monday.", "J. R. R. Tolkien wrote it."]),
    ("“Is it working?” she asked. It was.", ["“Is it working?” she asked.", "It was."]),
    ("He left (see p. 3). Then we met.", ["He left (see p. 3).", "Then we met."]),
    ("Wow! Great. Why? Because.", ["Wow!", "Great.", "Why?", "Because."]),
    ("Peer support works. The network agrees. Co-production matters.",
     ["Peer support works.", "The network agrees.", "Co-production matters."]),
    ("The report is out. “We are proud,” she said.", ["The report is out.", "“We are proud,” she said."]),
    ("It ends in a quote.” Next one.", ["It ends in a quote.”", "Next one."]),
    ("Read it all.”", ["Read it all.”"]),
    ("It was a good day. Next time.", ["It was a good day.", "Next time."]),  # "day" is one of the model's words
    ("Tickets cost £10. No. 5 is sold out.", ["Tickets cost £10.", "No. 5 is sold out."]),
    ("on recovery. Read more → The network met.", ["on recovery.", "The network met."]),
    ("on recovery. READ MORE The network met.", ["on recovery.", "The network met."]),
    ("İstanbul hosts it. Read more → The network met.", ["İstanbul hosts it.", "The network met."]),
    ("We read more books. The end.", ["We read more books.", "The end."]),
    ("Civil. War began.", ["Civil. War began."]),
    ("A. B. Smith spoke. It went well.", ["A. B. Smith spoke.", "It went well."]),
])
def test_sentence_boundaries(text, expected):
    assert split(text) == expected


PLAIN_AND_NOT = [
    "Peer support works. The network agrees. Co-production matters.",
    "Wow! Great. Why? Because. it goes on.",
    "It was a good day. Next time.",
    "The meeting is at 9.30 in St. Mary’s. Bring £5.",
    "Read it all.” Then go.",
    "Read it all.”",
    "iv. Roman numerals open a list. Then text follows.",
    "Ends with an ellipsis… Then more.",
    "Two spaced. . . stops. And more.",
    "Mixed case WORDS. UPPER CASE. lower case.",
    "you’re right. it’s fine! isn’t it? Yes.",
    "A sentence (with brackets). Another [one]. And a third.",
]


@pytest.mark.parametrize("text", PLAIN_AND_NOT)
def test_the_plain_path_gives_the_spans_nupunkt_gives(text):
    import nupunkt

    from plugins.transforms.sentences import _plain_spans

    spans = _plain_spans(text)
    assert spans is None or spans == [tuple(span) for span in nupunkt.sentence_spans(text)]


def test_the_plain_path_is_taken_for_ordinary_prose():
    from plugins.transforms.sentences import _plain_spans

    assert _plain_spans("Peer support helps. The network agrees! Does it? Co-production matters.") is not None
    assert _plain_spans("Dr. Smith agrees.") is None  # an abbreviation: nupunkt decides
    assert _plain_spans("Peer support works. The network agrees.") is None  # so is "works" in its model


def test_real_sentences_of_a_block():
    block = Block("p", ["Dear all, here are the notes from Leeds. Best wishes, Pamela",
                        "Key words: Power – Space – Peer Support", "Posted by Sam on Monday.",
                        "Note: The next meeting is in June. Read more →"])
    assert real_sentences(block) == ["Here are the notes from Leeds.", "The next meeting is in June."]


ENDINGS = ["Dr.", "e.g.", "I.e.", "J.", "x-Dr.", "(Dr.", "Mr_.", "approx.", "Approx.", "APPROX.", "vs.", "Revd.",
           "St.\n", "Dr.!", "Dr?", "Drs.", "dr.", "A. B.", "on Monday.", "the U.S.", "Messrs.", "e.g.g.", ".",
           " .", "…", "", "Dr..", "a Dr.", "99.", "Fig.", "K.", "\u212a.", "Dr\u00a0.", "ca.", "cf.", "cf.\n"]


@pytest.mark.parametrize("before", ENDINGS + [f"Some words then {e}" for e in ENDINGS])
def test_the_quick_abbreviation_test_agrees_with_the_pattern(before):
    from plugins.transforms.sentences import _NEVER_FINAL, _never_final

    assert _never_final(before) == bool(_NEVER_FINAL.search(before, max(0, len(before) - 9)))


OPENINGS = ["Dear all", "dEAR", "Hi there", "He said", "Hey", "Good morning", "Greetings", "Gr", "With thanks",
            "Best", "Kind regards", "In solidarity", "Inside", "The network", "Thanks", "Thank you", "Cheers", "Bye",
            "Posted by", "Read more", "Click here", "Keep reading", "Continue", "Take care", "See you", "Speak soon",
            "Until", "Yours", "Love", "All the best", "Many thanks", "Warm wishes", "Updated", "Edited", "Written",
            "Published", "Learn", "Find out", "View", "Regards", "Sincerely", "Sing", "Our partners", "“Dear”", "H",
            "I", "\u212aind regards", "\u017fee you", "\u0130n", "Ha", "A", "9 to 5", "h\u00e9", "go"]


@pytest.mark.parametrize("sentence", OPENINGS)
def test_the_quick_opening_test_passes_whenever_the_patterns_match(sentence):
    from plugins.transforms.sentences import _ENDING_START, _GREETING_HEADS, _GREETING_START, _OPENING_HEADS, _may_open

    if _GREETING_START.match(sentence):
        assert _may_open(sentence, _GREETING_HEADS)
    if _ENDING_START.match(sentence) or _GREETING_START.match(sentence):
        assert _may_open(sentence, _OPENING_HEADS)


def test_the_quick_opening_test_rules_out_ordinary_openings():
    from plugins.transforms.sentences import _GREETING_HEADS, _OPENING_HEADS, _may_open

    assert not _may_open("The network met.", _OPENING_HEADS) and not _may_open("Our partners", _GREETING_HEADS)


WORD_TEXTS = ["Peer-led groups’ work, don't they?", "-led 'tis ’twas x- -- - ' ’ -'a a-'b", "İstanbul XİY \u212aelvin",
              "a\x01b ’\x01’ \x01x", "Don't STOP", "", "é è naïve café Straße ﬁne", "a b c I", "’’word’’ --x-- ab",
              "tab\there\nline\u2028sep\u00a0nbsp", "\ud800lone surrogate", "ΣΊΣΥΦΟΣ ǅ ǈ", "9.30 £112.50 co-op"]


@pytest.mark.parametrize("text", WORD_TEXTS)
def test_the_quick_word_finder_finds_the_words_the_pattern_finds(text):
    from plugins.transforms.summary import _UNSCORED, WORD, _words

    single = {w for w in _UNSCORED if len(w) < 2}  # what _words may give besides the words: a letter, b""
    expected = [w.replace("’", "\x01").encode() for w in WORD.findall(text.lower())]
    assert [w for w in _words(text) if w not in single] == expected


def test_only_two_characters_but_capitals_lower_to_one_the_word_pattern_takes():
    takes = set("abcdefghijklmnopqrstuvwxyz'’-")  # (summary.WORD's class)
    found = {c for c in map(chr, range(0x80, 0x110000)) if c != "’" and not takes.isdisjoint(c.lower())}
    assert found == {"\u0130", "\u212a"}  # İ and K (Kelvin): the two summary._words lowers first


@pytest.mark.parametrize("text", ["One. Two.", "9.30 and £112.50. Next", "e.g. this.", "End.", "a.b. c.D .e", ".", "..",
                                  "Wow! Why? Because… yes.", "x.\n", "x.”", "dots... more", "No stops", ""])
def test_the_quick_stop_finder_finds_the_stops_the_pattern_finds(text):
    from plugins.transforms.sentences import _STOP, _stops

    assert _stops(text) == [stop.start() for stop in _STOP.finditer(text)]


@pytest.mark.parametrize("text", ["a&nbsp;b &amp; c", "&amp;nbsp;", "&amp;amp;", "&nbsp&amp;", "&am&nbsp;p;", "&&amp;",
                                  "&amp;lt; &lt;", "AT&T &amp", "&nbsp;&#8217;&amp;", "&NBSP; &Amp;", "&ampx;"])
def test_the_quick_unescape_gives_what_html_unescape_gives(text):
    from html import unescape

    from plugins.transforms.paragraphs import _unescape

    assert _unescape(text) == unescape(text)
