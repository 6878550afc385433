"""What a transform changes is checked by the host as a source's items are (`pipeline/item_checks.py`): a body it
sets is cleaned again, a link made safe, a title put on one line, on every path a transform runs on."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Source, Transform
from pipeline.config import load_project
from pipeline.models import Item, Kind, item_id
from pipeline.runner import run
from pipeline.sanitize import Clean
from pipeline.state import Store
from pipeline.transforming import MIN_ITEMS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402  (bench/corpus.py: realistic feeds)

AS_OF = date(2016, 5, 1)
COPIED = ('<p>Copied from the partner\'s page.</p><script>alert(1)</script>'
          '<p><a href="javascript:alert(2)" onclick="alert(3)">more</a> <img src="x" onerror="alert(4)"></p>')


class _CopiesHtml(Transform):
    """Sets what a careless transform might: HTML from elsewhere, a script link, a title over two lines."""

    name = "copies_html"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.body_html = COPIED
            item.url = "javascript:alert(5)"
            item.title = "Two\nlines"
            item.image = "javascript:alert(6)"
            item.themes = ["  peer\nsupport "]
            item.summary = "bell\x07 rings"


class _CopiesSeeingAll(_CopiesHtml):
    name = "copies_seeing_all"
    in_workers = False  # runs once, over every item of the run, on the main thread


class _TitleNotText(Transform):
    name = "title_not_text"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.title = 5


PAGE = '<p>Peer support works.</p><script>var hidden = "power sharing";</script><style>p { color: red }</style>'


class _CopiesPage(Transform):
    """Puts a partner's page in each body as it came, scripts and all, for the transforms after it."""

    name = "copies_page"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.body_html = PAGE


class _ReadsText(Transform):
    """Keeps the body's plain text as the later transforms are given it (`run.text_of`), in the summary."""

    name = "reads_text"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.summary = run.text_of(item)


class _ReadsTextSeeingAll(_ReadsText):
    name = "reads_text_seeing_all"
    in_workers = False


class _Explodes:
    """Themes whose own code raises when they are listed (a lazy value from a third-party library, say)."""

    def __iter__(self):
        raise KeyError("no themes here")

    def __reduce__(self):  # (sent back from a worker as it is)
        return _Explodes, ()


class _SetsExploding(Transform):
    name = "sets_exploding"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.url = "javascript:alert(1)"
            item.themes = _Explodes()


class _SetsExplodingSeeingAll(_SetsExploding):
    name = "sets_exploding_seeing_all"
    in_workers = False


class _Registers:
    @hookimpl
    def register_transforms(self, register):
        for transform in (_CopiesHtml, _CopiesSeeingAll, _TitleNotText, _CopiesPage, _ReadsText, _ReadsTextSeeingAll,
                          _SetsExploding, _SetsExplodingSeeingAll):
            register(transform)


def run_transform(tmp_path: Path, items: int, workers: int, kind: str, plugin: object = None):
    """A refresh of a feed of `items` items through the transform `kind` (registered by `plugin`), or the transforms
    "kind, kind, ..." in that order: its report, and the items it stored."""
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=items, as_of=AS_OF)
    tables = "".join(f'[transforms.t{n or ""}]\ntype = "{name.strip()}"\n' for n, name in enumerate(kind.split(",")))
    (tmp_path / "pipeline.toml").write_text(
        f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
        f'{tables}[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml", extra_plugins=[("transforms", plugin or _Registers())])
    return run(project, mode="refresh", as_of=AS_OF), stored_items(tmp_path)


def stored_items(tmp_path: Path) -> list[Item]:
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        return store.recent_items(until=datetime(2100, 1, 1, tzinfo=UTC), limit=10_000)
    finally:
        store.close()


@pytest.mark.parametrize("workers, kind, items", [
    (2, "copies_html", MIN_ITEMS),  # chunks in the worker processes
    (1, "copies_html", MIN_ITEMS),  # chunks on the run's background thread
    (2, "copies_seeing_all", 20),  # one call with every item, on the main thread
], ids=["in a worker", "on the background thread", "seeing the whole run"])
def test_what_a_transform_sets_is_checked_as_a_sources_items_are(tmp_path, workers, kind, items):
    report, stored = run_transform(tmp_path, items, workers, kind)

    assert report.exit_code == 0, report.results
    assert len(stored) == items
    for item in stored:
        assert "Copied from the partner" in item.body_html  # the transform's body is kept, made safe
        assert "<script" not in item.body_html and "alert" not in item.body_html, item.body_html
        assert (item.url, item.image, item.title) == ("", "", "Two lines")
        assert item.themes == ["peer support"] and item.summary == "bell rings"


def test_a_transform_that_leaves_a_title_not_text_fails_and_the_items_are_saved_as_given(tmp_path):
    report, stored = run_transform(tmp_path, 20, 1, "title_not_text")

    (result,) = [r for r in report.results if r.stage == "transform"]
    assert not result.ok and "title 5 is int, not text; give a str" in result.summary, result.summary
    assert len(stored) == 20 and all(isinstance(item.title, str) and item.title for item in stored)


class _OwnHtml:
    """A source whose bodies the host takes as `clean_html` made them (a `Clean`), here with a class the host's cleaning
    would drop, and a transform that marks the items and then fails: what it did is undone (`undoing` puts copies
    back)."""

    @hookimpl
    def register_sources(self, register):
        class OwnHtml(Source):
            name = "own_html"

            def fetch(self, run):
                return [Item(item_id(self.instance, str(n)), Kind.NEWS, self.instance, f"Post {n}",
                             datetime(2016, 4, 20, tzinfo=UTC), body_html=Clean('<p class="lead">Kept as it came.</p>'))
                        for n in range(3)]

        register(OwnHtml)

    @hookimpl
    def register_transforms(self, register):
        class MarksThenFails(Transform):
            name = "marks_then_fails"

            def apply(self, items, run):
                for item in items:
                    item.body_html = "<p>marked</p><script>alert(1)</script>"
                raise RuntimeError("broken")

        register(MarksThenFails)


def test_an_item_a_failed_transform_gave_back_is_saved_as_it_was_not_cleaned_again(tmp_path):
    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "N"\n[sources.own]\ntype = "own_html"\n'
                                            '[transforms.t]\ntype = "marks_then_fails"\n[sinks.feed]\ntype = "rss"\n',
                                            encoding="utf-8")
    report = run(load_project(tmp_path / "pipeline.toml", extra_plugins=[("own", _OwnHtml())]), mode="refresh",
                 as_of=AS_OF)
    stored = stored_items(tmp_path)
    assert report.exit_code == 1 and [r.ok for r in report.results if r.stage == "transform"] == [False]
    assert [item.body_html for item in stored] == ['<p class="lead">Kept as it came.</p>'] * 3


class _SaysItSanitises:
    """A source that says it sanitises (`sanitises = True`, as a copy of a built-in source would) but puts a partner's
    HTML in its bodies as it came, once as it is and once after `clean_html` changed it (a footer added)."""

    @hookimpl
    def register_sources(self, register):
        from pipeline.sanitize import clean_html

        class SaysItSanitises(Source):
            name = "says_it_sanitises"
            sanitises = True

            def fetch(self, run):
                raw = '<p onclick="steal()">News<script>alert(1)</script> <a href="javascript:alert(2)">more</a></p>'
                return [Item(item_id(self.instance, "raw"), Kind.NEWS, self.instance, "As it came",
                             datetime(2016, 4, 20, tzinfo=UTC), body_html=raw),
                        Item(item_id(self.instance, "footer"), Kind.NEWS, self.instance, "Cleaned, then a footer",
                             datetime(2016, 4, 21, tzinfo=UTC),
                             body_html=clean_html("<p>News</p>") + '<img src="x" onerror="alert(3)">'),
                        Item(item_id(self.instance, "clean"), Kind.NEWS, self.instance, "Cleaned",
                             datetime(2016, 4, 22, tzinfo=UTC), body_html=clean_html('<p class="lead">News</p>'))]

        register(SaysItSanitises)


def test_a_source_that_says_it_sanitises_but_does_not_has_its_bodies_cleaned_all_the_same(tmp_path):
    """Only a body exactly as `clean_html` returned it is taken as it is: the `sanitises` flag no longer lets raw
    HTML through to the site, which shows the stored body as safe HTML."""
    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\n'
                                            '[sources.partner]\ntype = "says_it_sanitises"\n'
                                            '[sinks.site]\ntype = "archive"\n', encoding="utf-8")
    report = run(load_project(tmp_path / "pipeline.toml", extra_plugins=[("says", _SaysItSanitises())]),
                 mode="refresh", as_of=AS_OF)

    assert report.exit_code == 0, report.results
    bodies = {item.title: item.body_html for item in stored_items(tmp_path)}
    assert bodies == {"As it came": '<p>News <a rel="noopener noreferrer">more</a></p>',
                      "Cleaned, then a footer": "<p>News</p><img>",  # (a relative src, with no base: dropped)
                      "Cleaned": "<p>News</p>"}, bodies
    pages = "".join(page.read_text(encoding="utf-8") for page in (tmp_path / "out").rglob("*.html"))
    assert "alert(" not in pages and "onclick" not in pages and "onerror" not in pages


def test_only_a_body_of_cleans_very_type_is_taken_as_it_is():
    """A `Clean` is taken as `clean_html` made it; a subclass of it, or what a change to one gives, is cleaned; either
    way the item keeps a plain `str`."""
    from pipeline.item_checks import host_checked

    class Lying(Clean):
        __slots__ = ()

    for body, kept in ((Clean('<p class="lead">News</p>'), '<p class="lead">News</p>'),
                       (Lying('<p>News</p><script>alert(1)</script>'), "<p>News</p>"),
                       (Clean("<p>News</p>") + "<script>alert(1)</script>", "<p>News</p>"),
                       (Clean("<p>News</p>").replace("News", "<b onclick='x()'>News</b>"), "<p><b>News</b></p>")):
        item = host_checked(Item(item_id("s", "1"), Kind.NEWS, "s", "T", datetime(2016, 4, 20, tzinfo=UTC),
                                 body_html=body))
        assert (item.body_html, type(item.body_html)) == (kept, str)


@pytest.mark.parametrize("workers, kind, items", [
    (2, "copies_page, reads_text", MIN_ITEMS),
    (1, "copies_page, reads_text", MIN_ITEMS),
    (2, "copies_page, reads_text_seeing_all", 20),
], ids=["in a worker", "on the background thread", "seeing the whole run"])
def test_a_body_a_transform_sets_is_cleaned_before_the_next_transform_reads_it(tmp_path, workers, kind, items):
    """The transforms after one that copies a page into the body read it sanitised, as readers will: a script's
    words are not the body's text (they would count for a theme, or make the summary)."""
    report, stored = run_transform(tmp_path, items, workers, kind)

    assert report.exit_code == 0, report.results
    assert len(stored) == items
    assert {(item.summary, item.body_html) for item in stored} == {
        ("Peer support works.", "<p>Peer support works.</p>")}


@pytest.mark.parametrize("workers, kind, items", [
    (2, "sets_exploding", MIN_ITEMS),
    (1, "sets_exploding", MIN_ITEMS),
    (2, "sets_exploding_seeing_all", 20),
], ids=["in a worker", "on the background thread", "seeing the whole run"])
def test_a_value_that_raises_when_read_leaves_its_items_saved_as_given_and_the_run_goes_on(tmp_path, workers, kind,
                                                                                            items):
    """Themes whose listing raises KeyError (not one of the errors a check expects) make the items unfit, as a title
    that is not text does: saved as their source gave them, the transform failed by name; not a run ended by a
    traceback, nor the items stored as the transform left them, a `javascript:` link and all."""
    report, stored = run_transform(tmp_path, items, workers, kind)

    (result,) = [r for r in report.results if r.stage == "transform"]
    assert report.exit_code == 1 and not result.ok, report.results
    assert "cannot be saved as the transforms left it: KeyError: 'no themes here'" in result.summary, result.summary
    assert len(stored) == items and all(item.url.startswith("https://") for item in stored)
