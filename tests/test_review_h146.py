"""Review h146: an operator's review of backups, restores, status and failure handling."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_feeds import FEED_ONLY
from sample_feeds import ONE_ITEM_RSS as RSS

from pipeline.cli import main


@pytest.fixture
def config(write_project) -> Path:
    """A project after a real `pipeline refresh`: a state database, and the site in out/."""
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["refresh", "-c", str(path), "--as-of", "2016-02-01"]) == 0
    assert (path.parent / "out" / "feed.xml").is_file()
    return path


@pytest.mark.parametrize("dest", ["out/", "out/copy.sqlite3", "out/../out/archive-copies/", "site-link/"])
def test_a_backup_is_never_made_in_the_published_site_folder(config, capsys, dest):
    """The copy holds every subscriber's address: in out_dir (the folder the web server or a `rsync out/` publishes)
    it would be on the web. It was made there like anywhere else."""
    tmp = config.parent
    (tmp / "out" / "archive-copies").mkdir()
    (tmp / "site-link").symlink_to(tmp / "out")
    before = sorted(p.relative_to(tmp) for p in (tmp / "out").rglob("*"))
    assert main(["backup", f"{tmp}/{dest}", "-c", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {tmp}/{dest.rstrip('/')}") and "[pipeline] out_dir" in err[0], err
    assert "published" in err[0] and "outside it" in err[0], err
    assert sorted(p.relative_to(tmp) for p in (tmp / "out").rglob("*")) == before  # nothing left there
    (tmp / "backups").mkdir()
    assert main(["backup", f"{tmp}/backups/", "-c", str(config)]) == 0  # beside it is fine
