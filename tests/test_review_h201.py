"""Review h201: every place the site lists an item agrees on the same news passed on by two sources (review h192's
`one_per_page`): the search index, the left-out copy's own page and the sitemap, before and after the copy kept is
withdrawn."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli import main
from tests.http_fixtures import Route
from tests.test_review_h196 import RENEWAL, network, rss

COPY = "Peer support research to go on"


def two_partners(write_project, feed_server) -> Path:
    """ODU's copy (funding) kept, HVN's (peer support) left out: one page, its link spelt another way."""
    config = network(write_project, feed_server)
    feed_server.routes["/odu.xml"] = Route(rss((RENEWAL, "https://esrc.example.org/news/renewal",
                                                "Wed, 24 Feb 2016 09:00:00 +0000")))
    feed_server.routes["/hvn.xml"] = Route(rss((COPY, "http://www.esrc.example.org/news/renewal/",
                                                "Thu, 25 Feb 2016 09:00:00 +0000")))
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0
    return config


def search_index(out: Path) -> list[dict]:
    return json.loads((out / "search" / "index.json").read_text())


def test_the_search_index_has_the_same_news_from_two_partner_feeds_once(write_project, feed_server):
    """The issue, the feeds, the month and theme lists have the news once, but the site's search listed both copies,
    one after the other, for a search of "funding". Now the search has the copy the lists keep, once, and finds it
    by the themes of the copy left out as well (a search of "peer support" finds the news)."""
    out = two_partners(write_project, feed_server).parent / "out"
    records = [r for r in search_index(out) if "renewal" in r["title"].lower() or r["title"] in (RENEWAL, COPY)]
    assert [r["title"] for r in records] == [RENEWAL]
    assert "peer support" in records[0]["themes"] and "funding" in records[0]["themes"]
    assert (out / "search" / "index.js").read_text().count(COPY) == 0
