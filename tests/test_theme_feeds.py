"""The `rss` sink's feed per theme (themes/SLUG/feed.xml): its items, title and links, the same rules as the
main feed, removal when a theme has no items left, no rewrite when nothing changed; and every feed of the
shipped project valid by the W3C validator's rules (tests/feed_rules.py)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest

from pipeline import site
from pipeline.cli import main
from pipeline.models import JobDetails, Kind
from pipeline.run_context import RunContext
from pipeline.state import Store
from tests.feed_rules import assert_valid

ROOT = Path(__file__).parent.parent
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MOMENT = datetime(2016, 2, 1, 0, 0, tzinfo=UTC)
SINK = """
[sinks.feed]
type = "rss"
"""


def day(n: int) -> datetime:
    return datetime(2016, 1, n, 10, 0, tzinfo=UTC)


@pytest.fixture
def run_sink(project_from, tmp_path: Path):
    """run_sink(items, sink_toml=SINK, moment=MOMENT) -> (project, result): saves `items` (over what an
    earlier call saved) and runs the sink, as a run or refresh would."""
    stores: list[Store] = []

    def run(items, sink_toml: str = SINK, moment: datetime = MOMENT):
        project = project_from(sink_toml)
        store = Store(tmp_path / "s.sqlite")
        stores.append(store)
        if items:
            store.save_items([(item, "fp") for item in items], moment)
        return project, project.sinks[0].write(None, RunContext(project, store, moment.date(), moment))

    yield run
    for store in stores:
        store.close()


def theme_feed(project, theme: str, ignore: frozenset[str] = frozenset()) -> bytes:
    data = site.file(project, site.theme_feed_path(theme)).read_bytes()
    assert_valid(data, site.url(project, site.theme_feed_path(theme)), ignore)
    return data


def titles(data: bytes) -> list[str]:
    return [i.findtext("title") for i in ET.fromstring(data).find("channel").findall("item")]


def test_each_theme_has_its_own_feed_of_its_items_newest_first(run_sink, item_factory):
    items = [item_factory(Kind.POST, "Peer support one", published=day(3), themes=["peer support"]),
             item_factory(Kind.NEWS, "Both", published=day(5), themes=["research", "peer support"]),
             item_factory(Kind.POST, "Research only", published=day(4), themes=["research"]),
             item_factory(Kind.POST, "No theme", published=day(6))]
    project, result = run_sink(items, SINK + '[sinks.site]\ntype = "archive"\n')  # its channel links its page

    peer = theme_feed(project, "peer support")
    assert titles(peer) == ["Both", "Peer support one"]
    assert titles(theme_feed(project, "research")) == ["Both", "Research only"]
    channel = ET.fromstring(peer).find("channel")
    assert channel.findtext("title") == "Test Network: Peer support"
    assert channel.findtext("link") == "https://network.example.org/themes/peer-support/"
    assert channel.find(f"{ATOM}link").get("href") == "https://network.example.org/themes/peer-support/feed.xml"
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == day(5)
    # The same items as in the main feed: full content, the summary alone, themes as categories.
    both = channel.find("item")
    assert both.findtext(f"{CONTENT}encoded") == "<p>Both body.</p>"
    assert [c.text for c in both.findall("category")] == ["research", "peer support"]
    assert sorted(p.relative_to(project.core.out_dir).as_posix() for p in project.core.out_dir.rglob("*.xml")) == [
        "feed.xml", "themes/peer-support/feed.xml", "themes/research/feed.xml"]
    assert "2 theme feeds" in result.summary and "3 written" in result.summary
    entry = feedparser.parse(peer).entries[0]
    assert entry.content[0].value == "<p>Both body.</p>"


def test_theme_feeds_follow_the_main_feeds_rules(run_sink, item_factory):
    posts = [item_factory(Kind.POST, f"Post {n}", published=day(n), themes=["housing"]) for n in range(1, 6)]
    closed = item_factory(Kind.JOB, "Closed job", published=day(10), themes=["housing"],
                          job=JobDetails("Shelter", closing_date=date(2016, 1, 20)))
    past = item_factory(Kind.EVENT, "Past event", published=day(11), themes=["housing"])
    past.event.start, past.event.end = day(25), day(25) + timedelta(hours=2)
    late = item_factory(Kind.POST, "After the run", published=MOMENT + timedelta(days=1), themes=["housing"])
    project, _ = run_sink(posts + [closed, past, late], SINK + 'limit = 3\ntitle = "Co-production news"\n')

    data = theme_feed(project, "housing")
    assert titles(data) == ["Post 5", "Post 4", "Post 3"]
    assert ET.fromstring(data).find("channel").findtext("title") == "Co-production news: Housing"


def test_a_theme_whose_items_are_all_over_keeps_an_empty_feed(run_sink, item_factory):
    job = item_factory(Kind.JOB, "Closed job", published=day(10), themes=["employment"],
                       job=JobDetails("Mind", closing_date=date(2016, 1, 20)))
    project, _ = run_sink([job])

    data = theme_feed(project, "employment")  # the theme's page still links to it
    assert titles(data) == []
    assert parsedate_to_datetime(ET.fromstring(data).find("channel").findtext("lastBuildDate")) == day(10)


def test_a_theme_with_no_items_left_keeps_its_feed_saying_it_ended(run_sink, item_factory):
    """A feed reader subscribed to it is told, where a file gone would give it an error it may not show (a theme
    renamed leads to its new name: tests/test_review_h113.py)."""
    post = item_factory(Kind.POST, "Retagged", published=day(3), themes=["housing", "research"])
    other = item_factory(Kind.POST, "Other", published=day(4), themes=["community"])
    project, _ = run_sink([post, other])
    housing = site.file(project, site.theme_feed_path("housing"))
    community = site.file(project, site.theme_feed_path("community"))
    page = site.file(project, site.theme_path("community"))  # the archive's page for the theme
    page.write_text("<!doctype html><title>community</title>", encoding="utf-8")
    assert housing.is_file() and community.is_file()

    post.themes = ["research"]
    other.themes = []
    _, result = run_sink([post, other])

    assert titles(theme_feed(project, "housing")) == ["This feed has ended"]
    assert titles(theme_feed(project, "community")) == ["This feed has ended"] and page.is_file()
    assert titles(theme_feed(project, "research")) == ["Retagged"]
    assert "2 of themes no item carries now say where to go" in result.summary
    assert ET.fromstring(housing.read_bytes()).find("channel").findtext("title") == "Test Network: Housing"

    _, result = run_sink([post, other])
    assert "where to go" not in result.summary  # said once


def test_an_unchanged_feed_is_not_rewritten_and_a_changed_one_is(run_sink, item_factory):
    items = [item_factory(Kind.POST, "Housing post", published=day(3), themes=["housing"]),
             item_factory(Kind.POST, "Research post", published=day(4), themes=["research"])]
    project, _ = run_sink(items)
    paths = {name: site.file(project, path) for name, path in
             (("main", site.FEED_FILE), ("housing", site.theme_feed_path("housing")),
              ("research", site.theme_feed_path("research")))}
    before = {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name, p in paths.items()}

    _, same = run_sink([], moment=MOMENT + timedelta(hours=1))
    assert {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name, p in paths.items()} == before
    assert same.files == [] and same.summary.startswith("unchanged")

    newer = item_factory(Kind.POST, "Another research post", published=day(5), themes=["research"])
    _, changed = run_sink([newer], moment=MOMENT + timedelta(hours=2))
    after = {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name, p in paths.items()}
    assert after["housing"] == before["housing"]
    assert after["main"] != before["main"] and after["research"] != before["research"]
    assert changed.files == [str(paths["main"]), str(paths["research"])]
    assert not [p for p in project.core.out_dir.rglob(".*")]  # no temporary files left behind


def test_themes_with_one_slug_share_one_feed_named_by_the_commonest_spelling(run_sink, item_factory):
    items = [item_factory(Kind.POST, "Old spelling", published=day(3), themes=["Peer Support"]),
             item_factory(Kind.POST, "New spelling", published=day(4), themes=["peer support"]),
             item_factory(Kind.POST, "Newest", published=day(5), themes=["Peer Support", "peer support"])]
    project, result = run_sink(items)

    data = theme_feed(project, "peer support")
    assert titles(data) == ["Newest", "New spelling", "Old spelling"]  # each once
    assert ET.fromstring(data).find("channel").findtext("title") == "Test Network: Peer Support"  # 2 to 2: A-Z
    assert "1 theme feed;" in result.summary


def test_themes_named_outside_the_latin_script_each_keep_their_own_feed(run_sink, item_factory):
    themes = ["Восстановление", "восстановление", "ピアサポート", "Ελληνικά recovery", "Latin recovery"]
    items = [item_factory(Kind.POST, f"Post {n}", published=day(3 + n), themes=[theme])
             for n, theme in enumerate(themes)]
    project, result = run_sink(items)

    paths = {theme: site.theme_feed_path(theme) for theme in themes}
    assert paths["Восстановление"] == paths["восстановление"]  # one theme, spelt in two cases
    assert len({paths[t] for t in themes[1:]}) == 4  # before, the first two and the third shared themes/item/
    assert paths["Latin recovery"] == "themes/latin-recovery/feed.xml"
    assert paths["Ελληνικά recovery"].startswith("themes/recovery-")
    assert "4 theme feeds;" in result.summary
    assert titles(theme_feed(project, "ピアサポート")) == ["Post 2"]


def test_hostile_theme_names_stay_inside_the_themes_folder(run_sink, item_factory):
    item = item_factory(Kind.POST, "Odd", published=day(3), themes=["../../etc", "<b>bold</b> & co"])
    project, _ = run_sink([item])

    out = project.core.out_dir
    feeds = sorted(p.relative_to(out).as_posix() for p in out.rglob("feed.xml"))
    assert feeds == ["feed.xml", "themes/b-bold-b-co/feed.xml", "themes/etc/feed.xml"]
    # Text, escaped by the XML writer (the validator warns that it looks like HTML, and that is all).
    channel = ET.fromstring(theme_feed(project, "<b>bold</b> & co", frozenset({"ContainsHTML"}))).find("channel")
    assert channel.findtext("title") == "Test Network: <b>bold</b> & co"


# ---- the shipped project -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped sources and transforms with only the rss sink, run for 1 February and then 1 May 2016:
    the site's feeds after each run."""
    root = tmp_path_factory.mktemp("shipped-feeds")
    toml = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
    toml = toml[:re.search(r"^\[sinks\.", toml, re.M).start()] + '[sinks.feed]\ntype = "rss"\nlimit = 50\n'
    toml = re.sub(r"^\[alerts\].*?(?=^\[)", "", toml, flags=re.M | re.S)  # no email sink here to send them
    (root / "pipeline.toml").write_text(toml, encoding="utf-8")
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copytree(ROOT / "local_plugins", root / "local_plugins")
    feeds = {}
    for as_of in ("2016-02-01", "2016-05-01"):
        assert main(["run", "-c", str(root / "pipeline.toml"), "--as-of", as_of]) == 0
        out = root / "out"
        feeds[as_of] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("feed.xml"))}
    return feeds


def test_every_feed_of_the_shipped_project_is_valid(shipped):
    for as_of, feeds in shipped.items():
        assert "feed.xml" in feeds and len(feeds) > 3, (as_of, sorted(feeds))
        for path, data in feeds.items():
            assert_valid(data, f"https://coproduction-network.example.org/{path}")
            assert feedparser.parse(data).bozo == 0


def test_the_shipped_feeds_show_what_is_current(shipped):
    february, may = shipped["2016-02-01"], shipped["2016-05-01"]
    assert {"Open Dialogue UK 2016 Conference", "Seminar 3: Contemporary Developments in Healthcare Practice",
            "Administrator for the new Open Dialogue UK centre in London"} <= set(titles(february["feed.xml"]))
    # By May the job has closed and both events are over: they leave every feed.
    gone = {"Open Dialogue UK 2016 Conference", "Seminar 3: Contemporary Developments in Healthcare Practice",
            "Administrator for the new Open Dialogue UK centre in London"}
    assert "April blog post: some ideas on co-production" in titles(may["feed.xml"])
    for path, data in may.items():
        assert not gone & set(titles(data)), path
    open_dialogue = ET.fromstring(february["themes/open-dialogue/feed.xml"]).find("channel")
    assert open_dialogue.findtext("title") == "Co-production in Mental Health Network: Open Dialogue"
    conference = next(i for i in open_dialogue.findall("item") if i.findtext("title").startswith("Open Dialogue UK"))
    content = conference.findtext(f"{CONTENT}encoded")
    for price in ("£125", "£112.50", "£85", "£35", "£25"):
        assert price in content
    assert "Jaakko Seikkula" in content


def test_a_feed_made_from_the_same_items_is_still_rebuilt_when_a_job_closes_or_a_file_goes(run_sink, item_factory):
    job = item_factory(Kind.JOB, "Peer worker", published=day(10), themes=["peer support"])  # closes 14 February
    post = item_factory(Kind.POST, "Peer post", published=day(12), themes=["peer support"])
    project, first = run_sink([job, post])
    assert titles(theme_feed(project, "peer support")) == ["Peer post", "Peer worker"]

    _, same = run_sink([], moment=datetime(2016, 2, 14, 23, tzinfo=UTC))  # the closing day: still open
    assert same.files == [] and same.summary.startswith("unchanged")
    _, closed = run_sink([], moment=datetime(2016, 2, 15, 1, tzinfo=UTC))  # the day after: it leaves
    assert str(site.file(project, site.theme_feed_path("peer support"))) in closed.files
    assert titles(theme_feed(project, "peer support")) == ["Peer post"]

    site.file(project, site.FEED_FILE).unlink()  # a file removed by hand is made again
    _, again = run_sink([], moment=datetime(2016, 2, 16, tzinfo=UTC))
    assert again.files == [str(site.file(project, site.FEED_FILE))]


def test_a_run_as_of_an_earlier_day_makes_the_feeds_again(run_sink, item_factory):
    event = item_factory(Kind.EVENT, "Seminar", published=day(10), themes=["co-production"])  # 2 February
    project, _ = run_sink([event], moment=datetime(2016, 2, 10, tzinfo=UTC))
    assert titles(theme_feed(project, "co-production")) == []  # over by 10 February

    _, earlier = run_sink([], moment=datetime(2016, 2, 1, tzinfo=UTC))

    assert not earlier.summary.startswith("unchanged")
    assert titles(theme_feed(project, "co-production")) == ["Seminar"]  # as of 1 February it is still to come


def test_an_item_saved_again_after_a_failed_transform_is_not_missed(project_from, tmp_path, item_factory):
    project = project_from(SINK)
    store = Store(tmp_path / "s.sqlite")
    try:
        first = item_factory(Kind.POST, "First title", published=day(3))
        store.save_items([(first, "")], MOMENT)  # a failed transform leaves the fingerprint empty
        project.sinks[0].write(None, RunContext(project, store, MOMENT.date(), MOMENT))
        store.save_items([(dataclasses.replace(first, title="Second title"), "")], MOMENT)

        result = project.sinks[0].write(None, RunContext(project, store, MOMENT.date(), MOMENT))
    finally:
        store.close()
    assert not result.summary.startswith("unchanged")
    assert titles(site.file(project, site.FEED_FILE).read_bytes()) == ["Second title"]


def test_the_feed_a_long_theme_had_before_its_address_took_a_digest_says_where_it_went(run_sink, item_factory,
                                                                                        monkeypatch):
    theme = "Co-production and power-sharing between service users, peer workers and clinicians"
    post = item_factory(Kind.POST, "Sharing power", published=day(3), themes=[theme])
    from plugins.sinks.rss.sink import RssSink

    with monkeypatch.context() as before:  # as the code was: the slug cut at 60 (and other code, as the sink sees)
        before.setattr(site, "theme_path", lambda theme: f"{site.THEMES}{site.slug(theme)}/")
        before.setattr(RssSink, "_made_from", lambda self, run: "the code before")
        project, _ = run_sink([post])
        old = site.file(project, site.theme_feed_path(theme))
    assert old.is_file() and old != site.file(project, site.theme_feed_path(theme))

    run_sink([post], moment=MOMENT + timedelta(hours=1))

    assert titles(theme_feed(project, theme)) == ["Sharing power"]
    moved = ET.fromstring(old.read_bytes()).find("channel/item")
    assert moved.findtext("title") == f"This feed has moved: {theme}"
    assert moved.findtext("guid").endswith(f"#moved-to-{site.theme_path(theme).split('/')[1]}")


def test_the_feed_two_long_themes_shared_before_their_addresses_took_a_digest_names_both(run_sink, item_factory,
                                                                                          monkeypatch):
    """Two long themes that differ only after 60 characters had one feed; now each has its own, and the one they
    shared says so, naming both feeds (it said the feed had ended, as if neither theme were left: review h175)."""
    from plugins.sinks.rss.sink import RssSink

    stem = "Co-production and power-sharing between service users, peer workers and clinicians"
    wards, teams = f"{stem} on wards", f"{stem} in teams"
    posts = [item_factory(Kind.POST, "Ward rounds", published=day(3), themes=[wards]),
             item_factory(Kind.POST, "Team meetings", published=day(4), themes=[teams])]
    with monkeypatch.context() as before:  # as the code was: the slug cut at 60, one feed for both
        before.setattr(site, "theme_path", lambda theme: f"{site.THEMES}{site.slug(theme)}/")
        before.setattr(RssSink, "_made_from", lambda self, run: "the code before")
        project, _ = run_sink(posts)
        old = site.file(project, site.theme_feed_path(wards))
        assert sorted(titles(old.read_bytes())) == ["Team meetings", "Ward rounds"]  # one feed for both

    run_sink(posts, moment=MOMENT + timedelta(hours=1))

    split = ET.fromstring(old.read_bytes()).find("channel/item")
    assert split.findtext("title") == "This feed has been split"
    for theme in (wards, teams):
        assert site.url(project, site.theme_feed_path(theme)) in split.findtext("description")
    assert_valid(old.read_bytes(), site.url(project, old.relative_to(project.core.out_dir).as_posix()))


def test_a_themes_feed_titles_it_as_its_page_heads_it():
    """The feed of a theme 'ß' was titled 'SS' ('ß'.upper()), where its page's heading keeps 'ß' (review h188): one
    rule, `site.theme_label`, for both."""
    from plugins.sinks.rss.document import theme_label

    assert [theme_label(t) for t in ("ß", "peer support", "Open Dialogue", "ärzte\n")] == [
        "ß", "Peer support", "Open Dialogue", "Ärzte"]
