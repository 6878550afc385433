"""The readers' site after a real run, as a reader meets it (headless Chromium where the page's script is the point):
search that finds plurals and an event's speakers and shows every match, lists that mark an item in another
language, and a themes index in the order a reader looks for a theme, with a page of its own for a theme 'ß'."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from pipeline import hookimpl, site
from pipeline.components import Source
from pipeline.config import load_project
from pipeline.models import EventDetails, Kind
from pipeline.runner import run
from tests.conftest import BASE_TOML, make_item
from tests.test_archive_browser import TOML, Served, open_tab, serving_out, utc

SEARCH_LABEL = "Search every blog post, news item, job and event"
MANY = 130  # news items that all match one word: more than a page of results


def _item(kind: Kind, title: str, key: str, **fields):
    return dataclasses.replace(make_item(kind, title, source="review-net", **fields), id=f"review-net-{key}")


def items() -> list:
    listed = [
        _item(Kind.EVENT, "Autumn seminar", "seminar", published=utc(2016, 1, 13), themes=["Ärzte"],
              event=EventDetails(start=utc(2016, 3, 10, 10), end=utc(2016, 3, 10, 12), venue="Leeds",
                                 speakers=("Ngozi Adichie", "Tomasz Wójcik"))),
        _item(Kind.POST, "Cyfarfod yr haf", "welsh", published=utc(2016, 1, 12), themes=["Zebra"],
              language="cy", body_html="<p>Croeso i bawb.</p>"),
        _item(Kind.POST, "שלום לכולם", "hebrew", published=utc(2016, 1, 11), themes=["ß"],
              language="he", body_html="<p>ברוכים הבאים.</p>"),
        _item(Kind.POST, "Plain English post", "english", published=utc(2016, 1, 10), themes=["apples"],
              language="en-US", body_html="<p>Hello.</p>"),
    ]
    listed += [_item(Kind.NEWS, f"Bulletin number {n}", f"bulletin-{n}", published=utc(2015, 12, 1 + n % 28, n % 24),
                     themes=["bulletins"]) for n in range(MANY)]
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
    root = tmp_path_factory.mktemp("site-review-h188")
    toml = TOML.replace('[sources.network]\ntype = "browser-test-network"',
                        '[sources.review-net]\ntype = "review-network"')
    (root / "pipeline.toml").write_text(textwrap.dedent(BASE_TOML) + toml, encoding="utf-8")
    project = load_project(root / "pipeline.toml", extra_plugins=[("review-network", ReviewPlugin())])
    from datetime import date

    report = run(project, as_of=date(2016, 2, 1))
    assert report.exit_code == 0, (report.results, report.problems)
    with serving_out(project) as served:
        yield served


def _search(served, browser, query):
    context, tab, log = open_tab(browser)
    tab.goto(served.url + site.SEARCH)
    tab.get_by_label(SEARCH_LABEL).fill(query)
    return context, tab, log


# -- 1. search ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "title"), [
    ("events", "Autumn seminar"),  # the kind, as a reader says it of more than one
    ("seminars", "Autumn seminar"),  # a word of the title, plural
    ("Adichie", "Autumn seminar"),  # a speaker
    ("Wojcik", "Autumn seminar"),  # a speaker, typed without the accent
])
def test_search_finds_plurals_and_speakers(served, browser, query, title):
    context, tab, log = _search(served, browser, query)
    expect(tab.locator("#search-results h2")).to_have_text([title])
    context.close()
    log.assert_quiet()


def test_search_shows_every_match_on_asking(served, browser):
    """More matches than are shown at once: the reader can see the rest, not only 'the first 100 are shown'."""
    context, tab, log = _search(served, browser, "bulletin")
    expect(tab.get_by_role("status")).to_contain_text(f"{MANY} items match")
    shown = tab.locator("#search-results > li")
    first = shown.count()
    assert 0 < first < MANY
    while shown.count() < MANY:
        before = shown.count()
        tab.get_by_role("button", name="Show more").click()
        expect(shown).not_to_have_count(before)
    expect(shown).to_have_count(MANY)
    expect(tab.get_by_role("button", name="Show more")).to_have_count(0)
    titles = shown.locator("h2").all_inner_texts()
    assert len(set(titles)) == MANY
    context.close()
    log.assert_quiet()


# -- 2. lists mark an item's language ---------------------------------------------------------

@pytest.mark.parametrize("where", ["front", "theme", "month", "archive"])
def test_lists_mark_an_item_in_another_language(served, browser, where):
    context, tab, log = open_tab(browser)
    by_title = {item.title: item for item in items()}
    pages = {"front": site.FRONT_PAGE, "archive": site.ARCHIVE_INDEX, "month": site.month_path(utc(2016, 1, 1).date())}
    for title, lang, direction in (("Cyfarfod yr haf", "cy", None), ("שלום לכולם", "he", "rtl"),
                                   ("Plain English post", None, None)):
        item = by_title[title]
        path = pages.get(where) or site.theme_path(item.themes[0])
        tab.goto(served.url + path)
        link = tab.locator("main").get_by_role("link", name=title, exact=True).first
        marked = link.evaluate("a => { const e = a.closest('[lang]'); return e ? [e.tagName, e.lang, e.dir] : null; }")
        if lang is None:
            assert marked[0] == "HTML", marked  # the site's own: nothing said
        else:
            assert marked[0] != "HTML" and marked[1] == lang and marked[2] == (direction or ""), marked
    context.close()
    log.assert_quiet()


@pytest.mark.parametrize(("query", "lang", "direction"), [("Cyfarfod", "cy", ""), ("שלום", "he", "rtl"),
                                                           ("Plain English", "", "")])
def test_a_search_result_in_another_language_is_marked(served, browser, query, lang, direction):
    context, tab, log = _search(served, browser, query)
    heading = tab.locator("#search-results h2")
    expect(heading).to_have_count(1)
    assert heading.evaluate("h => [h.lang, h.dir]") == [lang, direction]
    context.close()
    log.assert_quiet()


# -- 3. the themes index -----------------------------------------------------------------------

def test_themes_index_sorts_by_folded_name_and_ss_has_its_own_page(served, browser):
    context, tab, log = open_tab(browser)
    tab.goto(served.url + site.THEMES)
    names = tab.locator("ul.groups a").all_inner_texts()
    assert names == ["Apples", "Ärzte", "Bulletins", "ß", "Zebra"], names
    assert site.theme_path("ß") != f"{site.THEMES}item/"
    tab.locator("ul.groups").get_by_role("link", name="ß", exact=True).click()
    expect(tab.locator("h1")).to_have_text("ß")
    expect(tab.locator("main").get_by_role("link", name="שלום לכולם")).to_be_visible()
    context.close()
    log.assert_quiet()


def test_a_ss_themes_old_page_leads_on():
    """The page a theme 'ß' had (themes/item/) leads to where it is now; two such themes share it no more."""
    assert site.theme_path("ß") != site.theme_path("ẞß")
    from pipeline.site import _cut_addresses

    assert _cut_addresses(["ß"]) == {f"{site.THEMES}item/": {site.theme_path("ß"): "ß"}}


def test_the_page_and_feed_a_theme_ss_had_lead_to_its_page_now(tmp_path, monkeypatch):
    """A site made before 'ß' took a digest had its theme page and feed at themes/item/: after the next run they lead
    to the theme's page and feed now (bookmarks, feed readers and sent emails name them)."""
    from datetime import date

    from plugins.sinks.rss.sink import RssSink

    def old_digest(theme):  # as the code was: a theme folded to ASCII letters ('ss') took no digest
        folded = site.fold_theme(theme)
        if any(ch.isalnum() and not ch.isascii() for ch in folded) or (folded and not __import__("re").search(
                "[a-z0-9]", folded)):
            return __import__("hashlib").sha256(folded.encode()).hexdigest()[:8]
        return None

    toml = TOML.replace('[sources.network]\ntype = "browser-test-network"',
                        '[sources.review-net]\ntype = "review-network"')
    (tmp_path / "pipeline.toml").write_text(textwrap.dedent(BASE_TOML) + toml, encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("review-network", ReviewPlugin())])
    old = f"{site.THEMES}item/"
    with monkeypatch.context() as before:
        before.setattr(site, "_script_digest", old_digest)
        before.setattr(RssSink, "_made_from", lambda self, run: "the code before")
        assert site.theme_path("ß") == old
        assert run(project, as_of=date(2016, 2, 1)).exit_code == 0
    assert site.file(project, old).is_file() and site.file(project, old + site.FEED_FILE).is_file()

    assert run(project, as_of=date(2016, 2, 2)).exit_code == 0

    now = site.theme_path("ß")
    assert now != old and site.file(project, now).is_file()
    page = site.file(project, old).read_text(encoding="utf-8")
    assert "This page has moved" in page and site.href(old, now) in page
    feed = site.file(project, old + site.FEED_FILE).read_text(encoding="utf-8")
    assert "This feed has moved" in feed and site.url(project, site.theme_feed_path("ß")) in feed
