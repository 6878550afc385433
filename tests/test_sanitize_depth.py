"""Block elements nested without end (a hostile feed's `<div>` 20,000 times): html5ever, under nh3, looks through
every open element at each block's start, so the cost grew with the depth squared (20,000 deep: 1.4 s a call, and
an item's body is sanitised several times a run). `pipeline/sanitize.py` reads blocks nested deeper than
`MAX_DEPTH` as their content (Chromium's parser stops nesting at 512), so nh3 never meets more."""

from __future__ import annotations

import random
import re

import pytest

from pipeline import sanitize

BLOCK = re.compile(r"<(/?)(div|blockquote|ul|section|article)\b[^>]*>")


def deepest(html: str) -> int:
    depth = most = 0
    for closing, _ in BLOCK.findall(html):
        depth += -1 if closing else 1
        most = max(most, depth)
    return most


@pytest.mark.parametrize("tag", ["div", "blockquote", "ul", "section", "DIV"])
def test_blocks_nested_past_the_limit_are_read_as_their_content(tag):
    text = f"<{tag} class='x'>" * 20_000 + "<p>deep <b>inside</b></p>" + f"</{tag}>" * 20_000 + "<p>after</p>"
    cleaned = sanitize.clean_html(text)
    assert deepest(cleaned) == sanitize.MAX_DEPTH
    assert cleaned.endswith("<p>deep <b>inside</b></p>" + f"</{tag.lower()}>" * sanitize.MAX_DEPTH + "<p>after</p>")
    assert sanitize.plain_text(text) == "deep insideafter"  # (a title's text: tags go, as they always did)


def test_unclosed_blocks_past_the_limit_keep_their_text():
    text = "".join(f"<div>line {n} " for n in range(3000))
    assert deepest(sanitize.clean_html(text)) == sanitize.MAX_DEPTH
    assert sanitize.plain_text(text) == " ".join(f"line {n}" for n in range(3000))


def test_html_within_the_limit_is_cleaned_as_it_always_was():
    """Below `MAX_DEPTH` nothing is changed before nh3: the same output as nh3 alone, for random nestings."""
    chance = random.Random(7)
    pieces = ["<div>", "</div>", "<blockquote>", "</blockquote>", "<ul><li>", "</li></ul>", "<p>", "</p>", "text ",
              "<b>", "</b>", "<a href='https://example.org/'>", "</a>", "<br>", "<!-- <div> -->", "<section>"]
    for _ in range(300):
        text = "".join(chance.choice(pieces) for _ in range(chance.randint(1, 400)))
        assert sanitize.clean_html(text) == sanitize._CLEANER.clean(text).strip()
        assert sanitize.plain_text(text) == sanitize._SPACE.sub(" ", sanitize.html.unescape(
            sanitize._STRIP_ALL.clean(text))).strip()


def test_a_start_tag_never_unended_is_looked_for_only_up_to_the_next_tag():
    """What keeps the depth count linear: a block's tag that has no ">" before the next "<" is no tag to it, so
    `<div` said 100,000 times without one is read once, not from each `<div` to the end."""
    assert sanitize._NESTING_BLOCK.match("<div class='a' <div>") is None
    assert sanitize._NESTING_BLOCK.match("<div class='a'>") is not None
    text = "<div" * 100_000
    assert sanitize._shallow(text) == text
