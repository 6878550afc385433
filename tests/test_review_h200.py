"""Review h200: a hostile review of review h189's changes to the `themes` and `summary` transforms (address masking,
taxonomy exclusions), and entities a feed escaped twice. Each test names one problem and fails while it is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_project
from plugins.transforms.themes import _blank_addresses

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def themes():
    return next(t for t in load_project(ROOT / "pipeline.toml").transforms if t.name == "themes")


# ---- themes: address masking --------------------------------------------------------------------------------------

def test_masking_reads_each_address_once_not_the_whole_text_again():
    """An address's ends were found by searching for a space over the whole text before and after it, so a text of
    many addresses on lines of their own (a contact list, or a hostile body of "x@y" lines) took time growing with
    the square of its length: 2 s at 400 KB, about 13 s at 1 MB, for every run. Now each address's ends are found
    between it and its neighbours. Measured by how far the search reads, not by the clock: a wrapper counts the
    characters the masking asks `str` to search."""
    calls = []

    class Counting(str):
        def find(self, sub, start=0, end=None):
            stop = len(self) if end is None else end
            at = str.find(self, sub, start, stop)
            calls.append((at if at != -1 else stop) - start)
            return at

        def rfind(self, sub, start=0, end=None):
            stop = len(self) if end is None else end
            at = str.rfind(self, sub, start, stop)
            calls.append(stop - (at if at != -1 else start))
            return at

    lines = 2000
    text = "a b\n" + "x@y.org\n" * lines
    masked = _blank_addresses(Counting(text))
    assert masked == "a b\n" + "x@x.xxx\n" * lines
    assert sum(calls) < 20 * len(text)


@pytest.mark.parametrize(("title", "text", "theme"), [
    # a no-break space (&nbsp;, everywhere in a Mailchimp campaign) or a tab is no end of an address: the masking
    # ran back to the last plain space, and made "peer support group" xxxx
    ("Group", "Our peer\u00a0support\u00a0group:\u00a0info@leedsmind.org.uk", "peer support"),
    ("Group", "Our peer support\tgroup\tinfo@leedsmind.org.uk", "peer support"),
    # an "@" inside a word, with no domain after it, is no email address ("co-production@its best", a service's
    # name "Recovery@Home"): its words are the text's words
    ("Evening", "Co-production@its best: service users and staff plan the evening together.", "co-production"),
    ("Evening", "Join Recovery@Home, our new recovery group, tonight.", "recovery"),
])
def test_a_theme_beside_or_around_an_at_sign_that_is_no_address_still_counts(themes, title, text, theme):
    assert theme in themes.themes_of(text, title)


@pytest.mark.parametrize(("title", "text", "wrong"), [
    # what the masking must still do
    ("Walking group", "To join, email\u00a0training@leedsmind.org.uk.", "education and training"),
    ("Open day", "Follow (@Recovery_College) for news of the open day.", "recovery"),
    ("Quiz night", "Book at https://leedsmind.org.uk/peer-support/quiz-night now.", "peer support"),
])
def test_an_address_is_still_masked(themes, title, text, wrong):
    assert wrong not in themes.themes_of(text, title)


def test_explain_offsets_hold_after_the_masking(themes):
    from pipeline.phrases import original_offset
    text = "Write to\u00a0info@leedsmind.org.uk\u00a0about our peer support group."
    [[_, _, at]] = themes.judge("Group", text)["peer support"]["matches"]
    assert text[original_offset(text, at):].startswith("peer support group")


# ---- themes: the taxonomy's new exclusions ------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "text", "theme"), [
    # "the course of" (meant for "over the course of the afternoon") also covered a real course's "The course of six
    # weekly sessions …", which then was no education and training
    ("Spring sessions", "The course of six weekly sessions starts in May; book your place now.",
     "education and training"),
    ("Spring sessions", "We have redesigned the course of six sessions for this spring.", "education and training"),
    # an exclusion beside a real theme hides only its own words
    ("Hub", "We offer peer support, not a peer-led service but one run by staff who listen.", "peer support"),
])
def test_an_exclusion_does_not_hide_the_real_theme(themes, title, text, theme):
    assert theme in themes.themes_of(text, title)


@pytest.mark.parametrize("text", ["Over the course of the afternoon we will hear from three speakers.",
                                  "During the course of the day we met carers.",
                                  "In the course of our work we meet many carers.",
                                  "Details will follow in due course."])
def test_the_course_of_events_is_still_no_course(themes, text):
    assert "education and training" not in themes.themes_of(text, "Seminar")
