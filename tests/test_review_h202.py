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
