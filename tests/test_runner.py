"""The run: stage order, failure isolation, state, editions, and the hooks around a run."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from pipeline import hookimpl
from pipeline.components import Sink, SinkResult, Source, Transform
from pipeline.edition import Edition
from pipeline.models import Kind
from pipeline.runner import run, state_path
from pipeline.state import Store
from tests.conftest import make_item

JAN = datetime(2016, 1, 15, tzinfo=UTC)
MAR = datetime(2016, 3, 15, tzinfo=UTC)


class Recorder:
    """A plugin providing a source, a transform and a sink that log what they are given."""

    def __init__(self, items=(), fail_source=False, fail_sink=False):
        self.log: list[tuple] = []
        self.items = list(items)
        self.editions: list[Edition | None] = []
        recorder = self

        class ListSource(Source):
            name = "list"

            def fetch(self, run):
                recorder.log.append(("source", self.instance))
                if fail_source and self.instance == "broken":
                    raise RuntimeError("partner site is down")
                return list(recorder.items) if self.instance == "good" else []

        class Tagger(Transform):
            name = "tagger"

            def apply(self, items, run):
                recorder.log.append(("transform", self.instance, len(items)))
                for item in items:
                    item.themes.append(self.instance)

        class Collect(Sink):
            name = "collect"

            def write(self, edition, run):
                recorder.log.append(("sink", self.instance))
                recorder.editions.append(edition)
                if fail_sink and self.instance == "first":
                    raise OSError("disk full")
                return SinkResult(f"{len(edition.items) if edition else 0} items")

        self.classes = (ListSource, Tagger, Collect)

    @hookimpl
    def register_sources(self, register):
        register(self.classes[0])

    @hookimpl
    def register_transforms(self, register):
        register(self.classes[1])

    @hookimpl
    def register_sinks(self, register):
        register(self.classes[2])


TOML = """
[sources.good]
type = "list"
[sources.broken]
type = "list"
[transforms.one]
type = "tagger"
[transforms.two]
type = "tagger"
[sinks.first]
type = "collect"
[sinks.second]
type = "collect"
"""


def items():
    return [make_item(Kind.POST, "January post", published=JAN), make_item(Kind.NEWS, "March news", published=MAR)]


def test_stages_run_in_order_and_in_config_order(project_from):
    recorder = Recorder(items())
    report = run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    stages = [entry[0] for entry in recorder.log]
    assert stages == ["source", "source", "transform", "transform", "sink", "sink"]
    assert [e[1] for e in recorder.log if e[0] != "source"] == ["one", "two", "first", "second"]
    assert report.exit_code == 0
    (edition, _) = recorder.editions
    assert [i.title for i in edition.items] == ["January post"]  # March is after the edition date
    assert edition.items[0].themes == ["one", "two"]


def test_a_failing_source_is_named_and_the_others_reach_the_sinks(project_from):
    recorder = Recorder(items(), fail_source=True)
    report = run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    (failed,) = report.failed("source")
    assert failed.name == "broken" and "partner site is down" in failed.summary
    assert [i.title for i in recorder.editions[0].items] == ["January post"]  # from "good"
    assert report.exit_code == 3


def test_a_failing_sink_fails_the_run_but_other_sinks_run_and_state_is_kept(project_from):
    recorder = Recorder(items(), fail_sink=True)
    project = project_from(TOML, plugins=[("rec", recorder)])
    report = run(project, as_of=date(2016, 2, 1))
    assert [r.name for r in report.failed("sink")] == ["first"]
    assert "OSError: disk full" in report.failed("sink")[0].summary
    assert ("sink", "second") in recorder.log
    assert report.exit_code == 1
    store = Store(state_path(project))
    assert store.count_items() == 2 and store.edition_on(date(2016, 2, 1)) is not None
    store.close()


def test_only_new_or_changed_items_are_transformed(project_from):
    recorder = Recorder(items())
    project = project_from(TOML, plugins=[("rec", recorder)])
    run(project, as_of=date(2016, 2, 1))
    recorder.log.clear()
    recorder.items = items()
    recorder.items[1].body_html = "<p>Edited.</p>"
    run(project, mode="refresh")
    assert [e for e in recorder.log if e[0] == "transform"] == [("transform", "one", 1), ("transform", "two", 1)]


def test_the_same_date_gives_the_same_edition_and_the_next_starts_where_it_ended(project_from):
    recorder = Recorder(items())
    project = project_from(TOML, plugins=[("rec", recorder)])
    first = run(project, as_of=date(2016, 2, 1))
    again = run(project, as_of=date(2016, 2, 1))
    later = run(project, as_of=date(2016, 5, 1))
    assert (first.edition, again.edition, later.edition) == (1, 1, 2)
    may = recorder.editions[-1]
    assert [i.title for i in may.items] == ["March news"]
    assert may.period_start == recorder.editions[0].period_end


def test_nothing_new_means_no_edition(project_from):
    recorder = Recorder([make_item(Kind.POST, "Old", published=datetime(2015, 1, 1, tzinfo=UTC))])
    report = run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    assert report.edition is None and recorder.editions == [None, None]


def test_refresh_saves_items_but_makes_no_edition(project_from):
    recorder = Recorder(items())
    project = project_from(TOML, plugins=[("rec", recorder)])
    report = run(project, mode="refresh")
    assert report.edition is None
    store = Store(state_path(project))
    assert store.count_items() == 2 and store.editions() == []
    store.close()


def test_closed_jobs_and_past_events_are_left_out(project_from):
    from datetime import date as d

    from pipeline.models import EventDetails, JobDetails

    open_job = make_item(Kind.JOB, "Open job", published=JAN,
                         job=JobDetails("Org", closing_date=d(2016, 2, 14)))
    closed_job = make_item(Kind.JOB, "Closed job", published=JAN, job=JobDetails("Org", closing_date=d(2016, 1, 31)))
    coming = make_item(Kind.EVENT, "Coming", published=JAN,
                       event=EventDetails(start=datetime(2016, 2, 2, 9, tzinfo=UTC)))
    over = make_item(Kind.EVENT, "Over", published=JAN,
                     event=EventDetails(start=datetime(2016, 1, 20, 9, tzinfo=UTC),
                                        end=datetime(2016, 1, 20, 17, tzinfo=UTC)))
    recorder = Recorder([open_job, closed_job, coming, over])
    run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    assert [i.title for i in recorder.editions[0].items] == ["Open job", "Coming"]


def test_run_finished_gets_the_report_and_a_failing_listener_is_named(project_from, caplog):
    seen = []

    class Listener:
        @hookimpl
        def run_finished(self, report, project):
            seen.append((report.mode, report.edition, [r.name for r in report.results], project.core.name))

    class Exploding:
        @hookimpl
        def run_finished(self, report):
            raise RuntimeError("webhook unreachable")

    recorder = Recorder(items())
    project = project_from(TOML, plugins=[("rec", recorder), ("listener", Listener()), ("exploding", Exploding())])
    report = run(project, as_of=date(2016, 2, 1))
    assert seen == [("run", 1, ["good", "broken", "one", "two", "first", "second"], "Test Network")]
    assert report.problems == [] and report.exit_code == 0  # the hook's promise: it does not change the outcome
    assert any("plugin 'exploding'" in r.getMessage() and "webhook unreachable" in r.getMessage()
               for r in caplog.records)


def test_prepare_jinja_environment_lets_a_plugin_add_filters(project_from, run_context):
    class Shout:
        @hookimpl
        def prepare_jinja_environment(self, env, project):
            env.filters["shout"] = lambda text: text.upper() + "!"
            env.globals["network"] = project.core.name

    project = project_from(TOML, plugins=[("rec", Recorder()), ("shout", Shout())])
    env = run_context(project).templates
    assert env.from_string("{{ 'hello' | shout }} {{ network }} {{ 112.5 | money }}").render() == \
        "HELLO! Test Network £112.50"


@pytest.mark.parametrize("bad", [None, "not an item"])
def test_a_source_returning_something_else_fails_alone(project_from, bad):
    class Odd(Source):
        name = "odd"

        def fetch(self, run):
            return [bad]

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Odd)

    recorder = Recorder(items())
    toml = TOML + '[sources.odd]\ntype = "odd"\n'
    report = run(project_from(toml, plugins=[("rec", recorder), ("oddp", Plugin())]), as_of=date(2016, 2, 1))
    (failed,) = report.failed("source")
    assert failed.name == "odd" and "not Item" in failed.summary


def test_an_item_that_arrives_late_goes_in_the_next_edition_not_nowhere(project_from):
    """A source down on issue day: its January post, first seen after issue 1, is in issue 2."""
    recorder = Recorder([make_item(Kind.POST, "On time", published=JAN)])
    project = project_from(TOML, plugins=[("rec", recorder)])
    run(project, as_of=date(2016, 2, 1))
    recorder.items.append(make_item(Kind.POST, "Late January post", published=datetime(2016, 1, 25, tzinfo=UTC)))
    run(project, as_of=date(2016, 2, 1))  # re-run: issue 1 is what it was
    assert [i.title for i in recorder.editions[-1].items] == ["On time"]
    run(project, as_of=date(2016, 3, 1))
    assert [i.title for i in recorder.editions[-1].items] == ["Late January post"]


def test_old_items_from_a_newly_added_source_do_not_flood_the_next_edition(project_from):
    recorder = Recorder([make_item(Kind.POST, "On time", published=JAN)])
    project = project_from(TOML, plugins=[("rec", recorder)])
    run(project, as_of=date(2016, 2, 1))
    recorder.items.append(make_item(Kind.POST, "From 2015", published=datetime(2015, 6, 1, tzinfo=UTC)))
    recorder.items.append(make_item(Kind.POST, "February", published=datetime(2016, 2, 10, tzinfo=UTC)))
    run(project, as_of=date(2016, 3, 1))
    assert [i.title for i in recorder.editions[-1].items] == ["February"]


def test_two_items_linking_the_same_page_stay_two_items(project_from):
    same = "https://partner.example.org/conference"
    recorder = Recorder([make_item(Kind.NEWS, "Speakers announced", published=JAN, url=same),
                         make_item(Kind.NEWS, "Booking open", published=JAN, url=same)])
    run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    assert sorted(i.title for i in recorder.editions[0].items) == ["Booking open", "Speakers announced"]


def test_an_edition_before_the_latest_is_refused(project_from):
    from pipeline.edition import EditionError

    recorder = Recorder([make_item(Kind.POST, "April", published=datetime(2016, 4, 10, tzinfo=UTC))])
    project = project_from(TOML, plugins=[("rec", recorder)])
    assert run(project, as_of=date(2016, 5, 1)).edition == 1
    with pytest.raises(EditionError, match=r"issue 1 is dated 2016-05-01, after 2016-03-20"):
        run(project, as_of=date(2016, 3, 20))
    assert run(project, as_of=date(2016, 5, 1)).edition == 1  # re-making the latest is fine


def test_without_a_date_run_makes_the_edition_of_the_latest_newsletter_day(project_from):
    from pipeline.runner import edition_date

    project = project_from(TOML + '[schedule]\nnewsletter_day = 3\n', plugins=[("rec", Recorder())])
    assert edition_date(project, date(2026, 11, 26)) == date(2026, 11, 3)
    assert edition_date(project, date(2026, 11, 3)) == date(2026, 11, 3)
    assert edition_date(project, date(2026, 11, 2)) == date(2026, 10, 3)
    assert edition_date(project, date(2027, 1, 1)) == date(2026, 12, 3)


def test_a_second_run_at_the_same_time_is_refused(project_from):
    import fcntl

    from pipeline.errors import PipelineError

    project = project_from(TOML, plugins=[("rec", Recorder(items()))])
    project.core.state_dir.mkdir(parents=True)
    with open(project.core.state_dir / "pipeline.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(PipelineError, match="another run is in progress"):
            run(project, as_of=date(2016, 2, 1))
    assert run(project, as_of=date(2016, 2, 1)).exit_code == 0


def test_changing_a_transform_setting_transforms_stored_items_again(project_from):
    recorder = Recorder(items())
    run(project_from(TOML, plugins=[("rec", recorder)]), mode="refresh")
    changed = TOML.replace('[transforms.two]\ntype = "tagger"', '[transforms.three]\ntype = "tagger"')
    recorder.log.clear()
    run(project_from(changed, plugins=[("rec", recorder)]), mode="refresh")
    assert ("transform", "three", 2) in recorder.log


def test_the_host_sanitises_what_any_source_returns(project_from):
    evil = make_item(Kind.NEWS, "Line one\r\nBcc: everyone@example.org", published=JAN,
                     url="javascript:alert(1)", body_html='<p onclick="x()">Hi<script>alert(1)</script></p>')
    recorder = Recorder([evil])
    run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    (item,) = recorder.editions[0].items
    assert item.title == "Line one Bcc: everyone@example.org"
    assert item.url == "" and item.body_html == "<p>Hi</p>"


def test_a_failing_prepare_jinja_environment_is_named(project_from, run_context):
    class Broken:
        @hookimpl
        def prepare_jinja_environment(self, env):
            raise KeyError("filters")

    project = project_from(TOML, plugins=[("rec", Recorder()), ("broken-filters", Broken())])
    ctx = run_context(project)
    assert ctx.templates.from_string("{{ 3 | money }}").render() == "£3"
    assert ctx.problems == ["plugin 'broken-filters': prepare_jinja_environment raised KeyError: 'filters'"]


def test_text_of_is_worked_out_once_and_again_when_the_body_changes(project_from, run_context):
    ctx = run_context(project_from(TOML, plugins=[("rec", Recorder())]))
    item = make_item(body_html="<p>One.</p><p>Two &amp; three.</p>")
    first = ctx.text_of(item)
    assert first == "One.\nTwo & three." and ctx.text_of(item) is first
    item.body_html = "<p>Changed.</p>"
    assert ctx.text_of(item) == "Changed."


def test_a_date_in_the_future_is_refused_before_anything_is_fetched(project_from):
    from pipeline.edition import EditionError

    recorder = Recorder(items())
    with pytest.raises(EditionError, match="2061-05-01 is in the future"):
        run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2061, 5, 1))
    assert recorder.log == []


def test_a_refresh_as_of_a_day_to_come_is_refused_before_anything_is_fetched(project_from):
    """A refresh as of 2061 would judge every event and closing date as of then: each passed, and left out of the
    feed and the site."""
    from pipeline.edition import EditionError

    recorder = Recorder(items())
    with pytest.raises(EditionError, match="2061-05-01 is in the future; a refresh behaves as on a day that has come"):
        run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2061, 5, 1), mode="refresh")
    assert recorder.log == []


def test_re_making_an_old_issue_does_not_hide_new_items_from_the_next(project_from):
    recorder = Recorder([make_item(Kind.POST, "January", published=JAN)])
    project = project_from(TOML, plugins=[("rec", recorder)])
    run(project, as_of=date(2016, 2, 1))
    run(project, as_of=date(2016, 5, 1))  # nothing new: no issue 2
    recorder.items.append(make_item(Kind.POST, "April", published=datetime(2016, 4, 20, tzinfo=UTC)))
    run(project, as_of=date(2016, 2, 1))  # re-make issue 1; "April" is first seen here
    assert run(project, as_of=date(2016, 6, 1)).edition == 2
    assert [i.title for i in recorder.editions[-1].items] == ["April"]


def test_a_page_an_earlier_issue_linked_is_not_repeated_under_a_new_source_name(project_from):
    page = "https://partner.example.org/news/1"
    first = Recorder([make_item(Kind.NEWS, "News", published=JAN, url=page)])
    run(project_from(TOML, plugins=[("rec", first)]), as_of=date(2016, 2, 1))
    # The organiser renames [sources.good]: its items get new ids, but the page went out already.
    renamed = Recorder([make_item(Kind.NEWS, "News", source="partner", published=JAN, url=page),
                        make_item(Kind.NEWS, "Later", source="partner", published=datetime(2016, 2, 10, tzinfo=UTC))])
    renamed.classes[0].fetch = lambda self, run: list(renamed.items) if self.instance == "partner" else []
    run(project_from(TOML.replace("[sources.good]", "[sources.partner]"), plugins=[("rec", renamed)]),
        as_of=date(2016, 3, 1))
    assert [i.title for i in renamed.editions[-1].items] == ["Later"]


def test_jobs_and_events_are_judged_at_the_run_time_when_that_is_later(project_from, tmp_path):
    from pipeline.edition import select_items
    from pipeline.models import JobDetails

    project = project_from(TOML, plugins=[("rec", Recorder())])
    store = Store(tmp_path / "s.sqlite")
    job = make_item(Kind.JOB, "Closes 10 Feb", published=JAN, job=JobDetails("Org", closing_date=date(2016, 2, 10)))
    store.save_items([(job, "fp")], datetime(2016, 1, 20, tzinfo=UTC))
    on_the_day = datetime(2016, 2, 1, tzinfo=project.tz)
    assert [i.title for i in select_items(store, date(2016, 2, 1), project.tz, on_the_day)[2]] == ["Closes 10 Feb"]
    late = datetime(2016, 2, 26, 12, tzinfo=project.tz)  # a run without --as-of on the 26th
    assert select_items(store, date(2016, 2, 1), project.tz, late)[2] == []
    store.close()


def test_what_a_failing_source_asked_to_remember_is_forgotten(project_from):
    remembered = []

    class HalfWay(Source):
        name = "halfway"

        def fetch(self, run):
            run.after_save(lambda: remembered.append(self.instance))
            if self.instance == "bad":
                raise RuntimeError("parse failed after registering")
            return []

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(HalfWay)

    toml = '[sources.ok]\ntype = "halfway"\n[sources.bad]\ntype = "halfway"\n[sinks.first]\ntype = "collect"\n'
    run(project_from(toml, plugins=[("rec", Recorder()), ("halfway", Plugin())]), mode="refresh")
    assert remembered == ["ok"]


@pytest.mark.parametrize("call", ["after_save", "note"])
def test_what_a_source_asks_of_the_run_from_a_thread_of_its_own_fails_that_source(project_from, call):
    """run.after_save and run.note tie what they are given to the source whose fetch runs on this thread: from a
    thread the source started, nothing does, so they raise there (the source fails, saying why) rather than
    remember for no source, or say nothing on its line."""
    remembered = []

    def fetch(run):
        failed = []

        def page() -> None:
            try:
                if call == "after_save":
                    run.after_save(lambda: remembered.append("api"))
                else:
                    run.note("page 3 of 3 skipped: rate limited")
            except RuntimeError as exc:  # as a source's own thread would hand it back
                failed.append(exc)

        helper = threading.Thread(target=page)
        helper.start()
        helper.join()
        if failed:
            raise failed[0]
        return []

    result = _refreshed_source(project_from, fetch)
    assert not result.ok and f"run.{call}() was called outside a source's fetch() thread" in result.summary
    assert remembered == []


def test_control_characters_never_reach_stored_items(project_from):
    item = make_item(Kind.NEWS, "Bell\x07 and tab\x0b", published=JAN, url="https://x.example.org/a\x01b",
                     author="Ann\x00", body_html="<p>Pasted\x0bfrom Word\x01</p>")
    recorder = Recorder([item])
    run(project_from(TOML, plugins=[("rec", recorder)]), as_of=date(2016, 2, 1))
    (stored,) = recorder.editions[0].items
    assert (stored.title, stored.url, stored.author) == ("Bell and tab", "", "Ann")
    assert stored.body_html == "<p>Pastedfrom Word</p>"


# -- run.note -------------------------------------------------------------------------------------------------------

def _refreshed_source(project_from, fetch):
    """A refresh of one source whose fetch is `fetch(run)`: its line of the report."""
    class Fetching(Source):
        name = "fetching"

    Fetching.fetch = lambda self, run: fetch(run)

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Fetching)

    toml = '[sources.api]\ntype = "fetching"\n[sinks.first]\ntype = "collect"\n'
    report = run(project_from(toml, plugins=[("rec", Recorder()), ("fetching", Plugin())]), mode="refresh")
    [result] = [r for r in report.results if r.stage == "source"]
    return result


def test_a_note_keeps_no_control_characters(project_from):
    """Review (helper 95). A note may carry a feed's own words (a channel title, an API's message), and it goes to
    the terminal's report table, the run history and the organisers' alert. `note` folds white space but keeps
    ESC and other controls, where every item field from a source is `one_line`d (the test above). Expected: no
    control character in the source's summary."""
    result = _refreshed_source(project_from, lambda run: run.note("feed \x1b[2J\x1b]0;pwned\x07title\x00 moved") or [])
    assert result.ok and result.summary.isprintable(), repr(result.summary)
