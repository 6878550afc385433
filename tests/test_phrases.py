"""The phrase matcher (pipeline/phrases.py): how a text is normalised, what a phrase matches, and where."""

from __future__ import annotations

import pytest

from pipeline.phrases import PhraseIndex, normalise, original_offset, phrase


def found(phrases: list[str], text: str) -> list[str]:
    """The phrases (as written) found in `text`, in the order the index gives them."""
    return [m.phrase.text for m in PhraseIndex([phrase(p) for p in phrases]).find(text)]


@pytest.mark.parametrize(("text", "normal"), [
    ("Peer-led  Support", " peer led support "),
    ("", "  "),
    ("it's the carers' forum_2016", " it s the carers forum 2016 "),  # apostrophes and underscores are gaps
    ("One. Two,(three)", " one | two | three | "),
    ("end.\n\nNext", " end | next "),  # a run of stops is one stop
    ("a. (b", " a | | b "),  # two stops with a gap between them stay two
    ("“Quoted” — Café Straße", " | quoted | café straße "),  # curly quotes stop; a dash is a gap
    ("You’re £10 – 20", " you re 10 20 "),
    ("bad \ud800 surrogate", " bad surrogate "),
])
def test_normalise_lowers_joins_words_by_single_spaces_and_marks_stops(text, normal):
    assert normalise(text) == normal


def test_original_offset_points_back_at_the_word_in_the_text():
    text = "Our (new) Peer-Led group"
    normal = normalise(text)
    assert original_offset(text, normal.index("peer")) == text.index("Peer")
    assert original_offset(text, normal.index("led")) == text.index("Led")


def test_a_phrase_is_its_normalised_words_with_a_stem_kept():
    assert phrase("Co-Produc*").words == ("co", "produc*")
    assert phrase("doing with, not to").words == ("doing", "with", "|", "not", "to")
    with pytest.raises(ValueError, match="has no words"):
        phrase("--")


@pytest.mark.parametrize(("text", "expected"), [
    ("Aerospace engineers", []),  # whole words only
    ("A spaceship", []),
    ("A safe space.", ["space"]),
    ("SPACE", ["space"]),
])
def test_only_whole_words_match(text, expected):
    assert found(["space"], text) == expected


@pytest.mark.parametrize("text", ["co-production", "co-produced", "Co Producing", "coproduction", "CoProduced"])
def test_a_stem_matches_any_ending_written_hyphenated_spaced_or_joined(text):
    assert found(["co-produc*"], text) == ["co-produc*"]


def test_a_stem_needs_its_whole_start():
    assert found(["co-produc*"], "co-prod and production") == []


@pytest.mark.parametrize("text", ["peer-led", "peer led", "peerled", "Peer - led"])
def test_spaces_hyphens_and_joined_words_are_the_same(text):
    assert found(["peer-led"], text) == ["peer-led"]


@pytest.mark.parametrize(("text", "expected"), [
    ("shifting power", ["shift* power"]),
    ("shifts power", ["shift* power"]),
    ("shift power", ["shift* power"]),
    ("shiftwork power", []),  # inside a phrase a * stands only for the common endings
])
def test_a_stem_inside_a_phrase_stands_for_the_common_endings(text, expected):
    assert found(["shift* power"], text) == expected


@pytest.mark.parametrize("text", ["peer. support", "peer, support", "peer (support)", "peer\nsupport",
                                  "peer “support”", "peer: support"])
def test_a_phrase_never_runs_across_a_stop(text):
    assert found(["peer support"], text) == []


def test_a_phrase_with_a_stop_in_it_matches_any_stop_there():
    assert found(["doing with, not to"], "Doing with; not to.") == ["doing with, not to"]
    assert found(["doing with, not to"], "doing with not to") == []


def test_overlapping_and_nested_matches_are_all_found_in_the_order_they_end():
    phrases = ["peer support", "support group", "peer", "group*"]
    # a stem ends with its last letter, a whole word after it
    assert found(phrases, "A peer support group.") == ["peer", "peer support", "group*", "support group"]


def test_one_written_form_serves_every_phrase_and_key_that_has_it():
    index = PhraseIndex([phrase("peer-led", "a"), phrase("peer led", "b"), phrase("peer led", ("exclude", "a"))])
    assert [(m.phrase.text, m.phrase.key) for m in index.find("Peer led.")] == [
        ("peer-led", "a"), ("peer led", "b"), ("peer led", ("exclude", "a"))]


def test_offsets_are_in_the_normalised_text_from_the_first_letter():
    text = "We met, as peers (peer-supporters), today."
    normal = normalise(text)
    matches = PhraseIndex([phrase("peer support*"), phrase("peers")]).find(text)
    assert [(m.phrase.text, normal[m.start:m.end]) for m in matches] == [
        ("peers", "peers "), ("peer support*", "peer support")]
    assert [text[original_offset(text, m.start):][:5] for m in matches] == ["peers", "peer-"]


def test_scan_gives_each_written_form_once_with_its_span():
    index = PhraseIndex([phrase("peer support", 1), phrase("peer-support", 2), phrase("support")])
    text = "Peer support."
    normal = normalise(text)
    spans = [(normal[last - back:last + 1], [p.text for p in listed]) for last, (back, listed) in index.scan(text)]
    assert spans == [("peer support ", ["peer support", "peer-support"]), ("support ", ["support"])]
    assert [(m.start, m.end) for m in index.find(text)] == [(1, 14), (1, 14), (6, 14)]


def test_an_empty_index_finds_nothing():
    index = PhraseIndex([])
    assert index.find("anything") == [] and list(index.scan("anything")) == []


def test_original_offset_counts_a_letter_that_lowers_to_two_as_one():
    """"İ" (Turkish capital dotted I) lowers to "i" and a combining dot: each one after it moved the evidence
    `pipeline explain` shows one character to the right."""
    text = "İİİ İstanbul hosts a peer support day. Peer-led groups meet there."
    normal = normalise(text)
    assert text[original_offset(text, normal.index("peer")):].startswith("peer support")
    assert text[original_offset(text, normal.rindex("peer")):].startswith("Peer-led")
