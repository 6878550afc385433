"""Review h143: the readers' site and the RSS feed, read as a reader meets them (dead links, wrong pages)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http.server import ThreadingHTTPServer
from urllib.parse import urljoin

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from pipeline import site
from pipeline.cli import main
from pipeline.config import load_project
from pipeline.duplicates import also_entry
from pipeline.models import EventDetails, JobDetails, Kind
from pipeline.state import Store
from tests.conftest import make_item
from tests.test_archive_browser import AXE, QuietHandler
from tests.test_archive_sink import FEB, SINK, make_issues, write_site
from tests.test_site_links import ROOT, URL_IN_TEXT, Checker, Links, html_files
from tests.test_withdrawn import post_file

# A partner's text that names an address: one "word" far wider than a phone, with no hyphen to break at.
LONG_ADDRESS = "https://www.example.org/reports/" + "/".join(["peer-led-support_evaluation_2016"] * 4) + "/full.pdf"


@pytest.fixture
def site_of(project_from, tmp_path):
    """site_of(issues, extra=(), toml=SINK, moment=None) -> the project, its archive written once."""
    stores = []

    def build(issues, extra=(), toml=SINK, moment=None):
        project = project_from(toml)
        store = Store(tmp_path / "state" / "site.sqlite")
        stores.append(store)
        make_issues(project, store, issues, list(extra))
        write_site(project, store, moment)
        return project

    yield build
    for store in stores:
        store.close()


def test_a_long_address_in_a_summary_stays_inside_a_phones_screen(site_of, browser):
    """An item whose summary holds a long address (a partner's "the report: https://…"): the lists, the issue and
    the item's own page wrap it, and never scroll sideways at 320 px (before: every list showing it did)."""
    news = make_item(Kind.NEWS, "Evaluation published", published=datetime(2016, 1, 20, tzinfo=UTC),
                     themes=["peer support"], summary=f"The full report is at {LONG_ADDRESS} for anyone.",
                     author="Open Dialogue UK", body_html="")
    project = site_of({FEB: [news]})
    tab = browser.new_page(viewport={"width": 320, "height": 800})
    try:
        for path in (site.edition_path(1), site.theme_path("peer support"), site.month_path(datetime(2016, 1, 1)),
                     site.item_path(project, news)):
            tab.goto(site.file(project, path).as_uri())
            assert tab.get_by_text("The full report is at").first.is_visible(), path
            assert tab.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
                f"{path} scrolls sideways at 320 px"
    finally:
        tab.close()


def test_a_long_event_or_closing_date_on_the_front_page_wraps_on_a_phone(site_of, browser):
    """The front page's coming events show when each is; one over two days ("Wednesday 17 February 2016, 09:30
    GMT to Thursday 18 February 2016, 17:00 GMT") was one unbreakable line, wider than a phone (before: the front
    page scrolled sideways at 320 px)."""
    event = make_item(Kind.EVENT, "Two-day summer school", published=datetime(2016, 1, 20, tzinfo=UTC),
                      event=EventDetails(start=datetime(2016, 6, 15, 8, 30, tzinfo=UTC),
                                         end=datetime(2016, 6, 16, 16, tzinfo=UTC), timezone="Europe/London",
                                         venue="Leeds"))
    job = make_item(Kind.JOB, "Peer support worker", published=datetime(2016, 1, 21, tzinfo=UTC),
                    job=JobDetails(organisation="Leeds Mind", location="Leeds", closing_date=date(2016, 9, 14)))
    project = site_of({FEB: [event, job]})
    tab = browser.new_page(viewport={"width": 320, "height": 800})
    try:
        tab.goto(site.file(project, site.FRONT_PAGE).as_uri())
        assert tab.get_by_text("Wednesday 15 June 2016, 09:30 BST to Thursday 16 June 2016, 17:00 BST").is_visible()
        assert tab.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
            "the front page scrolls sideways at 320 px"
    finally:
        tab.close()


def test_a_lead_image_whose_address_has_an_ampersand_is_shown_once_on_the_items_page(site_of):
    """A partner's item whose lead image is the first picture of its text (as WordPress serves them,
    `…/chart.jpg?resize=800%2C600&ssl=1`): the page showed it twice, above the text and in it, since the text holds
    the address with `&amp;` (before: two <img>); the RSS feed already told them apart."""
    image = "https://i0.wp.com/partner.example.org/chart.jpg?resize=800%2C600&ssl=1"
    news = make_item(Kind.NEWS, "Evaluation published", published=datetime(2016, 1, 20, tzinfo=UTC),
                     image=image, image_alt="A chart",
                     body_html=f'<p><img src="{image.replace("&", "&amp;")}" alt="A chart"></p>'
                               "<p>The evaluation is out.</p>")
    other = make_item(Kind.NEWS, "Another", published=datetime(2016, 1, 21, tzinfo=UTC), image=image,
                      body_html="<p>No picture here.</p>")
    project = site_of({FEB: [news, other]})
    page = site.file(project, site.item_path(project, news)).read_text(encoding="utf-8")
    assert page.count("<img") == 1
    assert 'src="https://i0.wp.com/partner.example.org/chart.jpg?resize=800%2C600&amp;ssl=1"' in page
    # an image the text does not show still leads the page
    assert site.file(project, site.item_path(project, other)).read_text(encoding="utf-8").count("<img") == 1


def _post(number: int, extra: str = "") -> str:
    theme = "peer support" if number < 53 else "recovery"
    return (f'---\ntitle: "Post {number}"\ndate: 2016-01-{1 + number % 28:02d}\nthemes: ["{theme}"]\n{extra}---\n\n'
            f"Peer workers met in Leeds, time {number}.\n")


@pytest.fixture
def served_folder():
    """served_folder(path) -> the address of a real HTTP server on 127.0.0.1 serving the folder, stopped after."""
    servers = []

    def serve(folder) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_pages_that_lead_on_and_the_pages_of_long_lists_pass_axe(pipeline_project, browser, served_folder):
    """The page where a withdrawn post was, the page that leads on from a list's page 2 the list no longer needs, an
    issue's contents and its page 2, and a theme's page 2: none was among the page types axe checked."""
    posts = {f"blog/post-{n}.md": _post(n) for n in range(56)}
    project = pipeline_project('[sources.blog]\ntype = "blog"\npath = "blog"\n', posts)
    project.run(as_of=date(2016, 2, 1))
    project.write({f"blog/post-{n}.md": _post(n, "draft: true\n") for n in range(50, 53)})  # the theme: 53 to 50
    project.refresh(as_of=date(2016, 2, 1))
    out = project.project.core.out_dir
    theme = site.theme_path("peer support")
    left = site.page(theme, 2)
    assert 'http-equiv="refresh"' in site.file(project.project, left).read_text(encoding="utf-8")
    address = served_folder(out)
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        tab = context.new_page()
        # the page that leads on is looked at where it is: the page it leads to is not fetched
        tab.route(f"{address}{theme}index.html", lambda route: route.fulfill(status=204))  # 204: the page stays
        try:
            for path, h1 in ((site.edition_page_path(1, 1), "Issue 1, 1 February 2016 (page 1 of 2)"),
                             (site.edition_page_path(1, 2), "Issue 1, 1 February 2016 (page 2 of 2)"),
                             ("blog/post-52/", "Post 52"), (left, "Peer support")):
                for width in (375, 1280):
                    tab.set_viewport_size({"width": width, "height": 800})
                    tab.goto(address + path)
                    expect(tab.locator("h1")).to_have_text(h1)
                    assert tab.url == address + path
                    results = AXE.run(tab)
                    assert results.violations_count == 0, f"{path} ({scheme}, {width} px):\n{results.generate_report()}"
                    assert tab.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        finally:
            context.close()


def test_the_search_index_dates_an_item_on_the_day_the_site_shows(site_of):
    """A post published at 00:30 on 1 May in London (23:30 on 30 April in UTC) is shown on 1 May and listed in May
    2016; the search index gave it the date 2016-04-30, so searching "2016-05" missed it (before: UTC's day)."""
    post = make_item(Kind.POST, "Late night post", published=datetime(2016, 4, 30, 23, 30, tzinfo=UTC))
    project = site_of({FEB: []}, extra=[post], moment=datetime(2016, 5, 2, tzinfo=UTC))
    (entry,) = json.loads(site.file(project, site.SEARCH_INDEX).read_text(encoding="utf-8"))
    assert entry["day"] == "1 May 2016" and site.month_path(date(2016, 5, 1)) == "months/2016-05/"
    assert site.file(project, "months/2016-05/").is_file()
    assert entry["date"] == "2016-05-01"


def test_a_post_sent_in_an_issue_and_dated_later_since_keeps_its_page_and_its_place(pipeline_project):
    """A post sent in issue 1 whose date the organiser then moves past today (a typo put right: 2016-01-25 meant
    2016-02-25): its page, the issue's web version and its theme's page and feed still show it, at its new date
    (before: its page and its image were removed, and the link in the email sent led nowhere, until that day)."""
    image = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    project = pipeline_project('[sources.blog]\ntype = "blog"\npath = "blog"\n', {
        "blog/jan.md": post_file("January post", "2016-01-20"),
        "blog/feb.md": post_file("February post", "2016-01-25", 'themes: ["recovery"]\nimage: feb.png\n'),
        "blog/feb.png": image})
    project.run(as_of=date(2016, 2, 1))
    assert 'href="https://network.example.org/blog/feb/"' in project.email().html

    project.write({"blog/feb.md": post_file("February post", "2016-02-25", 'themes: ["recovery"]\nimage: feb.png\n')})
    project.refresh(as_of=date(2016, 2, 1))
    page = project.site("blog/feb/")
    assert "Peer support workers met in Leeds" in page and "25 February 2016" in page
    assert (project.project.core.out_dir / "blog" / "feb.png").read_bytes() == image
    assert "February post" in project.site(site.edition_path(1))
    assert "February post" in project.site(site.theme_path("recovery"))
    assert [entry.title for entry in project.feed(site.theme_feed_path("recovery")).entries] == ["February post"]


def _crawl(project) -> list[str]:
    """Every dead link of out/ (as tests/test_site_links.py checks the demo): the pages and the email's HTML and
    text, the feeds, the calendars, the sitemap (none of its pages one that leads on) and the search index."""
    check = Checker(project)
    out = project.core.out_dir
    for page in html_files(out):
        for link in Links(page.read_text(encoding="utf-8")).links:
            check.relative(page, link)
    for text in out.glob("newsletter/*.txt"):
        for address in URL_IN_TEXT.findall(text.read_text(encoding="utf-8")):
            check.absolute(text, address)
    for feed in [out / site.FEED_FILE, *out.glob("themes/*/feed.xml")]:
        for element in ET.parse(feed).iter():
            addresses = [element.attrib.get("href", "")]
            if element.tag in ("link", "guid", "url"):
                addresses.append((element.text or "").strip())
            elif element.text and "<" in element.text:
                addresses += Links(element.text).links
            for address in filter(None, addresses):
                check.absolute(feed, address.partition("#")[0])
    for path in out.rglob("*.ics"):
        for component in Calendar.from_ical(path.read_bytes()).walk():
            if "URL" in component:
                check.absolute(path, str(component["URL"]))
    for loc in ET.parse(out / site.SITEMAP).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc"):
        check.absolute(out / site.SITEMAP, loc.text)
        page = site.file(project, site.path_of_url(project, loc.text))
        if page.is_file() and "noindex" in page.read_text(encoding="utf-8"):
            check.dead.append(f"the sitemap lists {loc.text}, which leads on")
    for entry in json.loads((out / site.SEARCH_INDEX).read_text(encoding="utf-8")):
        check.absolute(out / site.SEARCH_INDEX, entry["url"])
    assert check.checked > 500
    return check.dead


def test_the_demo_under_a_sub_path_has_no_dead_link_before_or_after_its_items_and_taxonomy_change(tmp_path):
    """The shipped demo served at https://example.org/newsletter/, crawled whole; then a partner's item retitled,
    the partner's source renamed (`renamed_from`), a theme renamed in the taxonomy and the April post, sent in
    issue 2, retitled and dated later: crawled again, and every file published before is still there."""
    root = tmp_path / "demo"
    root.mkdir()
    toml = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
    (root / "pipeline.toml").write_text(toml.replace('site_url = "https://coproduction-network.example.org"',
                                                     'site_url = "https://example.org/newsletter"'), encoding="utf-8")
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copytree(ROOT / "local_plugins", root / "local_plugins")
    config = str(root / "pipeline.toml")
    for day in ("2016-02-01", "2016-05-01"):
        assert main(["run", "-q", "-c", config, "--as-of", day]) == 0
    project = load_project(root / "pipeline.toml")
    out = project.core.out_dir
    assert _crawl(project) == []
    before = {path.relative_to(out) for path in out.rglob("*") if path.is_file()}

    feed = root / "content" / "feeds" / "open-dialogue-uk.xml"
    feed.write_text(feed.read_text(encoding="utf-8").replace("Three more speakers for our 2016 conference",
                                                             "More speakers for the conference"), encoding="utf-8")
    post = root / "content" / "blog" / "2016-04-ideas-on-co-production.md"
    post.write_text(post.read_text(encoding="utf-8").replace("date: 2016-04-18", "date: 2016-05-18").replace(
        'title: "April blog post: some ideas on co-production"', 'title: "Some ideas on co-production"'),
        encoding="utf-8")
    toml = (root / "pipeline.toml").read_text(encoding="utf-8")
    toml = toml.replace("[sources.open-dialogue-uk]", '[sources.odu]\nrenamed_from = "open-dialogue-uk"')
    (root / "pipeline.toml").write_text(toml.replace('[transforms.themes.taxonomy."power-sharing"]',
                                                     '[transforms.themes.taxonomy."sharing power"]'), encoding="utf-8")
    assert main(["refresh", "-q", "-c", config, "--as-of", "2016-05-01"]) == 0
    project = load_project(root / "pipeline.toml")
    assert _crawl(project) == []
    after = {path.relative_to(out) for path in out.rglob("*") if path.is_file()}
    assert before - after == set()
    assert "Some ideas on co-production" in site.file(project, "blog/april-2016-ideas-on-co-production/").read_text(
        encoding="utf-8")


def test_the_page_a_shorter_themes_list_left_is_headed_as_the_theme_is(site_of):
    """A theme spelt two ways ("peer support" by most items, "Peer-support" by one: one page) whose list got shorter:
    its page 2 leads to the theme under the heading the theme's page has (before: whichever spelling a set of them
    gave first, which differs from one process to the next, so an unchanged run wrote that page again)."""
    def post(n: int, theme: str):
        return make_item(Kind.POST, f"Post {n}", published=datetime(2016, 1, 1, tzinfo=UTC) + timedelta(hours=n),
                         themes=[theme])

    posts = [post(n, "Peer-support" if n == 0 else "peer support") for n in range(52)]
    project = site_of({FEB: posts[:51]}, extra=posts[51:], moment=datetime(2016, 2, 10, tzinfo=UTC))
    store = Store(project.root / "state" / "site.sqlite")
    try:
        store.withdraw_missing("test", [item.id for item in posts[:45]], datetime(2016, 2, 10, tzinfo=UTC))
        write_site(project, store, datetime(2016, 2, 10, tzinfo=UTC))
    finally:
        store.close()
    theme = site.theme_path("peer support")
    assert "<h1>Peer support</h1>" in site.file(project, theme).read_text(encoding="utf-8")
    left = site.file(project, site.page(theme, 2)).read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' in left and "<h1>Peer support</h1>" in left


def test_also_announced_links_the_announcements_page_where_its_own_address_on_the_site_has_none(pipeline_project):
    """A partner's announcement of a job, merged into the job, whose own address is on this site but no page answers
    it (<site_url>/vacancies/…, as `site.item_link` knows): "Also announced by" under the job, on its page, in the
    issue, in the feed and in the email, linked that address, which leads nowhere; it links the announcement's page,
    as every other link to it does. One elsewhere still links its own address there."""
    from tests.test_duplicates import ADMIN_JOB, HIRING

    hiring = dataclasses.replace(HIRING, url="https://network.example.org/vacancies/administrator")
    project = pipeline_project(items=[ADMIN_JOB, hiring])
    project.run(as_of=date(2016, 2, 1))
    page_of_hiring = site.url(project.project, site.item_path(project.project, hiring))
    assert project.site(site.item_path(project.project, hiring))  # the page is there
    also = re.compile(r'Also announced by Open Dialogue UK: <a href="([^"]*)"')
    for path in (site.item_path(project.project, ADMIN_JOB), site.edition_path(1)):
        (link,) = also.findall(project.site(path))
        assert urljoin(site.url(project.project, path), link) == page_of_hiring, path
    (job,) = [entry for entry in project.feed().entries if entry.title == ADMIN_JOB.title]
    assert also.findall(job.content[0].value) == [page_of_hiring]
    assert also.findall(project.email().html) == [page_of_hiring]
    assert page_of_hiring in project.email().text and hiring.url not in project.email().text
    assert site.also_link(project.project, also_entry(HIRING), lambda item_id: None) == HIRING.url
