"""Review h177 of the host's check of what the transforms change (`pipeline/item_checks.py`): themes a transform gives
as a tuple are checked as a list's are, and a body (or any watched field) whose type says it equals what was there is
compared by its text, so neither gets past the check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Transform
from pipeline.config import load_project
from pipeline.runner import run
from pipeline.transforming import MIN_ITEMS
from tests.test_transform_output_checked import AS_OF, COPIED, run_transform, stored_items


class _SaysItIsTheSame(str):
    """Text that says it equals whatever it is compared with."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


class _ThemesAsTuple(Transform):
    name = "themes_as_tuple"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.themes = ("  peer\nsupport ", "")


class _SameBody(Transform):
    name = "same_body"
    in_workers = True

    def apply(self, items, run):
        for item in items:
            item.body_html = _SaysItIsTheSame(COPIED)
            item.url = _SaysItIsTheSame("javascript:alert(5)")


class _ThemesSeeingAll(_ThemesAsTuple):
    name = "themes_seeing_all"
    in_workers = False


class _SameBodySeeingAll(_SameBody):
    name = "same_body_seeing_all"
    in_workers = False


class _LastMoment(Transform):
    """Dates the first item at the last moment there is, an hour west of Greenwich: past the end of time in UTC, as
    the store keeps it."""

    name = "last_moment"
    in_workers = True

    def apply(self, items, run):
        items[0].published = datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))
        for item in items[1:]:
            item.title = "Kept"


class _LastMomentSeeingAll(_LastMoment):
    name = "last_moment_seeing_all"
    in_workers = False


class _Registers:
    @hookimpl
    def register_transforms(self, register):
        for transform in (_ThemesAsTuple, _SameBody, _ThemesSeeingAll, _SameBodySeeingAll, _LastMoment,
                          _LastMomentSeeingAll):
            register(transform)


def _run(tmp_path: Path, items: int, workers: int, kind: str):
    return run_transform(tmp_path, items, workers, kind, _Registers())


PATHS = [(2, "", MIN_ITEMS), (1, "", 20), (2, "_seeing_all", 20)]
IDS = ["in a worker", "on the background thread", "seeing the whole run"]


@pytest.mark.parametrize("workers, suffix, items", PATHS, ids=IDS)
def test_themes_a_transform_gives_as_a_tuple_are_put_on_one_line(tmp_path, workers, suffix, items):
    kind = "themes_as_tuple" if not suffix else "themes" + suffix
    report, stored = _run(tmp_path, items, workers, kind)

    assert report.exit_code == 0, report.results
    assert len(stored) == items
    assert all(item.themes == ["peer support"] for item in stored), stored[0].themes


@pytest.mark.parametrize("workers, suffix, items", PATHS, ids=IDS)
def test_a_body_whose_type_says_it_is_unchanged_is_cleaned(tmp_path, workers, suffix, items):
    report, stored = _run(tmp_path, items, workers, "same_body" + suffix)

    assert report.exit_code == 0, report.results
    assert len(stored) == items
    for item in stored:
        assert "Copied from the partner" in item.body_html
        assert "<script" not in item.body_html and "alert" not in item.body_html, item.body_html
        assert item.url == ""


@pytest.mark.parametrize("workers, suffix, items", PATHS, ids=IDS)
def test_a_date_a_transform_leaves_past_the_end_of_time_leaves_its_item_unfit_not_the_run_ended(
        tmp_path, workers, suffix, items):
    report, stored = _run(tmp_path, items, workers, "last_moment" + suffix)

    (result,) = [r for r in report.results if r.stage == "transform"]
    assert not result.ok and "cannot be saved as the transforms left it" in result.summary, result.summary
    assert len(stored) == items
    assert all(item.published.year == 2016 for item in stored)  # the first as its source gave it
    titles = [item.title for item in stored]  # the others saved as the transform left them (the first of each chunk:
    assert "Kept" in titles and len(set(titles)) > 1  # as its source gave it)


class _LastMomentSource:
    @hookimpl
    def register_sources(self, register):
        from pipeline.components import Source
        from pipeline.models import Item, Kind, item_id

        class LastMoment(Source):
            name = "last_moment_source"

            def fetch(self, run):
                return [Item(item_id(self.instance, "far"), Kind.NEWS, self.instance, "Far",
                             datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))),
                        Item(item_id(self.instance, "near"), Kind.NEWS, self.instance, "Near",
                             datetime(2016, 4, 20, tzinfo=UTC))]

        register(LastMoment)


def test_an_item_a_source_dates_past_the_end_of_time_is_skipped_not_the_run_ended(tmp_path):
    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "N"\n[sources.s]\ntype = "last_moment_source"\n'
                                            '[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
    report = run(load_project(tmp_path / "pipeline.toml", extra_plugins=[("far", _LastMomentSource())]),
                 mode="refresh", as_of=AS_OF)
    assert [item.title for item in stored_items(tmp_path)] == ["Near"]
    assert any("past the end of time" in problem for problem in map(str, report.problems)), report.problems
