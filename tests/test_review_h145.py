"""Review h145: a third-party plugin author following the README ("Writing a plugin") literally."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Settings, Sink, SinkResult, Source, Transform
from pipeline.dates import aware
from pipeline.models import EventDetails, Item, JobDetails, Kind, item_id

# What a source's author easily gets wrong in an event's or a job's dates (`datetime.fromisoformat` of a time with
# no zone; a bare date for an all-day event; a job's closing day as a datetime): each was saved as it was, and
# every later run then stopped making its issue with a TypeError or ValueError, whatever source was at fault.
WRONG_DATES = {
    "naive start": (Kind.EVENT, lambda tz: {"event": EventDetails(start=datetime(2016, 4, 20, 10, 0))},
                    "event start datetime.datetime(2016, 4, 20, 10, 0) has no time zone"),
    "naive end": (Kind.EVENT, lambda tz: {"event": EventDetails(start=aware(datetime(2016, 4, 20, 10), tz),
                                                               end=datetime(2016, 4, 20, 12, 0))},
                  "event end datetime.datetime(2016, 4, 20, 12, 0) has no time zone"),
    "a day as start": (Kind.EVENT, lambda tz: {"event": EventDetails(start=date(2016, 4, 20), all_day=True)},
                       "event start datetime.date(2016, 4, 20) has no time zone"),
    "a datetime closing": (Kind.JOB, lambda tz: {"job": JobDetails("Org", closing_date=aware(date(2016, 4, 20), tz))},
                           "job closing_date datetime.datetime(2016, 4, 20, 0, 0, "
                           "tzinfo=zoneinfo.ZoneInfo(key='Europe/London')) is not a day; give a datetime.date"),
    "a closing date not in ISO form": (Kind.JOB, lambda tz: {"job": JobDetails("Org", closing_date="20 April 2016")},
                                       "job closing_date '20 April 2016' is not a day"),
}


def _plugin(kind: Kind, details) -> object:
    class Wrong(Source):
        name = "wrong"

        def fetch(self, run):
            yield Item(id=item_id(self.instance, "x"), kind=kind, source=self.instance, title="Seminar",
                       published=aware(date(2016, 3, 2), self.project.tz), **details(self.project.tz))

    class Right(Source):
        name = "right"

        def fetch(self, run):
            yield Item(id=item_id(self.instance, "y"), kind=Kind.NEWS, source=self.instance, title="News",
                       published=aware(date(2016, 3, 3), self.project.tz))

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Wrong)
            register(Right)

    return Plugin()


@pytest.mark.parametrize("case", list(WRONG_DATES))
def test_an_event_or_job_with_dates_the_host_cannot_use_fails_its_source_alone(pipeline_project, case):
    """The README: raise to fail a source alone, "the others go on". An item whose event times have no zone (or are
    not datetimes) or whose job closes on a datetime fails its source, by name and with what to do, instead of being
    saved and stopping this and every later run's issue."""
    kind, details, said = WRONG_DATES[case]
    project = pipeline_project('[sources.bad]\ntype = "wrong"\n[sources.good]\ntype = "right"\n',
                               plugins=[("h145_wrong_dates", _plugin(kind, details))])
    for as_of in (date(2016, 4, 1), date(2016, 5, 1)):
        report = project.run(as_of=as_of, check=False)
        assert report.exit_code == 3, report.results
        (failed,) = [r for r in report.results if not r.ok]
        assert (failed.stage, failed.name) == ("source", "bad")
        assert said in failed.summary
        assert "pipeline.dates.aware(value, the venue's zone)" in failed.summary or kind is Kind.JOB
    assert [item.title for item in project.items()] == ["News"]
    assert "News" in project.email(issue=1).text


def test_a_closing_date_in_iso_form_is_taken_as_the_day(pipeline_project):
    """A CSV's "2016-04-20" given as it is was saved as a string, and read back as the day: it is made the day at
    once, so the sinks see a `date` whatever the source gave."""
    job = {"job": JobDetails("Org", closing_date="2016-04-20")}
    project = pipeline_project('[sources.bad]\ntype = "wrong"\n[sources.good]\ntype = "right"\n',
                               plugins=[("h145_iso_closing", _plugin(Kind.JOB, lambda tz: job))])
    project.run(as_of=date(2016, 4, 1))
    (saved,) = project.items(Kind.JOB)
    assert saved.job.closing_date == date(2016, 4, 20)
    assert "Wednesday 20 April 2016" in project.email().text


class _LeavesItUnfit(Transform):
    """A transform as an author writes it (seeing the whole run, not `in_workers`) that leaves one item unfit to save:
    its themes a set, not a list."""

    name = "leaves-it-unfit"

    def apply(self, items, run):
        for item in items:
            item.summary = "marked"
            if item.title == "Second":
                item.themes = set(item.themes) | {"broken"}


class _UnfitPlugin:
    @hookimpl
    def register_transforms(self, register):
        register(_LeavesItUnfit)


def test_an_item_a_whole_run_transform_leaves_unfit_to_save_fails_the_transform_not_the_run(pipeline_project,
                                                                                            item_factory):
    """As for a transform applied a chunk at a time: the transform fails, saying which item, the other items are
    saved and the sinks run (exit 1). It stopped the whole run with a TypeError, nothing saved, every run again."""
    items = [item_factory(Kind.NEWS, "First"), item_factory(Kind.NEWS, "Second")]
    project = pipeline_project('[transforms.mark]\ntype = "leaves-it-unfit"\n', items=items,
                               plugins=[("h145_unfit", _UnfitPlugin())])
    report = project.run(as_of=date(2016, 2, 1), check=False)
    assert report.exit_code == 1
    (failed,) = [r for r in report.results if not r.ok]
    assert (failed.stage, failed.name) == ("transform", "mark")
    assert f"item {items[1].id} cannot be saved as the transforms left it" in failed.summary
    # the one left unfit saved as its source gave it, untransformed (review h150)
    assert sorted((item.title, item.summary) for item in project.items()) == [("First", "marked"), ("Second", "")]
    assert [r.name for r in report.results if r.stage == "sink"] == ["newsletter", "feed", "archive"]
    assert {entry.title for entry in project.feed().entries} == {"First", "Second"}


class _Traced:
    @hookimpl
    def register_sinks(self, register):
        pass


def test_the_hook_trace_names_the_plugin_of_each_call_and_leaves_out_plugins_without_the_hook(monkeypatch, capsys):
    """README: PIPELINE_TRACE_HOOKS=1 shows "whether, when and with what yours is called". The host calls each hook
    once per plugin, and the trace said only `register_sinks` for every plugin, implementing it or not (some 250
    alike lines for `pipeline check`): which call was yours it never said."""
    from pipeline.plugins import build_plugin_manager
    from pipeline.registry import build_registry

    monkeypatch.setenv("PIPELINE_TRACE_HOOKS", "1")
    host = build_plugin_manager(extra=[("h145_traced", _Traced())])
    build_registry(host)
    err = capsys.readouterr().err
    mine = [line for line in err.splitlines() if "h145_traced" in line]
    assert len(mine) == 2 and all("register_sinks" in line for line in mine), mine
    implementing = {impl.plugin_name for impl in host.pm.hook.register_sinks.get_hookimpls()}
    assert len([line for line in err.splitlines() if "register_sinks" in line]) == 2 * len(implementing)


def _registers_transform(transform_name: str) -> object:
    class Named(Transform):
        name = transform_name

        def apply(self, items, run):
            pass

    class Plugin:
        @hookimpl
        def register_transforms(self, register):
            register(Named)

    return Plugin()


def test_a_component_name_two_plugins_register_is_credited_to_the_one_loaded_first_every_time():
    """Each hook was called plugin by plugin in the order of pluggy's `get_plugins()`, a set: which of two plugins
    registering one name kept it (`pipeline plugins` listed the component under one, "-" under the other, and the
    conflict named them in either order) changed from one process to the next. Now the load order decides: entry
    points by name, then plugins_dir's files, then those a caller adds."""
    from pipeline.plugins import build_plugin_manager
    from pipeline.registry import build_registry

    for _ in range(30):
        host = build_plugin_manager(entry_points=False, extra=[("h145_first", _registers_transform("dup")),
                                                               ("h145_second", _registers_transform("dup"))])
        registry = build_registry(host)
        assert registry.get("transform", "dup").plugin == "h145_first"
        assert registry.problems == ["transform 'dup' is registered by both plugin 'h145_first' and plugin "
                                     "'h145_second'; block one with PIPELINE_BLOCK_PLUGINS"]


def test_the_webhook_example_links_each_item_to_its_own_page_as_the_archive_gives_them(pipeline_project, item_factory,
                                                                                          http_recorder, monkeypatch):
    """README ("A sink"): `site.item_link`, given `site.own_pages(project, run.store)`, so that of two items with one
    own URL on the site the second links to its own page. The README's webhook example did not give it, and linked
    both to the first one's page."""
    from pathlib import Path

    from pipeline.testing import load_plugin_file

    monkeypatch.setenv("PIPELINE_BLOCK_PLUGINS", "webhook_sink")  # this checkout's file, not an installed copy
    example = Path(__file__).parent.parent / "examples/webhook-sink/pipeline_webhook_sink.py"
    page = "https://network.example.org/blog/leeds/"
    items = [item_factory(Kind.POST, "A day in Leeds", url=page),
             item_factory(Kind.POST, "Leeds again", url=page, published=datetime(2016, 1, 20, 10, tzinfo=UTC))]
    project = pipeline_project(f'[sinks.chat]\ntype = "webhook"\nurl = "{http_recorder.url}/hook"\n'
                               '[sinks.archive]\ntype = "archive"\n', items=items,
                               plugins=[("h145_webhook", load_plugin_file(example))])
    project.run(as_of=date(2016, 2, 1))
    (request,) = http_recorder.requests
    links = {item["title"]: item["url"] for item in request.json()["items"]}
    assert links["A day in Leeds"] == page
    assert links["Leeds again"] != page and "Leeds again" in project.site(links["Leeds again"].removeprefix(
        "https://network.example.org/"))


class _ForgetsToReturn(Source):
    name = "forgets-to-return"

    def fetch(self, run):
        [Item(id=item_id(self.instance, "x"), kind=Kind.NEWS, source=self.instance, title="Lost",
              published=aware(date(2016, 3, 2), self.project.tz))]  # built, and never returned


class _ReturnsOne(Source):
    name = "returns-one"

    def fetch(self, run):
        return Item(id=item_id(self.instance, "x"), kind=Kind.NEWS, source=self.instance, title="One",
                    published=aware(date(2016, 3, 2), self.project.tz))


class _ReturnsPlugin:
    @hookimpl
    def register_sources(self, register):
        register(_ForgetsToReturn)
        register(_ReturnsOne)


def test_a_fetch_that_returns_no_items_fails_its_source_saying_what_it_must_return(pipeline_project):
    """README: `fetch(run)` returns or yields `Item`s. One that returned nothing (None) or a single item failed with
    "TypeError: 'NoneType' object is not iterable", which names neither fetch nor what it should have returned."""
    project = pipeline_project('[sources.none]\ntype = "forgets-to-return"\n[sources.one]\ntype = "returns-one"\n',
                               plugins=[("h145_returns", _ReturnsPlugin())])
    report = project.run(as_of=date(2016, 4, 1), check=False)
    summaries = {r.name: r.summary for r in report.results if r.stage == "source"}
    assert summaries == {
        "none": "TypeError: fetch() returned None, not Items; return a list of them (or yield each)",
        "one": "TypeError: fetch() returned Item, not Items; return a list of them (or yield each)"}


class _PathSink(Sink):
    name = "path-sink"

    class Settings(Settings):
        path: Path = Path("out/events.csv")
        since: date | None = None

    def write(self, edition, run):
        return SinkResult("nothing")


class _PathSinkPlugin:
    @hookimpl
    def register_sinks(self, register):
        register(_PathSink)


@pytest.mark.parametrize("setting, said", [
    ("path = 3", 'path: must be a path in quotes, such as "content/notices.csv", not 3'),
    ('path = ["a.csv"]', 'path: must be a path in quotes, such as "content/notices.csv"'),
    ("since = 2016-01-01T10:00:00", "since: must be a date such as 2016-03-01, with no time"),
])
def test_a_path_or_date_setting_of_the_wrong_kind_is_said_in_plain_words(pipeline_project, setting, said):
    """README: a `Path` setting is relative to pipeline.toml. Given a number or a list, the error was pydantic's own
    "Input is not a valid path for <class 'pathlib.Path'>"; a date given a time, "Datetimes provided to dates
    should have zero time - e.g. be exact dates"."""
    from pipeline.errors import ConfigError

    project = pipeline_project(f'[sinks.csv]\ntype = "path-sink"\n{setting}\n',
                               plugins=[("h145_path", _PathSinkPlugin())])
    with pytest.raises(ConfigError) as info:
        assert project.project is None
    assert str(info.value).startswith(f"pipeline.toml: [sinks.csv] (path-sink, from plugin 'h145_path'): {said}")


class _DropsTheZone(Transform):
    """A transform "tidying" an event's times that drops their zone: saved so, the event stopped every later issue."""

    name = "drops-the-zone"

    def apply(self, items, run):
        for item in items:
            if item.event:
                item.event.start = item.event.start.replace(tzinfo=None)


class _DropsPlugin:
    @hookimpl
    def register_transforms(self, register):
        register(_DropsTheZone)


@pytest.mark.parametrize("in_workers", [False, True])
def test_an_event_a_transform_leaves_without_a_time_zone_is_not_saved_and_fails_the_transform(
        pipeline_project, item_factory, monkeypatch, in_workers):
    monkeypatch.setattr(_DropsTheZone, "in_workers", in_workers)
    items = [item_factory(Kind.NEWS, "News"), item_factory(Kind.EVENT, "Seminar")]
    project = pipeline_project('[transforms.tidy]\ntype = "drops-the-zone"\n', items=items,
                               plugins=[("h145_drops", _DropsPlugin())])
    for as_of in (date(2016, 2, 1), date(2016, 3, 1)):
        report = project.run(as_of=as_of, check=False)
        (failed,) = [r for r in report.results if not r.ok]
        assert (failed.stage, failed.name) == ("transform", "tidy")
        assert f"item {items[1].id} cannot be saved as the transforms left it: " in failed.summary
        assert "event start datetime.datetime(2016, 2, 2, 9, 30) has no time zone" in failed.summary
    stored = {item.title: item for item in project.items()}  # saved as its source gave it (review h150)
    assert sorted(stored) == ["News", "Seminar"] and stored["Seminar"].event.start.utcoffset() is not None


def test_pipeline_plugins_lists_the_component_whose_name_was_taken_as_refused_saying_by_whom(capsys):
    """README ("While you write one"): `pipeline plugins` lists a broken one with the reason, "a component name
    another plugin registered too" among them. The plugin whose component was refused was listed as registering
    nothing ("-"), as if its register hook were never called, with the conflict on a line of its own."""
    from pipeline.commands.core import plugins_data
    from pipeline.plugins import build_plugin_manager
    from pipeline.registry import build_registry

    host = build_plugin_manager(entry_points=False, extra=[("h145_first", _registers_transform("dup")),
                                                           ("h145_second", _registers_transform("dup"))])
    data = plugins_data(host, build_registry(host))
    listed = {plugin["name"]: plugin for plugin in data["plugins"]}
    assert listed["h145_first"]["broken"] is None
    # not broken since review h173: a plugin's other components are registered; the one refused is named
    assert listed["h145_second"]["broken"] is None
    assert listed["h145_second"]["refused"] == [{"category": "transform", "name": "dup", "owner": "h145_first",
                                                 "reason": "transform 'dup' was not registered: plugin 'h145_first' "
                                                           "registered that name first; block one with "
                                                           "PIPELINE_BLOCK_PLUGINS"}]
    assert data["exit_code"] == 2 and len(data["conflicts"]) == 1


class _Tags(Transform):
    name = "tags"

    class Settings(Settings):
        theme: str = "tagged"

    def apply(self, items, run):
        for item in items:
            item.themes = [self.settings.theme]


class _TagsPlugin:
    @hookimpl
    def register_transforms(self, register):
        register(_Tags)


def test_a_pipeline_toml_written_between_runs_is_completed_as_the_first_one_was(pipeline_project, item_factory):
    """README's fixtures table: `project.write(files)` changes files between runs. A new pipeline.toml written as the
    first was given (no [pipeline] table, no sinks) was written as it was: the next run stopped at "[pipeline]:
    missing required key 'name'", and without the sinks and the `given` source the test meant to keep."""
    project = pipeline_project('[transforms.mark]\ntype = "tags"\n', items=[item_factory(Kind.NEWS, "News")],
                               plugins=[("h145_tags", _TagsPlugin())])
    project.run(as_of=date(2016, 2, 1))
    project.write({"pipeline.toml": '[transforms.mark]\ntype = "tags"\ntheme = "long"\n'})
    project.run(as_of=date(2016, 3, 1))
    assert [(item.title, item.themes) for item in project.items()] == [("News", ["long"])]
    assert project.project.core.name == "Test Network" and project.feed().entries[0].title == "News"
