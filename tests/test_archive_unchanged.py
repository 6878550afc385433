"""A refresh with nothing new plans nothing (plugins/sinks/archive/unchanged.py): once a build is settled (one
that made nothing again), the next refresh compares a digest of what the site is made from, the state of every job
and event at its moment, and every file written (by its size, times and inode, or its bytes), and writes nothing.
Anything the digest holds, once changed, makes the site planned again and what it shows made again."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline import site
from pipeline.edition import prepare_edition, start_of
from pipeline.models import EventDetails, JobDetails, Kind
from pipeline.state import Store
from pipeline.templating import SHIPPED_TEMPLATES
from plugins.sinks.archive import builder, writer
from plugins.sinks.archive.facts import content_print as fingerprint
from tests.conftest import make_item
from tests.test_archive_sink import SINK, Built, every_file, make_issues, write_site

FEB = date(2016, 2, 1)
SKIPPED = " (nothing changed since the last build)"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


JOB = make_item(Kind.JOB, "Peer worker", published=utc(2016, 1, 10),  # closes 14 February 2016
                job=JobDetails(organisation="Open Dialogue UK", closing_date=date(2016, 2, 14)))
EVENT = make_item(Kind.EVENT, "Open Dialogue seminar", published=utc(2016, 1, 12),
                  event=EventDetails(start=utc(2016, 2, 2, 9, 30), end=utc(2016, 2, 2, 17), venue="Leeds"))
NEWS = make_item(Kind.NEWS, "Peer news", published=utc(2016, 1, 14), themes=["peer support"])
POST = make_item(Kind.POST, "Research post", published=utc(2016, 1, 20), themes=["research"])


@pytest.fixture
def site_of(project_from, tmp_path):
    stores = []

    def build(items=(JOB, EVENT, NEWS, POST), toml=SINK, moment=None) -> Built:
        project = project_from(toml)
        store = Store(tmp_path / "state" / "site.sqlite")
        stores.append(store)
        make_issues(project, store, {FEB: list(items)})
        return Built(project, store, write_site(project, store, moment))

    yield build
    for store in stores:
        store.close()


def settle(built: Built, moment: datetime | None = None) -> str:
    """Refresh until nothing is planned: one full plan that makes nothing again, then a refresh that plans nothing.
    Returns what that one said."""
    full = built.write(moment)
    assert full.summary.endswith(": 0 made again, 0 written"), full.summary
    skipped = built.write(moment)
    assert skipped.summary == full.summary + SKIPPED and skipped.files == []
    return skipped.summary


def planned(built: Built, moment: datetime | None = None):
    """A refresh that plans the site (whatever it makes again)."""
    result = built.write(moment)
    assert not result.summary.endswith(SKIPPED), result.summary
    return result


def snapshot(built: Built) -> dict:
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes()) for path in every_file(built.out)}


def save(built: Built, *items) -> None:
    built.store.save_items([(item, fingerprint(item)) for item in items], datetime.now(UTC))


# -- nothing new ----------------------------------------------------------------------------------

def test_an_unchanged_refresh_plans_nothing_writes_nothing_and_says_so(site_of, monkeypatch):
    built = site_of()
    counted = built.result.summary.partition(":")[0]
    again = built.write()  # the first refresh plans it all once more, which finds nothing to make: settled
    assert again.summary == f"{counted}: 0 made again, 0 written" and again.files == []
    before = snapshot(built)

    def no_plan(*args, **kwargs):
        raise AssertionError("the site was planned")

    monkeypatch.setattr(builder, "Site", no_plan)
    for _ in range(2):
        result = built.write()
        assert result.summary == f"{counted}: 0 made again, 0 written{SKIPPED}"
        assert result.files == []
    assert snapshot(built) == before


def test_a_build_that_changed_the_site_is_planned_once_more_before_it_is_trusted(site_of):
    built = site_of()
    save(built, dataclasses.replace(NEWS, body_html="<p>Edited.</p>"))
    assert planned(built).files  # made again
    assert planned(built).summary.endswith(": 0 made again, 0 written")  # planned again all the same: now settled
    assert built.write().summary.endswith(SKIPPED)


def test_a_file_only_touched_is_read_and_taken_as_it_was(site_of, monkeypatch):
    monkeypatch.setattr(writer, "RACY_NS", 0)  # every file's stats are trusted at once
    built = site_of()
    settle(built)
    page = built.file(site.item_path(built.project, NEWS))
    os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 10_000_000_000))
    assert built.write().summary.endswith(SKIPPED)  # same bytes: read, and nothing to make
    assert built.write().summary.endswith(SKIPPED)


# -- the items, the issues ----------------------------------------------------------------------------

def test_an_item_edited_is_made_again(site_of):
    built = site_of()
    settle(built)
    save(built, dataclasses.replace(NEWS, body_html="<p>An edited body.</p>", summary="An edited summary."))
    result = planned(built)
    page = site.item_path(built.project, NEWS)
    assert str(built.file(page)) in result.files
    assert "An edited body." in built.read(page)
    assert "An edited summary." in built.read(site.SEARCH_INDEX)
    settle(built)


def test_an_item_added_gets_its_page_and_is_listed(site_of):
    built = site_of()
    settle(built)
    late = make_item(Kind.NEWS, "Late news", published=utc(2016, 1, 25), themes=["peer support"])
    save(built, late)
    planned(built)
    assert built.file(site.item_path(built.project, late)).is_file()
    assert "Late news" in built.read(site.theme_path("peer support"))
    settle(built)


def test_an_item_withdrawn_says_so(site_of):
    built = site_of()
    settle(built)
    built.store.withdraw_missing(POST.source, [i.id for i in (JOB, EVENT, NEWS)], datetime.now(UTC))
    planned(built)
    assert "withdrawn" in built.read(site.item_path(built.project, POST)).lower()
    assert "Research post" not in built.read(site.SEARCH_INDEX)


def test_a_new_issue_is_on_the_site(site_of):
    built = site_of()
    settle(built)
    march = make_item(Kind.NEWS, "March news", published=utc(2016, 2, 10))
    built.store.save_items([(march, fingerprint(march))], start_of(date(2016, 3, 1), built.project.tz))
    prepare_edition(built.store, date(2016, 3, 1), built.project.tz, built.project.core.name,
                    start_of(date(2016, 3, 1), built.project.tz))
    planned(built)
    assert built.file(site.edition_path(2)).is_file()
    assert site.edition_page(2) in built.read(site.ARCHIVE_INDEX)


# -- settings and templates ---------------------------------------------------------------------------

def test_a_setting_changed_is_shown(site_of, project_from):
    built = site_of(toml=SINK + 'title = "Back issues"\n')
    settle(built)
    built.project = project_from(SINK + 'title = "Every issue so far"\n')
    planned(built)
    assert "Every issue so far" in built.read(site.ARCHIVE_INDEX)
    settle(built)


def test_the_project_settings_changed_are_shown(site_of, project_from):
    built = site_of()
    settle(built)
    built.project = project_from('[pipeline]\nname = "Another Network"\nsite_url = "https://network.example.org"\n'
                                 'timezone = "Europe/London"\nworkers = 1\n' + SINK)
    planned(built)
    assert "Another Network" in built.read(site.FRONT_PAGE)


def test_a_template_of_the_project_is_shown_and_each_change_to_it(site_of, tmp_path):
    built = site_of()
    settle(built)
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    shipped = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")
    own.write_text(shipped.replace("{% endblock %}", "<p>Our own front page.</p>{% endblock %}", 1),
                   encoding="utf-8")
    planned(built)
    assert "Our own front page." in built.read(site.FRONT_PAGE)
    settle(built)
    own.write_text(shipped.replace("{% endblock %}", "<p>Changed again.</p>{% endblock %}", 1), encoding="utf-8")
    planned(built)
    assert "Changed again." in built.read(site.FRONT_PAGE)


# -- out/ changed by hand -----------------------------------------------------------------------------

def test_a_file_deleted_from_out_is_made_again(site_of):
    built = site_of()
    settle(built)
    page = built.file(site.item_path(built.project, NEWS))
    was = page.read_bytes()
    page.unlink()
    result = planned(built)
    assert result.files == [str(page)] and page.read_bytes() == was
    settle(built)


@pytest.mark.parametrize("trusted", [True, False], ids=["by its stats", "written just now: read"])
def test_a_file_edited_by_hand_in_out_is_made_again(site_of, monkeypatch, trusted):
    if trusted:
        monkeypatch.setattr(writer, "RACY_NS", 0)
    built = site_of()
    settle(built)
    edits = [(site.item_path(built.project, NEWS), lambda data: data.replace(b"Peer news", b"Peer NEWS")),
             (site.SITEMAP, lambda data: data + b"<!-- by hand -->\n")]
    # Trusting its stats at once, an edit of the same size could fall within the resolution of the file's times
    for path, edit in edits[1:] if trusted else edits:
        target = built.file(path)
        was = target.read_bytes()
        with open(target, "r+b") as file:  # in place: the same inode, and (the first) the same size
            file.write(edit(was))
        assert target.read_bytes() != was
        result = planned(built)
        assert result.files == [str(target)] and target.read_bytes() == was
        settle(built)


# -- time -------------------------------------------------------------------------------------------------

def test_a_job_closing_overnight_is_shown_closed(site_of):
    built = site_of()
    before = start_of(date(2016, 2, 14), built.project.tz) + timedelta(hours=12)  # its closing day
    planned(built, before)
    settle(built, before)
    assert "Open jobs" in built.read(site.JOBS) and "Closed jobs" not in built.read(site.JOBS)
    after = before + timedelta(hours=13)  # 15 February, 01:00
    planned(built, after)
    assert "Closed jobs" in built.read(site.JOBS) and "This job closed on" in built.read(
        site.item_path(built.project, JOB))


def test_an_event_ending_later_the_same_day_is_shown_over(site_of):
    built = site_of()
    during = utc(2016, 2, 2, 10)
    planned(built, during)
    settle(built, during)
    assert "This event is over." not in built.read(site.item_path(built.project, EVENT))
    evening = utc(2016, 2, 2, 18)  # the same day where the network is: only the event's end tells
    planned(built, evening)
    assert "This event is over." in built.read(site.item_path(built.project, EVENT))
    assert "Past events" in built.read(site.EVENTS)
    settle(built, evening)


def test_refreshes_by_the_clock_later_the_same_day_plan_nothing_until_time_brings_an_item_in(site_of):
    """`pipeline refresh` runs at the clock's moment, later each time: that alone changes nothing. An item stored
    with a later date comes in once the clock passes it (the site shows every item published before the run)."""
    morning = utc(2016, 5, 10, 9)
    built = site_of(moment=morning)
    built.write(morning + timedelta(hours=1))
    assert built.write(morning + timedelta(hours=2)).summary.endswith(SKIPPED)
    later = make_item(Kind.NEWS, "Afternoon news", published=utc(2016, 5, 10, 13))
    save(built, later)
    built.write(morning + timedelta(hours=3))  # 12:00: not yet
    assert built.write(morning + timedelta(hours=3, minutes=30)).summary.endswith(SKIPPED)
    assert not built.file(site.item_path(built.project, later)).exists()
    planned(built, morning + timedelta(hours=5))  # 14:00
    assert built.file(site.item_path(built.project, later)).is_file()


def test_a_refresh_as_of_an_earlier_day_shows_the_site_as_it_was_then(site_of):
    built = site_of()  # 1 May 2016: the job closed, the event over
    settle(built)
    assert "This event is over." in built.read(site.item_path(built.project, EVENT))
    earlier = start_of(date(2016, 2, 1), built.project.tz)
    planned(built, earlier)
    assert "This event is over." not in built.read(site.item_path(built.project, EVENT))
    assert "Closed jobs" not in built.read(site.JOBS)


def test_a_refresh_on_another_day_plans_the_site_even_when_no_state_changed(site_of):
    built = site_of()
    settle(built)
    next_day = start_of(date(2016, 5, 2), built.project.tz)
    assert planned(built, next_day).files == []  # planned: nothing to make, and nothing it read changed
    assert built.write(next_day).summary.endswith(SKIPPED)  # so that plan settled it


# -- a build that did not finish, or met a problem ---------------------------------------------------------

def test_a_build_stopped_part_way_is_planned_again(site_of, tmp_path, monkeypatch):
    """A build stopped while it writes (its deadline, a signal) leaves no build to trust, and no file changed: made
    from the same again (a template changed, then changed back), the site is planned, and the files are as they
    were made."""
    built = site_of()
    settle(built)
    before = {path: path.read_bytes() for path in built.out.rglob("*") if path.is_file()}
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    shipped = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")
    own.write_text(shipped.replace("{% endblock %}", "<p>Half made.</p>{% endblock %}", 1), encoding="utf-8")
    write = writer.Staged.write

    def stopped(self, path, data):
        write(self, path, data)
        raise TimeoutError("out of time")

    with monkeypatch.context() as patch:
        patch.setattr(writer.Staged, "write", stopped)
        with pytest.raises(TimeoutError):
            built.write()
    assert {path: path.read_bytes() for path in built.out.rglob("*") if path.is_file()} == before
    own.unlink()  # as it was: what the settled build was made from
    assert planned(built).summary.endswith(": 0 made again, 0 written")  # planned, and nothing to change
    assert built.write().summary.endswith(SKIPPED)


def _archive(report):
    (result,) = [r for r in report.results if r.name == "archive"]
    return result.summary


def test_a_sources_file_changed_is_published_again(pipeline_project):
    from tests.test_site_files import POST
    from tests.test_withdrawn import BLOG_TOML

    project = pipeline_project(BLOG_TOML, {"blog/notes.md": POST, "blog/lead.jpg": b"first",
                                          "subscribers.csv": "email,name\n"})
    for _ in range(3):
        report = project.refresh(as_of=date(2016, 2, 1))
    assert _archive(report).endswith(SKIPPED)
    project.write({"blog/lead.jpg": b"second"})  # the same size
    os.utime(project.root / "blog" / "lead.jpg", ns=(0, 1_000_000_000))  # and an older time: not the same one
    report = project.refresh(as_of=date(2016, 2, 1))
    assert not _archive(report).endswith(SKIPPED)
    assert (project.root / "out" / "blog" / "lead.jpg").read_bytes() == b"second"


def test_pipeline_refresh_by_the_clock_plans_nothing_once_settled(pipeline_project):
    """The whole run, as the scheduler starts it every hour: the blog read again, the feeds and the site."""
    from tests.test_site_files import POST
    from tests.test_withdrawn import BLOG_TOML

    project = pipeline_project(BLOG_TOML, {"blog/notes.md": POST, "blog/lead.jpg": b"first",
                                          "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    said = [_archive(project.refresh()) for _ in range(3)]
    assert said[0].endswith(": 0 made again, 0 written")  # planned (another day), nothing to make: settled
    assert said[1] == said[2] == said[0] + SKIPPED
    project.write({"blog/notes.md": POST.replace("Peer support workers", "Peer workers")})
    assert "Peer workers" not in project.site("blog/notes/")
    assert not _archive(project.refresh()).endswith(SKIPPED)
    assert "Peer workers" in project.site("blog/notes/")


@pytest.mark.parametrize("kind", ["attaching", "failing"])
def test_a_problem_is_said_on_every_refresh(pipeline_project, kind):
    """A file a source names that cannot be published (the build met a problem, so is not settled), or a source
    whose site_files raises (what the site is made from cannot be known): planned every time, said every time."""
    from tests.test_site_files import AttachingPlugin

    said = {"attaching": "missing.pdf: cannot be read", "failing": "site_files() raised RuntimeError: disk on fire"}
    toml = f'[sources.broken]\ntype = "{kind}"\n'
    project = pipeline_project(toml, {"report.pdf": b"%PDF report", "subscribers.csv": "email,name\n"},
                               plugins=[("attaching", AttachingPlugin())])
    for _ in range(3):
        report = project.refresh(as_of=date(2016, 2, 1), check=False)
        assert said[kind] in "\n".join(report.problems)
        assert not _archive(report).endswith(SKIPPED)
