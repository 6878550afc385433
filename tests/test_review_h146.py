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


def _rss(count: int) -> str:
    items = "".join(f"<item><title>Peer support news {n}</title><link>https://p.example.org/news/{n}</link>"
                    f"<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate><description>{'Words of news. ' * 40}"
                    f"</description></item>" for n in range(count))
    return (f"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d"
            f"</description>{items}</channel></rss>")


def _writes_fail(monkeypatch, pragma: str) -> None:
    """From now on, each store a command opens to write meets `pragma`: SQLite's own "database or disk is full" (no
    page past those there are) or "attempt to write a readonly database", as a full disk or a folder made
    read-only under a run gives, which this test cannot make for real (it may run as root)."""
    from pipeline.state import store as store_module

    opened = store_module.Store.__init__

    def init(self, path, *, check=False, read_only=False):
        opened(self, path, check=check, read_only=read_only)
        if not read_only:
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            self.db.execute(pragma.format(pages=pages))

    monkeypatch.setattr(store_module.Store, "__init__", init)


def _count(config: Path, sql: str) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{config.parent / 'state' / 'pipeline.sqlite'}?mode=ro", uri=True) as db:
        value = db.execute(sql).fetchone()[0]
    db.close()
    return value


def test_a_full_disk_during_a_run_is_one_line_naming_the_database_and_keeps_what_was_stored(
        config, capsys, monkeypatch):
    """It was "error: unexpected OperationalError: database or disk is full (set PIPELINE_DEBUG=1 ...)": no file,
    nothing to do; and the run's history said the same."""
    database = config.parent / "state" / "pipeline.sqlite"
    (config.parent / "partner.xml").write_text(_rss(300))  # 300 new items: far more than the room left
    _writes_fail(monkeypatch, "PRAGMA max_page_count = {pages}")
    capsys.readouterr()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: {database}: the disk is full (database or disk is full); free some space"), err
    assert "unexpected" not in err and "restore" not in err
    monkeypatch.undo()
    assert _count(config, "SELECT count(*) FROM items") == 1  # what the first refresh stored
    outcomes = [row for row in _outcomes(config) if row.startswith("error")]
    assert outcomes and all(f"{database}: the disk is full" in row for row in outcomes), outcomes
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # room again: it runs
    assert _count(config, "SELECT count(*) FROM items") == 301


def _outcomes(config: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(f"file:{config.parent / 'state' / 'pipeline.sqlite'}?mode=ro", uri=True) as db:
        rows = [row[0] for row in db.execute("SELECT outcome FROM runs ORDER BY id")]
    db.close()
    return rows


@pytest.mark.parametrize("command", [["refresh", "--as-of", "2016-02-01"], ["subscribers", "remove", "a@example.org"]])
def test_a_state_database_that_cannot_be_written_is_one_line_saying_what_to_check_exit_2(
        config, capsys, monkeypatch, command):
    """A state folder made read-only (a mount, a restore as another user): it was "unexpected OperationalError:
    attempt to write a readonly database" with exit 1, so systemd started it again every 30 s."""
    assert main(["subscribers", "add", "a@example.org", "-c", str(config)]) == 0
    database = config.parent / "state" / "pipeline.sqlite"
    _writes_fail(monkeypatch, "PRAGMA query_only = ON")
    capsys.readouterr()
    assert main([*command, "-c", str(config)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: {database}: the state database cannot be written (attempt to write a readonly "
                          f"database); what the state database held is as it was: check that the state folder and "
                          f"every file in it belong to the user that runs the pipeline"), err
    assert "read-write" in err and "unexpected" not in err and "restore" not in err
    monkeypatch.undo()
    assert _count(config, "SELECT count(*) FROM subscribers WHERE status = 'active'") == 1


def test_a_state_database_another_user_owns_is_named_with_its_owner_and_never_to_be_restored(
        config, capsys, monkeypatch):
    """A copy put back as root (`cp`, not the README's `install -o`), or a run as root that made the files: the
    service's user cannot open the database. It was "cannot open the state database (unable to open database file);
    check [pipeline] state_dir, or restore the file from a backup": a restore would lose everything since. (This
    user's rights are made to say no, since the test may run as root, which SQLite is never refused.)"""
    import sqlite3

    from pipeline.state import access
    from pipeline.state import store as store_module

    database = config.parent / "state" / "pipeline.sqlite"
    opened = store_module.Store.__init__

    def refused(self, path, **kwargs):
        if path == database:
            error = sqlite3.OperationalError("unable to open database file")
            error.sqlite_errorcode, error.sqlite_errorname = sqlite3.SQLITE_CANTOPEN, "SQLITE_CANTOPEN"
            raise error
        opened(self, path, **kwargs)

    monkeypatch.setattr(store_module.Store, "__init__", refused)
    monkeypatch.setattr(access.os, "access", lambda path, mode: Path(path) != database)
    owner = access._user(database.stat().st_uid)
    service = database.stat().st_uid + 54321  # the service's user, not the file's owner
    monkeypatch.setattr(access.os, "geteuid", lambda: service)
    for command, code in ((["refresh"], 2), (["status"], 2), (["subscribers", "list"], 2)):
        capsys.readouterr()
        assert main([*command, "-c", str(config)]) == code, command
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith(f"error: {database}: user {service} may not read and write it (owner {owner}, mode "
                              f"0"), err
        assert f"`chown -R {service} {database.parent}`, as root), or run it as {owner}" in err, err
        assert "restore" not in err


SITE = FEED_ONLY + '[sinks.archive]\ntype = "archive"\n'


def _put_back(copy: Path, state: Path) -> None:
    """README, "Restoring": the database and the -wal and -shm beside it moved aside, the copy put in its place."""
    aside = state / "aside"
    aside.mkdir()
    for name in ("pipeline.sqlite", "pipeline.sqlite-wal", "pipeline.sqlite-shm"):
        if (state / name).exists():
            (state / name).rename(aside / name)
    (state / "pipeline.sqlite").write_bytes(copy.read_bytes())


def test_after_a_backup_is_put_back_the_site_shows_what_the_restored_database_holds(write_project, capsys):
    """The site's manifest (which page was made from what) came back with the copy and matched the restored
    database, so the first run after a restore rewrote nothing: the home page, the archive and every item's page
    went on showing issue 1, made after the copy, which the database no longer had."""
    config = write_project(SITE, {"partner.xml": RSS})
    root, out = config.parent, config.parent / "out"
    assert main(["refresh", "-c", str(config), "--as-of", "2016-01-25"]) == 0
    assert "issue-1" not in (out / "index.html").read_text()
    (root / "backups").mkdir()
    assert main(["backup", str(root / "backups" / "copy.sqlite3"), "-c", str(config)]) == 0
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # issue 1, after the copy
    assert "issue-1" in (out / "index.html").read_text() and (out / "archive" / "issue-1.html").is_file()
    _put_back(root / "backups" / "copy.sqlite3", root / "state")
    capsys.readouterr()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-01-25"]) == 0
    assert main(["status", "-c", str(config)]) == 0
    assert "latest issue: none yet" in capsys.readouterr().out
    shown = {str(path.relative_to(out)) for path in out.rglob("*.html") if "issue-1" in path.read_text()}
    assert shown <= {"archive/issue-1.html"}, shown  # that page is no more linked from anywhere


def test_a_full_disk_under_the_site_names_the_file_and_what_to_do(write_project, monkeypatch):
    """out/ on a disk that fills during a run: the archive sink's line was "OSError: [Errno 28] No space left on
    device", naming no file and saying nothing to do. (The write is made to fail as a full disk's does, after the
    file was made: this test cannot fill a disk.)"""
    import errno
    import os

    from pipeline import files
    from pipeline.config import load_project
    from pipeline.runner import run

    config = write_project(SITE, {"partner.xml": RSS})
    real = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: Full(real(fd, mode)))
    report = run(load_project(config), as_of=__import__("datetime").date(2016, 1, 25), mode="refresh")
    failed = [result for result in report.results if not result.ok]
    assert {result.name for result in failed} == {"feed", "archive"}
    out = config.parent / "out"
    for result in failed:
        assert f"No space left on device: '{out}/" in result.summary, result.summary
        assert "free some space on that disk, then run again" in result.summary, result.summary
    monkeypatch.undo()
    assert not [path for path in out.rglob(".*") if path.is_file()]  # no temporary file left behind
