"""Review h202: a hostile review of reviews h199, h200 and h201 (entities a feed escaped twice, one copy of a page
kept across the site, the issues and the feeds). Each test names one problem and fails while it is there."""

from __future__ import annotations

import pytest

TOKEN = "s3cr3tT0kenXYZ"


def _feed(title: str, body: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Partner</title>
<link>https://partner.example.org/</link>
<item><title>{title}</title><link>https://partner.example.org/1</link><guid>1</guid>
<content:encoded><![CDATA[{body}]]></content:encoded></item></channel></rss>""".encode()


# ---- feeds: a credential spelt in entities escaped twice ----------------------------------------------------------

@pytest.mark.parametrize("parser", ["feedparser", "fast"])
def test_a_credential_spelt_in_entities_escaped_twice_is_masked(parser):
    """The address's credentials are masked in an entry however HTML spells them (`&#115;` for "s"), and then, since
    h200, an entity escaped twice is read as its character (`escaped_once`): masked before, "&amp;#115;3cr3t…" was no
    spelling of the token, and the un-escaping then wrote the token itself into the item's title and body (stored,
    published on the site and in the feeds). Now what is un-escaped is masked too."""
    from plugins.sources.feed import parse_feed

    spelt = "&amp;#115;" + TOKEN[1:]  # the token's first letter as a character reference escaped twice
    document = _feed(f"Key {spelt.replace('&amp;', '&amp;amp;')} here",  # (in XML: escaped once more)
                     f"<p>Your key is {spelt} for the carers' peer support group.</p>")
    [item] = parse_feed(document, f"https://partner.example.org/feed?key={TOKEN}", "application/xml", "partner",
                        "news", parser=parser, credentials=(TOKEN,)).items
    assert TOKEN not in item.title and TOKEN not in item.body_html
    assert "***" in item.title and "***" in item.body_html


# ---- summary: a particular ending in a room's or a block's letter --------------------------------------------------

def _summary(body_html: str) -> str:
    from pipeline.sanitize import clean_html, html_to_text
    from plugins.transforms.summary import summarise_html

    body_html = clean_html(body_html)
    return summarise_html(body_html, 300, 3, text=html_to_text(body_html))


@pytest.mark.parametrize("where", ["Block B", "Room C", "Wing A", "Hall D", "Building E", "the car park C"])
def test_a_particular_ending_in_a_places_letter_still_leaves_the_sentence_after_it(where):
    """h200 reads past a particular's label to the sentence nupunkt leaves joined to it ("Cost: free. Everyone is
    welcome …"), at its first stop before a capital that ends no title or initial; but the letter of a room or a block
    ("Where: Block B.") was taken for an initial, no other stop was found, and the notice's only sentence was left out
    with the particular: it had no summary. A single letter after a room's, a block's or a wing's word ends it."""
    assert _summary(f"<p>Where: {where}. Everyone is welcome at the carers' coffee morning on Friday.</p>") == \
        "Everyone is welcome at the carers' coffee morning on Friday."


def test_an_initial_in_a_particular_is_still_no_stop():
    """What the rule keeps: "Contact: Jane B. Smith" is a name, so the particular runs on past the initial."""
    from plugins.transforms.sentences import _after_particular

    assert _after_particular("Contact: Jane B. Smith. Everyone is welcome at the coffee morning.") == \
        "Everyone is welcome at the coffee morning."
    assert _after_particular("Speaker: Prof. A. B. Jones.") == ""
