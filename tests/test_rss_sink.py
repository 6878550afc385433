"""The `rss` sink's main feed: full content, the summary as description, themes as categories, what is over
left out, and every feed valid by the W3C validator's rules (tests/feed_rules.py), read back with feedparser."""

from __future__ import annotations

import dataclasses
import html
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import feedparser
import pytest

from pipeline import site
from pipeline.errors import ConfigError
from pipeline.models import EventDetails, JobDetails, Kind, ProgrammeSlot
from pipeline.run_context import RunContext
from pipeline.state import Store
from tests.feed_rules import assert_valid, problems

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MOMENT = datetime(2016, 2, 1, 0, 0, tzinfo=UTC)
SINK = """
[sinks.feed]
type = "rss"
"""
WITH_SITE = SINK + '[sinks.site]\ntype = "archive"\n'  # items have pages on the site
XSS = '<script>alert(1)</script><img src=x onerror=alert(1)><svg onload=alert(1)></svg>'


def day(n: int, hour: int = 10) -> datetime:
    return datetime(2016, 1, n, hour, 0, tzinfo=UTC)


@pytest.fixture
def write_feed(project_from, tmp_path: Path):
    """write_feed(items, sink_toml=SINK, moment=MOMENT) -> (project, result, bytes, store); the state and
    the site persist between calls in one test, as between runs."""

    stores: list[Store] = []

    def write(items, sink_toml: str = SINK, moment: datetime = MOMENT):
        project = project_from(sink_toml)
        store = Store(tmp_path / "s.sqlite")
        stores.append(store)
        if items:
            store.save_items([(item, "fp") for item in items], moment)
        run = RunContext(project, store, moment.date(), moment)
        result = project.sinks[0].write(None, run)
        data = site.file(project, site.FEED_FILE).read_bytes()
        assert_valid(data, site.url(project, site.FEED_FILE), ignore=frozenset({"ContainsHTML"}))
        return project, result, data, store

    yield write
    for store in stores:
        store.close()


def channel_of(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    return channel


def items_of(data: bytes) -> dict[str, ET.Element]:
    return {i.findtext("title"): i for i in channel_of(data).findall("item")}


def markup_in(fragment: str) -> tuple[set[str], list[str]]:
    """The tags an HTML fragment really contains, and any event-handler attributes (onload, onerror...)."""
    found: tuple[set[str], list[str]] = (set(), [])

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found[0].add(tag)
            found[1].extend(name for name, _ in attrs if name.startswith("on"))

    Collect().feed(fragment)
    return found


def test_channel_has_every_required_element(write_feed, item_factory):
    items = [item_factory(Kind.POST, "Co-production and power", published=day(10)),
             item_factory(Kind.NEWS, "Recovery colleges", published=day(20))]
    project, result, data, _ = write_feed(items)

    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    channel = channel_of(data)
    assert channel.findtext("title") == "Test Network"
    assert channel.findtext("link") == "https://network.example.org/"
    assert channel.findtext("description").strip()
    assert channel.findtext("language") == "en-GB"
    assert channel.findtext("generator").startswith("newsletter-pipeline")
    # lastBuildDate is the newest item's date, so the same state gives the same bytes.
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == day(20)
    self_link = channel.find(f"{ATOM}link")
    assert self_link.attrib == {"href": "https://network.example.org/feed.xml", "rel": "self",
                                "type": "application/rss+xml"}
    assert result.files == [str(project.core.out_dir / "feed.xml")]
    assert "2 items" in result.summary


def test_items_carry_the_full_body_the_summary_alone_and_their_themes(write_feed, item_factory):
    body = "".join(f"<p>Paragraph {n} of the notes, with <a href=\"https://example.org/{n}\">a link</a>.</p>"
                   for n in range(1, 41))
    post = item_factory(Kind.POST, "April blog post", published=day(12), author="Pamela Fisher",
                        themes=["peer support", "power"], summary="Notes from the final discussion & more.",
                        body_html=body)
    _, _, data, _ = write_feed([post])

    assert b'xmlns:content="http://purl.org/rss/1.0/modules/content/"' in data
    item = channel_of(data).find("item")
    assert item.findtext("title") == "April blog post"
    assert item.findtext("link") == post.url
    guid = item.find("guid")
    assert guid.text == post.url and guid.get("isPermaLink") == "true"
    assert parsedate_to_datetime(item.findtext("pubDate")) == day(12)
    assert item.findtext("pubDate").endswith(" GMT")
    assert [c.text for c in item.findall("category")] == ["peer support", "power"]
    assert item.findtext(f"{DC}creator") == "Pamela Fisher"
    assert item.find("author") is None  # RSS <author> must be an email address
    assert item.findtext("description") == "<p>Notes from the final discussion &amp; more.</p>"  # the summary alone
    content = item.findtext(f"{CONTENT}encoded")
    assert content.count("<p>") == 40 and "Paragraph 40 of the notes" in content  # the whole body, not cut
    assert "Notes from the final discussion" not in content  # the summary is the body's own sentences

    # What feed readers see (reader's parser is feedparser): the full content, and the summary as summary.
    entry = feedparser.parse(data).entries[0]
    assert (entry.title, entry.link, entry.id, entry.author) == (post.title, post.url, post.url, "Pamela Fisher")
    assert [t.term for t in entry.tags] == ["peer support", "power"]
    assert entry.content[0].type == "text/html" and entry.content[0].value.count("<p>") == 40
    assert html.unescape(entry.summary) == "<p>Notes from the final discussion & more.</p>"


def test_without_a_summary_the_description_is_the_start_of_the_first_paragraph(write_feed, item_factory):
    short = item_factory(Kind.NEWS, "Short", published=day(3), body_html="<h2>News</h2><p>One line.</p>")
    long = item_factory(Kind.NEWS, "Long", published=day(4), body_html="<p>" + "word " * 200 + "</p><p>Next.</p>")
    _, _, data, _ = write_feed([short, long])

    items = items_of(data)
    assert items["Short"].findtext("description") == "<p>News</p>"
    description = items["Long"].findtext("description")
    assert len(description) < 320 and description.endswith("…</p>")
    assert items["Long"].findtext(f"{CONTENT}encoded").count("word") == 200


def test_item_without_url_links_to_its_page_on_the_site(write_feed, item_factory):
    loose = item_factory(Kind.NEWS, "Unfiled notes", url="", published=day(6))
    project, _, data, _ = write_feed([loose], WITH_SITE)

    item = channel_of(data).find("item")
    assert item.findtext("link") == site.url(project, site.item_path(project, loose))
    assert item.findtext("link").startswith("https://network.example.org/news/unfiled-notes-")
    guid = item.find("guid")
    assert guid.get("isPermaLink") == "false" and guid.text == loose.id  # as before items had pages
    assert feedparser.parse(data).bozo == 0


def test_an_own_url_on_the_site_that_no_page_answers_is_no_permalink(write_feed, item_factory):
    notice = item_factory(Kind.NEWS, "Peer support notice", url="https://network.example.org/n/1", published=day(6))
    project, _, data, _ = write_feed([notice], WITH_SITE)

    item = channel_of(data).find("item")
    assert item.findtext("link") == site.url(project, site.item_path(project, notice))  # its page, not /n/1
    guid = item.find("guid")
    assert guid.text == notice.url and guid.get("isPermaLink") == "false"  # the same guid, never followed
    assert feedparser.parse(data).entries[0].link == item.findtext("link")


def test_without_an_archive_no_item_links_to_a_page_of_the_site(write_feed, item_factory):
    loose = item_factory(Kind.NEWS, "Unfiled notes", url="", published=day(6), themes=["peer support"])
    notice = item_factory(Kind.NEWS, "Peer support notice", url="https://network.example.org/n/1", published=day(5))
    partner = item_factory(Kind.NEWS, "Partner news", url="https://partner.example.org/a", published=day(4))
    project, _, data, _ = write_feed([loose, notice, partner])  # the rss sink alone: nothing writes item pages

    items = items_of(data)
    assert items["Unfiled notes"].find("link") is None and items["Unfiled notes"].findtext("guid") == loose.id
    assert items["Peer support notice"].findtext("link") == notice.url  # its own address, whatever answers it
    assert items["Partner news"].findtext("link") == partner.url
    theme_channel = ET.fromstring(site.file(project, site.theme_feed_path("peer support")).read_bytes()).find("channel")
    assert theme_channel.findtext("link") == site.url(project, site.FRONT_PAGE)  # no theme page either
    assert feedparser.parse(data).bozo == 0


def test_no_relative_urls_anywhere(write_feed, item_factory):
    item = item_factory(Kind.POST, "Relative", url="/blog/relative/",
                        body_html='<p><a href="/about">About</a> <img src="pic.png" alt="A picture"></p>')
    loose = item_factory(Kind.NEWS, "No URL", url="", body_html='<p><a href="more.html">More</a></p>')
    _, _, data, _ = write_feed([item, loose], WITH_SITE)

    items = items_of(data)
    element = items["Relative"]
    assert element.findtext("link") == "https://network.example.org/blog/relative/"
    content = element.findtext(f"{CONTENT}encoded")
    assert 'href="https://network.example.org/about"' in content
    assert 'src="https://network.example.org/blog/relative/pic.png"' in content
    assert 'href="https://network.example.org/news/no-url-' in items["No URL"].findtext(f"{CONTENT}encoded")
    for link in channel_of(data).iter("link"):
        assert urlparse(link.text).scheme == "https"


def test_malicious_item_is_escaped_and_sanitised(write_feed, item_factory):
    evil = item_factory(Kind.POST, f"{XSS} Evil post", url="https://example.org/post/evil",
                        body_html=f"<p>Hello</p>{XSS}", summary=XSS)
    _, _, data, _ = write_feed([evil])

    assert b"<script" not in data and b"<img" not in data and b"<svg" not in data  # all escaped as text
    item = channel_of(data).find("item")
    assert item.findtext("title") == f"{XSS} Evil post"  # a plain-text title, kept as text
    content = item.findtext(f"{CONTENT}encoded")
    assert "<p>Hello</p>" in content
    for fragment in (content, item.findtext("description")):
        tags, handlers = markup_in(fragment)
        assert {"script", "svg"}.isdisjoint(tags) and handlers == []
    assert item.findtext("description") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;" + html.escape(XSS[25:]) + "</p>"
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0
    assert markup_in(parsed.entries[0].description)[1] == []
    # The one rule such a title breaks: the validator warns about HTML-looking text in a title.
    assert [p.split(":")[0] for p in problems(data, "https://network.example.org/feed.xml")] == ["ContainsHTML"]


def test_limit_newest_first_and_nothing_after_the_run(write_feed, item_factory):
    items = [item_factory(Kind.POST, f"Post {n}", published=day(n)) for n in range(1, 6)]
    late = item_factory(Kind.POST, "Published after the run", published=MOMENT + timedelta(hours=1))
    _, result, data, _ = write_feed(items + [late], SINK + "limit = 3\n")

    titles = [i.findtext("title") for i in channel_of(data).findall("item")]
    assert titles == ["Post 5", "Post 4", "Post 3"]
    dates = [parsedate_to_datetime(i.findtext("pubDate")) for i in channel_of(data).findall("item")]
    assert dates == sorted(dates, reverse=True)
    assert "3 items" in result.summary


def test_closed_jobs_and_past_events_leave_the_feed(write_feed, item_factory):
    moment = datetime(2016, 2, 14, 0, 0, tzinfo=UTC)  # midnight in London: the run's date is 14 February

    def job(title, closing):
        return item_factory(Kind.JOB, title, published=day(5), job=JobDetails("Mind", closing_date=closing))

    def event(title, start, end=None, all_day=False):
        return item_factory(Kind.EVENT, title, published=day(6), event=EventDetails(
            start=start, end=end, timezone="Europe/London", all_day=all_day))

    items = [
        job("Closed yesterday", date(2016, 2, 13)), job("Closes today", date(2016, 2, 14)),
        job("No closing date", None),
        event("Ended last night", datetime(2016, 2, 13, 18, tzinfo=UTC), datetime(2016, 2, 13, 21, tzinfo=UTC)),
        event("All day yesterday", datetime(2016, 2, 13, tzinfo=UTC), all_day=True),
        event("All day today", datetime(2016, 2, 14, tzinfo=UTC), all_day=True),
        event("No end, started yesterday", datetime(2016, 2, 13, 9, 30, tzinfo=UTC)),
        event("Tomorrow", datetime(2016, 2, 15, 9, 30, tzinfo=UTC)),
        item_factory(Kind.POST, "A post", published=day(7)),
    ]
    _, result, data, _ = write_feed(items, moment=moment)

    assert sorted(items_of(data)) == ["A post", "All day today", "Closes today", "No closing date", "Tomorrow"]
    assert "5 items" in result.summary


def test_what_announced_a_closed_job_leaves_with_it(write_feed, item_factory):
    job = item_factory(Kind.JOB, "Peer support worker at Open Dialogue UK", published=day(5))
    news = item_factory(Kind.NEWS, "We are hiring: peer support worker", source="partner", published=day(6),
                        url="https://opendialogue-uk.example.org/hiring",
                        body_html="<p>Open Dialogue UK is hiring a peer support worker; apply by 14 February 2016.</p>")
    open_feed = write_feed([job, news])[2]
    assert list(items_of(open_feed)) == ["Peer support worker at Open Dialogue UK"]  # one item, shown once
    assert "Also announced by" in items_of(open_feed)["Peer support worker at Open Dialogue UK"].findtext(
        f"{CONTENT}encoded")

    closed_feed = write_feed([], moment=datetime(2016, 3, 1, tzinfo=UTC))[2]
    assert items_of(closed_feed) == {}


def test_closed_jobs_do_not_crowd_open_items_out(write_feed, item_factory):
    closed = [item_factory(Kind.JOB, f"Closed job {n}", published=day(20 + n),
                           job=JobDetails("Mind", closing_date=date(2016, 1, 30))) for n in range(8)]
    posts = [item_factory(Kind.POST, f"Older post {n}", published=day(n)) for n in range(1, 4)]
    _, _, data, _ = write_feed(closed + posts, SINK + "limit = 2\n")

    assert list(items_of(data)) == ["Older post 3", "Older post 2"]


def test_guids_are_unique_even_when_two_items_share_a_url(write_feed, item_factory):
    first = item_factory(Kind.NEWS, "Shared page", published=day(3))
    second = dataclasses.replace(first, id="another-id", title="Shared page again", published=day(4))
    _, _, data, _ = write_feed([first, second])

    guids = [g.text for g in channel_of(data).iter("guid")]
    assert len(guids) == 2 and len(set(guids)) == 2
    assert [g.get("isPermaLink") for g in channel_of(data).iter("guid")] == ["true", "false"]


def test_job_and_event_details_are_in_the_content_and_their_key_facts_in_the_description(write_feed, item_factory):
    job = item_factory(Kind.JOB, "Peer support worker", published=day(7), summary="Join our team.")
    event = item_factory(Kind.EVENT, "Seminar 3", published=day(8))
    _, _, data, _ = write_feed([job, event])

    items = items_of(data)
    content = {title: i.findtext(f"{CONTENT}encoded") for title, i in items.items()}
    assert "Organisation: Open Dialogue UK" in content["Peer support worker"]
    assert "Location: London" in content["Peer support worker"]
    assert "Closing date: 14 February 2016" in content["Peer support worker"]
    assert "How to apply: Email a CV." in content["Peer support worker"]
    assert "Date: Tuesday 2 February 2016, 09:30–17:00 GMT" in content["Seminar 3"]  # London is on GMT
    assert "Venue: London" in content["Seminar 3"]
    assert "Organisation rate £125; Group rate £112.50" in content["Seminar 3"]
    assert '<a href="https://example.org/book">Book a place</a>' in content["Seminar 3"]
    # A list of headlines still says when a job closes and when and where an event is, and no more.
    assert items["Peer support worker"].findtext("description") == (
        "<p>Closing date: 14 February 2016 · Open Dialogue UK · London</p><p>Join our team.</p>")
    assert items["Seminar 3"].findtext("description") == (
        "<p>Tuesday 2 February 2016, 09:30–17:00 GMT · London</p><p>Seminar 3 body.</p>")


def test_events_show_speakers_programme_and_the_venues_own_time(write_feed, item_factory):
    seminar = item_factory(Kind.EVENT, "Seminar 3", published=day(7), event=EventDetails(
        start=datetime(2016, 2, 17, 9, 30, tzinfo=UTC), timezone="Europe/London", venue="St Catherine's",
        speakers=["John Walsh", "Pamela Fisher"],
        programme=[ProgrammeSlot("09:30", "Registration"),
                   ProgrammeSlot("10:00", "Opening: co-production & power", ("John Walsh", "Pamela Fisher"))]))
    helsinki = item_factory(Kind.EVENT, "Helsinki", published=day(8), event=EventDetails(
        start=datetime(2016, 3, 1, 7, 30, tzinfo=UTC), end=datetime(2016, 3, 1, 12, tzinfo=UTC),
        timezone="Europe/Helsinki"))
    conference = item_factory(Kind.EVENT, "Conference", published=day(9), event=EventDetails(
        start=datetime(2016, 2, 2, tzinfo=UTC), timezone="Europe/London", all_day=True))
    _, _, data, _ = write_feed([seminar, helsinki, conference])

    items = {title: i.findtext(f"{CONTENT}encoded") for title, i in items_of(data).items()}
    assert "Date: Wednesday 17 February 2016, from 09:30 GMT" in items["Seminar 3"]
    assert "Speakers: John Walsh, Pamela Fisher" in items["Seminar 3"]
    assert ("<p><strong>Programme</strong><br>09:30 Registration<br>"
            "10:00 Opening: co-production &amp; power — John Walsh; Pamela Fisher</p>") in items["Seminar 3"]
    assert "Date: Tuesday 1 March 2016, 09:30–14:00 EET" in items["Helsinki"]
    assert items["Conference"].startswith("<p>Date: Tuesday 2 February 2016</p>")
    assert "00:00" not in items["Conference"]
    assert feedparser.parse(data).bozo == 0


def test_empty_feed_is_still_valid_and_dated_by_the_run(pipeline_project):
    project = pipeline_project(SINK)
    report = project.refresh(as_of=MOMENT.date())  # midnight in London, which keeps GMT in February

    parsed = project.feed()
    assert parsed.bozo == 0 and parsed.entries == []
    assert parsedate_to_datetime(parsed.feed.updated) == MOMENT
    assert_valid(project.site(site.FEED_FILE).encode(), site.url(project.project, site.FEED_FILE))
    assert "0 items" in report.results[-1].summary


def test_settings_override_title_and_description(pipeline_project, item_factory):
    toml = SINK + 'title = "Co-production news"\ndescription = "Posts, jobs & events"\n'
    project = pipeline_project(toml, items=[item_factory(title="Peer support")])
    project.run(as_of=MOMENT.date())

    parsed = project.feed()
    assert (parsed.feed.title, parsed.feed.subtitle) == ("Co-production news", "Posts, jobs & events")
    assert [entry.title for entry in parsed.entries] == ["Peer support"]


def test_unknown_setting_is_rejected(project_from):
    with pytest.raises(ConfigError, match="unknown key 'limits'"):
        project_from(SINK + "limits = 3\n")


def test_rewrite_replaces_the_file_and_leaves_no_temporary_files(write_feed, item_factory):
    project, _, _, _ = write_feed([item_factory(Kind.POST, "First")])
    _, _, data, _ = write_feed([item_factory(Kind.POST, "Second", published=day(20))])

    assert [i.findtext("title") for i in channel_of(data).findall("item")] == ["Second", "First"]
    assert sorted(p.name for p in project.core.out_dir.iterdir()) == ["feed.xml"]


def test_an_unchanged_feed_is_not_rewritten(write_feed, item_factory):
    project, first, _, _ = write_feed([item_factory(Kind.POST, "First")])
    path = project.core.out_dir / "feed.xml"
    before = path.stat()

    _, again, _, _ = write_feed([], moment=MOMENT + timedelta(hours=1))  # a later refresh, nothing new

    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert first.files == [str(path)] and again.files == []
    assert again.summary.startswith("unchanged")



def test_adding_an_archive_sink_gives_the_feeds_its_pages_at_once(write_feed, item_factory):
    # The links depend on whether an archive writes the pages: the feeds were thought unchanged, so an item
    # without a URL kept having no <link> though its page was now written (and the other way round).
    loose = item_factory(Kind.NEWS, "Unfiled notes", url="", published=day(6), themes=["peer support"])
    write_feed([loose])

    project, result, data, _ = write_feed([], WITH_SITE)

    assert not result.summary.startswith("unchanged")
    assert channel_of(data).find("item").findtext("link") == site.url(project, site.item_path(project, loose))
    theme_channel = ET.fromstring(site.file(project, site.theme_feed_path("peer support")).read_bytes()).find("channel")
    assert theme_channel.findtext("link") == site.url(project, site.theme_path("peer support"))

    _, result, data, _ = write_feed([])  # and without it again
    assert channel_of(data).find("item").find("link") is None


def test_a_feed_whose_items_are_all_over_is_dated_by_its_newest_item_and_left_alone(write_feed, item_factory):
    closed = JobDetails("Mind", closing_date=date(2016, 1, 20))
    _, _, data, _ = write_feed([item_factory(Kind.JOB, "Closed job", published=day(10), job=closed)])
    assert items_of(data) == {}
    assert parsedate_to_datetime(channel_of(data).findtext("lastBuildDate")) == day(10)

    _, again, _, _ = write_feed([], moment=MOMENT + timedelta(days=1))
    assert again.files == []

BAD = "\x0b\x01\x00\x1f\ufffe\uffff"  # characters XML 1.0 cannot hold, even as &#...; references


def test_characters_xml_cannot_hold_are_left_out_so_the_feed_stays_well_formed(write_feed, item_factory, tmp_path):
    job = item_factory(Kind.JOB, f"Bad{BAD} title", url=f"https://example.org/job{BAD}", author=f"Ann{BAD} Lee",
                       themes=[f"the{BAD}me"], summary=f"Sum{BAD}mary", body_html=f"<p>Bo{BAD}dy</p>")
    job.job.how_to_apply = f"App{BAD}ly"
    event = item_factory(Kind.EVENT, "Seminar", published=day(14))
    event.event.venue = f"Ven{BAD}ue"
    event.event.programme = [ProgrammeSlot("9.30", f"Sess{BAD}ion", (f"Who{BAD}",))]
    toml = SINK + 'title = "Feed\\u000b title"\ndescription = "About\\u0001 us"\n'
    project, result, data, _ = write_feed([job, event], toml)

    channel = channel_of(data)  # ElementTree parses it
    assert channel.findtext("title") == "Feed title" and channel.findtext("description") == "About us"
    item = channel.find("item")
    assert item.findtext("title") == "Bad title"
    assert item.findtext(f"{DC}creator") == "Ann Lee"
    assert [c.text for c in item.findall("category")] == ["theme"]
    assert "Summary" in item.findtext("description") and "Apply" in item.findtext(f"{CONTENT}encoded")
    assert not any(ch in data.decode() for ch in BAD)
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.entries[0].title == "Bad title"
    assert "2 items" in result.summary

    # Lone surrogates cannot even be stored; straight from a source they are left out too.
    from plugins.sinks.rss import build_feed, feed_bytes

    job.title = "Bad\ud800 title"
    channel = channel_of(feed_bytes(build_feed(project, [job], MOMENT)))
    assert channel.find("item").findtext("title") == "Bad title"


def test_the_checker_catches_what_the_validator_reports():
    """tests/feed_rules.py itself: each rule on a feed that breaks it."""
    good = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>'
            '<link>https://x.example.org/</link><description>D</description><language>en-GB</language>'
            '<atom:link href="https://x.example.org/feed.xml" rel="self" type="application/rss+xml"/>'
            '<item><title>A</title><link>https://x.example.org/a</link>'
            '<guid isPermaLink="true">https://x.example.org/a</guid><pubDate>Fri, 15 Jan 2016 10:00:00 GMT</pubDate>'
            '<description>&lt;p&gt;S&lt;/p&gt;</description><category>peer support</category>'
            '<content:encoded>&lt;p&gt;&lt;a href="https://x.example.org/b"&gt;B&lt;/a&gt;&lt;/p&gt;</content:encoded>'
            '</item></channel></rss>')
    url = "https://x.example.org/feed.xml"
    assert problems(good.encode(), url) == []

    def broken(old: str, new: str) -> list[str]:
        assert old in good
        return [p.split(":")[0] for p in problems(good.replace(old, new, 1).encode(), url)]

    assert broken("<title>T</title>", "") == ["MissingTitle"]
    assert broken("<description>D</description>", "") == ["MissingDescription"]
    assert broken("<language>en-GB</language>", "") == ["MissingDCLanguage"]
    assert broken('href="https://x.example.org/feed.xml"', 'href="https://x.example.org/other.xml"') == [
        "SelfDoesntMatchLocation"]
    assert broken('rel="self"', 'rel="alternate"') == ["MissingAtomSelfLink"]
    assert broken("Fri, 15 Jan 2016 10:00:00 GMT", "2016-01-15T10:00:00Z") == ["InvalidRFC2822Date"]
    assert broken("Fri, 15 Jan 2016", "Mon, 15 Jan 2016") == ["IncorrectDOW"]
    assert broken("<link>https://x.example.org/a</link>", "<link>/a</link>") == ["InvalidFullLink"]
    assert broken('<guid isPermaLink="true">https://x.example.org/a</guid>', '<guid>a-1</guid>') == ["InvalidHttpGUID"]
    assert broken('<guid isPermaLink="true">https://x.example.org/a</guid>', '<guid isPermaLink="false">42</guid>'
                  ) == ["NotSufficientlyUnique"]
    assert broken('<guid isPermaLink="true">https://x.example.org/a</guid>', "") == ["MissingGuid"]
    assert broken("<category>peer support</category>", "<category> </category>") == ["NotBlank"]
    assert broken('href="https://x.example.org/b"', 'href="/b"') == ["ContainsRelRef"]
    assert broken("&lt;/p&gt;</description>", "&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description>") == [
        "SecurityRisk"]
    assert broken('&lt;a href=', '&lt;a onclick="x()" href=') == ["SecurityRiskAttr"]
    assert broken("<item>", "<item><title>B</title>") == ["DuplicateElement"]
    assert broken("<item>", "<item><foo>x</foo>") == ["UndefinedElement"]
    assert broken(' xmlns:content="http://purl.org/rss/1.0/modules/content/"', ""
                  ) == ["NotWellFormed"]  # an undeclared prefix does not even parse
    with_second = good.replace("</channel>", good[good.index("<item>"):good.index("</channel>")] + "</channel>")
    assert [p.split(":")[0] for p in problems(with_second.encode(), url)] == ["DuplicateValue"]
    moved = good.replace("<description>&lt;p&gt;S&lt;/p&gt;</description>", "").replace(
        "</content:encoded>", "</content:encoded><description>S</description>")
    assert [p.split(":")[0] for p in problems(moved.encode(), url)] == ["NeedDescriptionBeforeContent"]
