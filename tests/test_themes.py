"""The `themes` transform: weighted phrases, exclusions, the title's weight, evidence in proportion to
length, the strongest themes only, the evidence kept, and `pipeline explain` showing it."""

from __future__ import annotations

import math
import re

import pytest

from pipeline.cli import main
from pipeline.errors import ConfigError
from pipeline.phrases import normalise

SINK = '\n[sinks.feed]\ntype = "rss"\n'
TAXONOMY = """
[transforms.themes]
type = "themes"
max_themes = 2
[transforms.themes.taxonomy]
"co-production" = ["co-produc*", "co-design*", "agreed jointly"]
"research" = ["research*"]
"recovery" = ["recovery college*"]
[transforms.themes.taxonomy."peer support"]
phrases = ["peer support*", { phrase = "peer mentor*", weight = 2 }, "peer* mentoring support"]
exclude = ["peer review*"]
[transforms.themes.taxonomy."space"]
phrases = ["space*"]
exclude = ["outer space", "space is limited"]
"""


@pytest.fixture
def themes(project_from):
    return project_from(TAXONOMY + SINK).transforms[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("The service was co-designed with the people who use it.", ["co-production"]),
    ("Coproduction, agreed jointly.", ["co-production"]),
    ("Peer mentors meet on Tuesdays.", ["peer support"]),
    ("All papers are peer reviewed before publication.", []),  # an exclusion
    ("A talk on outer space; space is limited.", []),  # both uses of "space" are excluded
    ("A quiet space to talk.", ["space"]),
    ("Aerospace engineers", []),  # whole words only
    ("We met the co-\nproduction group.", []),  # a line break is the end of a line, not a hyphen
    ("Peer. Support", []),  # a phrase never runs across the end of a sentence
    ("Peer (support)", []),  # nor into brackets
    ("Peers mentoring support", ["peer support"]),  # a * inside a phrase: the common endings
])
def test_phrases_stems_joined_words_and_exclusions(themes, text, expected):
    assert themes.themes_of(text) == expected


def test_a_weighted_phrase_counts_more(themes):
    judged = themes.judge("", "Peer mentors and peer support.")
    peer = judged["peer support"]
    assert peer["score"] == 3.0 and [m[0] for m in peer["matches"]] == ["peer mentor*", "peer support*"]


def test_the_title_counts_more_than_the_body(themes):
    in_title = themes.judge("Research news", "Nothing else here.")["research"]["score"]
    in_body = themes.judge("News", "Research, and nothing else here.")["research"]["score"]
    assert in_title == 2 * in_body


def test_a_long_text_needs_more_evidence_than_a_short_one(themes):
    short = "We talked about research today."
    long = short + " " + " ".join(["The weather was fine and the tea was hot."] * 60)
    assert themes.themes_of(short) == ["research"]
    assert themes.themes_of(long) == []
    verdict = themes.judge("", long)["research"]
    assert not verdict["kept"] and "below the" in verdict["why"] and verdict["needed"] > 1


def test_only_the_strongest_themes_are_kept(themes):
    text = ("Co-production and co-design, agreed jointly. Research and more research. "
            "Peer support and peer mentors. A recovery college.")
    judged = themes.judge("", text)
    assert themes.themes_of(text) == ["co-production", "peer support"]  # max_themes = 2, strongest first
    assert judged["research"]["why"] == "beyond the 2 strongest themes"


def test_apply_keeps_given_themes_and_stores_the_evidence(themes, run_context, item_factory):
    item = item_factory(title="Peer mentors in Leeds", body_html="<p>A new peer support group.</p>",
                        themes=["from the source"])
    themes.apply([item], run_context(themes.project))
    assert item.themes == ["from the source", "peer support"]
    evidence = item.theme_evidence["peer support"]
    assert evidence["kept"] and evidence["matches"][0] == ["peer mentor*", "title", 1]


@pytest.mark.parametrize(("table", "message"), [
    ('"x" = []', "theme 'x' needs a list of non-empty phrases"),
    ('"x" = ["co*"]', "a word ending in * needs at least 3 letters"),
    ('[transforms.themes.taxonomy.x]\nexclude = ["b"]', "theme 'x' has no phrases"),
    ('[transforms.themes.taxonomy.x]\nphrases = ["a"]\nexclud = ["b"]', "exclud"),
])
def test_taxonomy_mistakes_are_config_errors(project_from, table, message):
    toml = '[transforms.themes]\ntype = "themes"\n[transforms.themes.taxonomy]\n' + table + "\n"
    with pytest.raises(ConfigError, match=re.escape(message)):
        project_from(toml + SINK)


def test_explain_shows_the_evidence_of_a_stored_item(write_project, capsys):
    feed = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d"
            "</description><item><title>Peer mentors wanted</title><link>https://p.example.org/mentors</link>"
            "<description>Join our peer support team. Papers are peer reviewed.</description>"
            "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")
    config = write_project(TAXONOMY + '[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": feed})
    main(["refresh", "-c", str(config), "--as-of", "2016-02-01"])
    capsys.readouterr()

    assert main(["explain", "-c", str(config), "https://p.example.org/mentors"]) == 0

    out = capsys.readouterr().out
    assert "themes: peer support" in out
    assert "peer support: score" in out and "kept" in out
    assert "'peer mentor*' in the title: …Peer mentors wanted…" in out
    assert "'peer support*' in the body" in out


def test_explain_names_what_it_cannot_find(write_project, capsys):
    config = write_project(TAXONOMY + SINK)
    main(["refresh", "-c", str(config), "--as-of", "2016-02-01"])
    assert main(["explain", "-c", str(config), "https://nowhere.example.org/"]) == 2
    assert "no stored item has the id or URL 'https://nowhere.example.org/'" in capsys.readouterr().err


COVERING = """
[transforms.themes]
type = "themes"
max_themes = 1
[transforms.themes.taxonomy.support]
phrases = ["support*", "peer support group*", { phrase = "peer-led", weight = 3 }, "peer led", "led"]
exclude = ["support worker*", "mutual support group", "led by"]
[transforms.themes.taxonomy.groups]
phrases = ["group*", "support group*"]
"""


@pytest.fixture
def covering(project_from):
    return project_from(COVERING + SINK).transforms[0]


def _matched(judged, theme):
    return [m[0] for m in judged[theme]["matches"]] if theme in judged else []


def test_a_longer_match_of_a_theme_covers_the_shorter_ones_inside_it(covering):
    text = "A peer support group. Support."
    judged = covering.judge("", text)
    assert _matched(judged, "support") == ["peer support group*", "support*"]
    normal = normalise(text)
    assert [m[2] for m in judged["support"]["matches"]] == [normal.index("peer"), normal.rindex("support")]


def test_an_exclusion_covers_matches_inside_it_whether_it_ends_with_them_or_after(covering):
    text = "Support workers; a mutual support group; led by us; support."
    judged = covering.judge("", text)
    assert _matched(judged, "support") == ["support*"] and judged["support"]["count"] == 1  # the last one
    assert judged["support"]["matches"][0][2] == normalise(text).rindex("support")
    assert _matched(judged, "groups") == ["support group*"]  # another theme's exclusions do not apply


def test_an_exclusion_that_only_overlaps_a_match_leaves_it(covering):
    judged = covering.judge("", "Peer support groups led by peers.")
    assert _matched(judged, "support") == ["peer support group*"]  # "led" is inside "led by", not "groups"


def test_overlapping_matches_of_different_themes_each_count(covering):
    judged = covering.judge("", "support groups")
    assert _matched(judged, "support") == ["support*"]
    assert _matched(judged, "groups") == ["support group*"]  # it covers its own "group*"


def test_one_form_written_twice_counts_once_with_the_first_listing(covering):
    judged = covering.judge("", "Peer-led, peer led.")
    assert _matched(judged, "support") == ["peer-led", "peer-led"]
    assert judged["support"]["score"] == round(3 * (1 + math.log(2)), 2)


def test_a_theme_not_given_keeps_three_matches_and_counts_the_rest(covering):
    text = "Groups and groups and group work. " * 3 + " ".join(["Support."] * 12)
    judged = covering.judge("", text)
    given = judged["support"]
    assert given["kept"] and given["count"] == 12 and len(given["matches"]) == 8 and given["more"] == 4
    passed_over = judged["groups"]
    assert passed_over["why"] == "beyond the 1 strongest themes" and passed_over["count"] == 9
    assert len(passed_over["matches"]) == 3 and passed_over["more"] == 6
