"""html_to_text: the plain text every transform reads, cut from sanitised HTML by pattern.

It must give exactly what re-parsing the sanitised HTML with nh3 gives, for whatever a hostile or
careless source sent (the sanitiser runs first, as it does for every item).
"""

from __future__ import annotations

import html
import re

import pytest

from pipeline.sanitize import _BLOCK_END, _STRIP_ALL, clean_html, html_to_text, strip_controls

SPACE = re.compile(r"\s+")

AWKWARD = [
    "<p>Peer support &amp; recovery</p><p>Second&nbsp;paragraph&#10;with a break</p>",
    '<p title="a > b">Quoted &gt; in an attribute</p><a href="https://x.example/?a=1&b=2" title="x>y">link</a>',
    "<div>Text with a < stray bracket and 3 > 2</div>",
    "<ul><li>one</li><li>two<br>three</li></ul><h2>Heading</h2>tail text",
    "<script>alert(1)</script><style>p{}</style><p onclick=x>Kept</p><!-- a comment -->",
    "<p>Control\x01characters\x7f and \u2028 separators</p>",
    "<table><tr><td>cell</td><td>cell two</td></tr></table><pre>  pre\n  formatted  </pre>",
    "<p>unclosed <b>bold <i>and italic</p> after",
    "<img src=x alt='> not a tag end'><p>after the image</p>",
    "plain text, no markup at all &copy; 2016",
    "<p>   </p><p>\t\n</p><blockquote>Quoted words</blockquote>",
]


def reference(fragment: str) -> str:
    """What html_to_text gave when it re-parsed with nh3."""
    blocks = _BLOCK_END.sub("\n", SPACE.sub(" ", fragment))
    lines = strip_controls(html.unescape(_STRIP_ALL.clean(blocks))).split("\n")
    return "\n".join(folded for line in lines if (folded := SPACE.sub(" ", line).strip()))


@pytest.mark.parametrize("raw", AWKWARD)
def test_same_text_as_reparsing_the_sanitised_html(raw):
    body = clean_html(raw)
    assert html_to_text(body) == reference(body)


def test_one_line_per_block_and_entities_decoded():
    body = clean_html("<h2>Power &amp; space</h2><p>Peer\n  support</p><ul><li>one</li><li>two</li></ul>")
    assert html_to_text(body).split("\n") == ["Power & space", "Peer support", "one", "two"]
