"""Review (helper 103): the site's own files (Source.site_files), the VTIMEZONE builder, withdrawals and the plugin
host's settings. Each test fails while the problem it names is there."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar

from pipeline.calendars import calendar_ics
from pipeline.models import EventDetails, Kind
from tests.test_withdrawn import BLOG_TOML, post_file

SITE = "https://network.example.org"


def test_a_symlink_in_the_blog_folder_does_not_publish_a_file_from_outside_it(pipeline_project):
    """A contributor's pull request to the content repository adds `blog/images/logo.png`, a symlink (git keeps
    symlinks) to `../../secrets.env` beside pipeline.toml. Now `BlogSource.site_files` lists every `*.png` under the
    folder with `is_file()` (which follows the link) and no check of where it leads, so the archive publishes the
    organiser's secrets at <site>/blog/images/logo.png, although `_own_file` (the post's links) already refuses a
    file resolving outside the folder. A file whose real path is outside the blog folder should not be published."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "secrets.env": "SENDGRID_API_KEY=SG.very-secret\n",
                                          "subscribers.csv": "email,name\n"})
    (project.root / "blog" / "images").mkdir()
    os.symlink("../../secrets.env", project.root / "blog" / "images" / "logo.png")

    project.refresh(as_of=date(2016, 2, 1))

    leaked = project.root / "out" / "blog" / "images" / "logo.png"
    assert not leaked.exists(), leaked.read_bytes()


def test_a_blog_pdf_and_a_post_of_the_same_name_do_not_break_the_site(pipeline_project):
    """The blog folder holds the annual report `report.pdf` and the post announcing it, `report.pdf.md` (or a post
    with `slug: report.pdf`): the post's page is blog/report.pdf/ (a folder: `item_path` takes `report.pdf` as a
    plain segment) and the file is blog/report.pdf. `plan_files` checks the file's path only against the pages'
    paths as strings ("blog/report.pdf" is not "blog/report.pdf/"), so both are planned, one as a file and one
    as a folder of the same name. The site should still be written (the file, or the page, moved or refused as a
    problem), not fail."""
    project = pipeline_project(BLOG_TOML, {"blog/report.pdf.md": post_file("Our annual report", "2016-01-20"),
                                          "blog/report.pdf": b"%PDF-1.4 report",
                                          "subscribers.csv": "email,name\n"})

    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    [archive] = [r for r in report.results if r.name == "archive"]
    assert archive.ok, archive


def test_withdrawing_an_event_whose_revision_row_a_salvage_lost_counts_on_from_its_copy(tmp_path):
    """An organiser salvaged the state database (`sqlite3 pipeline.sqlite .recover`, which schema.py expects may
    lose an event's row of item_revisions: the copy in items.revision is kept for that) and then takes the revised
    seminar (revision 2) out of events.toml. `withdraw_missing` now adds one to the item_revisions row, finds none,
    and copies the missing row's revision into items: the subquery gives NULL for the NOT NULL column, so the
    withdrawal fails with an IntegrityError (every run of the source fails). It should count on from the copy:
    revision 3, never lower."""
    import sqlite3

    from pipeline.state import Revision
    from pipeline.state.store import Store
    from pipeline.testing import make_item

    path = tmp_path / "pipeline.sqlite"
    april = datetime(2016, 4, 1, tzinfo=UTC)
    item = make_item(Kind.EVENT, "Seminar 3", source="events", published=april)
    store = Store(path)
    try:
        store.save_items([(item, "fp")], april)
        for n, venue in enumerate(["Leeds", "York"], 2):
            item.event.venue = venue
            store.save_items([(item, "fp")], datetime(2016, 4, n, tzinfo=UTC))
        assert store.revisions([item.id])[item.id].number == 2
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM item_revisions")
    db.close()

    store = Store(path)
    try:
        withdrawn_at = datetime(2016, 5, 1, tzinfo=UTC)
        assert store.withdraw_missing("events", [], withdrawn_at) == ["Seminar 3"]
        assert store.revisions([item.id]) == {item.id: Revision(3, withdrawn_at)}
    finally:
        store.close()


OWN_FOOTER = """<mjml><mj-body><mj-section><mj-column><mj-text>
{% for section in sections %}{% for item in section.items %}<p>{{ item.title }}</p>{% endfor %}{% endfor %}
<p><a href="{{ unsubscribe }}">Unsubscribe</a> or <a href="{{ preferences }}">choose your themes</a></p>
</mj-text></mj-column></mj-section></mj-body></mjml>
"""


def test_an_own_email_template_linking_unsubscribe_is_no_problem_of_a_run_that_mails_it(project_from, item_factory):
    """An organiser's own templates/email/issue.mjml links `{{ unsubscribe }}` and `{{ preferences }}` in its
    footer without `{% if %}`: the email sink fills both for every recipient, and every email sent has them. Since
    the copy in out/newsletter/ is rendered a second time with both "" (`EmailSink.render(personal=False)`), that
    render finds `href=""` and reports "template …/issue.mjml: a link of the issue has no address… the template
    links to a page no sink of this project writes" on every run, which then exits 3 as if records were skipped;
    the pages exist (`pipeline serve`) and the mailed issue is right; README (templates) lists only issue_url,
    archive_url, feed_url and subscribe_url as "" to keep inside `{% if %}`. The copy's own rendering should not make a
    problem of the template (or should leave those links out of the copy without saying the template is wrong)."""
    from pipeline.runner import run as run_pipeline
    from tests.test_email_sink import AS_OF, SUBSCRIBERS, Fixed, sink_toml

    items = [item_factory(Kind.POST, "Peer support in Leeds")]
    project = project_from(sink_toml() + '[sources.fixed]\ntype = "fixed"\n',
                           files={"subscribers.csv": SUBSCRIBERS, "templates/email/issue.mjml": OWN_FOOTER},
                           plugins=[("fixed-items", Fixed(items))])

    report = run_pipeline(project, as_of=AS_OF)

    assert len(list((project.root / "outbox").rglob("*.eml"))) == 2
    assert report.problems == [] and report.exit_code == 0, report.problems


def _source_plugin(settings_class):
    """A plugin registering one source, `attached`, whose Settings is `settings_class`."""
    from pipeline import hookimpl
    from pipeline.components import Source

    class Attached(Source):
        name = "attached"
        Settings = settings_class

        def uses_http(self) -> bool:
            return False

        def fetch(self, run):
            return []

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Attached)

    return ("attached", Plugin())


def test_a_site_path_setting_is_not_made_a_path_on_disk(project_from):
    """A plugin author's sink or source has a setting for where on the site its files go:
    `prefix: PurePosixPath = PurePosixPath("files/reports")` (a URL path, never a file on disk). The Settings base's
    wildcard validator (`components.Settings._from_pipeline_toml`) takes every `PurePath` not absolute and joins it
    to pipeline.toml's folder, so the setting arrives as `/home/network/site/files/reports`, a PosixPath, and the
    plugin publishes under an address naming the organiser's home folder. Only filesystem paths (`Path`) should be
    taken from pipeline.toml's folder; a PurePosixPath should stay as given."""
    from pathlib import PurePosixPath

    from pipeline.components import Settings

    class Own(Settings):
        prefix: PurePosixPath = PurePosixPath("files/reports")

    project = project_from('[sources.reports]\ntype = "attached"\nprefix = "files/2016"\n[sinks.feed]\ntype = "rss"\n',
                           plugins=[_source_plugin(Own)])

    (source,) = project.sources
    assert source.settings.prefix == PurePosixPath("files/2016"), source.settings.prefix


def test_a_list_of_paths_is_taken_from_pipeline_toml_as_one_path_is(project_from, tmp_path, monkeypatch):
    """README (writing a source): "a `Path`, a default one too, is relative to `pipeline.toml`". A plugin takes
    several folders, `folders: list[Path]`, and the organiser writes `folders = ["content/a", "content/b"]`. The
    wildcard validator only looks at a value that is itself a `PurePath`, so each path in the list stays relative
    and is read from whatever folder cron or systemd runs the command in, while `folder: Path` beside it is taken
    from pipeline.toml's folder. Each Path in a setting should be."""
    from pathlib import Path

    from pipeline.components import Settings

    class Own(Settings):
        folder: Path = Path("content/a")
        folders: list[Path] = []
        kinds: set[Path] = set()
        by_name: dict[str, Path] = {}

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    project = project_from('[sources.reports]\ntype = "attached"\nfolders = ["content/a", "content/b"]\n'
                           'kinds = ["content/c", "/srv/d"]\n[sources.reports.by_name]\ne = "content/e"\n'
                           '[sinks.feed]\ntype = "rss"\n', plugins=[_source_plugin(Own)])

    (source,) = project.sources
    assert source.settings.folder == project.root / "content" / "a"
    assert source.settings.folders == [project.root / "content" / "a", project.root / "content" / "b"]
    assert source.settings.kinds == {project.root / "content" / "c", Path("/srv/d")}  # a set too, and a table's
    assert source.settings.by_name == {"e": project.root / "content" / "e"}


def test_a_plugin_with_a_none_default_for_a_str_setting_still_loads(project_from):
    """A plugin written for the host before this change declares `token_env: str = None` (a very common way of
    saying "optional", which pydantic accepts and never checks for a default) and worked. With `validate_default=True`
    on the Settings base, every project naming its type now fails at start-up with "Input should be a valid string"
    for a key the organiser never wrote. The default was made validated to resolve default Paths; a default of
    another kind the plugin gives should not turn a working plugin into a configuration error."""
    from pipeline.components import Settings

    class Own(Settings):
        token_env: str = None  # type: ignore[assignment]
        limit: int = 5

    project = project_from('[sources.reports]\ntype = "attached"\n[sinks.feed]\ntype = "rss"\n',
                           plugins=[_source_plugin(Own)])

    (source,) = project.sources
    assert source.settings.token_env is None and source.settings.limit == 5


def test_a_transform_that_returns_the_list_it_changed_in_place_does_not_fail(pipeline_project):
    """A plugin author's transform changes each item in place, as the README asks, and ends with `return items`
    (the same list, a habit from map/filter code). `transforming.apply_within` now fails any transform whose apply
    returns something other than None: the run reports "apply() returned list, which is ignored" and exits 1,
    though nothing was ignored (the items it returned are the ones it was given, already changed). Only a
    returned value that is not the list given (a filtered copy, whose dropping would be lost) should fail."""
    from pipeline import hookimpl
    from pipeline.components import Transform

    class Shout(Transform):
        name = "shout"

        def apply(self, items, run):
            for item in items:
                item.title = item.title.upper()
            return items

    class Plugin:
        @hookimpl
        def register_transforms(self, register):
            register(Shout)

    project = pipeline_project(BLOG_TOML + '[transforms.shout]\ntype = "shout"\n',
                               {"blog/jan.md": post_file("January post", "2016-01-20"),
                                "subscribers.csv": "email,name\n"}, plugins=[("shout", Plugin())])

    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    assert report.exit_code == 0, [f"{r.stage} {r.name}: {r.summary}" for r in report.results if not r.ok]
    assert "JANUARY POST" in project.site("blog/jan/")


def test_a_post_made_a_draft_again_takes_its_own_picture_off_the_site(pipeline_project):
    """A post about a peer-support group has the group's photo, `group.jpg`, beside it in the blog folder. A
    participant withdraws consent, and the organiser makes the post a `draft` again: README, "a post made a draft
    again leaves everything but the emails already sent". The post's page now says it was withdrawn, but
    `BlogSource.site_files` publishes every image in the folder whether or not any listed post names it, so the
    photo stays at <site>/blog/group.jpg, the very address the email and the post linked. A file only a withdrawn
    (or draft) post names should not be published; at least not once its post is withdrawn."""
    post = post_file("Our peer-support group", "2016-01-20", 'image: group.jpg\nimage_alt: "The group"\n')
    project = pipeline_project(BLOG_TOML, {"blog/group.md": post, "blog/group.jpg": b"jpeg of the group",
                                          "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    photo = project.root / "out" / "blog" / "group.jpg"
    assert photo.exists()

    project.write({"blog/group.md": post.replace("---\n\n", "draft: true\n---\n\n", 1)})
    project.refresh(as_of=date(2016, 2, 1))

    assert "withdrawn" in project.site("blog/group/")
    assert not photo.exists()


def test_a_sources_file_is_not_published_in_a_folder_the_site_keeps_for_itself(project_from):
    """A source names a file at <site>/outbox/report.pdf (a plugin's, or the blog's with `base_url` the site's root and
    a subfolder called outbox/, preview/ or unsubscribe/). `site.file_path` checks the suffix and the `..` parts
    but not `_SITE_FOLDERS`, which site.py says no page may go in: out/outbox/ is where earlier versions kept the
    outbox, so the next command moves the published file into the private outbox folder (every run, as the site
    writes it again), or, with the delivery's `folder` set, warns on every run that subscribers' messages are
    published; under unsubscribe/ or preferences/ the proxy sends the request to `pipeline serve`, so the file is
    never reachable. Such an address should be refused as a page's own URL there is."""
    from pipeline import site

    project = project_from(f'[pipeline]\nname = "N"\nsite_url = "{SITE}"\n[sinks.archive]\ntype = "archive"\n')

    published = {address: site.file_path(project, f"{SITE}/{address}")
                 for address in ("outbox/issue-1/report.pdf", "preview/photo.png", "unsubscribe/logo.png",
                                 "newsletter/issue-1.pdf")}
    assert published == dict.fromkeys(published), published


def test_a_calendar_spanning_a_change_of_the_zones_rule_still_gives_the_later_years_as_yearly_rules(project_from,
                                                                                                    item_factory):
    """A network in New York has run events since 2007 and subscribes readers to every event (calendar.ics). The
    VTIMEZONE starts a year before the first event, so it takes in April 2006, under the rule the US changed in
    2007 (first Sunday of April, then second Sunday of March). `vtimezone._yearly_rule` is asked about all the
    changes of one kind at once (grouped by offsets and name over the whole range), finds two months, and every
    change of every year becomes an observance of its own: 22 DAYLIGHT/STANDARD blocks, no RRULE, the form the
    module says Outlook's desktop app misreads (review h102). The years that keep one rule (2007 on) should be one
    observance with a yearly RRULE, the earlier changes on their own."""
    new_york = ZoneInfo("America/New_York")
    project = project_from('[pipeline]\nname = "N"\ntimezone = "America/New_York"\n[sinks.feed]\ntype = "rss"\n')
    events = [item_factory(Kind.EVENT, f"Summer meeting {year}", event=EventDetails(
        start=datetime(year, 6, 5, 10, tzinfo=new_york), end=datetime(year, 6, 5, 16, tzinfo=new_york),
        timezone="America/New_York", venue="Brooklyn")) for year in (2007, 2016)]

    (zone,) = Calendar.from_ical(calendar_ics(project, events)).walk("VTIMEZONE")

    changes = [o for o in zone.walk() if o.name in ("STANDARD", "DAYLIGHT")
               and o.decoded("TZOFFSETFROM") != o.decoded("TZOFFSETTO")]
    later = [o for o in changes if o.decoded("DTSTART").year >= 2007]  # the rule of 2007 on
    plain = [o for o in later if "RRULE" not in o]
    assert later and not plain, f"{len(changes)} observances; {len(plain)} of 2007 on without an RRULE"


def test_an_event_withdrawn_before_this_version_gets_a_cancellation_an_app_takes(pipeline_project):
    """An organiser took the seminar out of events.toml last month, under the version before this one: its
    withdrawal was stored (`withdrawn`) with no revision counted, and its .ics deleted. After the upgrade the next
    refresh writes that .ics again, saying STATUS:CANCELLED, but with the SEQUENCE (and DTSTAMP) of the copy readers
    imported: only a withdrawal made now counts one (`withdraw_missing`), and nothing counts one for those already
    withdrawn. RFC 5546 2.1.5: a copy with the same SEQUENCE and DTSTAMP is not newer, so the readers' calendars
    keep the seminar as on. The cancellation should have a SEQUENCE above every copy published before it."""
    import sqlite3

    from tests.test_withdrawn import EVENTS_TOML, SEMINAR

    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (folder,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]
    ics = project.root / "out" / "events" / folder / "event.ics"
    (before,) = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")

    # what the version before this one did on withdrawing it: the row in `withdrawn`, the .ics deleted
    (item,) = project.items()
    # (and its database's version: user_version 14, before a withdrawal counted a revision)
    with sqlite3.connect(project.project.core.state_dir / "pipeline.sqlite") as db:
        db.execute("INSERT INTO withdrawn (item, at) VALUES (?, ?)", (item.id, datetime.now(UTC).isoformat()))
        db.execute("UPDATE counters SET value = value + 1 WHERE name = 'item changes'")
        db.execute("PRAGMA user_version = 14")
    db.close()
    ics.unlink()
    project.write({"events.toml": "# cancelled\n"})

    project.refresh(as_of=date(2016, 2, 1))

    (cancelled,) = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert cancelled["STATUS"] == "CANCELLED"
    assert (cancelled["SEQUENCE"], cancelled["DTSTAMP"].dt) > (before["SEQUENCE"], before["DTSTAMP"].dt), \
        (cancelled["SEQUENCE"], before["SEQUENCE"])


def test_a_site_published_inside_the_blog_folder_is_not_published_again_inside_itself(pipeline_project):
    """An organiser keeps everything under content/: the posts in content/ and the site built into content/site/
    (`out_dir = "content/site"`, to preview it beside the posts). `BlogSource.site_files` lists every image under
    the blog folder, the site's own published copies among them, so each run publishes the previous run's copy one
    level deeper: content/site/blog/site/blog/lead.jpg, then .../site/blog/site/blog/site/blog/lead.jpg, without
    end. The folder the site is written to (and the state folder) should not be read as the blog's files."""
    toml = BLOG_TOML.replace('path = "blog"', 'path = "content"')
    from pipeline.testing import BASE_TOML

    project = pipeline_project(BASE_TOML + 'out_dir = "content/site"\n' + toml,
                               {"content/jan.md": post_file("January post", "2016-01-20", "image: lead.jpg\n"),
                                "content/lead.jpg": b"jpeg bytes", "subscribers.csv": "email,name\n"})
    for _ in range(3):
        project.refresh(as_of=date(2016, 2, 1), check=False)

    copies = sorted(str(p.relative_to(project.root)) for p in (project.root / "content").rglob("lead.jpg"))
    assert copies == ["content/lead.jpg", "content/site/blog/lead.jpg"], copies


def test_paths_nested_in_settings_and_used_as_keys_are_taken_from_pipeline_toml(project_from, tmp_path, monkeypatch):
    """A plugin's `dict[str, list[Path]]` (folders per kind) and `dict[Path, str]` (a label per folder): each Path,
    however deep, and a table's keys, are relative to pipeline.toml's folder, as a lone Path is; a PurePosixPath
    (a path on the site) and a string stay as written."""
    from pathlib import Path, PurePosixPath

    from pipeline.components import Settings

    class Own(Settings):
        by_kind: dict[str, list[Path]] = {}
        labels: dict[Path, str] = {}
        pairs: list[tuple[Path, PurePosixPath]] = []
        names: list[str] = []

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    project = project_from('[sources.reports]\ntype = "attached"\nnames = ["content/x"]\n'
                           'pairs = [["content/p", "site/p"]]\n'
                           '[sources.reports.by_kind]\njobs = ["content/jobs", "/srv/jobs"]\n'
                           '[sources.reports.labels]\n"content/l" = "L"\n'
                           '[sinks.feed]\ntype = "rss"\n', plugins=[_source_plugin(Own)])

    (source,) = project.sources
    root = project.root
    assert source.settings.by_kind == {"jobs": [root / "content" / "jobs", Path("/srv/jobs")]}
    assert source.settings.labels == {root / "content" / "l": "L"}
    assert source.settings.pairs == [(root / "content" / "p", PurePosixPath("site/p"))]
    assert source.settings.names == ["content/x"]
