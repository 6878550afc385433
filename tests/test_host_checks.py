"""What the host checks of every item a source returns: a kind given as text is taken, an unknown kind or a
published time with no zone fails that source alone, with a line naming the item and what to do."""

from __future__ import annotations

from datetime import UTC, datetime

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
    assert "item 'b1' ('Seminar'): kind 'seminar' is not one of post, news, job, event" in results["b"].summary
    assert not results["c"].ok
    assert "item 'n1' ('Seminar'): published" in results["c"].summary and "pipeline.dates.aware" in results["c"].summary
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


def _blog_and(plugin_items, project_from):
    """A project with a blog of one post and a third-party source `other` that returns `plugin_items(self)`."""
    class Other(Source):
        name = "other"

        def fetch(self, run):
            return plugin_items(self)

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(Other)

    post = "---\ntitle: Our first peer group\ndate: 2016-02-10\n---\nWe met in Leeds.\n"
    return project_from("[sources.blog]\ntype = 'blog'\npath = 'posts'\n[sources.notices]\ntype = 'other'\n"
                        "[sinks.feed]\ntype = 'rss'\n", {"posts/first.md": post}, plugins=[("other", Plugin())])


def test_an_item_that_says_it_is_from_another_source_fails_its_own_source_and_takes_nothing(project_from):
    """A source that gave an item the name (and so the id) of another source of the project replaced that
    source's stored item, and had the other source's own item skipped and reported under the other's name."""
    from pipeline.models import item_id
    from pipeline.runner import state_path
    from pipeline.state import Store

    aware = datetime.fromisoformat("2016-02-20T09:30:00+00:00")
    project = _blog_and(lambda source: [Item(id=item_id("blog", "first"), kind=Kind.NEWS, source="blog",
                                             title="Impostor", published=aware)], project_from)
    for day in (1, 2):  # whichever finishes first, on the first run and once the post is stored
        report = run(project, as_of=datetime(2016, 3, day).date(), mode="refresh")
        results = {r.name: r for r in report.results if r.stage == "source"}
        assert results["blog"].ok and not results["notices"].ok
        assert results["notices"].summary == (
            f"TypeError: item {item_id('blog', 'first')!r}: source 'blog' is another source of this project; "
            f"give every item source=self.instance and id=item_id(self.instance, key)")
        assert report.problems == [] and report.exit_code == 3
        store = Store(state_path(project))
        try:
            stored = store.items_published(datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
        finally:
            store.close()
        assert [item.title for item, _ in stored] == ["Our first peer group"]


def test_an_id_two_sources_give_is_reported_naming_both(project_from):
    """Two sources (two tables of one plugin whose items name the plugin rather than the table, say) giving
    one id: the second is skipped, and the line names the source it came from and the one that had it first."""
    from pipeline.models import item_id

    aware = datetime.fromisoformat("2016-02-20T09:30:00+00:00")
    project = _blog_and(lambda source: [Item(id=item_id("blog", "first"), kind=Kind.NEWS, source="other",
                                             title="Impostor", published=aware)], project_from)
    report = run(project, as_of=datetime(2016, 3, 1).date(), mode="refresh")
    (problem,) = report.problems
    assert problem in (
        f"source notices: item 'Impostor' has the id of 'Our first peer group' from source blog "
        f"({item_id('blog', 'first')}); give each its own id, item skipped",
        f"source blog: item 'Our first peer group' has the id of 'Impostor' from source notices "
        f"({item_id('blog', 'first')}); give each its own id, item skipped")
