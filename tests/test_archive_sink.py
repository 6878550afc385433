"""The `archive` sink builds the readers' site: every issue's web version, a page per item, theme and
month, jobs, events, search, the front page, Open Graph tags and sitemap.xml. Real files, written by
the sink from a real state database. (The helpers here, `Built`, `Page`, `make_issues`, `write_site`,
serve tests/test_site_*.py too.)"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline import site
from pipeline.components import SinkResult
from pipeline.config import Project
from pipeline.edition import prepare_edition, start_of
from pipeline.errors import ConfigError
from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, ProgrammeSlot
from pipeline.run_context import RunContext
from pipeline.state import Store
from plugins.sinks.archive.facts import content_print as fingerprint  # any stable print of the item will do
from tests.conftest import BASE_TOML, make_item

SINK = """
[sinks.archive]
type = "archive"
"""
RSS = """
[sinks.feed]
type = "rss"
"""
EMAIL = """
[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"
"""
FORM = "https://network.example.org/subscribe"  # the subscribe form `pipeline serve` answers
_SITE_NAV = re.compile(r'<nav class="site" aria-label="Site">.*?</nav>', re.S)


class Page(HTMLParser):
    """<html lang>, <link>s, <meta>s, hrefs, headings and the text of a page."""

    def __init__(self, source: str):
        super().__init__()
        self.lang = ""
        self.links: list[dict[str, str]] = []
        self.meta: dict[str, str] = {}
        self.anchors: list[str] = []
        self.tags: list[str] = []
        self.headings: dict[str, list[str]] = {}
        self.text: list[str] = []
        self._heading: str | None = None
        self._words: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "html":
            self.lang = attributes.get("lang", "")
        elif tag == "link":
            self.links.append(attributes)
        elif tag == "meta" and ("property" in attributes or "name" in attributes):
            self.meta[attributes.get("property") or attributes["name"]] = attributes.get("content", "")
        elif tag == "a":
            self.anchors.append(attributes.get("href", ""))
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading, self._words = tag, []

    def handle_endtag(self, tag):
        if tag == self._heading:
            self.headings.setdefault(tag, []).append(" ".join(" ".join(self._words).split()))
            self._heading = None

    def handle_data(self, data):
        if self._heading:
            self._words.append(data)
        if data.strip():
            self.text.append(" ".join(data.split()))

    @property
    def words(self) -> str:
        return " | ".join(self.text)

    def feeds(self) -> list[str]:
        return [link["href"] for link in self.links if link.get("type") == "application/rss+xml"]


@dataclass
class Built:
    project: Project
    store: Store
    result: SinkResult

    @property
    def out(self) -> Path:
        return self.project.core.out_dir

    def file(self, path: str) -> Path:
        return site.file(self.project, path)

    def read(self, path: str) -> str:
        return self.file(path).read_text(encoding="utf-8")

    def page(self, path: str) -> Page:
        return Page(self.read(path))

    def write(self, moment: datetime | None = None) -> SinkResult:
        """Run the archive sink again (a refresh)."""
        self.result = write_site(self.project, self.store, moment)
        return self.result


def make_issues(project: Project, store: Store, issues: dict[date, list[Item]], extra: list[Item] = ()) -> None:
    """Save the items and make each issue, oldest first; `extra` items are saved in no issue."""
    for as_of, items in sorted(issues.items()):
        moment = start_of(as_of, project.tz)
        store.save_items([(item, fingerprint(item)) for item in items], moment)
        prepare_edition(store, as_of, project.tz, project.core.name, moment)
    if extra:
        store.save_items([(item, fingerprint(item)) for item in extra], datetime.now(project.tz))


def write_site(project: Project, store: Store, moment: datetime | None = None) -> SinkResult:
    """What `pipeline refresh` does with the archive sink, at `moment` (default: 1 May 2016)."""
    moment = moment or start_of(date(2016, 5, 1), project.tz)
    run = RunContext(project, store, moment.date(), moment)
    try:
        (sink,) = [s for s in project.sinks if s.name == "archive"]
        return sink.write(None, run)
    finally:
        run.close()


def every_file(out: Path) -> dict[Path, tuple[int, int]]:
    """Each file under `out` with its inode and modification time (ns)."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


FEB, MAR = date(2016, 2, 1), date(2016, 3, 1)
EMAIL_ONLY = ("View this issue in your browser", "You are getting this email because", "Unsubscribe",
              "unsubscribe", "mailto:")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def network_items():
    post = make_item(Kind.POST, "Seminar 3 report", published=utc(2016, 1, 10, 9), author="Pamela Fisher",
                     url="https://network.example.org/blog/seminar-3-report/", themes=["peer support", "power-sharing"],
                     body_html="<h1>Notes</h1><p>What we heard.</p><h3>Ward rounds</h3><p>Too many people.</p>")
    news = make_item(Kind.NEWS, "Open Dialogue centre opens", published=utc(2016, 1, 14),
                     url="https://partner.example.org/news/centre", themes=["Open Dialogue"],
                     body_html="<p>The first lines of the partner's story.</p>")
    job = make_item(Kind.JOB, "Peer support worker", published=utc(2016, 1, 20), themes=["peer support"],
                    job=JobDetails(organisation="Leeds Mind", location="Leeds", hours="22.5 hours a week",
                                   salary="£18,000 pro rata", closing_date=date(2016, 2, 14),
                                   how_to_apply="Apply online by noon on the closing date."))
    event = make_item(Kind.EVENT, "Seminar 3: Contemporary Developments", published=utc(2016, 1, 18),
                      themes=["co-production"],
                      event=EventDetails(start=utc(2016, 2, 17, 9, 30), end=utc(2016, 2, 17, 16),
                                         timezone="Europe/London", venue="St Catherine's",
                                         speakers=["David Crepaz-Keay"],
                                         programme=[ProgrammeSlot("09:30", "Registration"),
                                                    ProgrammeSlot("10:30", "Survivor led to co-produced",
                                                                  ("David Crepaz-Keay",))],
                                         prices=[PriceTier("Professionals", Decimal("95")),
                                                 PriceTier("Service users", Decimal("0"), note="free")],
                                         booking_url="https://example.org/book"))
    return post, news, job, event


@pytest.fixture
def built(project_from, tmp_path):
    """built(issues, extra=(), toml=SINK, moment=None, files=None) -> Built, the sink run once."""
    stores = []

    def build(issues, extra=(), toml=SINK, moment=None, files=None) -> Built:
        project = project_from(toml, files)
        store = Store(tmp_path / "state" / "site.sqlite")
        stores.append(store)
        make_issues(project, store, issues, list(extra))
        return Built(project, store, write_site(project, store, moment))

    yield build
    for store in stores:
        store.close()


@pytest.fixture
def network(built):
    post, news, job, event = network_items()
    later = make_item(Kind.NEWS, "Recovery college news", published=utc(2016, 2, 3), themes=["peer support"])
    return built({FEB: [post, news, job, event], MAR: [later]}, moment=datetime(2016, 2, 10, tzinfo=UTC))


# -- each issue's web version --------------------------------------------------------------------

def test_an_issue_is_a_web_page_of_the_site_not_the_email(network):
    html = network.read(site.edition_path(1))
    page = Page(html)
    assert page.headings["h1"] == ["Issue 1, 1 February 2016"]
    assert page.tags.count("main") == 1 and page.tags.count("h1") == 1
    assert {"header", "nav", "footer"} <= set(page.tags) and "script" not in page.tags
    assert not any(text in html for text in EMAIL_ONLY)
    assert page.headings["h2"] == ["From the blog", "Partner news", "Jobs", "Events"]
    assert page.headings["h3"] == ["Seminar 3 report", "Open Dialogue centre opens", "Peer support worker",
                                   "Seminar 3: Contemporary Developments"]
    words = page.words
    for text in ("In this issue: 1 blog post, 1 partner news item, 1 job and 1 event.", "Sunday 14 February 2016",
                 "Apply online by noon on the closing date.", "Wednesday 17 February 2016, 09:30–16:00 GMT",
                 "Professionals: | £95", "Service users: | £0 | (free)",
                 "10:30 Survivor led to co-produced — David Crepaz-Keay"):
        assert text in words, text
    # every title leads to the item's page on the site; themes to the theme's page
    assert "../blog/seminar-3-report/index.html" in page.anchors
    assert "../themes/peer-support/index.html" in page.anchors
    assert {"rel": "stylesheet", "href": "../site.css"} in page.links
    assert "prefers-color-scheme: dark" in network.read(site.STYLESHEET)


def test_a_long_issue_is_paginated_with_its_sections_listed(built):
    posts = [make_item(Kind.POST, f"Post {n}", published=utc(2016, 1, 1) + timedelta(hours=n)) for n in range(110)]
    jobs = [make_item(Kind.JOB, f"Job {n}", published=utc(2016, 1, 2)) for n in range(5)]
    result = built({FEB: [*posts, *jobs]})

    paths = [site.edition_page_path(1, n) for n in (1, 2, 3)]
    assert paths == ["archive/issue-1.html", "archive/issue-1-page-2.html", "archive/issue-1-page-3.html"]
    pages = [result.page(path) for path in paths]
    assert not result.file(site.edition_page_path(1, 4)).exists()
    assert [len(p.headings["h3"]) for p in pages] == [50, 50, 15]
    everything = {f"Post {n}" for n in range(110)} | {f"Job {n}" for n in range(5)}
    assert {t for p in pages for t in p.headings["h3"]} == everything
    assert pages[0].headings["h1"] == ["Issue 1, 1 February 2016 (page 1 of 3)"]
    assert pages[2].headings["h2"] == ["From the blog", "Jobs"]
    assert "issue-1-page-3.html#job" in pages[0].anchors  # the contents say where the jobs start
    assert "issue-1-page-2.html" in pages[0].anchors and "issue-1.html" in pages[1].anchors


# -- a page for every item -----------------------------------------------------------------------

def test_a_blog_post_is_shown_in_full_where_its_own_url_points(network):
    path = "blog/seminar-3-report/"
    page = network.page(path)
    assert page.headings["h1"] == ["Seminar 3 report"]
    assert page.headings["h2"][:1] == ["Notes"]  # the body's h1 is moved under the page's own
    assert page.headings["h3"] == ["Ward rounds"]  # one level below it: the level skipped in the body is not here
    assert "h4" not in page.headings
    assert "Too many people." in page.words and "Pamela Fisher · 10 January 2016" in page.words
    assert page.meta["og:url"] == "https://network.example.org/blog/seminar-3-report/"
    assert page.meta["og:type"] == "article"
    assert "../../themes/power-sharing/index.html" in page.anchors
    assert "../../archive/issue-1.html" in page.anchors  # "In issue 1"


def test_news_links_out_to_the_partners_page(network):
    (news,) = [p for p in network.out.glob("news/*/index.html")
               if "Open Dialogue centre opens" in p.read_text(encoding="utf-8")]
    page = Page(news.read_text(encoding="utf-8"))
    assert "https://partner.example.org/news/centre" in page.anchors
    assert "Read the whole story on partner.example.org" in page.words
    assert "../../themes/open-dialogue/index.html" in page.anchors


def test_a_job_page_has_its_closing_date_and_how_to_apply(network):
    (job,) = network.out.glob("jobs/peer-support-worker-*/index.html")
    page = Page(job.read_text(encoding="utf-8"))
    words = page.words
    for text in ("Closing date | Sunday 14 February 2016", "Organisation | Leeds Mind", "Salary | £18,000 pro rata",
                 "Apply online by noon on the closing date."):
        assert text in words, text
    assert "How to apply" in page.headings["h2"] and "This job closed" not in words  # open on 10 February


def test_an_event_page_has_programme_speakers_prices_and_calendars(network):
    (event,) = network.out.glob("events/seminar-3-*/index.html")
    page = Page(event.read_text(encoding="utf-8"))
    words = page.words
    for text in ("When | Wednesday 17 February 2016, 09:30–16:00 GMT", "Venue | St Catherine's",
                 "Speakers | David Crepaz-Keay", "09:30 Registration", "Professionals: | £95"):
        assert text in words, text
    assert page.headings["h2"] == ["Programme", "Prices"]
    assert "event.ics" in page.anchors and "webcal://network.example.org/events/calendar.ics" in page.anchors
    assert (event.parent / "event.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")
    assert b"Seminar 3: Contemporary Developments" in network.file(site.CALENDAR).read_bytes()


# -- lists ---------------------------------------------------------------------------------------

def test_a_theme_page_lists_its_items_newest_first_and_pages_after_fifty(built):
    items = [make_item(Kind.NEWS, f"News {n:02}", published=utc(2016, 1, 1) + timedelta(hours=n),
                       themes=["peer support"]) for n in range(60)]
    result = built({FEB: items})

    first, second = result.page("themes/peer-support/"), result.page("themes/peer-support/page/2/")
    assert first.headings["h1"] == ["Peer support (page 1 of 2)"]
    assert first.headings["h2"][:2] == ["News 59", "News 58"] and len(first.headings["h2"]) == 50
    assert second.headings["h2"][-1] == "News 00" and len(second.headings["h2"]) == 10
    assert "../../../index.html" in second.anchors  # page 1, from themes/peer-support/page/2/
    themes = result.page(site.THEMES)
    assert themes.headings["h1"] == ["Themes"] and "Peer support | (60 items)" in themes.words


def test_a_theme_page_links_its_feed_only_when_there_is_an_rss_sink(built, project_from):
    post, *_ = network_items()
    without = built({FEB: [post]})
    assert without.page("themes/peer-support/").feeds() == []
    assert "feed.xml" not in without.read("themes/peer-support/")
    with_rss = built({FEB: [post]}, toml=SINK + RSS)
    assert with_rss.page("themes/peer-support/").feeds() == [
        "https://network.example.org/feed.xml", "https://network.example.org/themes/peer-support/feed.xml"]


def test_jobs_page_lists_open_jobs_by_closing_date_then_closed_ones(built):
    def job(title, closing):
        return make_item(Kind.JOB, title, published=utc(2016, 1, 5),
                         job=JobDetails(organisation="Mind", closing_date=closing))
    jobs = [job("Closes late", date(2016, 3, 1)), job("Closed long ago", date(2016, 1, 20)),
            job("Closes soon", date(2016, 2, 12)), job("Closed lately", date(2016, 2, 9))]
    result = built({FEB: jobs}, moment=datetime(2016, 2, 10, tzinfo=UTC))

    page = result.page(site.JOBS)
    assert page.headings["h1"] == ["Jobs"] and page.headings["h2"] == ["Open jobs", "Closed jobs"]
    assert page.headings["h3"] == ["Closes soon", "Closes late", "Closed lately", "Closed long ago"]
    result.write(datetime(2016, 4, 1, tzinfo=UTC))
    page = result.page(site.JOBS)
    assert "No job is open at the moment." in page.words and page.headings["h2"] == ["Open jobs", "Closed jobs"]


def test_events_page_lists_upcoming_events_first_then_past_ones(built):
    def event(title, day):
        return make_item(Kind.EVENT, title, published=utc(2016, 1, 5),
                         event=EventDetails(start=datetime.combine(day, datetime.min.time(), UTC), all_day=True))
    events = [event("Later", date(2016, 3, 9)), event("Long past", date(2016, 1, 9)), event("Next", date(2016, 2, 12)),
              event("Just past", date(2016, 2, 8)), event("Today", date(2016, 2, 10))]
    result = built({FEB: events}, moment=datetime(2016, 2, 10, 12, tzinfo=UTC))

    page = result.page(site.EVENTS)
    assert page.headings["h1"] == ["Events"] and page.headings["h2"] == ["Upcoming events", "Past events"]
    assert page.headings["h3"] == ["Today", "Next", "Later", "Just past", "Long past"]
    assert "webcal://network.example.org/events/calendar.ics" in page.anchors  # a subscription, not a copy


def test_month_pages_and_their_index(network):
    page = network.page(site.month_path(date(2016, 1, 1)))
    assert page.headings["h1"] == ["January 2016"]
    assert page.headings["h2"] == ["Peer support worker", "Seminar 3: Contemporary Developments",
                                   "Open Dialogue centre opens", "Seminar 3 report"]  # newest first
    months = network.page(site.MONTHS)
    assert months.headings["h1"] == ["Months"]
    assert months.anchors.index("2016-02/index.html") < months.anchors.index("2016-01/index.html")
    assert "January 2016 | (4 items)" in months.words


def test_the_archive_index_shows_each_issues_titles_newest_first(network):
    page = network.page(site.ARCHIVE_INDEX)
    assert page.headings["h1"] == ["Test Network newsletter archive"]
    assert page.headings["h2"] == ["Test Network: issue 2, March 2016", "Test Network: issue 1, February 2016"]
    words = page.words
    assert words.index("Recovery college news") < words.index("Seminar 3 report") < words.index("Peer support worker")
    assert "1 blog post | 1 news item | 1 job | 1 event" in words
    assert "issue-2.html" in page.anchors and "../blog/seminar-3-report/index.html" in page.anchors


def test_the_front_page_shows_the_latest_issue_and_every_way_in(network):
    page = network.page(site.FRONT_PAGE)
    assert page.headings["h1"] == ["Test Network"]
    assert page.headings["h2"][0] == "Latest issue: issue 2, 1 March 2016"
    assert "Recovery college news" in page.words and "Peer support worker" in page.words  # an open job
    assert "Seminar 3: Contemporary Developments" in page.words  # coming up on 10 February
    for target in ("archive/index.html", "themes/index.html", "jobs/index.html", "events/index.html",
                   "months/index.html", "search/index.html", "months/2016-01/index.html"):
        assert target in page.anchors, target


@pytest.mark.parametrize("site_url", ["https://network.example.org", "https://network.example.org/"])
def test_with_an_email_sink_every_page_links_the_subscribe_form(built, site_url):
    """A reader who finds the archive can join: every page's navigation, and an invitation on the front page,
    link the form of `pipeline serve` at <site_url>/subscribe (a route, not a file of out/: an address, not a
    relative link), whether site_url was written with a slash at the end or not."""
    toml = BASE_TOML.replace("https://network.example.org", site_url) + SINK + EMAIL
    result = built({FEB: list(network_items())}, toml=toml)
    pages = sorted(result.out.rglob("*.html"))
    assert len(pages) >= 15
    for path in pages:
        html = path.read_text(encoding="utf-8")
        assert f'<li><a href="{FORM}">Subscribe</a></li>' in _SITE_NAV.search(html).group(), path
        assert Page(html).anchors.count(FORM) == (2 if path == result.file(site.FRONT_PAGE) else 1), path
    front = result.read(site.FRONT_PAGE)
    assert f'<p class="notice">Get each new issue by email: <a href="{FORM}">subscribe to the newsletter</a>.</p>' \
        in front


def test_without_an_email_sink_no_page_links_a_subscribe_form_until_one_is_added(built, project_from):
    """No email sink: nothing to join and no form, so no link. Adding one makes every page again, with it."""
    result = built({FEB: list(network_items())})
    pages = sorted(result.out.rglob("*.html"))
    assert len(pages) >= 15
    for path in pages:
        html = path.read_text(encoding="utf-8")
        assert "/subscribe" not in html and ">Subscribe<" not in html and "by email" not in html, path

    result.project = project_from(SINK + EMAIL)  # the same folder and state, now sending
    result.write()
    assert not [path for path in pages if FORM not in Page(path.read_text(encoding="utf-8")).anchors]


def test_search_index_holds_every_item(network):
    entries = json.loads(network.read(site.SEARCH_INDEX))
    assert len(entries) == 5
    post = next(e for e in entries if e["title"] == "Seminar 3 report")
    assert post["url"] == "https://network.example.org/blog/seminar-3-report/" and post["kind"] == "post"
    assert post["date"] == "2016-01-10" and post["themes"] == ["peer support", "power-sharing"]
    assert set(post) >= {"title", "url", "date", "kind", "themes", "summary"}
    script = network.read(site.SEARCH_INDEX_SCRIPT)
    assert script.startswith("window.siteSearchIndex = ") and json.loads(script[25:].rstrip().rstrip(";")) == entries
    page = network.page(site.SEARCH)
    assert page.headings["h1"] == ["Search"] and "form" in page.tags
    assert "Search needs JavaScript" in network.read(site.SEARCH)


def test_every_page_has_open_graph_tags_and_is_in_the_sitemap(network):
    pages = [p for p in network.out.rglob("*.html")]
    assert len(pages) >= 20
    sitemap = {e.text for e in ET.parse(network.file(site.SITEMAP)).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")}
    for path in pages:
        page = Page(path.read_text(encoding="utf-8"))
        for tag in ("og:title", "og:type", "og:url", "og:description", "og:site_name"):
            assert page.meta.get(tag), (path, tag)
        assert page.meta["og:site_name"] == "Test Network"
        assert page.meta["og:url"] in sitemap
        assert {"rel": "canonical", "href": page.meta["og:url"]} in page.links
        assert len(page.headings["h1"]) == 1, path
    assert len(sitemap) == len(pages)


def test_untrusted_text_stays_text(built):
    evil = '<script>alert(1)</script><img src=x onerror=alert(1)>'
    item = make_item(Kind.POST, f"Post {evil}", published=utc(2016, 1, 10), themes=[evil],
                     body_html="<p>Safe <strong>body</strong></p>")
    result = built({FEB: [item]})
    for path in [site.edition_path(1), site.ARCHIVE_INDEX, site.THEMES, site.FRONT_PAGE,
                 *(p.relative_to(result.out).as_posix() for p in result.out.glob("blog/*/index.html"))]:
        html = result.read(path.removesuffix("index.html"))
        assert "<script>" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    (page,) = result.out.glob("blog/*/index.html")
    assert "<p>Safe <strong>body</strong></p>" in page.read_text(encoding="utf-8")  # the sanitised body, as HTML


def test_no_issue_yet_still_makes_a_site(built):
    result = built({})
    assert "No issues yet" in result.read(site.ARCHIVE_INDEX)
    assert "No issue yet" in result.read(site.FRONT_PAGE)
    assert result.file(site.SEARCH).is_file() and result.file(site.SITEMAP).is_file()


def test_title_setting_and_a_projects_own_templates(built):
    post, *_ = network_items()
    front = ('{% extends "site/layout.html" %}'
             '{% block content %}<h1>Ours</h1><p>{{ months | length }} month</p>{% endblock %}')
    result = built({FEB: [post]}, toml=SINK + 'title = "Back issues"\n', files={"templates/site/front.html": front})
    assert result.page(site.ARCHIVE_INDEX).headings["h1"] == ["Back issues"]
    assert "<h1>Ours</h1><p>1 month</p>" in result.read(site.FRONT_PAGE)


def test_unknown_setting_is_rejected(project_from):
    with pytest.raises(ConfigError, match="unknown key 'titel'"):
        project_from(SINK + 'titel = "Back issues"\n')


def test_no_temporary_files_are_left(network):
    assert not [p for p in network.out.rglob("*") if p.name.startswith(".")]
    assert re.fullmatch(r"\d+ pages, \d+ files: \d+ made again, \d+ written", network.result.summary)


def test_an_items_lead_image_is_shown_once_with_its_alt_text_and_as_og_image(built):
    photo = "https://partner.example.org/img/centre.jpg"
    shown = make_item(Kind.NEWS, "Centre opens", published=utc(2016, 1, 14), image=photo,
                      image_alt="The new centre's front door", body_html="<p>Open at last.</p>")
    inline = make_item(Kind.NEWS, "Garden day", published=utc(2016, 1, 15), image="https://p.example.org/g.png",
                       body_html='<p><img src="https://p.example.org/g.png" alt="The garden"> Planting.</p>')
    site_built = built({FEB: [shown, inline]}, moment=datetime(2016, 2, 10, tzinfo=UTC))

    (first,) = [p for p in site_built.out.glob("news/centre-opens-*/index.html")]
    html = first.read_text(encoding="utf-8")
    assert f'<img src="{photo}" alt="The new centre&#39;s front door"' in html
    assert Page(html).meta["og:image"] == photo
    (second,) = [p for p in site_built.out.glob("news/garden-day-*/index.html")]
    assert second.read_text(encoding="utf-8").count("https://p.example.org/g.png") == 2  # og:image, and the body's own
