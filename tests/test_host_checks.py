"""What the host checks of every item a source returns: a kind given as text is taken, an unknown kind or a
published time with no zone fails that source alone, with a line naming the item and what to do."""

from __future__ import annotations

from datetime import datetime

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.models import Item, Kind
from pipeline.runner import run


def _source(name: str, make):
    class Made(Source):
        def fetch(self, run):
            return [make()]

    Made.name = name

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Made)

    return (name, Plugin())


def test_kinds_and_times_from_a_third_party_source(project_from):
    aware = datetime.fromisoformat("2016-02-02T09:30:00+00:00")
    plugins = [
        _source("textkind", lambda: Item(id="t1", kind="news", source="a", title="Seminar", published=aware)),
        _source("badkind", lambda: Item(id="b1", kind="seminar", source="b", title="Seminar", published=aware)),
        _source("naive", lambda: Item(id="n1", kind=Kind.POST, source="c", title="Seminar",
                                      published=datetime(2016, 2, 2, 9, 30))),
    ]
    project = project_from("[sources.a]\ntype = 'textkind'\n[sources.b]\ntype = 'badkind'\n"
                           "[sources.c]\ntype = 'naive'\n[sinks.feed]\ntype = 'rss'\n", plugins=plugins)

    report = run(project, as_of=datetime(2016, 3, 1).date(), mode="refresh")

    results = {r.name: r for r in report.results if r.stage == "source"}
    assert results["a"].ok and results["a"].count == 1
    assert not results["b"].ok
    assert "item 'b1': kind 'seminar' is not one of post, news, job, event" in results["b"].summary
    assert not results["c"].ok
    assert "item 'n1': published" in results["c"].summary and "pipeline.dates.aware" in results["c"].summary
    assert report.exit_code == 3  # the others reached the sinks


def test_two_different_items_under_one_id_keep_the_first_and_report_the_second(project_from):
    aware = datetime.fromisoformat("2016-02-02T09:30:00+00:00")

    class Twice(Source):
        name = "twice"

        def fetch(self, run):
            first = Item(id="same", kind=Kind.NEWS, source=self.instance, title="Seminar one", published=aware)
            again = Item(id="same", kind=Kind.NEWS, source=self.instance, title="Seminar one", published=aware)
            other = Item(id="same", kind=Kind.NEWS, source=self.instance, title="Seminar two", published=aware)
            return [first, again, other]  # the same item listed twice is no problem; another under its id is

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Twice)

    project = project_from("[sources.partner]\ntype = 'twice'\n[sinks.feed]\ntype = 'rss'\n",
                           plugins=[("twice", Plugin())])
    report = run(project, as_of=datetime(2016, 3, 1).date(), mode="refresh")
    assert report.problems == ["source partner: item 'Seminar two' has the id of 'Seminar one' (same); give each its "
                               "own id, item skipped"]
    assert report.exit_code == 3
