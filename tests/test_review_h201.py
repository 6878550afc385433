"""Review h201: every place the site lists an item agrees on the same news passed on by two sources (review h192's
`one_per_page`): the search index, the left-out copy's own page and the sitemap, before and after the copy kept is
withdrawn."""

from __future__ import annotations

import json
import re
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


def _canonical(page: str) -> str:
    return re.search(r'<link rel="canonical" href="([^"]+)">', page).group(1)


def test_the_left_out_copys_page_names_the_copy_kept_and_is_not_in_the_sitemap(write_project, feed_server):
    """The left-out copy keeps its page (a theme only it carries lists it), but the page did not say the news is on
    the site as the copy the issue sent, named itself canonical and was in sitemap.xml: two pages of one news for a
    search engine, neither saying which. Now it says "The same news is on this site as …", linking the copy kept,
    names that page as canonical, and the sitemap lists only the copy kept."""
    out = two_partners(write_project, feed_server).parent / "out"
    pages = {p.parent.name: p.read_text() for p in (out / "news").glob("*/index.html")}
    (kept,) = [name for name, page in pages.items() if f"<h1>{RENEWAL}" in page or f">{RENEWAL}</h1>" in page]
    (copy,) = [name for name in pages if name != kept]
    assert f"news/{kept}/" in _canonical(pages[copy])
    assert f'The same news is on this site as <a href="../{kept}/index.html">{RENEWAL}</a>' in pages[copy]
    assert "The same news" not in pages[kept]
    sitemap = (out / "sitemap.xml").read_text()
    assert f"news/{kept}/" in sitemap and f"news/{copy}/" not in sitemap


POST = "---\ntitle: Funding for peer support renewed\ndate: 2016-02-20\n---\nThe funding is renewed.\n"
NEWS = "HVN: funding renewed"


def test_the_copy_left_out_for_a_post_withdrawn_since_comes_back_everywhere_once(write_project, feed_server):
    """A partner passed on the network's own blog post: the post went out, the partner's news was left out. The
    post made a draft again (withdrawn), the partner's news is the news on the site: in the lists, the feed, the
    search and the sitemap, once, its page its own again."""
    config = network(write_project, feed_server)
    config.write_text(config.read_text() + '\n[sources.blog]\ntype = "blog"\npath = "blog"\n')
    (config.parent / "blog").mkdir()
    (config.parent / "blog" / "renewal.md").write_text(POST)
    feed_server.routes["/hvn.xml"] = Route(rss((NEWS, "http://www.net.example.org/blog/renewal/",
                                                "Thu, 25 Feb 2016 09:00:00 +0000")))
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0
    out = config.parent / "out"
    (news,) = (out / "news").glob("*/index.html")
    assert "blog/renewal/" in _canonical(news.read_text())
    assert [r["title"] for r in search_index(out) if "renewed" in r["title"]] == ["Funding for peer support renewed"]
    (config.parent / "blog" / "renewal.md").write_text(POST.replace("---\n", "---\ndraft: true\n", 1))
    assert main(["run", "-c", str(config), "--as-of", "2016-03-02"]) == 0
    page = news.read_text()
    assert _canonical(page).endswith(f"news/{news.parent.name}/") and "The same news" not in page
    assert f"news/{news.parent.name}/" in (out / "sitemap.xml").read_text()
    assert [r["title"] for r in search_index(out) if "renewed" in r["title"]] == [NEWS]
    for listed in ("months/2016-02/index.html", "themes/funding/index.html", "archive/issue-1.html"):
        assert (out / listed).read_text().count(f">{NEWS}</a>") == 1, listed
    assert (out / "feed.xml").read_text().count(f"<title>{NEWS}</title>") == 1


# -- the copy an issue sent stays the one shown, whatever dates change after ----------------------------------

def test_the_copy_an_issue_sent_stays_the_one_shown_when_the_others_date_moves_earlier(write_project, feed_server):
    """March's issue sent ODU's copy (24 February), the HVN's (25 February) left out. In March the HVN put its
    entry's date right, to 20 February: the copy left out was now the first published, and the issue as re-made
    (`out/newsletter/issue-1.txt`, 'the issue as mailed'), its web version, the month's list, the search and the
    main feed all showed the HVN's in place of the one mailed, the feed's guid another, so every feed reader had the
    news again as new. Now the copy an issue showed is the one kept, whatever the dates say later."""
    config = two_partners(write_project, feed_server)
    feed_server.routes["/hvn.xml"] = Route(rss((COPY, "http://www.esrc.example.org/news/renewal/",
                                                "Sat, 20 Feb 2016 09:00:00 +0000"),
                                               ("Hearing voices news", "https://hvn.example.org/n",
                                                "Tue, 15 Mar 2016 09:00:00 +0000")))
    assert main(["run", "-c", str(config), "--as-of", "2016-04-01"]) == 0
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # issue 1 re-made: nothing sent again
    out = config.parent / "out"
    for shown in ("newsletter/issue-1.txt", "archive/issue-1.html", "months/2016-02/index.html", "feed.xml",
                  "search/index.json"):
        text = (out / shown).read_text()
        assert RENEWAL in text and COPY not in text, shown


# -- pipeline explain ------------------------------------------------------------------------------------------

def test_explain_says_a_copy_left_out_and_which_item_is_shown_in_its_place(write_project, feed_server, capsys):
    """`pipeline explain` of the HVN's copy gave its themes and summary and nothing else: an organiser asking why it
    was in no issue, no feed and no list learnt nothing. Now it says the copy is left out for the ODU's item linking
    the same page, by id, source and title; the ODU's says nothing of the kind."""
    config = two_partners(write_project, feed_server)
    capsys.readouterr()
    assert main(["explain", "-c", str(config), "http://www.esrc.example.org/news/renewal/"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"left out for the same page: odu's '{RENEWAL}'" in said, said
    assert main(["explain", "-c", str(config), "https://esrc.example.org/news/renewal"]) == 0
    assert "left out" not in capsys.readouterr().out
