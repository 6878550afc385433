"""Review h174: super-linear work on hostile text.

`is_real` (plugins/transforms/sentences.py) asked whether a sentence is a WordPress feed's footer ("The post X
appeared first on Y.") with the pattern `The post .+ appeared first on .+\\.$`. On a sentence holding " appeared
first on " k times and not ending in a full stop, the pattern tried each of the k places and read to the end from
each: k·n steps, a 160,000-character sentence cost 1.1 s in `real_sentences` (or `summarise`, on plain text) with
no limit; the summary transform reads at most 4 × max_chars characters of a segment, so it met this only as far as
its budget. The footer is
now recognised from the first " appeared first on " only (a later one leaves less room, so it cannot match where
the first did not), which finds what the pattern found."""

from __future__ import annotations

import random
import re

import pytest

from plugins.transforms import sentences

# The pattern as it was: the test compares what the code finds with what it found.
OLD_FOOTER = re.compile(r"The post .+ appeared first on .+\.$")

PIECES = ["The post ", " appeared first on ", "appeared first on", " ", "x", "Blog", ".", "!", "\n", "\r", "é", "…",
          "The post", " on ", "first"]


def footers(count: int, seed: int):
    chance = random.Random(seed)
    for _ in range(count):
        text = "".join(chance.choice(PIECES) for _ in range(chance.randint(0, 9)))
        yield text if chance.random() < 0.3 else "The post " + text


@pytest.mark.parametrize("seed", range(4))
def test_the_footer_is_recognised_where_the_pattern_recognised_it(seed):
    for text in footers(4000, seed):
        assert sentences._wordpress_footer(text) == bool(OLD_FOOTER.match(text)), repr(text)


def test_a_footer_and_a_sentence_much_like_one():
    assert sentences._wordpress_footer("The post Recovery colleges appeared first on Mind Cymru.")
    assert sentences._wordpress_footer("The post A appeared first on B appeared first on C.\n")
    assert not sentences._wordpress_footer("The post appeared first on Mind Cymru.")  # no title
    assert not sentences._wordpress_footer("The post Recovery appeared first on .")  # no site
    assert not sentences._wordpress_footer("The post Recovery appeared first on Mind\nCymru.")


def test_a_long_sentence_repeating_the_footer_s_words_is_read_once():
    """The case that cost k·n: " appeared first on " many times, no full stop at the end. It is still a sentence."""
    sentence = "The post" + " appeared first on" * 9_000 + " the wards!"
    assert not sentences._wordpress_footer(sentence)
    assert sentences.is_real(sentence)
    assert not sentences.is_real(sentence[:-1] + ".")  # with the full stop it is a footer, as before
