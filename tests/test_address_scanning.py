"""Finding addresses in free text, which may come from a hostile feed (an item's fields in the email) or anyone's
input (lines of `serve`'s log, the run history): `typed_links` (plugins/sinks/email/render.py) and
`without_addresses` (pipeline/subscribers/addresses.py). Their patterns looked for the part before an @ from every
character of a word, so a word of n characters without an @ cost n²/2 steps: a 50,000-character field took 27 s
to render. They now start a word's local part only at its first character, and find what they found before."""

from __future__ import annotations

import random
import re

import pytest

from pipeline.subscribers import addresses
from plugins.sinks.email import render

# The patterns as they were: every test below compares what the code finds with what these found.
OLD_TYPED = re.compile(r"(?<![A-Za-z0-9])(?:https?://|www\.)|[\w.+'-]+@", re.IGNORECASE)
OLD_ANY_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"'/\\]+@[^@\s<>()\[\],;:\"'/\\]+")

PIECES = ["a", "Zé", "ü", "@", ".", "+", "'", "-", "_", "/", ":", " ", "\n", "https://", "http://", "www.", "WWW.",
          "ann", "bücher.de", "…", "»", ",", ";", "(", ")", '"', "<", ">", "\\", "9", "例", "。", "’", "***"]


def texts(count: int, seed: int):
    chance = random.Random(seed)
    for _ in range(count):
        yield "".join(chance.choice(PIECES) for _ in range(chance.randint(1, 14)))


@pytest.mark.parametrize("seed", range(4))
def test_typed_links_finds_what_it_found_before(seed, monkeypatch):
    found = [render.typed_links(text) for text in texts(3000, seed)]
    monkeypatch.setattr(render, "_TYPED", OLD_TYPED)
    assert found == [render.typed_links(text) for text in texts(3000, seed)]


@pytest.mark.parametrize("seed", range(4))
def test_without_addresses_masks_what_it_masked_before(seed, monkeypatch):
    found = [addresses.without_addresses(text) for text in texts(3000, seed)]
    monkeypatch.setattr(addresses, "_ANY_ADDRESS", OLD_ANY_ADDRESS)
    assert found == [addresses.without_addresses(text) for text in texts(3000, seed)]


def test_a_local_part_is_looked_for_only_from_the_start_of_its_word():
    """What keeps the scan linear: from inside a word, neither pattern can begin a match (the engine moves on at
    once), so each word is read once from its start, however long it is."""
    word = "é " + "a" * 40 + "@example.org"
    assert render._TYPED.match(word, 2) and addresses._ANY_ADDRESS.match(word, 2)
    for inside in (3, 20, 41):
        assert render._TYPED.match(word, inside) is None
        assert addresses._ANY_ADDRESS.match(word, inside) is None


def test_a_long_word_with_no_address_comes_back_whole():
    text = "é " + "a" * 30_000 + " and ann@bücher.de."
    assert render.typed_links(text) == "é " + "a" * 30_000 + " and ann@xn--bcher-kva.de."
    assert addresses.without_addresses(text) == "é " + "a" * 30_000 + " and <an address>"
