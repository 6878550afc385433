"""The archive in a real headless Chromium: two real runs, served over HTTP on loopback, clicked through.

Hostile titles and bodies must show as text and never run: no dialog may open, nothing may
be logged as an error, and no request may leave 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.models import EventDetails, Kind, PriceTier
from pipeline.runner import run
from pipeline.site import archive_dir
from tests.conftest import make_item

XSS = "<script>alert(1)</script> <img src=x onerror=alert(1)> <svg onload=alert(1)></svg>"
EVIL_TITLE = f"{XSS} Power-sharing"
TOML = """
[sources.network]
type = "browser-test-network"

[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


ITEMS = [
    make_item(Kind.POST, "Seminar 3 report", published=utc(2016, 1, 10, 9)),
    make_item(Kind.EVENT, "Seminar 3: Contemporary Developments in Healthcare Practice", published=utc(2016, 1, 12)),
    make_item(Kind.POST, EVIL_TITLE, url="https://example.org/post/evil", published=utc(2016, 1, 20),
              body_html=f"<p>Research power imbalances.</p>{XSS}"),
    make_item(Kind.POST, "April blog post: some ideas on co-production", published=utc(2016, 4, 10)),
    make_item(Kind.EVENT, "Seminar 4: Co-producing research", published=utc(2016, 4, 12),
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


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
        pass


@pytest.fixture
def site(project_from) -> Iterator[str]:
    """Two monthly runs of a real project; the archive folder served over HTTP. Yields the base URL."""
    project = project_from(TOML, plugins=[("browser-test-network", NetworkPlugin())])
    for as_of in (date(2016, 2, 1), date(2016, 5, 1)):
        report = run(project, as_of=as_of)
        assert report.exit_code == 0, (report.results, report.problems)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(archive_dir(project))))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Log]]:
    """A fresh page that records dialogs, console errors, script errors and any request off loopback."""
    context = browser.new_context()
    log = Log()

    def guard(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            log.outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (log.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("console", lambda message: log.console_errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: log.page_errors.append(str(error)))
    yield tab, log
    context.close()


def heading(tab: Page, title: str):
    return tab.get_by_role("heading", name=title, exact=True)


def test_index_lists_both_issues_newest_first(site, page):
    tab, log = page
    tab.goto(f"{site}/index.html")

    expect(tab.locator("html")).to_have_attribute("lang", "en-GB")
    expect(tab.locator("ol.issues h2")).to_have_text(["Test Network: issue 2, May 2016",
                                                      "Test Network: issue 1, February 2016"])
    expect(tab.locator("#issue-2")).to_contain_text("1 May 2016")
    expect(tab.locator("#issue-1")).to_contain_text("2 blog posts")
    expect(tab.locator("#issue-1")).to_contain_text("1 event")
    feed = tab.locator('link[rel="alternate"][type="application/rss+xml"]')
    expect(feed).to_have_attribute("href", "https://network.example.org/feed.xml")
    log.assert_quiet()


def test_issue_pages_show_items_as_text_and_lead_back(site, page):
    tab, log = page
    tab.goto(f"{site}/index.html")

    tab.get_by_role("link", name="Test Network: issue 1, February 2016").click()
    tab.wait_for_url("**/issue-1.html")
    expect(heading(tab, "Seminar 3: Contemporary Developments in Healthcare Practice")).to_be_visible()
    expect(heading(tab, "Seminar 3 report")).to_be_visible()
    expect(heading(tab, EVIL_TITLE)).to_be_visible()  # shown as the text it is, never run
    expect(tab.get_by_text("£112.50")).to_be_visible()
    assert tab.locator("script, svg, img[onerror]").count() == 0

    tab.go_back()
    tab.wait_for_url("**/index.html")
    expect(tab.locator("h1")).to_have_text("Test Network newsletter archive")

    tab.get_by_role("link", name="Test Network: issue 2, May 2016").click()
    tab.wait_for_url("**/issue-2.html")
    expect(heading(tab, "April blog post: some ideas on co-production")).to_be_visible()
    expect(tab.get_by_text("£95")).to_be_visible()
    expect(heading(tab, EVIL_TITLE)).to_have_count(0)  # issue 1's item is not repeated
    tab.get_by_role("link", name="All issues").click()
    tab.wait_for_url("**/index.html")
    expect(tab.locator("ol.issues h2")).to_have_count(2)
    log.assert_quiet()
