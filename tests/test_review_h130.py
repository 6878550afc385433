"""Review h130: posts in a blog's subfolders, links to posts' files, and a feed with a key in its path."""

from __future__ import annotations

import html
from datetime import date

import pytest

from tests.http_fixtures import Route
from tests.test_withdrawn import BLOG_TOML, post_file

SITE = "https://network.example.org"


def test_a_top_level_post_keeps_its_page_when_a_subfolder_post_has_its_slug(pipeline_project):
    """A blog published `year.md` (read alone before subfolders were read); an older copy or another post at
    `2016/year.md` then has the same slug. The post already on the site keeps its page and its item; the one in
    the subfolder is the one skipped, and the problem names each file by its path in the folder."""
    project = pipeline_project(BLOG_TOML, {"blog/year.md": post_file("A year on", "2016-01-22"),
                                           "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    assert "A year on" in project.site("blog/year/")

    project.write({"blog/2016/year.md": post_file("Kept for the record", "2016-01-10")})
    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    assert "A year on" in project.site("blog/year/")
    assert [item.title for item in project.items()] == ["A year on"]
    (problem,) = report.problems
    assert "2016/year.md" in problem.split(":")[0] and "same slug as year.md" in problem


def test_drafts_folders_and_readmes_are_no_posts(pipeline_project):
    """Subfolders are read for posts now; a folder of drafts beside them (`drafts/`, `_drafts/`), which was never
    published before, still is not, and a README (of the folder, or of a folder of photos) is no post to refuse."""
    project = pipeline_project(BLOG_TOML, {
        "blog/year.md": post_file("A year on", "2016-01-22"),
        "blog/2016/notes.md": post_file("Notes from the seminar", "2016-01-12"),
        "blog/drafts/idea.md": post_file("An idea not ready", "2016-01-20"),
        "blog/Drafts/other.md": post_file("Another not ready", "2016-01-20"),
        "blog/_drafts/third.md": post_file("A third not ready", "2016-01-20"),
        "blog/README.md": "How to write a post here.\n",
        "blog/photos/README.md": "Where the photos came from.\n",
        "subscribers.csv": "email,name\n"})

    report = project.refresh(as_of=date(2016, 2, 1))

    assert sorted(item.title for item in project.items()) == ["A year on", "Notes from the seminar"]
    assert report.problems == []


SHORT_KEY = "k3y42"  # under 8 characters: not masked in a feed's text, where it may be the feed's own words
CHANNEL_RSS = ("<rss version='2.0'><channel><title>Partner</title><link>https://partner.example.org/feeds/{key}/</link>"
               "<description>d</description><item><title>Peer support in Leeds</title><link>leeds.html</link>"
               "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate><description>{story}</description></item>"
               "</channel></rss>")


@pytest.mark.parametrize("parser", ["feedparser", "fast"])
def test_a_channel_link_echoing_a_short_key_in_the_path_is_no_base(pipeline_project, feed_server, monkeypatch,
                                                                    parser):
    """A private feed at `/feeds/${PARTNER_KEY}/rss.xml` whose generator echoes its own address as the channel's
    link (`https://partner.example.org/feeds/k3y42/`): that link holds the key, so it is no base for the items'
    relative links, whatever the key's length; they are left out, their text kept, with the one warning."""
    monkeypatch.setenv("PARTNER_KEY", SHORT_KEY)
    story = html.escape("<p>Read <a href='more.html'>the whole story</a>.</p>")
    feed_server.routes[f"/feeds/{SHORT_KEY}/rss.xml"] = Route(
        CHANNEL_RSS.format(key=SHORT_KEY, story=story).encode())
    url = feed_server.url("/feeds/${PARTNER_KEY}/rss.xml")
    project = pipeline_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\nparser = "{parser}"\n',
                               {"subscribers.csv": "email,name\n"})

    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    (item,) = project.items()
    assert item.title == "Peer support in Leeds" and "the whole story" in item.body_html
    assert SHORT_KEY not in item.url + item.body_html
    assert [problem for problem in report.problems if "relative links" in problem] == [
        f"{url}: 2 relative links in 1 new item could not be resolved and were left out (their text kept): its "
        f"address has ${{NAME}} in the path, which no link may publish, and the feed declares no base of its own "
        f"(xml:base, or the channel's link); ask its owner for absolute links"]
    written = [path.read_text(encoding="utf-8") for path in (project.root / "out").rglob("*")
               if path.suffix in (".html", ".xml")]
    assert written and not [text for text in written if SHORT_KEY in text]
