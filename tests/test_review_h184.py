"""The readers' site as a reader meets it in headless Chromium, after two real runs of one project in which the
organisers changed things between the runs (an event made news, an item withdrawn): search with what people
type (quotes, apostrophes, hyphens, letters beyond ASCII), what search results say of jobs and events, and an
issue's web version after an item's kind changed."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import expect

from pipeline import hookimpl, site
from pipeline.components import Source
from pipeline.config import load_project
from pipeline.models import EventDetails, JobDetails, Kind
from pipeline.runner import run
from tests.conftest import BASE_TOML, make_item
from tests.test_archive_browser import AXE, TOML, Served, open_tab, serving_out, utc

SEARCH_LABEL = "Search every blog post, news item, job and event"
STAGE = {"run": 1}
MINUTES = ("<p>Present: all.</p><h2>Funding</h2><p>Agreed.</p><h4>The small grant</h4><p>Spent.</p>"
           "<h3>Next year</h3><p>To ask.</p><h1>Any other business</h1><p>None.</p><h3>Date of next meeting</h3>"
           "<h2>\u00a0</h2><p>1 March.</p><h3><img src=\"https://example.org/line.png\"></h3><p>Signed.</p>")
PHOTOS = ('<p>The day in pictures.</p><p><a href="https://example.org/photos/day.jpg">'
          '<img src="https://example.org/photos/day-small.jpg"></a></p>'  # no alt: as a WordPress gallery gives them
          '<p>More <a href="https://example.org/gallery"></a>on <a href="https://example.org/album">'
          '<img alt="" src="https://example.org/album.png"> </a>the <a href="https://example.org/x">album</a>.</p>'
          '<p><a href="https://example.org/hall"><img alt="The hall, full" src="https://example.org/hall.png"></a></p>')
ROTA = ("<p>Who is on when.</p><table><tr>" + "".join(f"<td>Volunteer number {n}</td>" for n in range(12))
        + "</tr></table><pre>" + "rota --week=1 " * 30 + "</pre><p>Thank you all.</p>")


def _item(kind: Kind, title: str, key: str, **fields):
    return dataclasses.replace(make_item(kind, title, source="review-net", **fields), id=f"review-net-{key}")


def items() -> list:
    """What the source lists at each run: at the second, the drop-in is news, not an event, and the partner's news
    is taken out (withdrawn)."""
    drop_in = dict(published=utc(2016, 1, 14), themes=["peer support"], url="https://example.org/drop-in")
    listed = [
        _item(Kind.POST, "Notes from St Catherine’s: “open dialogue” in practice", "post",
              published=utc(2016, 1, 10), themes=["open dialogue", "peer support"], url="",
              body_html="<p>Søren Ødegård and Zoë on co‑production, power-sharing and Łódź.</p>"),
        _item(Kind.JOB, "Peer support worker", "job", published=utc(2016, 1, 12), themes=["peer support"],
              job=JobDetails(organisation="Leeds Mind", location="Leeds", closing_date=date(2016, 3, 14),
                             how_to_apply="Apply online.")),
        _item(Kind.EVENT, "Listening workshop", "event", published=utc(2016, 1, 13), themes=["peer support"],
              event=EventDetails(start=utc(2016, 3, 10, 10), end=utc(2016, 3, 10, 12), timezone="Europe/London",
                                 venue="Friends Meeting House, Manchester", booking_url="https://example.org/book")),
        _item(Kind.EVENT, "Winter gathering", "winter", published=utc(2016, 1, 6), themes=["peer support"],
              event=EventDetails(start=utc(2016, 1, 20, 18), end=utc(2016, 1, 20, 20), venue="Leeds",
                                 booking_url="https://example.org/book-winter")),
        _item(Kind.JOB, "Winter sessional worker", "winter-job", published=utc(2016, 1, 5), themes=["winter"],
              job=JobDetails(organisation="York Mind", closing_date=date(2016, 1, 25),
                             how_to_apply="Email a CV to jobs@example.org.")),
        _item(Kind.EVENT, "Drop-in café", "drop-in", **drop_in,
              event=EventDetails(start=utc(2016, 3, 12, 10), end=utc(2016, 3, 12, 12), venue="Leeds"))
        if STAGE["run"] == 1 else _item(Kind.NEWS, "Drop-in café", "drop-in", **drop_in),
    ]
    listed.append(_item(Kind.POST, "Rota in a table", "rota", published=utc(2016, 1, 9), themes=["peer support"],
                        url="", body_html=ROTA))
    listed.append(_item(Kind.POST, "Minutes of the steering group", "minutes", published=utc(2016, 1, 8),
                        themes=["peer support"], url="", body_html=MINUTES))
    listed.append(_item(Kind.POST, "Photos from the day", "photos", published=utc(2016, 1, 7),
                        themes=["peer support"], url="", body_html=PHOTOS))
    if STAGE["run"] == 1:
        listed.append(_item(Kind.NEWS, "Partner centre opens", "news", published=utc(2016, 1, 11),
                            themes=["peer support"]))
    return listed


class ReviewSource(Source):
    name = "review-network"
    complete = True

    def fetch(self, run):
        return items()


class ReviewPlugin:
    @hookimpl
    def register_sources(self, register):
        register(ReviewSource)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """Issue 1 (1 February 2016), then a run on 1 March after the organisers' changes; out/ served over HTTP."""
    root = tmp_path_factory.mktemp("site-review")
    toml = TOML.replace('[sources.network]\ntype = "browser-test-network"',
                        '[sources.review-net]\ntype = "review-network"')
    (root / "pipeline.toml").write_text(textwrap.dedent(BASE_TOML) + toml, encoding="utf-8")
    project = load_project(root / "pipeline.toml", extra_plugins=[("review-network", ReviewPlugin())])
    STAGE["run"] = 1
    for as_of in (date(2016, 2, 1), date(2016, 3, 1)):
        report = run(project, as_of=as_of)
        assert report.exit_code == 0, (report.results, report.problems)
        STAGE["run"] = 2
    with serving_out(project) as served:
        yield served


@pytest.mark.parametrize("query", [
    "Catherine's",  # a straight apostrophe for the title's curly one
    '"open dialogue"',  # a phrase in quotes
    "“open dialogue” practice",  # in curly quotes
    "open-dialogue",  # hyphenated where the theme has a space
    "co-production",  # a plain hyphen where the text has a non-breaking one
    "power sharing",  # a space where the text has a hyphen
    "Catherine's, practice.",  # punctuation after words
    "Soren Odegard",  # letters with no accent to strip: ø
    "Lodz",  # ł
])
def test_search_finds_what_a_reader_types(served, browser, query):
    context, tab, log = open_tab(browser)
    tab.goto(served.url + site.SEARCH)
    tab.get_by_label(SEARCH_LABEL).fill(query)
    expect(tab.locator("#search-results h2")).to_have_text(["Notes from St Catherine’s: “open dialogue” in practice"])
    expect(tab.get_by_role("status")).to_have_text(f"1 item matches “{query}”.")
    tab.get_by_role("link", name="Notes from St Catherine’s").click()
    expect(tab.locator("h1")).to_have_text("Notes from St Catherine’s: “open dialogue” in practice")
    context.close()
    log.assert_quiet()


@pytest.mark.parametrize("query", ['"', "- ,", "''"])
def test_a_query_of_punctuation_alone_is_no_search(served, browser, query):
    context, tab, log = open_tab(browser)
    tab.goto(served.url + site.SEARCH)
    tab.get_by_label(SEARCH_LABEL).fill(query)
    tab.get_by_role("button", name="Search").click()
    expect(tab.locator("#search-results li")).to_have_count(0)
    expect(tab.get_by_role("status")).to_have_text("")
    context.close()
    log.assert_quiet()


@pytest.mark.parametrize(("query", "title", "listed_on"), [
    ("listening", "Listening workshop", site.EVENTS),
    ("Manchester", "Listening workshop", site.EVENTS),  # its venue
    ("peer support worker", "Peer support worker", site.JOBS),
    ("Leeds Mind", "Peer support worker", site.JOBS),  # its organisation
])
def test_a_job_or_event_in_search_says_what_its_list_says(served, browser, query, title, listed_on):
    """An event's result gives when and where it is, a job's its organisation and closing date, as the lists do;
    not the day it was posted, which reads as the event's date."""
    context, tab, log = open_tab(browser)
    tab.goto(served.url + listed_on)
    listed = tab.locator("article.entry", has=tab.get_by_role("link", name=title, exact=True)).locator("p.meta")
    meta = listed.inner_text()
    assert "March 2016" in meta
    tab.goto(served.url + site.SEARCH)
    tab.get_by_label(SEARCH_LABEL).fill(query)
    expect(tab.locator("#search-results h2")).to_have_text([title])
    expect(tab.locator("#search-results p.meta").first).to_have_text(meta)
    context.close()
    log.assert_quiet()


def test_an_issue_keeps_the_emails_order_of_sections_after_an_event_is_made_news(served, browser):
    """The drop-in, an event when issue 1 went out, is news since (and the issue's one news item withdrawn): the
    issue's web version, the archive's index and the front page show it where news goes, in the email's order of
    sections (blog, news, jobs, events), not in a news section after the events."""
    context, tab, log = open_tab(browser)
    tab.goto(served.url + site.edition_path(1))
    expect(tab.locator("main section h2")).to_have_text(["From the blog", "Partner news", "Jobs", "Events"])
    news = tab.locator("section", has=tab.get_by_role("heading", name="Partner news"))
    expect(news.locator("h3")).to_have_text(["Drop-in café"])
    titles = ["Notes from St Catherine’s: “open dialogue” in practice", "Rota in a table",
              "Minutes of the steering group", "Photos from the day", "Drop-in café",
              "Peer support worker", "Listening workshop"]
    tab.goto(served.url + site.ARCHIVE_INDEX)
    expect(tab.locator("#issue-1 ul.titles a")).to_have_text(titles)
    tab.goto(served.url)
    expect(tab.locator("section[aria-labelledby=latest] ul.titles a")).to_have_text(titles)
    context.close()
    log.assert_quiet()


def test_a_posts_wide_table_and_code_scroll_by_keyboard_and_pass_axe(served, browser):
    """A table or a line of code wider than a phone's column scrolls inside it; a reader without a mouse must be able
    to reach it and scroll it (axe: scrollable-region-focusable, WCAG 2.1.1), and sees where the focus is."""
    context, tab, log = open_tab(browser)
    tab.set_viewport_size({"width": 320, "height": 800})
    (post,) = [item for item in items() if item.title == "Rota in a table"]
    tab.goto(served.url + site.item_path(served.project, post))
    results = AXE.run(tab)
    assert results.violations_count == 0, results.generate_report()
    for scroller in (tab.locator(".body table"), tab.locator(".body pre")):
        assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")  # it does scroll at this width
        expect(scroller).to_have_attribute("tabindex", "0")
        scroller.focus()
        assert scroller.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
        tab.keyboard.press("ArrowRight")
        tab.wait_for_function("e => e.scrollLeft > 0", arg=scroller.element_handle())
    context.close()
    log.assert_quiet()


def test_a_posts_headings_go_down_one_level_at_a_time(served, browser):
    """A post written with a heading level skipped (## then ####, as Markdown lets one) is shown with each heading
    at most one level below the one before, under the page's h1; axe's heading-order failed on it."""
    context, tab, log = open_tab(browser)
    (post,) = [item for item in items() if item.title == "Minutes of the steering group"]
    tab.goto(served.url + site.item_path(served.project, post))
    headings = tab.locator(".body").locator("h1, h2, h3, h4, h5, h6")
    assert headings.evaluate_all("hs => hs.map(h => h.tagName + ' ' + h.textContent)") == [
        "H2 Funding", "H3 The small grant", "H3 Next year", "H2 Any other business", "H3 Date of next meeting"]
    assert "heading-order" not in AXE.run(tab).generate_report()
    context.close()
    assert log.dialogs == [] and log.page_errors == []  # an image is elsewhere: not fetched (open_tab)


def test_every_link_in_a_post_has_a_name(served, browser):
    """A link whose only content is an image with no alt text (a photo linking to its full size), or nothing at all
    (what was in it was not kept), has no name a screen reader can say (axe's link-name, WCAG 2.4.4 and 4.1.2): the
    first is named by where it leads, the second is no link."""
    context, tab, log = open_tab(browser)
    (post,) = [item for item in items() if item.title == "Photos from the day"]
    tab.goto(served.url + site.item_path(served.project, post))
    results = AXE.run(tab)
    assert results.violations_count == 0, results.generate_report()
    body = tab.locator(".body")
    expect(body.get_by_role("link")).to_have_count(4)
    expect(body.get_by_role("link", name="The image at full size (example.org)")).to_have_attribute(
        "href", "https://example.org/photos/day.jpg")
    expect(body.get_by_role("link", name="A link to example.org")).to_have_attribute(
        "href", "https://example.org/album")
    expect(body.get_by_role("link", name="album", exact=True)).to_be_visible()
    expect(body.get_by_role("link", name="The hall, full")).to_be_visible()  # an image's own alt is its name
    expect(body).to_contain_text("More on the album.")
    context.close()
    assert log.dialogs == [] and log.page_errors == []  # the images are elsewhere: not fetched (open_tab)


def test_a_posts_empty_headings_are_no_headings(served, browser):
    """A heading with nothing to read in it (a space an editor left, a decorative image) is not one on the page: a
    reader going by headings met a blank one (axe's empty-heading). What it held stays."""
    context, tab, log = open_tab(browser)
    (post,) = [item for item in items() if item.title == "Minutes of the steering group"]
    tab.goto(served.url + site.item_path(served.project, post))
    headings = tab.locator(".body").locator("h1, h2, h3, h4, h5, h6")
    expect(headings).to_have_count(5)
    expect(headings.last).to_have_text("Date of next meeting")
    expect(tab.locator(".body")).to_contain_text("1 March.")
    expect(tab.locator(".body img")).to_have_count(1)
    results = AXE.run(tab)
    assert results.violations_count == 0, results.generate_report()
    context.close()
    assert log.dialogs == [] and log.page_errors == []  # the image is elsewhere: not fetched (open_tab)


def test_a_link_named_by_where_it_leads_whatever_the_case_of_its_tags():
    from plugins.sinks.archive.render import body_html

    assert str(body_html('<A HREF="https://www.x.org/z"><IMG SRC="q.gif"></A>')) == \
        '<a HREF="https://www.x.org/z"><img alt="A link to x.org" SRC="q.gif"></a>'
    unclosed = '<a href="x">' * 3 + "<h2>" * 2
    assert str(body_html(unclosed)) == unclosed  # no end tag: nothing to name, nothing taken out


@pytest.mark.parametrize(("title", "notice", "offer", "still"), [
    ("Winter gathering", "This event is over.", "Book a place", "Listening workshop"),
    ("Winter sessional worker", "This job closed on Monday 25 January 2016.", "How to apply", "Peer support worker"),
])
def test_a_past_event_or_closed_job_offers_no_booking_or_application(served, browser, title, notice, offer, still):
    """A past event's page said it was over, then 'Book a place' in bold; a closed job's said it had closed, then how to
    apply. Neither is offered once over; an event to come and an open job still offer them."""
    context, tab, log = open_tab(browser)
    by_title = {item.title: item for item in items()}
    tab.goto(served.url + site.item_path(served.project, by_title[title]))
    expect(tab.locator("main")).to_contain_text(notice)
    expect(tab.locator("main").get_by_text(offer)).to_have_count(0)
    tab.goto(served.url + site.item_path(served.project, by_title[still]))
    expect(tab.locator("main").get_by_text(offer)).to_have_count(1)
    context.close()
    log.assert_quiet()
