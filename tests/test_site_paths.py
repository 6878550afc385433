"""pipeline/site.py: where each page lives, how pages link each other, and which own URLs an item may
take as its page."""

from __future__ import annotations

import pytest

from pipeline import site
from pipeline.models import Kind
from tests.conftest import make_item
from tests.test_archive_sink import FEB, SINK, make_issues, utc, write_site


@pytest.fixture
def project(project_from):
    return project_from(SINK)


@pytest.mark.parametrize(("start", "target", "link"), [
    ("", "themes/", "themes/index.html"),
    ("", "", "index.html"),
    ("archive/issue-1.html", "jobs/", "../jobs/index.html"),
    ("archive/issue-1.html", "archive/issue-1-page-2.html", "issue-1-page-2.html"),
    ("archive/issue-1.html", "archive/", "index.html"),
    ("themes/peer-support/page/2/", "themes/peer-support/", "../../index.html"),
    ("themes/peer-support/page/2/", "", "../../../../index.html"),
    ("blog/a-post/", "site.css", "../../site.css"),
    ("search/", "search/index.json", "index.json"),
])
def test_relative_links_work_on_a_host_and_from_a_folder(start, target, link):
    assert site.href(start, target) == link


def test_an_issues_pages():
    assert [site.edition_page_path(3, n) for n in (1, 2, 10)] == [
        "archive/issue-3.html", "archive/issue-3-page-2.html", "archive/issue-3-page-10.html"]
    assert site.edition_page_path(3, 1) == site.edition_path(3)


def test_the_site_address_itself_is_the_front_page(project):
    assert site.path_of_url(project, "https://network.example.org") == ""
    assert site.path_of_url(project, "https://network.example.org/") == ""
    assert site.path_of_url(project, "https://network.example.org/blog/x/?utm=1#top") == "blog/x/"
    assert site.path_of_url(project, "https://elsewhere.example.org/blog/x/") is None


@pytest.mark.parametrize("own", ["blog/seminar-3-report/", "seminars/3/", "a/b.c/d_e~f/"])
def test_an_item_whose_url_is_on_the_site_has_its_page_there(project, own):
    item = make_item(Kind.POST, "Seminar 3 report", url=f"https://network.example.org/{own}")
    assert site.item_path(project, item) == own
    assert site.event_calendar_path(project, item) == own + "event.ics"


@pytest.mark.parametrize("own", [
    "blog/../../../etc/", "blog/./x/", "a//b/", "%2e%2e/x/", "caf%C3%A9/", "blog/x",  # not a plain folder
    "jobs/", "events/", "blog/", "news/", "jobs/page/2/", "events/page/3/",
    "archive/", "archive/x/", "themes/peer-support/", "months/2016-04/", "search/",  # the site's own pages
    "site.css/", "feed.xml/", "sitemap.xml/", "index.html/",  # the site's own files: a folder would stop them
    "newsletter/", "preview/",  # the email's and `pipeline preview`'s folders in out/
    "outbox/x/",  # where earlier versions wrote the outbox: moved out by the next run, answered 404 by the proxy
    "subscribe/", "confirm/x/", "unsubscribe/x/", "preferences/x/", "webhooks/sendgrid/",  # pipeline serve's routes
])
def test_an_own_url_that_is_not_a_plain_folder_or_is_a_list_is_not_taken(project, own):
    item = make_item(Kind.NEWS, "Partner news", url=f"https://network.example.org/{own}")
    path = site.item_path(project, item)
    assert path == f"news/partner-news-{item.id[:8]}/"
    assert site.file(project, path).resolve().is_relative_to(project.core.out_dir.resolve())


def test_an_item_claiming_the_stylesheets_address_does_not_stop_the_site(project, tmp_path):
    """A partner's item linking <site_url>/site.css/ used to make site.css a folder: no run could write the site."""
    from pipeline.state import Store

    sneaky = make_item(Kind.NEWS, "Sneaky", url="https://network.example.org/site.css/", published=utc(2016, 1, 10))
    store = Store(tmp_path / "state" / "site.sqlite")
    try:
        make_issues(project, store, {FEB: [sneaky]})
        write_site(project, store)
    finally:
        store.close()
    assert site.file(project, site.STYLESHEET).is_file()
    assert site.file(project, site.item_path(project, sneaky)).is_file()


def test_theme_paths_outside_the_latin_script_ignore_case_and_accents_and_part_themes_of_no_letters():
    # Greek capitals are written without their accents: ΥΓΕΙΑ is Υγεία, as CAFE is Café
    assert site.theme_path("ΥΓΕΙΑ") == site.theme_path("Υγεία") == site.theme_path("υγεια")
    assert site.theme_path("Ёлка") == site.theme_path("ёлка") == site.theme_path("елка")
    assert site.theme_path("CAFE") == site.theme_path("Café") == "themes/cafe/"
    # themes with nothing the slug keeps (emoji, punctuation, digits of another script) do not share a page
    paths = [site.theme_path(t) for t in ["🌱", "🎉", "!!!", "Item", "Covid ١٩", "Covid ٢٠"]]
    assert len(set(paths)) == len(paths)
    assert site.theme_path("Item") == site.theme_path("item!") == "themes/item/"


LONG = "Co-production and power-sharing between service users, peer workers and clinicians"


def test_long_themes_that_share_their_first_60_characters_have_pages_of_their_own():
    """A theme's address keeps 60 characters of its slug: two long themes (feed categories) that differ only after
    them shared one page and one feed, and a subscriber who chose one was sent the other's items."""
    wards, teams = f"{LONG} on inpatient wards", f"{LONG} in community teams"
    assert site.slug(wards) == site.slug(teams)  # the address is cut
    assert site.theme_path(wards) != site.theme_path(teams)
    for theme in (wards, teams):
        assert site.theme_path(theme).startswith(f"themes/{site.slug(theme)}-")
        assert len(site.theme_path(theme)) <= len("themes/") + 60 + 9 + 1
        # spellings that differ only in case, accents or punctuation are still one theme, as short ones are
        assert site.theme_path(theme.upper()) == site.theme_path(theme.replace(",", ";")) == site.theme_path(theme)
    assert site.theme_path("Peer support") == "themes/peer-support/"  # a short theme keeps its address
    exactly = "x" * 60
    assert site.theme_path(exactly) == f"themes/{exactly}/"  # nothing was cut: no digest


def test_a_theme_whose_slug_is_longer_than_its_name_is_cut_as_any_other():
    """NFKD makes one character several ('ﬁ' is 'fi'): the whole slug, not one as long as the name, is what is cut."""
    ligatures = "ﬁ" * 40  # 40 characters, an 80-character slug
    assert site.theme_path(ligatures).startswith(f"themes/{'fi' * 30}-")
    assert site.theme_path(ligatures) != site.theme_path("ﬁ" * 41)
