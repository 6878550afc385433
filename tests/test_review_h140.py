"""Review h140: the newest fixes (feed `_Rooted`, outbox pruning, forget, renames) checked again."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.models import item_id
from pipeline.testing import BASE_TOML
from tests.test_review_h138 import SHORT_KEY, refreshed_private_feed
from tests.test_review_h139 import feed, renamed_twice_then_named_again, stored
from tests.test_source_rename import SINKS

LINKED_ITEM = ("<rss version='2.0'><channel><title>Partner</title><description>d</description><item>"
               "<title>Members' news</title><link>{origin}/news/1.html</link>"
               "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate>"
               "<description>&lt;p&gt;See &lt;a href=\"/feeds/{key}/news/2.html\"&gt;the next&lt;/a&gt;, "
               "&lt;img src=\"/feeds/{key}/chart.png\"&gt;, &lt;a href=\"\"&gt;this&lt;/a&gt; and "
               "&lt;a href=\"/about/\"&gt;about us&lt;/a&gt;&lt;/p&gt;"
               "</description></item></channel></rss>")


@pytest.mark.parametrize("parser", ["feedparser", "fast"])
def test_an_items_text_never_reads_a_link_holding_the_key_from_its_own_absolute_link(
        pipeline_project, feed_server, monkeypatch, parser):
    """A `${NAME}` feed with no base whose item has an absolute link of its own: a link from the root in its text
    that repeats the key of the feed's path is left out and counted, as in an item with no link of its own (it was
    read from the item's link, publishing the key); `/about/` and an empty link (the item's own) are still read."""
    item, report = refreshed_private_feed(pipeline_project, feed_server, monkeypatch, parser, LINKED_ITEM.format(
        key=SHORT_KEY, origin=feed_server.url("").rstrip("/")))
    assert SHORT_KEY not in repr(item)
    assert item.url == feed_server.url("/news/1.html")
    assert f'href="{feed_server.url("/about/")}"' in item.body_html and f'href="{item.url}"' in item.body_html
    assert any(": 2 relative links in 1 new item could not be resolved" in problem for problem in report.problems)


BLOG = '[sources.blog]\ntype = "blog"\npath = "blog"\n'
POST = '---\ntitle: "{title}"\ndate: 2016-01-20\n{slug}---\n\nPeer workers met in Leeds.\n'


def test_a_folders_post_added_beside_a_post_whose_slug_is_index_is_named_by_its_folder(pipeline_project):
    """The item `index` of a post whose front matter says `slug: index` is no folder's post an earlier version
    published as `index`: a folder's post added later is `post-a`, not a second `index` left out as a clash."""
    project = pipeline_project(BLOG, {"blog/about.md": POST.format(title="About us", slug="slug: index\n"),
                                      "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))

    project.write({"blog/post-a/index.md": POST.format(title="Peer support in Leeds", slug="")})
    report = project.refresh(as_of=date(2016, 2, 1))

    assert not report.problems
    assert "Peer support in Leeds" in project.site("blog/post-a/")
    assert "About us" in project.site("blog/index/")


def test_a_new_source_renamed_from_a_name_another_had_in_between_keeps_its_ids_and_the_others_record(write_project):
    """partner -> odu -> news, then a new source "odu" (its own ids) renamed to "local": local keeps the ids it made
    as odu, not those the first "odu" was given, and news keeps making its ids under partner (its record kept)."""
    config, project, ids, _ = renamed_twice_then_named_again(write_project)

    project.write({"pipeline.toml": BASE_TOML + feed("news", "partner.xml", 'renamed_from = "partner"')
                   + feed("local", "other.xml", 'renamed_from = "odu"') + SINKS})
    report = project.refresh(as_of=date(2016, 4, 5))

    assert not report.problems
    assert stored(config) == {**{item: "news" for item in ids}, item_id("odu", "urn:1"): "local"}
    assert not project.refresh(as_of=date(2016, 4, 6)).problems  # the keys may stay: each rename is done
