"""A refresh rewrites only the pages whose content changed: nothing when nothing changed (same inode,
same mtime), an item's page and the lists that show it when it changes, and a removed item's page
(and the list pages a shorter list no longer needs) go. Every write is atomic."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline import site
from pipeline.models import Kind
from pipeline.state import Store
from pipeline.templating import SHIPPED_TEMPLATES
from plugins.sinks.archive.facts import content_print as fingerprint  # any stable print of the item will do
from tests.conftest import make_item
from tests.test_archive_sink import SINK, Built, every_file, make_issues, write_site

FEB = date(2016, 2, 1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def site_of(project_from, tmp_path):
    stores = []

    def build(items, extra=(), toml=SINK) -> Built:
        project = project_from(toml)
        store = Store(tmp_path / "state" / "site.sqlite")
        stores.append(store)
        make_issues(project, store, {FEB: items}, list(extra))
        return Built(project, store, write_site(project, store))

    yield build
    for store in stores:
        store.close()


def peer_items(count: int = 3):
    return [make_item(Kind.NEWS, f"Peer news {n}", published=utc(2016, 1, 2) + timedelta(hours=n),
                      themes=["peer support"]) for n in range(count)]


def others():
    return [make_item(Kind.POST, "Research post", published=utc(2016, 1, 20), themes=["research"]),
            make_item(Kind.EVENT, "Seminar", published=utc(2016, 1, 21), themes=["research"])]


def save(built: Built, *items):
    built.store.save_items([(item, fingerprint(item)) for item in items], datetime.now(UTC))


def changed(before, after):
    """Files written (new inode or mtime), added and removed between two snapshots."""
    rewritten = {p for p in before.keys() & after.keys() if before[p] != after[p]}
    return rewritten, after.keys() - before.keys(), before.keys() - after.keys()


def paths(built: Built, files) -> set[str]:
    return {p.relative_to(built.out).as_posix() for p in files}


def test_a_refresh_with_nothing_changed_writes_nothing(site_of):
    built = site_of([*peer_items(), *others()])
    before = every_file(built.out)
    assert len(before) > 20

    result = built.write()

    assert changed(before, every_file(built.out)) == (set(), set(), set())
    assert result.summary.endswith(", 0 written") and result.files == []


def test_a_changed_item_rewrites_its_page_and_the_lists_that_show_it(site_of):
    items = [*peer_items(), *others()]
    built = site_of(items)
    before = every_file(built.out)
    post = items[3]
    page = built.file(site.item_path(built.project, post))

    save(built, dataclasses.replace(post, summary="Revised: what the research found.",
                                    body_html="<p>Revised: what the research found.</p>"))
    built.write()

    rewritten, added, removed = changed(before, every_file(built.out))
    assert added == set() and removed == set()
    # The archive's index and the front page show its title only: made again, but not written, as
    # their bytes are the same.
    assert paths(built, rewritten) == {
        page.relative_to(built.out).as_posix(), "archive/issue-1.html", "themes/research/index.html",
        "months/2016-01/index.html", "search/index.json", "search/index.js"}
    assert "Revised: what the research found." in page.read_text(encoding="utf-8")


def test_a_removed_item_takes_its_page_away_and_its_themes_page_leads_to_the_themes(site_of):
    lonely = make_item(Kind.NEWS, "Housing news", published=utc(2016, 1, 25), themes=["housing"])
    built = site_of([*peer_items(), *others()], extra=[lonely])
    page = built.file(site.item_path(built.project, lonely))
    assert page.is_file() and built.file("themes/housing/").is_file()
    before = every_file(built.out)

    built.store.db.execute("DELETE FROM items WHERE id = ?", (lonely.id,))
    result = built.write()

    rewritten, added, removed = changed(before, every_file(built.out))
    assert removed == {page}
    assert not page.parent.exists()  # no empty folders
    assert {"themes/index.html", "themes/housing/index.html", "sitemap.xml"} <= paths(built, rewritten)
    assert '<meta http-equiv="refresh" content="0; url=../index.html">' in built.file("themes/housing/").read_text(
        encoding="utf-8")  # a bookmark of the theme's page leads to the themes
    assert "archive/issue-1.html" not in paths(built, rewritten)  # it never held the item
    assert "1 removed" in result.summary


def test_a_renamed_item_leaves_its_old_page_and_calendar_pointing_to_the_new(site_of):
    """The email already sent links the page and the .ics where they were when it went out: a new title
    moves the page (its slug), and the old addresses used to be removed."""
    from pipeline.models import EventDetails

    seminar = make_item(Kind.EVENT, "Seminar", published=utc(2016, 1, 21),
                        event=EventDetails(start=utc(2016, 6, 1, 10), venue="Leeds"))
    built = site_of([seminar])
    old = site.item_path(built.project, seminar)
    renamed = dataclasses.replace(seminar, title="Seminar 4: what co-production asks")
    save(built, renamed)
    built.write()
    built.write()  # and it stays on the next refresh

    new = site.item_path(built.project, renamed)
    assert new != old and built.file(new).is_file()
    moved = built.read(old)
    assert f'<meta http-equiv="refresh" content="0; url={site.href(old, new)}">' in moved
    assert f'href="{site.href(old, new)}"' in moved and renamed.title in moved
    assert built.file(old + "event.ics").read_bytes() == built.file(new + "event.ics").read_bytes()
    assert site.url(built.project, old) not in built.read(site.SITEMAP)

    built.store.db.execute("DELETE FROM items WHERE id = ?", (seminar.id,))
    built.write()
    assert not built.file(old).exists() and not built.file(old + "event.ics").exists()


def test_a_page_a_shorter_list_no_longer_needs_leads_to_the_list(site_of):
    items = peer_items(60)
    built = site_of([], extra=items)
    second = built.file(site.page(site.theme_path("peer support"), 2))
    assert second.is_file()

    for item in items[:15]:
        built.store.db.execute("DELETE FROM items WHERE id = ?", (item.id,))
    built.write()

    assert built.file(site.theme_path("peer support")).is_file()
    assert built.page(site.theme_path("peer support")).headings["h1"] == ["Peer support"]
    page = second.read_text(encoding="utf-8")  # a bookmark of page 2 leads to the theme's page, not a 404
    assert '<meta http-equiv="refresh" content="0; url=../../index.html">' in page and "Peer news" not in page
    assert site.url(built.project, site.page(site.theme_path("peer support"), 2)) not in built.file(
        site.SITEMAP).read_text(encoding="utf-8")


def test_a_page_deleted_by_hand_is_made_again(site_of):
    built = site_of([*peer_items(), *others()])
    built.file(site.JOBS).unlink()
    built.file(site.ARCHIVE_INDEX).unlink()

    result = built.write()

    assert built.file(site.ARCHIVE_INDEX).is_file() and built.file(site.JOBS).is_file()
    assert result.summary.endswith(", 2 written")


@pytest.mark.parametrize("trusted", [False, True], ids=["written just now: read", "by its stats"])
def test_a_page_edited_by_hand_is_made_again(site_of, monkeypatch, trusted):
    """The size, times and inode of each file, kept once it was written (its bytes, while those are too recent to
    trust: an edit within the resolution of its times would leave them as they were), say it is not as written."""
    from plugins.sinks.archive import writer

    if trusted:
        monkeypatch.setattr(writer, "RACY_NS", 0)
    built = site_of([*peer_items(), *others()])
    front = built.file(site.FRONT_PAGE)
    was = front.read_bytes()
    with open(front, "r+b") as file:  # in place: the same inode
        file.write(b"<!-- by hand, longer -->" + was if trusted else b"<!-- same size -->")
    assert front.read_bytes() != was

    result = built.write()

    assert front.read_bytes() == was
    assert result.files == [str(front)] and result.summary.endswith(": 1 made again, 1 written")


def test_a_changed_template_remakes_every_page(site_of, tmp_path):
    built = site_of([*peer_items(), *others()])
    before = every_file(built.out)
    override = tmp_path / "templates" / "site" / "macros.html"
    override.parent.mkdir(parents=True)
    shipped = (SHIPPED_TEMPLATES / "site" / "macros.html").read_text(encoding="utf-8")
    override.write_text(shipped.replace('<p class="tags">', '<p class="tags ours">'), encoding="utf-8")

    built.write()

    rewritten, _, _ = changed(before, every_file(built.out))
    assert 'class="tags ours"' in built.read(site.edition_path(1))
    assert built.file(site.STYLESHEET) not in rewritten  # the same bytes are not written again
    assert len(rewritten) >= 10


def test_a_refreshed_site_is_the_site_built_afresh(site_of):
    """Announcements that come to match a job (or stop matching) are merged again on refresh, only for
    them, and every file is as a build from nothing makes it."""
    from tests.test_duplicates import ADMIN_JOB, HIRING

    vague = dataclasses.replace(HIRING, body_html="<p>We are looking for administrative help in London.</p>")
    built = site_of([ADMIN_JOB, vague, *peer_items(), *others()])
    issue = built.read(site.edition_path(1))
    assert "Also announced by" not in issue and issue.count(HIRING.title) == 1  # on its own: nothing ties them

    save(built, HIRING)  # now it gives the closing date: the same job
    built.write()

    issue = built.read(site.edition_path(1))
    assert f'Also announced by Open Dialogue UK: <a href="{HIRING.url}">{HIRING.title}</a>' in issue
    job_page = built.read(site.item_path(built.project, ADMIN_JOB))
    assert HIRING.title in job_page
    assert "This announces" in built.read(site.item_path(built.project, HIRING))
    refreshed = {p: p.read_bytes() for p in every_file(built.out)}

    for table in ("site_pages", "site_items", "site_editions"):
        built.store.db.execute(f"DELETE FROM {table}")  # noqa: S608 - the test's own table names
    for path in refreshed:
        path.unlink()
    built.write()

    assert {p: p.read_bytes() for p in every_file(built.out)} == refreshed


def test_pages_linking_a_theme_whose_page_moved_are_made_again(site_of, monkeypatch):
    """Before 98183e6 every theme in another script was at themes/item/; the pages written then (an item's,
    an issue's) link it, and the next refresh, which moves the theme's page, must not leave them pointing
    at the page it removes."""
    from plugins.sinks.archive import builder

    item = make_item(Kind.NEWS, "Recovery news", published=utc(2016, 1, 2), themes=["Восстановление"])
    with monkeypatch.context() as before:  # as the code was: slug only, and its SITE_VERSION
        before.setattr(site, "theme_path", lambda theme: f"{site.THEMES}{site.slug(theme)}/")
        before.setattr(builder, "SITE_VERSION", "1")
        built = site_of([item])
    assert built.file("themes/item/").is_file()

    built.write()

    theme = site.theme_path("Восстановление")
    page = site.item_path(built.project, item)
    assert built.file(theme).is_file()
    assert 'url=../index.html">' in built.read("themes/item/")  # it was every such theme's: it leads to the themes
    for path in (page, site.edition_path(1)):
        assert f'href="{site.href(path, theme)}"' in built.read(path), path


def test_an_events_calendar_says_when_it_changed_and_its_revision_and_stays_the_same_while_it_does_not(site_of):
    """RFC 5545 3.8.7.2 and 3.8.7.4: DTSTAMP (and LAST-MODIFIED) when the event was last revised and a
    SEQUENCE that grows with each change, so an app reading the file again takes the new time and place;
    both from the state database, so an unchanged event gives the same bytes run after run."""
    from icalendar import Calendar

    from pipeline.calendars import Stored, event_ics
    from pipeline.models import EventDetails

    seminar = make_item(Kind.EVENT, "Seminar", published=utc(2016, 1, 21),
                        event=EventDetails(start=utc(2016, 6, 1, 10), venue="Leeds"))
    built = site_of([seminar])  # saved on 1 February
    ics, whole = built.file(site.event_calendar_path(built.project, seminar)), built.file(site.CALENDAR)

    def read(path):
        (event,) = Calendar.from_ical(path.read_bytes()).walk("VEVENT")
        return event.sequence, event.DTSTAMP, event.LAST_MODIFIED, str(event["LOCATION"])

    first, first_whole = ics.read_bytes(), whole.read_bytes()
    assert read(ics) == read(whole) == (0, utc(2016, 2, 1), utc(2016, 2, 1), "Leeds")

    built.store.save_items([(seminar, fingerprint(seminar))], utc(2016, 3, 1))  # saved again as it was
    built.store.touch_items([seminar.id], utc(2016, 3, 2))
    built.write(utc(2016, 5, 1))
    built.write(utc(2016, 5, 2))
    assert ics.read_bytes() == first and whole.read_bytes() == first_whole
    made_again = event_ics(built.project, seminar, Stored(site.item_path(built.project, seminar),
                                                          built.store.revisions([seminar.id])[seminar.id]))
    assert made_again == first  # made again from scratch: the same bytes

    moved = dataclasses.replace(seminar, event=EventDetails(start=utc(2016, 6, 1, 14), venue="York"))
    built.store.save_items([(moved, fingerprint(moved))], utc(2016, 4, 2, 9))
    built.write()
    assert read(ics) == read(whole) == (1, utc(2016, 4, 2, 9), utc(2016, 4, 2, 9), "York")


def test_the_page_a_long_theme_had_before_its_address_took_a_digest_leads_to_its_page(site_of, monkeypatch):
    """Before this version a theme's address was its slug cut at 60 characters; a long theme's old page leads to its
    new one, and the page two long themes shared leads to the themes (it cannot say which was meant)."""
    from plugins.sinks.archive import builder

    stem = "Co-production and power-sharing between service users, peer workers and clinicians"
    alone, wards, teams = f"{stem}.", f"Shared decisions: {stem} on wards", f"Shared decisions: {stem} in teams"
    items = [make_item(Kind.NEWS, "One", published=utc(2016, 1, 2), themes=[alone]),
             make_item(Kind.NEWS, "Two", published=utc(2016, 1, 3), themes=[wards]),
             make_item(Kind.NEWS, "Three", published=utc(2016, 1, 4), themes=[teams])]
    with monkeypatch.context() as before:  # as the code was: the slug cut at 60, and its SITE_VERSION
        before.setattr(site, "theme_path", lambda theme: f"{site.THEMES}{site.slug(theme)}/")
        before.setattr(builder, "SITE_VERSION", "3")
        built = site_of(items)
    old_alone, old_shared = f"{site.THEMES}{site.slug(alone)}/", f"{site.THEMES}{site.slug(wards)}/"
    assert built.file(old_alone).is_file() and built.file(old_shared).is_file()

    built.write()

    for theme in (alone, wards, teams):
        assert built.file(site.theme_path(theme)).is_file()
    assert f'url={site.href(old_alone, site.theme_path(alone))}">' in built.read(old_alone)
    assert f'url={site.href(old_shared, site.THEMES)}">' in built.read(old_shared)
    item_page = site.item_path(built.project, items[0])
    assert f'href="{site.href(item_page, site.theme_path(alone))}"' in built.read(item_page)
