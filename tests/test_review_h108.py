"""Review h108: the `themes` (tagging) and `summary` transforms read as a demanding reader would read their output.

Each test names one problem and fails while it is there. The texts are the network's own kind of content: the
seed (seminar notes, a blog post, a job advert, a conference with prices), the labelled set in
tests/data/themes_labelled.toml, and what partner feeds and Markdown posts send. The summary is made as the
transform makes it (`summarise_html` with the item's plain text, the shipped settings); the themes come from the
shipped taxonomy in pipeline.toml unless a test gives its own.
"""

from __future__ import annotations

import html
import tomllib
from pathlib import Path

import pytest

from pipeline.config import load_project
from pipeline.sanitize import clean_html, html_to_text
from pipeline.testing import make_item
from plugins.sources.text import markdown_to_html
from plugins.transforms.summary import summarise_html

ROOT = Path(__file__).resolve().parent.parent
LABELLED = {item["id"]: item for item in
            tomllib.loads((ROOT / "tests" / "data" / "themes_labelled.toml").read_text(encoding="utf-8"))["item"]}
SINK = '\n[sinks.feed]\ntype = "rss"\n'

# A first sentence longer than the shipped max_chars (300), so that a later sentence has to lead.
LONG_FIRST = ("The network, which brings together service users, peer workers, clinicians, researchers and seminar "
              "organisers from across the north of England and beyond, has spent the last two years asking what "
              "co-production in mental health care would look like if power were genuinely shared between the "
              "people who use services and the people who run them, and what stands in the way.")


@pytest.fixture(scope="module")
def shipped():
    return load_project(ROOT / "pipeline.toml")


@pytest.fixture(scope="module")
def themes(shipped):
    return next(t for t in shipped.transforms if t.name == "themes")


def summary_of(body_html: str) -> str:
    """The summary the shipped `summary` transform gives a sanitised body (max_chars 300, max_sentences 3)."""
    body_html = clean_html(body_html)
    return summarise_html(body_html, 300, 3, text=html_to_text(body_html))


def labelled_html(item_id: str) -> str:
    """A labelled item's body as bench/themes_eval.py makes it: blank lines end paragraphs, a newline is a <br>."""
    paragraphs = [p for p in LABELLED[item_id]["body"].strip().split("\n\n") if p.strip()]
    return "".join("<p>" + "<br>".join(html.escape(line.strip()) for line in p.splitlines()) + "</p>"
                   for p in paragraphs)


# ---- summary ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u200f"], ids=["zero-width-space", "bom", "rtl-mark"])
def test_an_invisible_character_before_the_first_word_does_not_empty_the_summary(invisible):
    """A zero-width space, byte-order mark or right-to-left mark before a paragraph's first word (what a paste from a
    word processor or a CMS leaves, kept by clean_html) makes every sentence of that paragraph fail `_START`
    (sentences.py), which wants a capital as the very first character: the summary is empty though the text is one
    good sentence."""
    body = f"<p>{invisible}The network meets in Leeds on Tuesday to talk about peer support and recovery.</p>"
    assert "The network meets in Leeds on Tuesday" in summary_of(body)


@pytest.mark.parametrize("sentence", [
    "Élise Martin will lead the session on peer support for carers in Leeds.",
    "Łukasz Nowak, a peer worker from Bradford, opens the day with a talk on recovery.",
    "Ōtautahi’s peer-led crisis house is the subject of the second talk of the day.",
], ids=["Elise", "Lukasz", "Otautahi"])
def test_a_first_sentence_opening_with_an_accented_capital_leads(sentence):
    """`_START` and `_START_CHARS` (sentences.py) take only the ASCII capitals A-Z as a sentence's first letter, so an
    English sentence that opens with a name such as Élise or Łukasz is not a "real" sentence: the lead is lost and
    the summary starts with whatever comes next."""
    body = f"<p>{sentence}</p><p>Tea and coffee will be available all day for everyone who comes.</p>"
    assert summary_of(body).startswith(sentence)


@pytest.mark.parametrize("body", [
    "<p>تجتمع الشبكة في ليدز يوم الثلاثاء للحديث عن دعم الأقران. الدعوة مفتوحة للجميع.</p>",
    "<p>הרשת נפגשת בלידס ביום שלישי כדי לדבר על תמיכת עמיתים. כולם מוזמנים.</p>",
    "<p>Το δίκτυο συναντιέται στο Λιντς την Τρίτη για να μιλήσει για την υποστήριξη από ομοτίμους. "
    "Όλοι είναι ευπρόσδεκτοι.</p>",
    "<p>Сеть встречается в Лидсе во вторник, чтобы поговорить о поддержке равных. Приглашаются все.</p>",
], ids=["arabic", "hebrew", "greek", "russian"])
def test_a_partner_item_in_another_script_gets_a_summary(body):
    """A feed may be in another language (README: its `<language>` marks the item's text), but `is_real`
    (sentences.py) wants an ASCII capital first and an ASCII-range lower-case letter somewhere: a right-to-left
    text (no case at all) or a Greek or Cyrillic one is never "real", so these items of two plain sentences get
    no summary."""
    assert summary_of(body) != ""


@pytest.mark.parametrize("cut", ["Volkm…", "Volkm...", "Volkmar Aderhold and…"], ids=["mid-word", "dots", "after-and"])
def test_a_sentence_the_feed_cut_short_is_not_in_the_summary(cut):
    """A feed's excerpt that ends mid-sentence (mid-word even) with "…" or "..." passes `_END` (sentences.py), which
    takes an ellipsis as a sentence end; only a bracketed "[…]" is known as a teaser (`_TEASER`). The summary then
    ends on a cut sentence, which the README says it never does ("never cut and never with an ellipsis")."""
    body = ("<p>Our 2016 conference brings together many of the leading developers of Open Dialogue internationally. "
            f"Keynote speakers will be Jaakko Seikkula, one of the founders of the approach, and {cut}</p>")
    summary = summary_of(body)
    assert "Keynote speakers" not in summary
    assert summary.startswith("Our 2016 conference brings together")


def test_the_summary_does_not_repeat_a_sentence():
    """A post that repeats its opening sentence as a pull quote (or a feed that repeats a paragraph) gets that
    sentence twice in its summary: `_summarise` (summary.py) scores the copy as high as the lead and never checks
    that a chosen sentence is already there."""
    body = ("<p>Peer support works because it is built on shared experience and mutual respect.</p>"
            "<blockquote><p>Peer support works because it is built on shared experience and mutual respect."
            "</p></blockquote><p>The group meets every Tuesday evening at the central library in Leeds.</p>")
    summary = summary_of(body)
    assert summary.count("Peer support works because") == 1, summary


@pytest.mark.parametrize("second", [
    "That is why we are asking every member to fill in our short survey on power-sharing before the next seminar.",
    "For example, one trust now pays everyone on its recovery college board for their time.",
], ids=["that", "for-example"])
def test_a_sentence_pointing_back_does_not_lead_in_place_of_a_long_first_one(second):
    """When the first sentence is longer than max_chars, the README says the next sentence that fits leads unless
    it "opens with a pronoun pointing back"; DANGLING (summary.py) lists this/these/those but not "that", nor
    connectives such as "For example", so the summary opens mid-thought on what the lost sentence said."""
    summary = summary_of(f"<p>{LONG_FIRST} {second}</p>")
    assert not summary.startswith(second.split()[0]), summary


def test_a_quotation_never_leads_even_when_the_first_sentence_is_too_long():
    """The README: "a quotation's [sentence] may follow it but never lead". When the first paragraph's sentence is
    too long, `_summarise` takes the next sentence that fits from `_candidates`, which holds the quotes too, so a
    <blockquote>'s sentence leads the summary."""
    body = (f"<p>{LONG_FIRST}</p><blockquote><p>I was thanked warmly and then left out of every decision that "
            "mattered.</p></blockquote><p>The next seminar, in Leeds on 9 March, looks at how to share decisions "
            "from the start.</p>")
    assert not summary_of(body).startswith("I was thanked warmly")


@pytest.mark.parametrize(("markdown", "unwanted"), [
    ("**About the role**\nWe are looking for an administrator to help open our London centre for training and "
     "practice.", "About the role"),
    ("Key Words: Power – Space – Peer Support\nThe discussion kept returning to research and who owns the knowledge.",
     "Power – Space"),
    ("Pamela Fisher, April 2016\nThe discussion kept returning to research and who owns the knowledge.",
     "Pamela Fisher"),
], ids=["bold-heading", "key-words-line", "byline"])
def test_a_heading_or_bare_line_on_its_own_line_is_not_glued_onto_a_sentence(markdown, unwanted):
    """A post or job description in Markdown with a heading, key-words line or byline on its own line just above
    the text (no blank line) is one <p> whose lines are joined by a newline. `_without_label` (paragraphs.py) keeps
    a bold run that is not followed by a colon or a dash, and nothing else parts the lines, so the summary opens
    with the heading glued onto the sentence ("About the role We are looking for …"): the README promises no
    short bold heading lines, bylines or bare lines like "Key Words: Power – Space – Peer Support"."""
    summary = summary_of(markdown_to_html(markdown))
    assert unwanted not in summary, summary


@pytest.mark.parametrize(("item_id", "line"), [
    ("t025", "Thursday 23 June 2016, 1.30 to 4.30pm, Leeds Beckett University, and online."),
    ("t046", "Wednesday 22 June 2016, 12.30 to 1.30pm, online."),
    ("t043", "Mondays, 2 to 4pm, from 6 June 2016, at the Recovery College."),
    ("t019", "Fixed term for 18 months, 0.6 FTE, Grade 6."),
    ("t036", "Band 6, full time, permanent."),
], ids=["t025", "t046", "t043", "t019", "t036"])
def test_a_date_time_or_terms_line_is_not_the_lead(item_id, line):
    """Events and job adverts of the labelled set open with a line of when and where, or of the post's terms. Such
    a line ends with a full stop and holds a lower-case word ("online", "to", "full time"), so `is_real` takes it for a
    sentence and it leads the summary, where the reader wanted what the event or job is about."""
    summary = summary_of(labelled_html(item_id))
    assert line not in summary, summary


@pytest.mark.parametrize(("body", "prices"), [
    (labelled_html("t039"), "Organisation rate £110;"),
    (labelled_html("t020"), "Statutory organisations £120;"),
    ("<p>Tickets: £25 (concessions £10).</p><p>The day brings together service users and practitioners to talk "
     "about co-production in commissioning.</p>", "£25 (concessions £10)"),
], ids=["t039", "t020", "tickets-line"])
def test_a_price_list_is_not_in_the_summary(body, prices):
    """A conference's price list written as a paragraph ("Prices: Organisation rate £110; … Service user rate £15.")
    is taken as a sentence (its "Prices:" label removed by `tidy`) and chosen for the summary, since it repeats the
    item's frequent words; a bare "Tickets: £25 (concessions £10)." line even leads. The email then shows a
    fragment of a price table as the item's summary."""
    summary = summary_of(body)
    assert prices not in summary, summary


def test_the_wordpress_feed_footer_is_not_in_the_summary():
    """Partner feeds made by WordPress end each item with "The post <title> appeared first on <site>.": link text and
    boilerplate, not the item's own text. The summary takes it as a sentence (it repeats the title's words, so it
    scores high) and shows it as the item's second sentence."""
    body = ("<p>The day brings together service users and practitioners to talk about co-production.</p>"
            '<p>The post <a href="https://p.example.org/day">Co-production day in Leeds</a> appeared first on '
            '<a href="https://p.example.org/">Open Dialogue UK</a>.</p>')
    assert "appeared first on" not in summary_of(body)


# ---- themes -----------------------------------------------------------------------------------------------------

def test_a_theme_the_source_gave_in_another_case_is_not_given_twice(themes, run_context):
    """A post whose front matter says `themes: [Peer Support]` and that the tagger also finds to be about peer
    support ends up with ["Peer Support", "peer support"]: `apply` (themes.py) removes only exact repeats, where the
    rest of the pipeline takes the two spellings as one theme (README: "Peer Support is peer support"), so the email
    and the item's page list the theme twice."""
    item = make_item(title="Peer support in Leeds", body_html="<p>A new peer support group for peer workers.</p>",
                     themes=["Peer Support"])
    themes.apply([item], run_context(themes.project))
    assert [t.casefold() for t in item.themes].count("peer support") == 1, item.themes


def test_an_exclusion_ending_in_a_star_covers_a_whole_word_phrase_inside_it(project_from, themes):
    """README: "Exclusions are phrases inside which the theme's phrases do not count". `_counted` (themes.py) bars a
    match only when the exclusion ends at the same offset, but a stem exclusion ("cost recover*") ends inside the
    last word while a whole-word phrase ("recovery") ends after it, so the excluded words still count. The shipped
    taxonomy has the case: employment's "work" is counted inside its own exclusion "social work*"."""
    transform = project_from('[transforms.themes]\ntype = "themes"\n[transforms.themes.taxonomy.recovery]\n'
                             'phrases = ["recovery"]\nexclude = ["cost recover*"]\n' + SINK).transforms[0]
    assert transform.themes_of("The trust expects full cost recovery from the new scheme.") == []
    employment = themes.judge("", "Her degree is in social work.").get("employment", {"matches": []})
    assert employment["matches"] == []


def test_a_soft_hyphen_inside_a_word_does_not_hide_the_phrase(themes):
    """A soft hyphen (&shy;, U+00AD, kept by clean_html) is invisible: the reader sees "support". `normalise`
    (phrases.py) makes it a gap between two words, so "peer sup&shy;port group" holds no "peer support*" and the item
    is not tagged with the theme it is plainly about."""
    body = clean_html("<p>Our peer sup&shy;port group meets every Tuesday evening in the library.</p>")
    assert themes.themes_of(html_to_text(body), "Tuesday evenings") == ["peer support"]


def test_table_cells_are_not_glued_together_for_the_tagger(themes):
    """`html_to_text` (sanitize.py), which gives the tagger its text, ends a line at </tr> but not at </td> or </th>,
    so a programme table's "10.30" and "Recovery colleges: what next?" become "10.30Recovery colleges", one word
    "30recovery" to the tagger: the theme whose own phrase ("recovery college*") heads the session is missed."""
    body = clean_html("<p>The programme for the day:</p><table><tr><th>Time</th><th>Session</th></tr>"
                      "<tr><td>10.30</td><td>Recovery colleges: what next?</td></tr>"
                      "<tr><td>11.45</td><td>Recovery colleges and the NHS</td></tr></table>")
    assert "recovery" in themes.themes_of(html_to_text(body), "Seminar 4 programme")


@pytest.mark.parametrize(("sentence", "theme"), [
    ("We hope to see you there.", "recovery"),
    ("Of course, everyone is welcome.", "education and training"),
    ("To book a space, email Pamela.", "space"),
    ("Admission £5, lunch included.", "crisis care"),
    ("Hospitality is provided by the university.", "crisis care"),
    ("Travellers from London should take the 8.05 train.", "equality and diversity"),
    ("We want a bigger say for peer workers in patient safety reviews.", "crisis care"),
    ("Members will share their visions for the network.", "hearing voices"),
], ids=["hope", "of-course", "book-a-space", "admission", "hospitality", "travellers", "in-patient", "visions"])
def test_everyday_wording_in_a_notice_does_not_give_a_theme(themes, sentence, theme):
    """A short seminar notice gets a second theme from a word that is plainly not about it: "hope" (recovery) in
    "We hope to see you there", "course*" in "Of course", "space*" in "book a space", "admission*" in an entry price,
    "hospital*" matching "Hospitality", "Traveller*" in travel directions, "in-patient*" matching the two words
    "in patient" (hyphens and spaces being the same), "visions" (hearing voices) in "their visions". Each is the only
    evidence for the theme, and the theme is given."""
    body = f"The fourth seminar on co-production is in Leeds on 9 March. {sentence}"
    assert theme not in themes.themes_of(body, "Seminar 4 in Leeds")
