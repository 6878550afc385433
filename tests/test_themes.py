"""The `themes` transform: weighted phrases, exclusions, the title's weight, evidence in proportion to
length, the strongest themes only, the evidence kept, and `pipeline explain` showing it."""

from __future__ import annotations

import re

import pytest

from pipeline.cli import main
from pipeline.errors import ConfigError

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
    assert main(["explain", "-c", str(config), "https://nowhere.example.org/"]) == 1
    assert "no stored item has the id or URL 'https://nowhere.example.org/'" in capsys.readouterr().err
