"""Review of the site's all-or-nothing writing (`pipeline.files.Staged`, commit 72d9e98)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipeline import site
from pipeline.files import Staged, write_atomic
from pipeline.models import Kind
from pipeline.run_report import failure_reason
from pipeline.state import site as site_state
from pipeline.time_limits import OutOfTime, call_within
from tests.conftest import make_item
from tests.test_archive_unchanged import NEWS, save, settle, site_of, utc  # noqa: F401 (site_of: a fixture)


def contents(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def folders(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_dir()}


# -- a rename that fails names the file, once ---------------------------------------------------------------

def test_a_file_that_cannot_be_put_in_place_is_named_on_one_line_without_a_second_name(tmp_path):
    (tmp_path / "taken.html").mkdir()  # a folder made by hand where the file goes
    with pytest.raises(OSError) as raised:
        write_atomic(tmp_path / "taken.html", "page")
    assert failure_reason(raised.value) == f"IsADirectoryError: [Errno 21] Is a directory: '{tmp_path}/taken.html'"
    assert isinstance(raised.value, IsADirectoryError)

    staged = Staged()
    staged.write(tmp_path / "taken.html", "page")
    with pytest.raises(OSError) as raised:
        staged.commit()
    assert failure_reason(raised.value) == f"IsADirectoryError: [Errno 21] Is a directory: '{tmp_path}/taken.html'"
    assert os.listdir(tmp_path) == ["taken.html"]


# -- an interrupt while the files are put in place --------------------------------------------------------

def interrupted_once(monkeypatch, name: str, at: int, interrupt: BaseException):
    """Make the `at`-th call of os.`name` raise `interrupt` before it does anything (a signal landing then)."""
    real, calls = getattr(os, name), []

    def call(*args, **kwargs):
        calls.append(args)
        if len(calls) == at:
            raise interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, call)


def test_ctrl_c_while_the_files_are_put_in_place_puts_every_one_in_place_then_stops(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("old index")
    staged = Staged()
    for name in ("a.html", "b.html", "index.html"):
        staged.write(tmp_path / name, f"new {name}")
    interrupted_once(monkeypatch, "replace", 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        staged.commit()
    monkeypatch.undo()
    # not a.html new and index.html old, nor the temporary files of b.html and index.html left in the site
    assert contents(tmp_path) == {"a.html": b"new a.html", "b.html": b"new b.html", "index.html": b"new index.html"}


def test_a_deadline_that_passes_while_the_files_are_put_in_place_leaves_them_all_new(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("old index")
    real = os.replace
    slow = []

    def replace(*args):
        if not slow:  # the first rename is slow (a busy disk): the deadline passes in it
            slow.append(args)
            time.sleep(60)  # ended by the deadline
        return real(*args)

    def publish():
        with Staged() as staged:
            staged.write(tmp_path / "a.html", "new a")
            staged.write(tmp_path / "index.html", "new index")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutOfTime):
        call_within(2, "out of time", publish)
    monkeypatch.undo()
    assert contents(tmp_path) == {"a.html": b"new a", "index.html": b"new index"}


def test_ctrl_c_while_staged_files_are_discarded_still_removes_every_one(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("old index")
    staged = Staged()
    for name in ("a.html", "b.html", "index.html"):
        staged.write(tmp_path / name, f"new {name}")
    interrupted_once(monkeypatch, "unlink", 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        staged.discard()
    monkeypatch.undo()
    assert contents(tmp_path) == {"index.html": b"old index"}


# -- what a discarded run made for its new pages --------------------------------------------------------

def test_discarded_files_leave_no_folder_made_for_them(tmp_path):
    (tmp_path / "items").mkdir()
    with pytest.raises(RuntimeError), Staged() as staged:
        staged.write(tmp_path / "items" / "new" / "index.html", "new page")
        staged.write(tmp_path / "themes" / "peer" / "page" / "2" / "index.html", "new list")
        raise RuntimeError("a page failed")
    assert folders(tmp_path) == {"items"}  # made by someone else before: kept


def test_a_page_that_fails_leaves_no_empty_folder_where_a_new_item_page_would_be(site_of, tmp_path):  # noqa: F811
    built = site_of()
    settle(built)
    before, made = contents(built.out), folders(built.out)
    late = make_item(Kind.NEWS, "Late news", published=utc(2016, 1, 25), themes=["peer support"])
    save(built, late)
    search = tmp_path / "templates" / "site" / "search.html"
    search.parent.mkdir(parents=True)
    search.write_text("{{ none.missing.attribute }}", encoding="utf-8")  # the search page, after the items, fails
    with pytest.raises(Exception, match="missing"):
        built.write()
    assert contents(built.out) == before
    assert folders(built.out) == made  # no empty items/late-news-…/ answering 403 instead of 404, for ever
    search.unlink()
    built.write()
    assert built.file(site.item_path(built.project, late)).is_file()
    assert "Peer news" in built.read(site.item_path(built.project, NEWS))


# -- what a killed run left ----------------------------------------------------------------------------------

def test_the_temporary_files_of_a_run_killed_while_it_staged_the_site_are_removed_by_the_next(site_of, tmp_path):  # noqa: F811
    """A run killed while it stages the site (SIGKILL after systemd's stop timeout, the OOM killer, a power cut:
    no `finally` runs) leaves the temporary file of every page it had written, in the site, where a static host
    serves them and nothing else removes them. The next build that plans the site removes them; a file of the
    same shape but for no page of the site, and a dotfile of the site's owner, stay."""
    built = site_of()
    settle(built)
    before = contents(built.out)
    item = built.file(site.item_path(built.project, NEWS))
    left = [built.file(site.FRONT_PAGE).with_name(".index.html.k3j_x9q2"), item.with_name(".index.html.0abcdefg"),
            built.out / ".site.css.zz_12345"]
    kept = [built.out / ".index.html.notours", built.out / ".other.html.k3j_x9q2", built.out / ".htaccess"]
    for path in left + kept:
        path.write_text("half a page", encoding="utf-8")
    site_state.record_build(built.store, "archive", None)  # as the killed build left it: none to trust
    assert built.write().summary.endswith(": 0 made again, 0 written")  # planned, with nothing to change
    assert contents(built.out) == {**before, **{path.relative_to(built.out).as_posix(): b"half a page"
                                                for path in kept}}
