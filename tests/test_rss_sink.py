"""The `rss` sink: a feed the W3C validator accepts, checked rule by rule with feedparser and ElementTree."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import feedparser
import pytest

from pipeline.errors import ConfigError
from pipeline.models import EventDetails, Kind, ProgrammeSlot
from pipeline.run_context import RunContext
from pipeline.site import archive_url, edition_url, feed_path, feed_url
from pipeline.state import Store

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
MOMENT = datetime(2016, 2, 1, 0, 0, tzinfo=UTC)
SINK = """
[sinks.feed]
type = "rss"
"""
XSS = '<script>alert(1)</script><img src=x onerror=alert(1)><svg onload=alert(1)></svg>'


def day(n: int, hour: int = 10) -> datetime:
    return datetime(2016, 1, n, hour, 0, tzinfo=UTC)


@pytest.fixture
def write_feed(project_from, tmp_path: Path):
    """write_feed(items, sink_toml=SINK, moment=MOMENT, editions=[]) -> (project, result, bytes, store)."""

    stores: list[Store] = []

    def write(items, sink_toml: str = SINK, moment: datetime = MOMENT, editions=()):
        project = project_from(sink_toml)
        store = Store(tmp_path / "s.sqlite")
        stores.append(store)
        if items:
            store.save_items([(item, "fp") for item in items], moment)
        for as_of, ids in editions:
            start = datetime.combine(as_of, datetime.min.time(), UTC)
            store.create_edition(as_of, start - timedelta(days=28), start, lambda n: f"Issue {n}", ids, moment)
        run = RunContext(project, store, moment.date(), moment)
        result = project.sinks[0].write(None, run)
        return project, result, feed_path(project).read_bytes(), store

    yield write
    for store in stores:
        store.close()


def channel_of(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    return channel


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
    assert self_link.attrib == {"href": feed_url(project), "rel": "self", "type": "application/rss+xml"}
    assert result.files == [str(feed_path(project))]
    assert "2 items" in result.summary


def test_items_follow_the_validator_rules(write_feed, item_factory):
    post = item_factory(Kind.POST, "April blog post", published=day(12), author="Pamela Fisher",
                        themes=["peer support", "power"], summary="Notes from the final discussion.")
    _, _, data, _ = write_feed([post])

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
    description = item.findtext("description")
    assert description.startswith("<p>Notes from the final discussion.</p>")
    assert "<p>April blog post body.</p>" in description

    entry = feedparser.parse(data).entries[0]
    assert (entry.title, entry.link, entry.id, entry.author) == (post.title, post.url, post.url, "Pamela Fisher")
    assert [t.term for t in entry.tags] == ["peer support", "power"]


def test_item_without_url_links_to_its_issue_and_has_no_permalink_guid(write_feed, item_factory):
    in_issue = item_factory(Kind.NEWS, "Seminar notes", url="", published=day(5))
    loose = item_factory(Kind.NEWS, "Unfiled notes", url="", published=day(6))
    project, _, data, _ = write_feed([in_issue, loose], editions=[(date(2016, 2, 1), [in_issue.id])])

    items = {i.findtext("title"): i for i in channel_of(data).findall("item")}
    assert items["Seminar notes"].findtext("link") == edition_url(project, 1)
    assert items["Unfiled notes"].findtext("link") == archive_url(project)
    for item, source in ((items["Seminar notes"], in_issue), (items["Unfiled notes"], loose)):
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false" and guid.text == source.id
    assert feedparser.parse(data).bozo == 0


def test_no_relative_urls_anywhere(write_feed, item_factory):
    item = item_factory(Kind.POST, "Relative", url="/blog/relative",
                        body_html='<p><a href="/about">About</a> <img src="pic.png" alt="A picture"></p>')
    _, _, data, _ = write_feed([item])

    element = channel_of(data).find("item")
    assert element.findtext("link") == "https://network.example.org/blog/relative"
    description = element.findtext("description")
    assert 'href="https://network.example.org/about"' in description
    assert 'src="https://network.example.org/blog/pic.png"' in description
    for link in channel_of(data).iter("link"):
        assert urlparse(link.text).scheme == "https"


def test_malicious_item_is_escaped_and_sanitised(write_feed, item_factory):
    evil = item_factory(Kind.POST, f"{XSS} Evil post", url="https://example.org/post/evil",
                        body_html=f"<p>Hello</p>{XSS}", summary=XSS)
    _, _, data, _ = write_feed([evil])

    assert b"<script" not in data and b"<img" not in data and b"<svg" not in data  # all escaped as text
    item = channel_of(data).find("item")
    assert item.findtext("title") == f"{XSS} Evil post"  # a plain-text title, kept as text
    description = item.findtext("description")
    assert "<p>Hello</p>" in description
    tags, handlers = markup_in(description)
    assert {"script", "svg"}.isdisjoint(tags) and handlers == []
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;" in description  # the summary is text, escaped
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0
    assert markup_in(parsed.entries[0].description)[1] == []


def test_limit_newest_first_and_nothing_after_the_run(write_feed, item_factory):
    items = [item_factory(Kind.POST, f"Post {n}", published=day(n)) for n in range(1, 6)]
    late = item_factory(Kind.POST, "Published after the run", published=MOMENT + timedelta(hours=1))
    _, result, data, _ = write_feed(items + [late], SINK + "limit = 3\n")

    titles = [i.findtext("title") for i in channel_of(data).findall("item")]
    assert titles == ["Post 5", "Post 4", "Post 3"]
    dates = [parsedate_to_datetime(i.findtext("pubDate")) for i in channel_of(data).findall("item")]
    assert dates == sorted(dates, reverse=True)
    assert "3 items" in result.summary


def test_guids_are_unique_even_when_two_items_share_a_url(write_feed, item_factory):
    first = item_factory(Kind.NEWS, "Shared page", published=day(3))
    second = dataclasses.replace(first, id="another-id", title="Shared page again", published=day(4))
    _, _, data, _ = write_feed([first, second])

    guids = [g.text for g in channel_of(data).iter("guid")]
    assert len(guids) == 2 and len(set(guids)) == 2
    assert [g.get("isPermaLink") for g in channel_of(data).iter("guid")] == ["true", "false"]


def test_job_and_event_details_are_in_the_description(write_feed, item_factory):
    job = item_factory(Kind.JOB, "Peer support worker", published=day(7))
    event = item_factory(Kind.EVENT, "Seminar 3", published=day(8))
    _, _, data, _ = write_feed([job, event])

    items = {i.findtext("title"): i.findtext("description") for i in channel_of(data).findall("item")}
    assert "Organisation: Open Dialogue UK" in items["Peer support worker"]
    assert "Location: London" in items["Peer support worker"]
    assert "Closing date: 14 February 2016" in items["Peer support worker"]
    assert "Date: Tuesday 2 February 2016, 09:30–17:00 GMT" in items["Seminar 3"]  # London is on GMT
    assert "Venue: London" in items["Seminar 3"]
    assert "Organisation rate £125; Group rate £112.50" in items["Seminar 3"]


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

    items = {i.findtext("title"): i.findtext("description") for i in channel_of(data).findall("item")}
    assert "Date: Wednesday 17 February 2016, from 09:30 GMT" in items["Seminar 3"]
    assert "Speakers: John Walsh, Pamela Fisher" in items["Seminar 3"]
    assert ("<p><strong>Programme</strong><br>09:30 Registration<br>"
            "10:00 Opening: co-production &amp; power — John Walsh; Pamela Fisher</p>") in items["Seminar 3"]
    assert "Date: Tuesday 1 March 2016, 09:30–14:00 EET" in items["Helsinki"]
    assert items["Conference"].startswith("<p>Date: Tuesday 2 February 2016</p>")
    assert "00:00" not in items["Conference"]
    assert feedparser.parse(data).bozo == 0


def test_empty_feed_is_still_valid_and_dated_by_the_run(write_feed):
    _, result, data, _ = write_feed([])

    parsed = feedparser.parse(data)
    assert parsed.bozo == 0 and parsed.entries == []
    assert parsedate_to_datetime(channel_of(data).findtext("lastBuildDate")) == MOMENT
    assert "0 items" in result.summary


def test_settings_override_title_and_description(write_feed, item_factory):
    toml = SINK + 'title = "Co-production news"\ndescription = "Posts, jobs & events"\n'
    _, _, data, _ = write_feed([item_factory()], toml)

    channel = channel_of(data)
    assert channel.findtext("title") == "Co-production news"
    assert channel.findtext("description") == "Posts, jobs & events"


def test_unknown_setting_is_rejected(project_from):
    with pytest.raises(ConfigError, match="unknown key 'limits'"):
        project_from(SINK + "limits = 3\n")


def test_rewrite_replaces_the_file_and_leaves_no_temporary_files(write_feed, item_factory):
    project, _, _, _ = write_feed([item_factory(Kind.POST, "First")])
    _, _, data, _ = write_feed([item_factory(Kind.POST, "Second", published=day(20))])

    assert [i.findtext("title") for i in channel_of(data).findall("item")] == ["Second", "First"]
    assert sorted(p.name for p in feed_path(project).parent.iterdir()) == ["feed.xml"]


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
    assert "Summary" in item.findtext("description") and "Apply" in item.findtext("description")
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
