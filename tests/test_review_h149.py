"""Review h149: the archive sink's "unchanged refresh" skip (plugins/sinks/archive/unchanged.py) against what a site
should show: each case changes what the site is made from (or out/), and the next refresh must show it."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import re
import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline import site
from pipeline.edition import start_of
from pipeline.models import EventDetails, JobDetails, Kind
from pipeline.state import Store
from pipeline.state.backup import backup
from pipeline.templating import SHIPPED_TEMPLATES
from pipeline.testing import BASE_TOML
from plugins.sinks.archive import writer
from tests.conftest import make_item
from tests.test_archive_sink import EMAIL, SINK, write_site
from tests.test_archive_unchanged import EVENT, JOB, NEWS, POST, SKIPPED, _archive, planned, save, settle, site_of, utc  # noqa: F401 (site_of: the fixture)

FRONT = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")


def _front_with(text: str) -> str:
    return FRONT.replace("{% endblock %}", text + "{% endblock %}", 1)


def test_a_template_outside_site_that_a_site_template_includes_is_shown_when_edited(site_of, tmp_path):  # noqa: F811
    """A project's front page including a partial of its own (templates/partials/): an edit of the partial alone is
    shown, the page made again."""
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with('{% include "partials/note.html" %}'), encoding="utf-8")
    note = tmp_path / "templates" / "partials" / "note.html"
    note.parent.mkdir(parents=True)
    note.write_text("<p>First note.</p>", encoding="utf-8")
    built = site_of()
    assert "First note." in built.read(site.FRONT_PAGE)
    settle(built)
    note.write_text("<p>Second note.</p>", encoding="utf-8")
    built.write()
    assert "Second note." in built.read(site.FRONT_PAGE)


PLUGIN = '''
from pipeline.hookspecs import hookimpl


@hookimpl
def prepare_jinja_environment(env, project):
    env.globals["motto"] = {motto!r}
'''


def _with_plugin(tmp_path, motto: str) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / "motto.py").write_text(PLUGIN.format(motto=motto), encoding="utf-8")


def test_a_plugin_preparing_the_environment_changed_is_shown(site_of, tmp_path, project_from):  # noqa: F811
    """A plugin of plugins_dir giving the templates a global: its code changed, the pages using it show it."""
    toml = BASE_TOML + 'plugins_dir = "plugins"\n' + SINK
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with("<p>{{ motto }}</p>"), encoding="utf-8")
    _with_plugin(tmp_path, "Nothing about us without us.")
    built = site_of(toml=toml)
    assert "Nothing about us without us." in built.read(site.FRONT_PAGE)
    settle(built)
    _with_plugin(tmp_path, "Peer support works.")
    built.project = project_from(toml)
    built.write()
    assert "Peer support works." in built.read(site.FRONT_PAGE)


SETTING = """
from pipeline.components import Settings, Source
from pipeline.hookspecs import hookimpl


class MottoSource(Source):
    name = "motto"

    class Settings(Settings):
        motto: str

    def fetch(self, run):
        return []


@hookimpl
def register_sources(register):
    register(MottoSource)


@hookimpl
def prepare_jinja_environment(env, project):
    env.globals["motto"] = next(s.settings.motto for s in project.sources if s.name == "motto")
"""


def test_a_setting_a_plugin_preparing_the_environment_reads_is_shown_when_changed(site_of, tmp_path,  # noqa: F811
                                                                                   project_from):
    """The same plugin giving the templates a setting of its own component (pipeline.toml): changed, it is shown."""
    def toml(motto: str) -> str:
        return BASE_TOML + f'plugins_dir = "plugins"\n[sources.motto]\ntype = "motto"\nmotto = "{motto}"\n' + SINK

    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with("<p>{{ motto }}</p>"), encoding="utf-8")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "motto.py").write_text(SETTING, encoding="utf-8")
    built = site_of(toml=toml("Nothing about us without us."))
    assert "Nothing about us without us." in built.read(site.FRONT_PAGE)
    settle(built)
    built.project = project_from(toml("Peer support works."))
    built.write()
    assert "Peer support works." in built.read(site.FRONT_PAGE)
    settle(built)  # and, unchanged again, it is left as it is


# -- time: the project's zone (Europe/London) across its clock changes ----------------------------------------------

LONDON = ZoneInfo("Europe/London")


def _timed_items(job_closes: date, event_ends: datetime):
    job = make_item(Kind.JOB, "Peer worker", published=utc(2016, 1, 10),
                    job=JobDetails(organisation="Open Dialogue UK", closing_date=job_closes))
    event = make_item(Kind.EVENT, "Open Dialogue seminar", published=utc(2016, 1, 12),
                      event=EventDetails(start=event_ends - timedelta(hours=3), end=event_ends, venue="Leeds"))
    return job, event


def test_as_of_either_side_of_the_clocks_going_forward_and_an_event_over_after_midnight_bst(site_of):  # noqa: F811
    """27 March 2016, 01:00 UTC, London goes to BST. A job closing that day, an event ending at 00:30 BST on the 28th
    (23:30 UTC on the 27th): --as-of 27 March, both open; --as-of 28 March (midnight BST, 23:00 UTC), the job closed,
    the event not yet over; a refresh at 00:45 BST, the event over, the same day where the network is."""
    job, event = _timed_items(date(2016, 3, 27), utc(2016, 3, 27, 23, 30))
    built = site_of(items=(job, event, NEWS, POST))
    on_27 = start_of(date(2016, 3, 27), LONDON)
    planned(built, on_27)
    settle(built, on_27)
    assert "Closed jobs" not in built.read(site.JOBS) and "Past events" not in built.read(site.EVENTS)
    on_28 = start_of(date(2016, 3, 28), LONDON)
    assert on_28 == utc(2016, 3, 27, 23)
    planned(built, on_28)
    settle(built, on_28)
    assert "Closed jobs" in built.read(site.JOBS) and "Past events" not in built.read(site.EVENTS)
    later = datetime(2016, 3, 28, 0, 45, tzinfo=LONDON)
    planned(built, later)
    assert "This event is over." in built.read(site.item_path(built.project, event))
    assert "Past events" in built.read(site.EVENTS)
    settle(built, later)
    planned(built, on_28)  # --as-of 28 March again: as it was then
    assert "This event is over." not in built.read(site.item_path(built.project, event))


def test_the_hour_the_clocks_go_back_twice_an_event_ends_in_it(site_of):  # noqa: F811
    """30 October 2016: 01:00 to 02:00 happens twice in London. An event ends at 01:30 BST (00:30 UTC): a refresh at
    01:15 BST finds it on, one at 01:15 GMT an hour later (the same day, the same time on the wall) finds it over."""
    job, event = _timed_items(date(2016, 10, 29), utc(2016, 10, 30, 0, 30))
    built = site_of(items=(job, event, NEWS, POST))
    first = datetime(2016, 10, 30, 1, 15, tzinfo=LONDON)
    second = datetime(2016, 10, 30, 1, 15, fold=1, tzinfo=LONDON)
    assert second - first == timedelta(0) and second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    planned(built, first)
    settle(built, first)
    assert "This event is over." not in built.read(site.item_path(built.project, event))
    planned(built, second)
    assert "This event is over." in built.read(site.item_path(built.project, event))
    settle(built, second)


def test_an_event_ending_mid_afternoon_in_summer_time(site_of):  # noqa: F811
    """An event ending at 15:00 BST (14:00 UTC): refreshes at 14:30 and 15:30 BST, the same day."""
    job, event = _timed_items(date(2016, 7, 1), utc(2016, 6, 14, 14))
    built = site_of(items=(job, event, NEWS, POST))
    before, after = datetime(2016, 6, 14, 14, 30, tzinfo=LONDON), datetime(2016, 6, 14, 15, 30, tzinfo=LONDON)
    settle(built, before)  # as on 1 May, the default: both open, nothing to make
    assert "This event is over." not in built.read(site.item_path(built.project, event))
    planned(built, after)
    assert "This event is over." in built.read(site.item_path(built.project, event))
    settle(built, after)


def test_a_job_closing_is_closed_from_midnight_bst_not_utc(site_of):  # noqa: F811
    """A job closing on 30 June 2016: at 00:30 BST on 1 July (23:30 UTC on 30 June), by the clock, it is closed."""
    job, event = _timed_items(date(2016, 6, 30), utc(2016, 6, 14, 14))
    built = site_of(items=(job, event, NEWS, POST))
    evening = datetime(2016, 6, 30, 23, 0, tzinfo=LONDON)
    planned(built, evening)
    settle(built, evening)
    assert "Closed jobs" not in built.read(site.JOBS)
    past_midnight = datetime(2016, 7, 1, 0, 30, tzinfo=LONDON)
    planned(built, past_midnight)
    assert "Closed jobs" in built.read(site.JOBS)


# -- withdrawn, retitled, moved ------------------------------------------------------------------------------------

def test_a_withdrawal_undone_shows_the_item_again(site_of):  # noqa: F811
    built = site_of()
    settle(built)
    others = [i.id for i in (JOB, EVENT, NEWS)]
    built.store.withdraw_missing(POST.source, others, datetime.now(UTC))
    planned(built)
    settle(built)
    assert "withdrawn" in built.read(site.item_path(built.project, POST)).lower()
    built.store.withdraw_missing(POST.source, [*others, POST.id], datetime.now(UTC), withdraw=False)
    planned(built)
    page = built.read(site.item_path(built.project, POST))
    assert "withdrawn" not in page.lower() and "Research post" in built.read(site.SEARCH_INDEX)
    settle(built)


def test_a_retitle_and_back_leaves_each_old_address_leading_on(site_of):  # noqa: F811
    built = site_of()
    settle(built)
    first = site.item_path(built.project, NEWS)
    retitled = dataclasses.replace(NEWS, title="Peer news, retitled")
    save(built, retitled)
    planned(built)
    second = site.item_path(built.project, retitled)
    assert second != first and "Peer news, retitled" in built.read(second)
    settle(built)
    assert "moved" in built.read(first).lower() or second in built.read(first)
    save(built, NEWS)  # its first title again
    planned(built)
    assert "Peer news, retitled" not in built.read(first) and "Peer news" in built.read(first)
    assert first in built.read(second)  # the second address leads back
    settle(built)
    built.file(second).unlink()  # a page leading on, deleted by hand: made again
    planned(built)
    assert first in built.read(second)
    settle(built)


# -- out/ by hand, and the settings of where it is -------------------------------------------------------------------

def test_out_removed_whole_is_made_again_as_it_was(site_of):  # noqa: F811
    built = site_of()
    settle(built)
    before = {path: path.read_bytes() for path in built.out.rglob("*") if path.is_file()}
    shutil.rmtree(built.out)
    planned(built)
    assert {path: path.read_bytes() for path in built.out.rglob("*") if path.is_file()} == before
    settle(built)


def test_out_copied_back_from_elsewhere_is_read_and_left(site_of):  # noqa: F811
    """out/ put back by a copy (new inodes and times, the same bytes): read once, nothing to make."""
    built = site_of()
    settle(built)
    copy = built.out.parent / "out-copy"
    shutil.copytree(built.out, copy)
    shutil.rmtree(built.out)
    copy.rename(built.out)
    assert built.write().summary.endswith(SKIPPED)


def test_a_file_added_in_out_by_hand_is_left_there(site_of):  # noqa: F811
    built = site_of()
    settle(built)
    extra = built.out / "notes" / "by-hand.html"
    extra.parent.mkdir()
    extra.write_text("<p>Ours.</p>", encoding="utf-8")
    assert built.write().summary.endswith(SKIPPED)
    assert extra.read_text(encoding="utf-8") == "<p>Ours.</p>"


def test_out_dir_and_site_url_changed_are_shown(site_of, project_from, tmp_path):  # noqa: F811
    built = site_of()
    settle(built)
    built.project = project_from(BASE_TOML + 'out_dir = "public"\n' + SINK)
    planned(built)
    assert built.out == tmp_path / "public" and built.file(site.FRONT_PAGE).is_file()
    settle(built)
    toml = BASE_TOML.replace("https://network.example.org", "https://news.example.net") + 'out_dir = "public"\n'
    built.project = project_from(toml + SINK)
    planned(built)
    page = built.read(site.item_path(built.project, NEWS))
    assert "https://news.example.net/" in page and "https://network.example.org" not in page
    settle(built)


# -- a database put back from a backup ---------------------------------------------------------------------------

def test_a_database_put_back_from_a_backup_then_an_unchanged_refresh(pipeline_project):
    """Backed up with the site settled; then a template of the project's own changes the front page (and is settled
    too); then the backup is put back and the template taken away: the front page is as the database says, again."""
    from tests.test_site_files import POST
    from tests.test_withdrawn import BLOG_TOML

    project = pipeline_project(BLOG_TOML, {"blog/notes.md": POST, "subscribers.csv": "email,name\n"})
    for _ in range(3):
        report = project.refresh(as_of=date(2016, 2, 1))
    assert _archive(report).endswith(SKIPPED)
    first = project.site()
    database = project.root / "state" / "pipeline.sqlite"
    copy = backup(database, project.root / "backup.sqlite").path
    project.write({"templates/site/front.html": _front_with("<p>Added after the backup.</p>")})
    for _ in range(3):
        report = project.refresh(as_of=date(2016, 2, 1))
    assert _archive(report).endswith(SKIPPED) and "Added after the backup." in project.site()
    for name in ("pipeline.sqlite-wal", "pipeline.sqlite-shm"):  # as README's "Restoring" says
        (database.parent / name).unlink(missing_ok=True)
    shutil.copyfile(copy, database)
    (project.root / "templates" / "site" / "front.html").unlink()
    report = project.refresh(as_of=date(2016, 2, 1))
    assert not _archive(report).endswith(SKIPPED)
    assert project.site() == first


# -- what the skip leaves against a build from nothing -----------------------------------------------------------------

def _as_from_scratch(built, project_from, tmp_path, moment=None) -> None:
    """Every file a build from nothing makes (the state copied, the site's own tables emptied, another out_dir) is in
    out/ as it is there: a refresh that skipped left nothing stale."""
    _scratch(built.project, built.store.path, project_from, tmp_path, moment)


def _scratch(project, database, project_from, tmp_path, moment=None) -> None:
    copy = tmp_path / "scratch.sqlite"
    copy.unlink(missing_ok=True)
    backup(database, copy)
    with sqlite3.connect(copy) as db:
        for table in ("site_items", "site_editions", "site_pages", "site_stats", "site_built"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608
    own = project.config_path.read_text(encoding="utf-8")
    scratch = project_from(own.replace("[pipeline]\n", '[pipeline]\nout_dir = "scratch"\n', 1))
    project.config_path.write_text(own, encoding="utf-8")  # the project's own, as it was
    shutil.rmtree(scratch.core.out_dir, ignore_errors=True)
    store = Store(copy)
    try:
        write_site(scratch, store, moment)
    finally:
        store.close()
    made = {path.relative_to(scratch.core.out_dir): path.read_bytes()
            for path in scratch.core.out_dir.rglob("*") if path.is_file()}
    assert made
    out = project.core.out_dir
    differ = sorted(str(rel) for rel, data in made.items()
                    if not (out / rel).is_file() or (out / rel).read_bytes() != data)
    assert differ == []


def test_a_theme_renamed_on_every_item_leads_on_and_matches_a_build_from_nothing(site_of, project_from,  # noqa: F811
                                                                                  tmp_path):
    built = site_of(toml=BASE_TOML + SINK)
    settle(built)
    save(built, dataclasses.replace(NEWS, themes=["peer-led support"]))
    planned(built)
    assert "Peer-led support" in built.read(site.theme_path("peer-led support"))
    assert site.theme_path("peer-led support") in built.read(site.theme_path("peer support"))
    settle(built)
    _as_from_scratch(built, project_from, tmp_path)


def test_withdrawn_restored_retitled_each_matches_a_build_from_nothing(site_of, project_from, tmp_path):  # noqa: F811
    built = site_of(toml=BASE_TOML + SINK)
    settle(built)
    others = [i.id for i in (JOB, EVENT, NEWS)]
    steps = [lambda: built.store.withdraw_missing(POST.source, others, datetime.now(UTC)),
             lambda: built.store.withdraw_missing(POST.source, [*others, POST.id], datetime.now(UTC), withdraw=False),
             lambda: save(built, dataclasses.replace(NEWS, title="Peer news, retitled")),
             lambda: save(built, NEWS)]
    for step in steps:
        step()
        planned(built)
        settle(built)
        _as_from_scratch(built, project_from, tmp_path)


def test_a_source_renamed_with_renamed_from_matches_a_build_from_nothing(pipeline_project, project_from, tmp_path):
    from tests.test_site_files import POST
    from tests.test_withdrawn import BLOG_TOML

    project = pipeline_project(BLOG_TOML, {"blog/notes.md": POST, "blog/lead.jpg": b"lead",
                                          "subscribers.csv": "email,name\n"})
    project.run(as_of=date(2016, 2, 1))
    for _ in range(2):
        report = project.refresh(as_of=date(2016, 2, 1))
    assert _archive(report).endswith(SKIPPED)
    project.write({"pipeline.toml": BLOG_TOML.replace("[sources.blog]", '[sources.journal]\nrenamed_from = "blog"')})
    report = project.refresh(as_of=date(2016, 2, 1))
    assert not _archive(report).endswith(SKIPPED)
    for _ in range(2):
        report = project.refresh(as_of=date(2016, 2, 1))
    assert _archive(report).endswith(SKIPPED)
    assert "Notes from the seminar" in project.site()
    _scratch(project.project, project.root / "state" / "pipeline.sqlite", project_from, tmp_path,
             start_of(date(2016, 2, 1), LONDON))


FLAKY = '''
import os

from pipeline.hookspecs import hookimpl


@hookimpl
def prepare_jinja_environment(env, project):
    if os.environ.get("H149_MOTTO_FAILS"):
        raise RuntimeError("motto server down")
    env.globals["motto"] = "Nothing about us without us."
'''


def test_pages_made_while_a_plugin_preparing_the_environment_failed_are_made_again(site_of, tmp_path,  # noqa: F811
                                                                                     monkeypatch):
    """A run whose plugin raised renders the pages it makes without what the plugin gives (README); once it works
    again, those pages are made again with it, though nothing else changed."""
    layout = (SHIPPED_TEMPLATES / "site" / "layout.html").read_text(encoding="utf-8")
    own = tmp_path / "templates" / "site" / "layout.html"
    own.parent.mkdir(parents=True)
    own.write_text(layout.replace("</footer>", '</footer>{% if motto is defined %}<p class="motto">{{ motto }}</p>'
                                               "{% endif %}", 1), encoding="utf-8")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "motto.py").write_text(FLAKY, encoding="utf-8")
    built = site_of(toml=BASE_TOML + 'plugins_dir = "plugins"\n' + SINK)
    settle(built)
    page = site.item_path(built.project, NEWS)
    assert '<p class="motto">' in built.read(page)
    monkeypatch.setenv("H149_MOTTO_FAILS", "1")
    save(built, dataclasses.replace(NEWS, body_html="<p>Edited while the plugin failed.</p>"))
    planned(built)
    assert "Edited while" in built.read(page) and '<p class="motto">' not in built.read(page)
    monkeypatch.delenv("H149_MOTTO_FAILS")
    built.write()
    assert '<p class="motto">' in built.read(page)


def test_the_newsletters_sender_changed_is_the_calendars_organizer(site_of, project_from):  # noqa: F811
    """The calendars name the email sink's sender as ORGANIZER: its from_email or from_name changed, each .ics says
    the new one."""
    built = site_of(toml=BASE_TOML + SINK + EMAIL)
    settle(built)
    ics = site.item_path(built.project, EVENT) + "event.ics"
    assert "news@network.example.org" in built.read(ics) and "news@network.example.org" in built.read(site.CALENDAR)
    built.project = project_from(BASE_TOML + SINK + EMAIL.replace("news@network", "letters@network")
                                 + 'from_name = "The Letters Desk"\n')
    built.write()
    for path in (ics, site.CALENDAR):
        text = built.read(path).replace("\n ", "")  # unfolded
        assert "letters@network.example.org" in text and "The Letters Desk" in text, path
        assert "news@network.example.org" not in text


def test_a_build_that_raised_part_way_then_the_template_put_back_is_planned_and_made_again(site_of, tmp_path):  # noqa: F811
    """A template of the project's own that raises on one item's page: the build raises, and no page is changed (the
    pages made before it were never put in place: `pipeline.files.Staged`). The template taken away again (what the
    settled build was made from), the next refresh plans the site, and every page is as the settled build made it."""
    built = site_of()
    settle(built)
    shipped = (SHIPPED_TEMPLATES / "site" / "item.html").read_text(encoding="utf-8")
    own = tmp_path / "templates" / "site" / "item.html"
    own.parent.mkdir(parents=True)
    own.write_text(shipped.replace("{% endblock %}", '<p>Half made.</p>{% if view.title == "Peer news" %}'
                                   "{{ 1 // 0 }}{% endif %}{% endblock %}", 1), encoding="utf-8")
    with pytest.raises(ZeroDivisionError):
        built.write()
    assert not [path for path in built.out.rglob("*") if path.is_file() and (
        path.name.startswith(".") or "Half made." in path.read_text(encoding="utf-8", errors="replace"))]
    own.unlink()
    assert planned(built).summary.endswith(": 0 made again, 0 written")  # planned: the failed build was not trusted
    assert not [path for path in built.out.rglob("*.html") if "Half made." in path.read_text(encoding="utf-8")]


THIRD_PARTY = '''
import jinja2

from pipeline.hookspecs import hookimpl


@hookimpl
def prepare_jinja_environment(env, project):
    env.loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader({folder!r}), env.loader])
'''


def test_a_third_party_template_folder_edited_is_shown(site_of, tmp_path, project_from):  # noqa: F811
    """A plugin putting a folder of its own first (its site/front.html, including its widgets/note.html): either
    edited, the front page shows it."""
    theirs = tmp_path / "vendor" / "theme"
    (theirs / "site").mkdir(parents=True)
    (theirs / "widgets").mkdir()
    (theirs / "site" / "front.html").write_text(_front_with('<p>Their front.</p>{% include "widgets/note.html" %}'),
                                                 encoding="utf-8")
    (theirs / "widgets" / "note.html").write_text("<p>Their note.</p>", encoding="utf-8")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "theme.py").write_text(THIRD_PARTY.format(folder=str(theirs)), encoding="utf-8")
    built = site_of(toml=BASE_TOML + 'plugins_dir = "plugins"\n' + SINK)
    assert "Their front." in built.read(site.FRONT_PAGE) and "Their note." in built.read(site.FRONT_PAGE)
    settle(built)
    (theirs / "widgets" / "note.html").write_text("<p>Their note, edited.</p>", encoding="utf-8")
    planned(built)
    assert "Their note, edited." in built.read(site.FRONT_PAGE)
    settle(built)
    (theirs / "site" / "front.html").write_text(_front_with('<p>Their front, edited.</p>'), encoding="utf-8")
    planned(built)
    assert "Their front, edited." in built.read(site.FRONT_PAGE)
    settle(built)


def test_a_file_edited_by_hand_with_its_size_and_times_put_back_is_made_again(site_of, monkeypatch):  # noqa: F811
    """`touch -r`, or an editor that keeps the times: the same size, inode, mtime and atime as kept; only its change
    time (ctime, which no one can set) tells, and that is kept too."""
    monkeypatch.setattr(writer, "RACY_NS", 0)  # every file's stats are trusted at once
    built = site_of()
    settle(built)
    page = built.file(site.item_path(built.project, NEWS))
    was, stat = page.read_bytes(), page.stat()
    with open(page, "r+b") as file:
        file.write(was.replace(b"Peer news", b"Peer NEWS"))
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert page.stat().st_size == stat.st_size and page.stat().st_mtime_ns == stat.st_mtime_ns
    result = planned(built)
    assert result.files == [str(page)] and page.read_bytes() == was


def test_pipeline_refresh_as_of_either_side_of_the_clocks_going_forward(pipeline_project):
    """The whole refresh with --as-of, as README has it: a job closing on 27 March 2016 (the clocks go forward) and
    an event ending at 00:30 BST on the 28th. As of the 27th, settled; as of the 28th (midnight BST, 23:00 UTC on
    the 27th) the job closed, the event not over; as of the 29th, over; as of the 27th again, both as they were."""
    toml = ('[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n'
            '[sources.events]\ntype = "events"\npath = "events.toml"\n')
    jobs = ('[[job]]\nid = "peer-worker"\ntitle = "Peer worker"\norganisation = "Open Dialogue UK"\n'
            'posted = 2016-01-20\nclosing_date = 2016-03-27\ndescription = "A peer worker for Leeds."\n')
    events = ('[[event]]\nid = "late-seminar"\ntitle = "A late seminar"\nposted = 2016-01-18\n'
              'start = 2016-03-27T21:30:00\nend = 2016-03-28T00:30:00\nvenue = "Leeds"\n'
              'description = "Late into the night."\n')
    project = pipeline_project(toml, {"jobs.toml": jobs, "events.toml": events, "subscribers.csv": "email,name\n"})

    def refresh(day: int, skipped: bool) -> None:
        summary = _archive(project.refresh(as_of=date(2016, 3, day)))
        assert summary.endswith(SKIPPED) == skipped, (day, summary)

    for skipped in (False, False, True):
        refresh(27, skipped)
    assert "Closed jobs" not in project.site("jobs/") and "Past events" not in project.site("events/")
    refresh(28, False)
    assert "Closed jobs" in project.site("jobs/") and "Past events" not in project.site("events/")
    refresh(28, False)
    refresh(28, True)
    refresh(29, False)
    assert "Past events" in project.site("events/")
    refresh(27, False)
    assert "Closed jobs" not in project.site("jobs/") and "Past events" not in project.site("events/")


def test_a_sources_file_replaced_with_its_size_and_times_kept_is_published_again(pipeline_project):
    """`cp -p`, `rsync -a` or `touch -r`: the blog's image replaced by another of the same size, with the same
    modification time; only its change time (and, for a copy put in its place, its inode) tells."""
    from tests.test_site_files import POST
    from tests.test_withdrawn import BLOG_TOML

    project = pipeline_project(BLOG_TOML, {"blog/notes.md": POST, "blog/lead.jpg": b"first",
                                          "subscribers.csv": "email,name\n"})
    for _ in range(3):
        report = project.refresh(as_of=date(2016, 2, 1))
    assert _archive(report).endswith(SKIPPED)
    lead = project.root / "blog" / "lead.jpg"
    stat = lead.stat()
    lead.write_bytes(b"other")  # the same size
    os.utime(lead, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert lead.stat().st_size == stat.st_size and lead.stat().st_mtime_ns == stat.st_mtime_ns
    report = project.refresh(as_of=date(2016, 2, 1))
    assert not _archive(report).endswith(SKIPPED)
    assert (project.root / "out" / "blog" / "lead.jpg").read_bytes() == b"other"


LEADS_TO = '<link rel="canonical" href="https://network.example.org/{}">'


def test_a_post_moved_and_moved_back_leaves_each_address_leading_on(pipeline_project, project_from, tmp_path):
    """A blog post's file renamed (its page's address with it), and back: the address it left leads on to it each
    time (the emails sent link it), also once deleted by hand, and the site is what a build from nothing makes."""
    from tests.test_withdrawn import BLOG_TOML, post_file

    post = post_file("Notes from the seminar", "2016-01-20")
    project = pipeline_project(BLOG_TOML, {"blog/notes.md": post, "subscribers.csv": "email,name\n"})

    def settled() -> None:  # made, planned once more (nothing to make), then left as it is
        said = [_archive(project.refresh(as_of=date(2016, 2, 1))) for _ in range(3)]
        assert [s.endswith(SKIPPED) for s in said] == [False, False, True], said

    settled()
    (project.root / "blog" / "notes.md").rename(project.root / "blog" / "seminar-notes.md")
    settled()
    assert "Peer support workers" in project.site("blog/seminar-notes/")
    assert LEADS_TO.format("blog/seminar-notes/") in project.site("blog/notes/")
    (project.root / "out" / "blog" / "notes" / "index.html").unlink()
    settled()
    assert LEADS_TO.format("blog/seminar-notes/") in project.site("blog/notes/")
    (project.root / "blog" / "seminar-notes.md").rename(project.root / "blog" / "notes.md")
    settled()
    assert "Peer support workers" in project.site("blog/notes/")
    assert LEADS_TO.format("blog/notes/") in project.site("blog/seminar-notes/")
    _scratch(project.project, project.root / "state" / "pipeline.sqlite", project_from, tmp_path,
             start_of(date(2016, 2, 1), LONDON))


def test_a_library_that_renders_upgraded_makes_the_site_again(site_of, monkeypatch):  # noqa: F811
    """Jinja2, MarkupSafe (its escaping) or icalendar upgraded may write other bytes for the same page: the site is
    planned (the digest has their versions) and every file made again with them, not only planned."""
    built = site_of()
    settle(built)
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "99.0" if name.lower() == "markupsafe" else real(name))
    result = planned(built)
    pages, files, made = map(int, re.match(r"(\d+) pages, (\d+) files: (\d+) made again", result.summary).groups())
    assert made >= pages + 2, result.summary  # every page and calendar; the stylesheet and the search script are
    assert made < files  # copied as they are


def test_files_in_templates_that_are_no_templates_are_left_alone(site_of, tmp_path):  # noqa: F811
    """What a Mac leaves in every folder (.DS_Store), an editor's swap file, Emacs's lock (a link to nothing): the
    site is made, and settles, as without them."""
    for folder in ("templates", "templates/site", "templates/email"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\xff\xfe\x80")
    (tmp_path / "templates" / "site" / ".front.html.swp").write_bytes(b"b0VIM 9.0\x00\xff\xfe")
    (tmp_path / "templates" / "site" / ".#front.html").symlink_to("someone@host.1234:1700000000")
    built = site_of()
    assert built.file(site.FRONT_PAGE).is_file()
    settle(built)
