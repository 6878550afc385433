"""The files a run changes in the site are put in place together or not at all (`pipeline.files.Staged`): a full
disk or a page that fails leaves the site as the last run made it, so no index links to a page never written."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

import pytest

from pipeline import site
from pipeline.files import Staged
from pipeline.templating import SHIPPED_TEMPLATES
from tests.test_archive_unchanged import settle, site_of  # noqa: F401 (site_of: a fixture)

resource = pytest.importorskip("resource")


def contents(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_staged_files_appear_only_when_committed(tmp_path):
    (tmp_path / "index.html").write_text("old index")
    staged = Staged()
    staged.write(tmp_path / "index.html", "new index")
    staged.write(tmp_path / "items" / "a.html", b"new page")
    assert (tmp_path / "index.html").read_text() == "old index"
    assert not (tmp_path / "items" / "a.html").exists()
    staged.commit()
    assert contents(tmp_path) == {"index.html": b"new index", "items/a.html": b"new page"}
    assert (tmp_path / "items" / "a.html").stat().st_mode & 0o777 == 0o644


def test_a_block_that_raises_leaves_every_file_as_it_was(tmp_path):
    (tmp_path / "index.html").write_text("old index")
    with pytest.raises(RuntimeError), Staged() as staged:
        staged.write(tmp_path / "index.html", "new index")
        staged.write(tmp_path / "b.html", "new page")
        raise RuntimeError("a page failed")
    assert contents(tmp_path) == {"index.html": b"old index"}  # no temporary file left either


def test_one_file_that_cannot_be_put_in_place_does_not_keep_the_others_out(tmp_path):
    (tmp_path / "taken.html").mkdir()  # a folder made by hand where a page goes
    staged = Staged()
    staged.write(tmp_path / "taken.html", "page")
    staged.write(tmp_path / "index.html", "index")
    with pytest.raises(OSError) as raised:
        staged.commit()
    assert raised.value.filename == str(tmp_path / "taken.html") and raised.value.filename2 is None
    assert contents(tmp_path) == {"index.html": b"index"}


@pytest.fixture
def file_size_limit():
    """Set the largest file this process may write (RLIMIT_FSIZE): a write past it fails with EFBIG, as a write
    fails on a full disk. SIGXFSZ, which would end the process, is ignored meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield lambda size: resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_page_the_disk_cannot_take_leaves_the_whole_site_as_it_was(site_of, tmp_path, file_size_limit):  # noqa: F811
    built = site_of()
    settle(built)
    before = contents(built.out)
    templates = tmp_path / "templates" / "site"
    templates.mkdir(parents=True)
    layout = (SHIPPED_TEMPLATES / "site" / "layout.html").read_text(encoding="utf-8")
    (templates / "layout.html").write_text(layout.replace("</footer>", "<p>New footer.</p></footer>", 1),
                                           encoding="utf-8")  # every page changes
    front = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")
    (templates / "front.html").write_text(front.replace("{% endblock %}", "<p>{{ 'x' * 3000000 }}</p>{% endblock %}",
                                                        1), encoding="utf-8")  # and one is too big to write
    file_size_limit(2_000_000)
    with pytest.raises(OSError) as raised:
        built.write()
    assert raised.value.errno == errno.EFBIG and raised.value.filename == str(built.file(site.FRONT_PAGE))
    assert contents(built.out) == before  # no page with the new footer, no temporary file

    file_size_limit(resource.RLIM_INFINITY)
    built.write()
    pages = [path for path in built.out.rglob("*.html")]
    assert len(pages) > 5 and all("New footer." in path.read_text(encoding="utf-8") for path in pages)
    assert len(built.read(site.FRONT_PAGE)) > 3_000_000
    assert not [path for path in built.out.rglob(".*")]
    assert os.path.getsize(built.file(site.FRONT_PAGE)) > 3_000_000
