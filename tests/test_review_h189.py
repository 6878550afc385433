"""Review h189: the `themes` and `summary` transforms read as a demanding reader of the network's newsletter reads
their output. Each test names one problem and fails while it is there. The summary is made as the transform makes
it (`summarise_html` with the item's plain text, the shipped settings); the themes come from the shipped taxonomy in
pipeline.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_project
from pipeline.sanitize import clean_html, html_to_text
from pipeline.testing import make_item
from plugins.transforms.summary import summarise_html

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def themes():
    return next(t for t in load_project(ROOT / "pipeline.toml").transforms if t.name == "themes")


def summary_of(body_html: str) -> str:
    """The summary the shipped `summary` transform gives a sanitised body (max_chars 300, max_sentences 3)."""
    body_html = clean_html(body_html)
    return summarise_html(body_html, 300, 3, text=html_to_text(body_html))


# ---- summary ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "lead"), [
    # Spanish opens a question with ¿ and an exclamation with ¡: the lead was dropped, and the summary started with
    # the answer ("Es una forma …": "It is a way …"), or was empty.
    ("<p>¿Qué es la coproducción? Es una forma de trabajar en la que profesionales y usuarios comparten el poder.</p>",
     "¿Qué es la coproducción?"),
    ("<p>¡Nuevo curso de formación para trabajadores de apoyo entre pares!</p>",
     "¡Nuevo curso de formación para trabajadores de apoyo entre pares!"),
    # French and German quotations open with « and „, as English ones with “.
    ("<p>« Rien sur nous sans nous », disent les militants. La conférence réunit des pairs aidants.</p>",
     "« Rien sur nous sans nous », disent les militants."),
    ("<p>„Nichts über uns ohne uns“, sagen die Aktivisten. Die Tagung bringt Genesungsbegleiter zusammen.</p>",
     "„Nichts über uns ohne uns“, sagen die Aktivisten."),
])
def test_a_sentence_opening_with_spanish_or_french_punctuation_leads(body, lead):
    assert summary_of(body).startswith(lead)


URDU = "نیٹ ورک ذہنی صحت میں شریک پیداوار پر ایک سیمینار منعقد کر رہا ہے۔ تجربہ رکھنے والے لوگوں کو مدعو کیا جاتا ہے۔"


@pytest.mark.parametrize(("body", "summary"), [
    # an Arabic question ends with ؟, not ?
    ("<p>هل أنت مهتم بالدعم من الأقران؟</p>", "هل أنت مهتم بالدعم من الأقران؟"),
    # Urdu ends a sentence with ۔ (U+06D4), not a full stop: the summary was empty
    ("<p>" + URDU + "</p>", URDU),
])
def test_a_sentence_ending_with_an_arabic_question_mark_or_urdu_full_stop_is_a_sentence(body, summary):
    assert summary_of(body) == summary


def test_an_urdu_paragraph_is_split_at_its_full_stops():
    from plugins.transforms.sentences import split

    assert split("سیمینار منعقد کر رہا ہے۔ لوگوں کو مدعو کیا جاتا ہے۔ کیا آپ آئیں گے؟ ہم انتظار کریں گے۔") == [
        "سیمینار منعقد کر رہا ہے۔", "لوگوں کو مدعو کیا جاتا ہے۔", "کیا آپ آئیں گے؟", "ہم انتظار کریں گے۔"]


@pytest.mark.parametrize("particulars", [
    "<p>Speakers: David Crepaz-Keay (Mental Health Foundation), Martin Webber (University of York), "
    "Rebecca Hutten.</p>",
    "<p>Venue: The Wesley Centre, Oxford Place, Leeds.</p>",
    "<p>Contact: Pamela Fisher, School of Healthcare, University of Leeds.</p>",
    "<p>Chair: Tina Coldham, Social Care Institute for Excellence.</p>",
])
def test_a_labelled_line_of_particulars_does_not_lead(particulars):
    """`tidy` drops a "Label: " prefix and keeps the rest as a sentence ("Update: The network has …"), so a seminar
    notice's "Speakers: …" line, once its label is gone, is a list of names that leads the summary."""
    body = particulars + ("<p>The seminar looks at what changes when peer support moves from survivor-led groups "
                          "into co-produced services.</p>")
    assert summary_of(body).startswith("The seminar looks at")


@pytest.mark.parametrize("terms", [
    "<p>Hours: 22.5 per week. Salary: £21,000 pro rata.</p>",
    "<p>Contract: Fixed term for 12 months.</p>",
    "<p>Location: Leeds city centre, with some home working.</p>",
    "<p>Venue: Leeds Beckett University, Room 204.</p><p>Cost: Free to members.</p>",
    "<p>Deadline: Applications close at noon on 14 February.</p>",
])
def test_a_job_or_event_particular_under_its_label_does_not_lead(terms):
    """A job advert's "Hours: 22.5 per week." lost its label to `tidy` and led the summary as "22.5 per week.": the
    reader of the email saw a number where the job should have been described."""
    body = terms + "<p>We are looking for a peer support worker with lived experience of mental distress.</p>"
    assert summary_of(body) == "We are looking for a peer support worker with lived experience of mental distress."


def test_a_lead_pointing_back_at_a_line_the_summary_left_out_gives_way():
    """The seed's seminar notes: lines without a full stop ("Co-production involves parity of esteem for all type of
    knowledge/'roles'") are no sentences, so the first real one, "This requires external voices to 'raise hell'.", led
    the summary, pointing back at a line the reader never sees."""
    body = ("<p>Key Words: Power – Space – Peer Support</p><p>Research power imbalances</p>"
            "<p>Co-production involves parity of esteem for all type of knowledge/’roles’</p>"
            "<p>This requires external voices to ‘raise hell’. Reform cannot be achieved from the ‘inside’ only</p>"
            "<p>Many resources in the community (800 organisations in Kirklees), but recognition that ‘the community’ "
            "can be a hostile as well as enabling. More opportunities in community than anything a service can "
            "offer.</p>")
    assert summary_of(body).startswith("Many resources in the community")


@pytest.mark.parametrize("body", [
    "<p>Hello all,<br>This month we look back at the seminar at St Catherine’s.</p>",
    "<p>Dear All</p><p>This week the network met in Leeds to plan its next seminar.</p>",
])
def test_a_lead_about_this_week_or_month_is_not_pointing_back(body):
    assert summary_of(body).startswith("This")


MAILCHIMP = """<table class="bodyContainer"><tr><td class="mcnTextContent">
<p>Welcome to the April newsletter of the network.</p>
<p>This month we look back at the seminar at St Catherine's, where service users and professionals asked how power
can be shared.</p></td></tr>
<tr><td class="footerContent">Copyright © 2016 The Network, All rights reserved.</td></tr></table>"""


def test_a_newsletter_laid_out_in_a_table_gets_a_summary():
    """A partner's Mailchimp campaign feed sends each issue laid out in tables, its every paragraph inside a table
    cell: table cells are left out (a timetable's "10.00 | Welcome" is no sentence), so the summary was empty and the
    email fell back to the body's first 300 characters, cut."""
    assert summary_of(MAILCHIMP).startswith("Welcome to the April newsletter of the network. This month we look back")


def test_a_timetable_s_short_cells_are_no_summary():
    body = ("<table><tr><td>10.00</td><td><p>Welcome and introductions.</p></td></tr><tr><td>10.30</td><td><p>Peer "
            "support in crisis services: what works?</p></td></tr></table>")
    assert summary_of(body) == ""


def test_a_paragraph_in_a_table_does_not_serve_when_the_item_has_paragraphs_of_its_own():
    body = ("<p>The seminar programme is below.</p><table><tr><td>10.00</td><td><p>Welcome and introductions to the "
            "day by the chair.</p></td></tr></table>")
    assert summary_of(body) == "The seminar programme is below."


@pytest.mark.parametrize("caption", [
    "<p><em>Photo: Pamela Fisher opening the seminar at St Catherine's.</em></p>",
    "<p>Picture: Members of the network outside the Civic Hall in Leeds.</p>",
    "<p>Image credit: Leeds Beckett University, used with permission.</p>",
])
def test_a_photo_caption_does_not_lead(caption):
    """WordPress posts put an image's caption in a paragraph under it ("Photo: …"): its label went, and the caption
    led the summary as if it were the post's first sentence."""
    body = ('<p><img src="https://example.org/seminar.jpg" alt=""></p>' + caption +
            "<p>Sixty people came to the third seminar, on co-production in healthcare practice.</p>")
    assert summary_of(body) == "Sixty people came to the third seminar, on co-production in healthcare practice."


@pytest.mark.parametrize(("title", "body", "summary"), [
    ("We are hiring!", "<p>We are hiring! Leeds Mind is looking for a part-time peer support worker to join our "
     "team in Armley.</p>",
     "Leeds Mind is looking for a part-time peer support worker to join our team in Armley."),
    ("Peer support worker wanted", "<p>Peer support worker wanted. Leeds Mind is looking for someone with lived "
     "experience of mental distress to join our team.</p>",
     "Leeds Mind is looking for someone with lived experience of mental distress to join our team."),
])
def test_the_summary_does_not_repeat_the_title(title, body, summary, run_context):
    """The email and the site show an item's title and then its summary: a body that opens by repeating its title as
    a sentence gave a summary that says the title twice over."""
    project = load_project(ROOT / "pipeline.toml")
    transform = next(t for t in project.transforms if t.name == "summary")
    item = make_item(title=title, body_html=clean_html(body))
    transform.apply([item], run_context(project))
    assert item.summary == summary


# ---- themes -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "text", "wrong"), [
    # A partner's news saying what a service is not: those subscribed to peer support get a council hub.
    ("Kirklees Wellbeing Hub opens", "The new hub in Huddersfield opens on Monday. It is not a peer-led service: it "
     "is run by the council's adult social care team, with GPs referring patients.", "peer support"),
    ("Drop-in", "The drop-in is not peer-run; it is staffed by the trust's nurses.", "peer support"),
    # "power" in the senses a carers' or an events notice uses it: not power-sharing.
    ("Lasting Power of Attorney explained", "Our next session covers Lasting Power of Attorney and how to set one "
     "up for a family member.", "power-sharing"),
    ("Power cut: Tuesday's meeting cancelled", "Owing to a power cut at the venue, Tuesday's meeting is cancelled. The "
     "power supply should be back by Friday.", "power-sharing"),
    # "data" in a privacy notice: not research.
    # "course" as in the course of a day, not a training course
    ("Seminar 5", "Over the course of the afternoon we will hear from three speakers. In due course we will publish "
     "the slides.", "education and training"),
    # the seed's "allow themes to 'emerge' directly from service user voices": voices as in a say, not voice-hearing
    ("Notes from the day", "Maybe let go of some approaches to defining research questions, and allow themes to "
     "emerge directly from service user voices.", "hearing voices"),
    ("Privacy update", "We have updated our privacy notice. Your data is safe with us, and we keep personal data "
     "only as long as data protection law allows.", "research"),
])
def test_a_theme_word_in_another_sense_or_denied_is_not_the_theme(themes, title, text, wrong):
    assert wrong not in themes.themes_of(text, title)


@pytest.mark.parametrize(("title", "text", "wrong"), [
    ("Walking group", "Our walking group meets every Saturday at the park gates. To join, email "
     "training@leedsmind.org.uk.", "education and training"),
    ("Quiz night", "Teams of four, prizes for the winners. Book at https://leedsmind.org.uk/peer-support/quiz-night "
     "or email research@leeds.ac.uk.", "peer support"),
    ("Quiz night", "Teams of four, prizes for the winners. Book at https://leedsmind.org.uk/peer-support/quiz-night "
     "or email research@leeds.ac.uk.", "research"),
    ("Open day", "Come along to our open day. Details at www.recovery-college.org.uk/open-day.", "recovery"),
    ("Open day", "Come along to our open day, or follow @Recovery_College for news.", "recovery"),
])
def test_a_theme_named_only_in_an_address_is_not_the_theme(themes, title, text, wrong):
    """Words inside an email address, a web address or a handle ("research@…", "…/peer-support/…") are matched as the
    text's words: a quiz night is tagged peer support and research, a walking group education and training."""
    assert wrong not in themes.themes_of(text, title)


def test_a_theme_beside_an_address_still_counts_and_explain_finds_it(themes):
    text = "Email info@leedsmind.org.uk to join our peer support group on Tuesdays."
    judged = themes.judge("Group", text)
    assert judged["peer support"]["kept"]
    from pipeline.phrases import original_offset
    [[_, _, at]] = judged["peer support"]["matches"]
    assert text[original_offset(text, at):].startswith("peer support group")


@pytest.mark.parametrize(("title", "text", "theme"), [
    # what the exclusions above must leave alone
    ("Peer-led crisis house", "The crisis house is peer-led, and open every night.", "peer support"),
    ("Who holds power?", "Who holds power when a service is redesigned? Professionals are generally reluctant to "
     "share power.", "power-sharing"),
    ("Peer trainer course", "Our course for peer trainers starts in March.", "education and training"),
    ("Hearing voices group", "The group is for people who hear voices.", "hearing voices"),
    ("Survey findings", "Our survey of 200 members gives data on waiting times.", "research"),
])
def test_the_same_words_in_the_themes_sense_still_count(themes, title, text, theme):
    assert theme in themes.themes_of(text, title)
