"""No dead link: the shipped demo (pipeline.toml and content/, run for 1 February and 1 May 2016 as
scripts/demo.sh runs it), then every link in out/ checked the way a static host would serve it.

Checked: every href and src (and form action, og:url, canonical) of every HTML file under out/ (the
site and the email's HTML), the email's text part, feed.xml and every theme's feed (links, guids,
and the links inside descriptions), every .ics file (URL properties and links in the text),
sitemap.xml and search/index.json. An address under site_url must map to a file
(`site.file(project, site.path_of_url(...))`); a relative link must resolve to a file, and a
#fragment to an id on the page it points to. The routes of `pipeline serve` (subscribe, confirm,
unsubscribe, preferences, the webhook) are the web app's, not files: an address is taken as one only when it
is exactly such a route (`APP_ROUTES`), and the subscribe form that every page and email links is checked
against the real app.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from icalendar import Calendar

from pipeline import site
from pipeline.cli import main
from pipeline.config import load_project

ROOT = Path(__file__).parent.parent
# The paths under site_url that `pipeline serve` answers (pipeline/web/app.py), whole: no file of out/ is there.
# Nothing else is taken for one: `subscribe/` (the app does not redirect slashes), `subscribers.csv`, a token
# route with no token.
APP_ROUTES = re.compile(r"subscribe|(?:confirm|unsubscribe|preferences)/[^/]+|webhooks/sendgrid")
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+")


class Links(HTMLParser):
    """Every link-like attribute of a page, and the ids it has."""

    ATTRIBUTES = {"href", "src", "action"}

    def __init__(self, text: str):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name in self.ATTRIBUTES and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)
        if tag == "meta" and attributes.get("property") == "og:url":
            self.links.append(attributes.get("content") or "")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    shutil.copy(ROOT / "pipeline.toml", root)
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copytree(ROOT / "local_plugins", root / "local_plugins")
    for day in ("2016-02-01", "2016-05-01"):
        assert main(["run", "-c", str(root / "pipeline.toml"), "--as-of", day]) == 0
    return load_project(root / "pipeline.toml")


class Checker:
    def __init__(self, project):
        self.project = project
        self.out = project.core.out_dir
        self.dead: list[str] = []
        self.checked = 0
        self.routes: Counter[str] = Counter()  # links to the routes of `pipeline serve`, by route
        self._ids: dict[Path, set[str]] = {}

    def ids(self, path: Path) -> set[str]:
        if path not in self._ids:
            self._ids[path] = Links(path.read_text(encoding="utf-8")).ids if path.suffix == ".html" else set()
        return self._ids[path]

    def absolute(self, where: Path, address: str) -> None:
        """An address seen in `where`: if it is under site_url, its file must exist."""
        path = site.path_of_url(self.project, address)
        if path is None:
            return
        if APP_ROUTES.fullmatch(path):
            self.routes[path.split("/")[0]] += 1
            return
        self._exists(where, address, site.file(self.project, unquote(path)), urlsplit(address).fragment)

    def relative(self, where: Path, link: str) -> None:
        parts = urlsplit(link)
        if parts.scheme or link.startswith("//"):
            if parts.scheme in ("http", "https"):
                self.absolute(where, link)
            return
        target = Path(unquote(urlsplit(urljoin(where.as_uri(), link)).path)) if parts.path else where
        if parts.path.endswith("/") or target.is_dir():
            target = target / "index.html"
        self._exists(where, link, target, parts.fragment)

    def _exists(self, where: Path, link: str, target: Path, fragment: str) -> None:
        self.checked += 1
        relative_to = where.relative_to(self.out) if where.is_relative_to(self.out) else where
        if not target.resolve().is_relative_to(self.out.resolve()) or not target.is_file():
            self.dead.append(f"{relative_to}: {link} (no {target})")
        elif fragment and fragment not in self.ids(target):
            self.dead.append(f"{relative_to}: {link} (no id {fragment!r} in {target.name})")


def html_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html"))


def test_every_link_in_the_site_and_the_email_has_its_file(demo):
    check = Checker(demo)
    pages = html_files(check.out)
    assert check.out / "newsletter" / "issue-1.html" in pages and check.out / "index.html" in pages
    for page in pages:
        for link in Links(page.read_text(encoding="utf-8")).links:
            check.relative(page, link)
    texts = sorted(check.out.glob("newsletter/*.txt"))
    for text in texts:
        for address in URL_IN_TEXT.findall(text.read_text(encoding="utf-8")):
            check.absolute(text, address)
    assert check.dead == []
    assert check.checked > 500
    assert check.routes[site.SUBSCRIBE] >= len(pages) + len(texts)  # every page and every email links the form


@pytest.mark.parametrize(("path", "served"), [
    ("subscribe", True), ("confirm/abc.def", True), ("unsubscribe/%token%", True), ("preferences/abc", True),
    ("webhooks/sendgrid", True), ("subscribe/", False), ("subscribers.csv", False), ("subscribe.html", False),
    ("confirm/", False), ("unsubscribe", False), ("preferences/a/b", False), ("webhooks/other", False),
])
def test_the_checker_takes_an_address_for_a_route_of_serve_only_when_it_is_one(project_from, path, served):
    project = project_from('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                           '[sinks.archive]\ntype = "archive"\n')
    check = Checker(project)
    check.absolute(project.root / "page.html", f"https://n.example.org/{path}")
    assert (check.dead == []) is served
    assert (sum(check.routes.values()) == 1) is served


def test_the_subscribe_link_of_the_site_and_the_email_is_a_page_serve_answers(tmp_path_factory):
    """The checker passes <site_url>/subscribe as a route: the real app must answer exactly that address."""
    import httpx

    from tests.serve_fixtures import live_serve_project

    with live_serve_project(tmp_path_factory, "subscribe-link") as live:
        path = urlsplit(site.subscribe_url(live.project)).path
        assert path == "/" + site.SUBSCRIBE
        page = httpx.get(live.url + path, timeout=10)
        assert page.status_code == 200 and "<form" in page.text  # the form, not an error page
        assert httpx.get(live.url + path + "/", timeout=10).status_code == 404  # as the checker says


def test_every_link_in_the_feeds_has_its_file(demo):
    check = Checker(demo)
    feeds = [check.out / site.FEED_FILE, *sorted(check.out.glob("themes/*/feed.xml"))]
    assert len(feeds) > 5  # the main feed and one per theme
    for feed in feeds:
        for element in ET.parse(feed).iter():
            addresses = [element.attrib.get("href", "")]
            if element.tag in ("link", "guid", "url"):
                addresses.append((element.text or "").strip())
            elif element.text and "<" in element.text:  # a description or content:encoded: HTML
                page = Links(element.text)
                addresses += page.links
            for address in filter(None, addresses):
                check.absolute(feed, address)
    assert check.dead == []


def test_every_theme_page_links_its_feed_and_every_feed_has_its_page(demo):
    out = demo.core.out_dir
    pages = {p.parent for p in out.glob("themes/*/index.html")}
    feeds = {p.parent for p in out.glob("themes/*/feed.xml")}
    assert pages == feeds and len(pages) > 5
    for folder in pages:
        feed = site.url(demo, folder.relative_to(out).as_posix() + "/feed.xml")
        assert '<link rel="alternate" type="application/rss+xml"' in (folder / "index.html").read_text(encoding="utf-8")
        assert f'href="{feed}"' in (folder / "index.html").read_text(encoding="utf-8")


def test_every_link_in_the_calendars_has_its_file(demo):
    check = Checker(demo)
    calendars = sorted(check.out.rglob("*.ics"))
    assert check.out / site.CALENDAR in calendars and len(calendars) == 3  # two events, and all of them
    for path in calendars:
        calendar = Calendar.from_ical(path.read_bytes())
        for component in calendar.walk():
            for name in ("URL", "SOURCE"):
                if name in component:
                    check.absolute(path, str(component[name]))
            for address in URL_IN_TEXT.findall(str(component.get("DESCRIPTION", ""))):
                check.absolute(path, address)
    assert check.dead == []
    assert check.checked >= 6


def test_the_sitemap_and_the_search_index_list_only_real_pages(demo):
    check = Checker(demo)
    sitemap = check.out / site.SITEMAP
    locations = [e.text for e in ET.parse(sitemap).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    for address in locations:
        check.absolute(sitemap, address)
    index = check.out / site.SEARCH_INDEX
    entries = json.loads(index.read_text(encoding="utf-8"))
    for entry in entries:
        check.absolute(index, entry["url"])
        assert entry["url"] == site.url(demo, entry["path"])
    assert check.dead == []
    html_pages = {site.url(demo, p.relative_to(check.out).as_posix().removesuffix("index.html"))
                  for p in html_files(check.out) if "newsletter" not in p.parts}
    assert set(locations) == html_pages  # every page of the site, and nothing else
    assert len(entries) == 7  # every item stored


def test_blog_links_everywhere_lead_to_the_posts_page(demo):
    """The email, the feed and the site link the April post at <site_url>/blog/SLUG/; that page exists."""
    address = f"{demo.core.site_url}/blog/april-2016-ideas-on-co-production/"
    out = demo.core.out_dir
    assert address in (out / "newsletter" / "issue-2.html").read_text(encoding="utf-8")
    assert address in (out / "feed.xml").read_text(encoding="utf-8")
    page = site.file(demo, site.path_of_url(demo, address))
    assert page == out / "blog" / "april-2016-ideas-on-co-production" / "index.html"
    text = unescape(page.read_text(encoding="utf-8"))
    assert "<h1>April blog post: some ideas on co-production</h1>" in text
    assert "Notes from the discussion" in text and "Ward rounds" in text  # the post in full, notes included


def test_an_own_address_on_the_site_that_no_page_answers_links_to_the_items_page(project_from):
    from datetime import UTC, datetime

    from pipeline import site
    from pipeline.models import Kind
    from tests.conftest import make_item

    project = project_from('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                           '[sinks.archive]\ntype = "archive"\n')
    seminar = make_item(Kind.EVENT, "Seminar 3", url="https://n.example.org/seminars/3",
                        published=datetime(2016, 1, 5, tzinfo=UTC))
    post = make_item(Kind.POST, "A post", url="https://n.example.org/blog/a-post/")
    partner = make_item(Kind.NEWS, "News", url="https://partner.example.org/news/1")
    assert site.item_link(project, seminar) == site.url(project, site.item_path(project, seminar))
    assert site.item_path(project, seminar).startswith("events/seminar-3-")
    assert site.item_link(project, post) == post.url == site.url(project, site.item_path(project, post))
    assert site.item_link(project, partner) == partner.url


@pytest.mark.parametrize("address", [
    "https://partner.example.org/news/1", "https://n.example.org/blog/a/", "https://n.example.org",
    "https://n.example.org.evil.example/blog/a/", "https://N.example.org/blog/a/", "http://n.example.org/blog/a/",
    "HTTPS://n.example.org/blog/a/", " https://n.example.org/blog/a/ ", "https://n.example.org/blog/a/?#x",
    "blog/a/", "/blog/a/", "//n.example.org/blog/a/", "https://n.example.org/blog/a/\n", "mailto:a@example.org",
])
def test_an_own_url_is_read_as_in_full_when_it_is_told_apart_without_parsing(project_from, address):
    """`own_pages` reads every stored item's own URL: one elsewhere is known so by its start alone, with the
    answer reading it in full gives."""
    from pipeline.sanitize import safe_url

    project = project_from('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                           '[sinks.archive]\ntype = "archive"\n')
    in_full = site.path_of_url(project, safe_url(address, site.url(project, site.FRONT_PAGE)))
    assert site._own_path_of(project, address) == in_full


def published(project, saved, tmp_path):
    """Store `saved` ((item, fingerprint) pairs) as of 1 February 2016, let every sink of `project` write, and
    render that month's email: what each sink made of the same items."""
    from datetime import date

    from pipeline.edition import prepare_edition, start_of
    from pipeline.run_context import RunContext
    from pipeline.state import Store
    from plugins.sinks.email.render import render_edition

    store = Store(tmp_path / "state" / "links.sqlite")
    moment = start_of(date(2016, 2, 1), project.tz)
    store.save_items(saved, moment)
    edition = prepare_edition(store, date(2016, 2, 1), project.tz, "N", moment)
    run = RunContext(project, store, date(2016, 2, 1), moment)
    try:
        for sink in project.sinks:
            sink.write(None, run)
        return render_edition(edition, run, max_per_section=10)
    finally:
        run.close()
        store.close()


def test_two_items_with_one_own_url_each_link_to_the_page_that_shows_it_everywhere(project_from, tmp_path):
    """The archive gives the page both name to the older and its kind's folder to the other; the email, the
    feeds and the calendars used to link the other to the older one's page too."""
    from datetime import UTC, datetime

    from pipeline.models import EventDetails, Kind
    from tests.conftest import make_item

    project = project_from('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                           '[sinks.archive]\ntype = "archive"\n[sinks.feed]\ntype = "rss"\n')
    address = "https://n.example.org/seminars/3/"
    first = make_item(Kind.EVENT, "Seminar 3 in Leeds", url=address, published=datetime(2016, 1, 5, tzinfo=UTC),
                      event=EventDetails(start=datetime(2016, 6, 1, 10, tzinfo=UTC), venue="Leeds"))
    second = make_item(Kind.EVENT, "Seminar 3 again, in York", url=address + "?repeat",
                       published=datetime(2016, 1, 9, tzinfo=UTC),
                       event=EventDetails(start=datetime(2016, 7, 1, 10, tzinfo=UTC), venue="York"))
    email = published(project, [(second, "b"), (first, "a")], tmp_path)  # the newer first: age decides, not order

    own, other = "seminars/3/", f"events/{site.slug(second.title, 50)}-{second.id[:8]}/"
    assert other.startswith("events/seminar-3-again-in-york-")
    assert "Seminar 3 in Leeds" in site.file(project, own).read_text(encoding="utf-8")
    assert "Seminar 3 again, in York" in site.file(project, other).read_text(encoding="utf-8")
    links = {first.id: address, second.id: site.url(project, other)}

    assert f'href="{links[second.id]}"' in email.html and f'href="{links[first.id]}"' in email.html
    assert f'href="{site.url(project, other + "event.ics")}"' in email.html
    assert f"{links[second.id]}\n" in email.text

    feed = ET.parse(site.file(project, site.FEED_FILE)).getroot()
    assert {i.findtext("title"): i.findtext("link") for i in feed.iter("item")} == {
        first.title: links[first.id], second.title: links[second.id]}

    for calendar in (site.CALENDAR, other + "event.ics", own + "event.ics"):
        events = Calendar.from_ical(site.file(project, calendar).read_bytes()).walk("VEVENT")
        for event in events:
            item_id = str(event["UID"]).split("@")[0]
            assert str(event["URL"]) == links[item_id]
            assert str(event["DESCRIPTION"]).endswith(f"More: {links[item_id]}")
    assert str(events[0]["UID"]).startswith(first.id)  # the page at the own address has the older one's .ics


def test_an_item_whose_own_url_is_another_items_page_links_where_the_archive_puts_it(project_from, tmp_path):
    """An item's own URL may name the page the site made for an older item (a partner's feed relinking the
    network's own news), or an older item's own URL the page the site would give a younger one: the archive
    gives the older the page and moves the other, and the email and the feeds link each to its own page."""
    from datetime import UTC, datetime

    from pipeline.models import Kind
    from tests.conftest import make_item

    project = project_from('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                           '[sinks.archive]\ntype = "archive"\n[sinks.feed]\ntype = "rss"\n')
    day = datetime(2016, 1, 5, tzinfo=UTC)
    older = make_item(Kind.NEWS, "Peer support day", url="https://partner.example.org/day", published=day)
    relinked = make_item(Kind.NEWS, "Reposted: peer support day", published=day.replace(day=9),
                         url=site.url(project, site.item_path(project, older)))
    younger = make_item(Kind.NEWS, "Open Dialogue week", url="", published=day.replace(day=12))  # no own URL
    claiming = make_item(Kind.NEWS, "Week announced", published=day.replace(day=7),
                         url=site.url(project, site.item_path(project, younger)))
    items = [older, relinked, younger, claiming]
    email = published(project, [(item, item.id) for item in items], tmp_path)

    feed = ET.parse(site.file(project, site.FEED_FILE)).getroot()
    links = {i.findtext("title"): i.findtext("link") for i in feed.iter("item")}
    for item in items:
        link = links[item.title]
        if item.url.startswith("https://partner."):
            continue
        page = site.file(project, site.path_of_url(project, link)).read_text(encoding="utf-8")
        assert f"<h1>{item.title}" in page or f">{item.title}</h1>" in page, (item.title, link)
        if item.url:  # the email links an item with no address of its own to nothing
            assert f'href="{link}"' in email.html, item.title
    assert links[relinked.title] != site.url(project, site.item_path(project, older))
    assert links[younger.title] != claiming.url


def test_the_pages_items_have_are_worked_out_once_until_an_item_changes(project_from, tmp_path):
    """An email is rendered once per choice of themes: reading every item each time cost a scan of them all."""
    from datetime import UTC, datetime

    from pipeline.models import Kind
    from pipeline.state import Store
    from tests.conftest import make_item

    project = project_from('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                           '[sinks.archive]\ntype = "archive"\n')
    address = "https://n.example.org/seminars/3/"
    older = make_item(Kind.EVENT, "Seminar 3", url=address, published=datetime(2016, 1, 5, tzinfo=UTC))
    store = Store(tmp_path / "pages.sqlite")
    scans = []
    read_all = store.item_pages
    store.item_pages = lambda: scans.append(1) or read_all()
    try:
        store.save_items([(older, "a")], datetime(2016, 2, 1, tzinfo=UTC))
        first = site.own_pages(project, store)
        assert site.own_pages(project, store) == first == {"seminars/3/": older.id} and len(scans) == 1

        with store.transaction() as db:  # the older one goes: the younger, naming the same page, takes it
            db.execute("DELETE FROM items WHERE id = ?", (older.id,))
        younger = make_item(Kind.EVENT, "Seminar 3 again", url=address, published=datetime(2016, 1, 9, tzinfo=UTC))
        store.save_items([(younger, "b")], datetime(2016, 2, 2, tzinfo=UTC))
        assert site.own_pages(project, store) == {"seminars/3/": younger.id} and len(scans) == 2
    finally:
        store.close()
