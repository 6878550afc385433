"""The readers' site in a real headless Chromium: two real runs of a project (email, rss and archive
sinks), out/ served over HTTP on loopback. Every page type at 375 px and 1280 px, in light and dark,
checked by axe-core (no violation) and for its layout; the email's HTML by axe's WCAG A and AA rules;
search with JavaScript (over HTTP and from the folder) and without; a click-through.

Hostile titles and bodies must show as text and never run: no dialog may open, nothing may be
logged as an error, and no request may leave 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from pipeline import hookimpl, site
from pipeline.components import Source
from pipeline.config import Project, load_project
from pipeline.models import EventDetails, JobDetails, Kind, PriceTier, ProgrammeSlot
from pipeline.runner import run
from tests.conftest import BASE_TOML, make_item

AXE = Axe()
WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}, "resultTypes": ["violations"]}
XSS = "<script>alert(1)</script> <img src=x onerror=alert(1)> <svg onload=alert(1)></svg>"
EVIL_TITLE = f"{XSS} Power-sharing"
TOML = """
[sources.network]
type = "browser-test-network"

[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"

[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


LONG_WORD = "Co-production" * 12  # a word wider than a phone's screen
ITEMS = [
    make_item(Kind.POST, "Seminar 3 report", published=utc(2016, 1, 10, 9), author="Pamela Fisher",
              url="https://network.example.org/blog/seminar-3-report/", themes=["peer support", "power-sharing"],
              body_html=f"<h2>Notes</h2><p>Research power imbalances. {LONG_WORD}</p><ul><li>Space</li></ul>"
                        "<table><tr><td>one</td><td>two</td><td>three</td><td>four</td><td>five</td><td>six</td>"
                        "<td>seven</td><td>eight</td><td>nine</td><td>ten</td><td>eleven</td></tr></table>"),
    make_item(Kind.NEWS, "Open Dialogue centre opens", published=utc(2016, 1, 14),
              url="https://partner.example.org/news/centre", themes=["Open Dialogue", "peer support"]),
    make_item(Kind.JOB, "Peer support worker", published=utc(2016, 1, 20), themes=["peer support"],
              job=JobDetails(organisation="Leeds Mind", location="Leeds", salary="£18,000 pro rata",
                             closing_date=date(2016, 2, 14), how_to_apply="Apply online.")),
    make_item(Kind.EVENT, "Seminar 3: Contemporary Developments in Healthcare Practice", published=utc(2016, 1, 12),
              themes=["co-production"],
              event=EventDetails(start=utc(2016, 2, 17, 9, 30), end=utc(2016, 2, 17, 16), timezone="Europe/London",
                                 venue="St Catherine's", speakers=["David Crepaz-Keay"],
                                 programme=[ProgrammeSlot("09:30", "Registration"), ProgrammeSlot("10:30", "Talk")],
                                 prices=[PriceTier("Organisation rate", Decimal("125")),
                                         PriceTier("Group rate", Decimal("112.50"))])),
    make_item(Kind.POST, EVIL_TITLE, url="https://example.org/post/evil", published=utc(2016, 1, 20),
              body_html=f"<p>Research power imbalances.</p>{XSS}", themes=[f"{XSS} theme"]),
    make_item(Kind.POST, "April blog post: some ideas on co-production", published=utc(2016, 4, 10),
              themes=["co-production"]),
    make_item(Kind.EVENT, "Seminar 4: Co-producing research", published=utc(2016, 4, 12), themes=["research"],
              event=EventDetails(start=utc(2016, 5, 17, 9, 30), end=utc(2016, 5, 17, 16), venue="Leeds",
                                 prices=[PriceTier("Service users and carers", Decimal("0"), note="free"),
                                         PriceTier("Professionals", Decimal("95"))])),
]


class NetworkSource(Source):
    name = "browser-test-network"

    def fetch(self, run):
        return list(ITEMS)


class NetworkPlugin:
    @hookimpl
    def register_sources(self, register):
        register(NetworkSource)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
        pass


@dataclass
class Served:
    project: Project
    url: str  # of out/

    def path_of(self, item_title: str) -> str:
        (item,) = [i for i in ITEMS if i.title == item_title]
        return site.item_path(self.project, item)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """Two monthly runs of a real project; out/ served over HTTP."""
    root = tmp_path_factory.mktemp("site-browser")
    (root / "pipeline.toml").write_text(textwrap.dedent(BASE_TOML) + TOML, encoding="utf-8")
    project = load_project(root / "pipeline.toml", extra_plugins=[("browser-test-network", NetworkPlugin())])
    for as_of in (date(2016, 2, 1), date(2016, 5, 1)):
        report = run(project, as_of=as_of)
        assert report.exit_code == 0, (report.results, report.problems)
    with serving_out(project) as served:
        yield served


@contextlib.contextmanager
def serving_out(project: Project) -> Iterator[Served]:
    """The project's out/ served over HTTP on 127.0.0.1 while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(project.core.out_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(project, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Log:
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def assert_quiet(self) -> None:
        assert self.dialogs == [], "a script ran and opened a dialog"
        assert self.console_errors == [] and self.page_errors == []
        assert self.outside_requests == []


def open_tab(browser: Browser, **options) -> tuple[BrowserContext, Page, Log]:
    """A fresh tab that records dialogs, console errors, script errors and any request off this machine."""
    context = browser.new_context(**options)
    log = Log()

    def guard(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", None, ""):
            route.continue_()
        else:
            log.outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (log.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("console", lambda message: log.console_errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: log.page_errors.append(str(error)))
    return context, tab, log


@pytest.fixture(scope="module", params=["light", "dark"])
def scheme(request, browser) -> Iterator[tuple[str, Page, Log]]:
    """One tab per colour scheme, shared by the page-type tests."""
    context, tab, log = open_tab(browser, color_scheme=request.param)
    yield request.param, tab, log
    context.close()


PAGE_TYPES = {  # page type -> its path (a title: that item's page), and its h1
    "front page": ("", "Test Network"),
    "archive index": (site.ARCHIVE_INDEX, "Test Network newsletter archive"),
    "issue": (site.edition_path(1), "Issue 1, 1 February 2016"),
    "blog post": ("Seminar 3 report", "Seminar 3 report"),
    "news item": ("Open Dialogue centre opens", "Open Dialogue centre opens"),
    "job": ("Peer support worker", "Peer support worker"),
    "event": ("Seminar 3: Contemporary Developments in Healthcare Practice",
              "Seminar 3: Contemporary Developments in Healthcare Practice"),
    "theme": (site.theme_path("peer support"), "Peer support"),
    "themes index": (site.THEMES, "Themes"),
    "jobs": (site.JOBS, "Jobs"),
    "events": (site.EVENTS, "Events"),
    "month": (site.month_path(date(2016, 1, 1)), "January 2016"),
    "months index": (site.MONTHS, "Months"),
    "search": (site.SEARCH, "Search"),
}
BACKGROUNDS = {"light": "rgb(255, 255, 255)", "dark": "rgb(18, 18, 18)"}


@pytest.mark.parametrize("page_type", PAGE_TYPES)
def test_every_page_type_reads_well_and_passes_axe(served, scheme, page_type):
    name, tab, log = scheme
    target, h1 = PAGE_TYPES[page_type]
    path = target if target == "" or target.endswith(("/", ".html")) else served.path_of(target)
    for width in (375, 1280):
        tab.set_viewport_size({"width": width, "height": 800})
        tab.goto(served.url + path)
        expect(tab.locator("h1")).to_have_count(1)
        expect(tab.locator("h1")).to_have_text(h1)
        expect(tab.locator("main")).to_have_count(1)
        expect(tab.get_by_role("navigation", name="Site")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
            f"{page_type} scrolls sideways at {width} px"
        assert tab.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUNDS[name]
        results = AXE.run(tab)
        assert results.violations_count == 0, f"{page_type} ({name}, {width} px):\n{results.generate_report()}"
    log.assert_quiet()


@pytest.mark.parametrize("number", [1, 2])
def test_the_emails_html_passes_axe_wcag_a_and_aa(served, scheme, number):
    name, tab, log = scheme
    tab.set_viewport_size({"width": 600, "height": 800})
    tab.goto(f"{served.url}newsletter/issue-{number}.html")
    results = AXE.run(tab, options=WCAG_A_AA)
    assert results.violations_count == 0, f"email issue {number} ({name}):\n{results.generate_report()}"


def test_hostile_text_shows_as_text_and_never_runs(served, browser):
    context, tab, log = open_tab(browser)
    for path in (site.edition_path(1), served.path_of(EVIL_TITLE), site.THEMES, site.ARCHIVE_INDEX):
        tab.goto(served.url + path)
        assert tab.locator("script:not([src]), svg, img[onerror]").count() == 0
    expect(tab.locator("h2").first).to_contain_text("Test Network: issue 2")
    tab.goto(served.url + served.path_of(EVIL_TITLE))
    expect(tab.locator("h1")).to_have_text(EVIL_TITLE)
    context.close()
    log.assert_quiet()


def test_a_reader_clicks_through_issue_item_theme_and_back(served, browser):
    context, tab, log = open_tab(browser, java_script_enabled=False)
    tab.goto(served.url)
    form = site.subscribe_url(served.project)  # pipeline serve's, not out/'s: followed, it would leave 127.0.0.1
    expect(tab.get_by_role("navigation", name="Site").get_by_role("link", name="Subscribe", exact=True)
           ).to_have_attribute("href", form)
    expect(tab.get_by_role("link", name="subscribe to the newsletter")).to_have_attribute("href", form)
    tab.get_by_role("link", name="issue 2, 1 May 2016").click()
    expect(tab.locator("h1")).to_have_text("Issue 2, 1 May 2016")
    tab.get_by_role("link", name="Seminar 4: Co-producing research").click()
    expect(tab.locator("h1")).to_have_text("Seminar 4: Co-producing research")
    expect(tab.get_by_text("£95")).to_be_visible()
    tab.get_by_role("link", name="research", exact=True).click()
    expect(tab.locator("h1")).to_have_text("Research")
    tab.get_by_role("navigation", name="Site").get_by_role("link", name="Issues").click()
    expect(tab.locator("ol.issues h2")).to_have_text(["Test Network: issue 2, May 2016",
                                                      "Test Network: issue 1, February 2016"])
    tab.get_by_role("link", name="Test Network: issue 1, February 2016").click()
    expect(tab.get_by_role("heading", name="Seminar 3 report")).to_be_visible()
    expect(tab.get_by_text("£112.50")).to_be_visible()
    tab.get_by_role("link", name="All issues").click()
    expect(tab.locator("h1")).to_have_text("Test Network newsletter archive")
    context.close()
    log.assert_quiet()


def test_search_finds_items_and_leads_to_them(served, browser):
    context, tab, log = open_tab(browser)
    tab.goto(served.url + site.SEARCH)
    tab.get_by_label("Search every blog post, news item, job and event").fill("seminar report")
    expect(tab.locator("#search-results h2")).to_have_text(["Seminar 3 report"])
    expect(tab.get_by_role("status")).to_have_text("1 item matches “seminar report”.")
    tab.get_by_label("Search every blog post, news item, job and event").fill("co-production")
    tab.get_by_role("button", name="Search").click()
    expect(tab.locator("#search-results h2")).to_have_text([  # titles first, then themes, then the rest
        "April blog post: some ideas on co-production", "Seminar 3: Contemporary Developments in Healthcare Practice",
        "Seminar 3 report"])
    assert tab.url.endswith("?q=co-production")
    tab.get_by_role("link", name="April blog post: some ideas on co-production").click()
    expect(tab.locator("h1")).to_have_text("April blog post: some ideas on co-production")
    tab.goto(served.url + site.SEARCH + "?q=nothing+like+this")
    expect(tab.get_by_role("status")).to_have_text("Nothing matches “nothing like this”.")
    expect(tab.get_by_role("link", name="by theme")).to_be_visible()
    expect(tab.get_by_text("Search needs JavaScript")).to_be_hidden()
    context.close()
    log.assert_quiet()


def test_search_works_from_the_folder_too(served, browser):
    context, tab, log = open_tab(browser)
    page = site.file(served.project, site.SEARCH)
    tab.goto(page.as_uri() + "?q=peer+worker")
    expect(tab.locator("#search-results h2")).to_have_text(["Peer support worker"])
    tab.get_by_role("link", name="Peer support worker").click()
    expect(tab.locator("h1")).to_have_text("Peer support worker")
    context.close()
    log.assert_quiet()


def test_search_without_javascript_says_so_and_offers_the_lists(served, browser):
    context, tab, log = open_tab(browser, java_script_enabled=False)
    tab.goto(served.url + site.SEARCH)
    expect(tab.get_by_text("Search needs JavaScript, which is off in this browser.")).to_be_visible()
    for name, target in (("by issue", site.ARCHIVE_INDEX), ("by theme", site.THEMES), ("by month", site.MONTHS)):
        expect(tab.locator("#search-no-script").get_by_role("link", name=name)).to_have_attribute(
            "href", site.href(site.SEARCH, target))
    context.close()
    log.assert_quiet()
