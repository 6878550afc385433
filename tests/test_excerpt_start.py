"""`item_view.excerpt`: the start of a body as plain text, for an item with no summary. It read the whole body to keep
300 characters of it, in every sink, every run: a partner's post of megabytes (or a hostile one) cost that each time.
It now reads the body's start, more only when that gives too little text, and gives exactly what the whole gave."""

from __future__ import annotations

import random
import re

import pytest

from pipeline import item_view
from pipeline.models import Kind
from pipeline.sanitize import clean_html, one_line, plain_text
from tests.conftest import make_item

PIECES = ["<p>", "</p>", "word ", "Peer support ", "longerwordwithoutspaces" * 3, " ", "&amp; ", "&lt;b&gt; ",
          "&#8217;", "café ", "<br>", "<b>", "</b>", "<a href='https://example.org/x'>", "</a>", "<ul><li>",
          "</li><li>", "</li></ul>", "<table><tr><td>", "</td><td>", "</td></tr></table>", "<h2>", "</h2>",
          "<blockquote>", "</blockquote>", "\n", "  ", "<div>", "</div>", "<img src='https://example.org/a.png'>",
          "<em>", "</em>", ".", ", ", "—", "<p></p>" * 20, "<b></b>" * 40]


OLD_BLOCK_TAG = re.compile(r"<(/?)(p|br|li|h[1-6]|div|tr|td|th|blockquote|dd|dt|figcaption)\b", re.I)  # as it was


def whole_body(body_html: str) -> str:
    """The excerpt as it was made: from the whole body."""
    text = plain_text(OLD_BLOCK_TAG.sub(r" <\1\2", body_html))
    return item_view.shorten(one_line(text), item_view.EXCERPT_CHARS)


@pytest.mark.parametrize("seed", range(6))
def test_the_excerpt_is_what_the_whole_body_gave(seed):
    chance = random.Random(seed)
    for _ in range(80):
        body = clean_html("".join(chance.choice(PIECES) for _ in range(chance.randint(0, 2500))))
        item = make_item(Kind.NEWS, "T", body_html=body, summary="")
        assert item_view.excerpt(item) == whole_body(body), body[:200]


def test_a_body_of_megabytes_is_not_read_whole(monkeypatch):
    body = "<p>" + "Peer support in Leeds. " * 200_000 + "</p>"
    read: list[int] = []
    real = item_view.plain_text
    monkeypatch.setattr(item_view, "plain_text", lambda html: read.append(len(html)) or real(html))
    item = make_item(Kind.NEWS, "T", body_html=body, summary="")

    assert item_view.excerpt(item) == whole_body(body)
    assert max(read) < 10 * item_view.EXCERPT_CHARS * 4  # the start of the body, not its 4.6 MB
