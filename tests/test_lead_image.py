"""The lead image: the feed's media or enclosure, a post's front matter, or the body's first <img>."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.item_checks import host_checked as _checked
from pipeline.models import item_id
from pipeline.runner import state_path
from pipeline.sanitize import clean_html, first_image, image_url
from pipeline.state import Store
from plugins.sources import fastfeed
from plugins.sources.feed import parse_feed
from tests.conftest import make_item
from tests.test_sources import POST, SINK

# -- the body's first image ------------------------------------------------------------------------


def test_the_first_http_image_of_sanitised_html_with_its_alt_decoded():
    body = clean_html('<p title="<img src=\'https://bad.example.org/in-title.png\'>">Hi</p>'
                      '<img src="data:image/png;base64,AAAA" alt="data"><img src="pic.png" alt="relative">'
                      '<img src="javascript:alert(1)" alt="js"><img src="mailto:a@example.org" alt="mail">'
                      '<img src="https://t.example.org/pixel.gif" width="1" height="1" alt="">'
                      '<img src="https://e.example.org/a.png?w=1&amp;h=2" alt="Tom &amp; &quot;Jerry&quot;\n">'
                      '<img src="https://e.example.org/second.png" alt="second">')
    assert first_image(body) == ("https://e.example.org/a.png?w=1&h=2", 'Tom & "Jerry"')


def test_an_img_inside_attribute_text_is_not_an_image():
    # Even written unescaped (as a third-party source might hand it over), a quoted value is not a tag.
    body = '<a href="https://x.example.org/" title="see <img src="">x</a>'
    assert first_image(body) == ("", "")
    body = '<a title="<img src=https://bad.example.org/x.png>">x</a><img alt="b" src="https://ok.example.org/y.png">'
    assert first_image(body) == ("https://ok.example.org/y.png", "b")


def test_no_image_and_a_given_src():
    assert first_image("") == first_image("<p>No image</p>") == ("", "")
    body = '<img src="https://e.example.org/a.png" alt="A"><img src="https://e.example.org/b.png" alt="B">'
    assert first_image(body, "https://e.example.org/b.png") == ("https://e.example.org/b.png", "B")
    assert first_image(body, "https://e.example.org/c.png") == ("", "")


@pytest.mark.parametrize("url", ["mailto:a@example.org", "javascript:alert(1)", "data:image/png;base64,AA",
                                 "/relative.png", "http:no-host.png", "https://e.example.org/a\n.png", "", "  "])
def test_image_url_takes_absolute_http_only(url):
    assert image_url(url) == ""


def test_image_url_resolves_against_a_base():
    assert image_url("../i/a.png", "https://p.example.org/news/1/") == "https://p.example.org/news/i/a.png"
    assert image_url("", "https://p.example.org/") == ""  # not the base itself


# -- the host's guarantee --------------------------------------------------------------------------

BODY = '<p>Text</p><img src="https://p.example.org/body.png" alt="From the body">'


@pytest.mark.parametrize("image", ["mailto:a@example.org", "javascript:alert(1)", "/relative.png"])
def test_checked_drops_an_unsafe_image_and_takes_the_bodys(image):
    item = make_item(body_html=BODY)
    item.image, item.image_alt = image, "A bad one"
    item = _checked(item, clean=False)
    assert (item.image, item.image_alt) == ("https://p.example.org/body.png", "From the body")


def test_checked_keeps_a_safe_image_and_folds_its_alt_to_one_line():
    item = make_item(body_html=BODY)
    item.image, item.image_alt = " https://cdn.example.org/lead.jpg ", "Two people\r\ntalking\x00 "
    item = _checked(item, clean=False)
    assert (item.image, item.image_alt) == ("https://cdn.example.org/lead.jpg", "Two people talking")


def test_checked_takes_the_alt_of_the_same_image_in_the_body():
    item = make_item(body_html=BODY)
    item.image = "https://p.example.org/body.png"
    assert _checked(item, clean=False).image_alt == "From the body"


def test_checked_cleans_a_third_party_body_before_looking_in_it():
    item = _checked(make_item(body_html='<img src="javascript:x" alt="no"><img src="https://e.example.org/i.gif">'))
    assert (item.image, item.image_alt) == ("https://e.example.org/i.gif", "")


# -- feeds -------------------------------------------------------------------------------------------

MEDIA_RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel><title>Partner</title><link>https://partner.example.org/</link>
<item><title>Media content</title><link>https://partner.example.org/news/1/</link>
<media:content url="https://cdn.example.org/talk.mp4" type="video/mp4"/>
<media:content url="https://cdn.example.org/circle.jpg" medium="image" width="600"/>
<description>&lt;img src="https://partner.example.org/body.png" alt="body"&gt;</description></item>
<item><title>A thumbnail only</title><link>https://partner.example.org/news/2/</link>
<media:thumbnail url="https://cdn.example.org/thumb.png" width="120"/></item>
<item><title>An image enclosure</title><link>https://partner.example.org/news/3/</link>
<enclosure url="https://cdn.example.org/cover.webp" type="image/webp" length="2000"/></item>
<item><title>A podcast</title><link>https://partner.example.org/news/4/</link>
<enclosure url="https://cdn.example.org/episode.mp3" type="audio/mpeg" length="9000"/>
<description>&lt;p&gt;Hear&lt;/p&gt;&lt;img src="/art/episode.png" alt="Episode &amp;amp; art"&gt;</description></item>
<item><title>Relative media</title><link>https://partner.example.org/news/5/</link>
<media:group><media:content url="pics/group.png"/></media:group></item>
<item><title>Nothing</title><link>https://partner.example.org/news/6/</link><description>Text</description></item>
</channel></rss>"""
EXPECTED = [("https://cdn.example.org/circle.jpg", ""),
            ("https://cdn.example.org/thumb.png", ""),
            ("https://cdn.example.org/cover.webp", ""),
            ("https://partner.example.org/art/episode.png", "Episode & art"),
            ("https://partner.example.org/news/5/pics/group.png", ""),
            ("", "")]

ATOM_MEDIA = """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"><title>A</title><id>urn:a</id>
<entry><title>One</title><id>urn:a:1</id><link href="https://a.example.org/posts/1/"/>
<link rel="enclosure" type="image/jpeg" href="img/1.jpg"/></entry>
<entry><title>Two</title><id>urn:a:2</id><link href="https://a.example.org/posts/2/"/>
<media:thumbnail url="t/2.png"/></entry></feed>"""


def lead_images(data: bytes, url: str) -> list[tuple[str, str]]:
    """Each entry's (image, alt) once the host has checked it, the same from both parsers."""
    assert fastfeed.read(data, url, "") is not None, "fastfeed declined"
    found = {}
    for parser in ("feedparser", "fast"):
        items = parse_feed(data, url, "", "p", "news", parser).items
        found[parser] = [(item.image, item.image_alt) for item in map(_checked, items, [False] * len(items))]
    assert found["fast"] == found["feedparser"]
    return found["fast"]


@pytest.mark.parametrize("url", ["https://partner.example.org/feed.xml", "/srv/feeds/partner.xml"])
def test_a_feeds_media_thumbnail_and_enclosure_images(url):
    assert lead_images(MEDIA_RSS.encode(), url) == EXPECTED


def test_relative_media_in_atom_resolves_as_its_links_do():
    atom = ATOM_MEDIA.encode()
    # Atom links resolve against the document (feedparser's rule); the media:thumbnail against the entry.
    assert lead_images(atom, "https://a.example.org/feed.atom") == [
        ("https://a.example.org/img/1.jpg", ""), ("https://a.example.org/posts/2/t/2.png", "")]
    assert lead_images(atom, "/srv/a.atom") == [
        ("https://a.example.org/posts/1/img/1.jpg", ""), ("https://a.example.org/posts/2/t/2.png", "")]


# -- blog posts ----------------------------------------------------------------------------------------

def test_a_post_with_a_front_matter_image(project_from, run_context):
    with_image = POST.replace("author:", "image: cover.jpg\nimage_alt: A circle of <em>chairs</em>\nauthor:")
    with_bad = POST.replace('"Space to <em>think</em>"', "Bad").replace("author:", "image: 'javascript:x'\nauthor:")
    with_body = POST.replace('"Space to <em>think</em>"', "Body") + "\n![A garden](/img/garden.png)\n"
    project = project_from('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK,
                           {"posts/a.md": with_image, "posts/b.md": with_bad, "posts/c.md": with_body})
    run = run_context(project)
    posts = {post.title: _checked(post, clean=False) for post in project.sources[0].fetch(run)}
    assert (posts["Space to think"].image, posts["Space to think"].image_alt) == (
        "https://network.example.org/blog/a/cover.jpg", "A circle of chairs")
    assert (posts["Bad"].image, posts["Bad"].image_alt) == ("", "")
    assert any("b.md" in problem and "image" in problem for problem in run.problems)
    assert (posts["Body"].image, posts["Body"].image_alt) == ("https://network.example.org/img/garden.png",
                                                              "A garden")


# -- a whole run -----------------------------------------------------------------------------------------

def test_a_refresh_stores_each_items_lead_image(write_project):
    config = write_project('[sources.p]\ntype = "feed"\nurl = "feeds/p.xml"\nparser = "fast"\n' + SINK,
                           {"feeds/p.xml": MEDIA_RSS})
    assert main(["refresh", "-c", str(config), "--as-of", date(2016, 5, 1).isoformat()]) == 0
    ids = [item_id("p", f"https://partner.example.org/news/{n}/") for n in range(1, 7)]
    store = Store(state_path(load_project(config)))
    try:
        stored = store.get_items(ids)
    finally:
        store.close()
    assert [(item.image, item.image_alt) for item in stored] == EXPECTED
