"""`pipeline backup`: a checked copy of a real SQLite state database, made while others write to it."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sample_feeds import FEED_ONLY
from sample_feeds import ONE_ITEM_RSS as RSS

from pipeline.cli import main
from pipeline.commands.backup import destination
from pipeline.config import load_project
from pipeline.errors import StateError
from pipeline.runner import locked_store, state_path
from pipeline.state import Store
from pipeline.state.backup import backup
from pipeline.state.subscribers import add

PIPELINE = str(Path(sys.executable).parent / "pipeline")
AT = datetime(2016, 1, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(write_project) -> Path:
    """A project after a real `pipeline refresh`: its state database has the item and the run."""
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["refresh", "-c", str(path), "--as-of", "2016-02-01"]) == 0
    return path


def one(database: Path, sql: str):
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        value = db.execute(sql).fetchone()[0]
    db.close()
    return value


def test_the_cli_copies_while_a_run_holds_the_lock_and_a_write_is_open(config, tmp_path, capsys):
    project = load_project(config)
    store = Store(state_path(project))
    add(store, "fay@example.org", "Fay", ["peer support"], how="test", at=AT)
    store.close()
    folder = tmp_path / "backups"
    folder.mkdir()
    with locked_store(project) as store, store.transaction() as db:  # a run in progress, mid-write
        db.execute("DELETE FROM items")
        db.execute("DELETE FROM subscribers")
        # Held up by the lock, it would never end (the lock is held until it does); by the writer, whose transaction
        # stays open until then too, it would give up after busy_timeout (10 s) with "database is locked": no time is
        # measured, the outcome tells.
        done = subprocess.run([PIPELINE, "backup", str(folder), "-c", str(config)], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line
    made = re.fullmatch(r"backed up (.+) to (.+) \((\d+(?:\.\d)? (?:bytes|KB|MB)), integrity check ok, [\d.]+ s\)",
                        line)
    assert made, line
    copy = Path(made[2])
    assert made[1] == str(state_path(project))
    assert copy.parent == folder and re.fullmatch(r"state-\d{8}T\d{6}Z\.sqlite3", copy.name)
    assert [p.name for p in folder.iterdir()] == [copy.name]  # no temporary file or -wal left beside it
    assert copy.stat().st_mode & 0o777 == 0o600  # it holds the subscribers' addresses
    # What was committed, and nothing of the transaction that was open during the copy:
    assert one(copy, "SELECT count(*) FROM items") == 1
    assert one(copy, "SELECT email FROM subscribers") == "fay@example.org"
    assert one(copy, "SELECT count(*) FROM runs") == 1
    assert one(copy, "PRAGMA journal_mode") == "delete"  # one self-contained file
    assert one(state_path(project), "SELECT count(*) FROM items") == 0  # the writer committed afterwards
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0  # the live database is as usable as before


def test_writers_go_on_during_backups_and_each_copy_is_one_committed_state(tmp_path):
    source = tmp_path / "state" / "pipeline.sqlite"
    store = Store(source)  # the project's own schema and settings (WAL, busy_timeout)
    with store.transaction() as db:
        db.execute("CREATE TABLE ledger (n INTEGER PRIMARY KEY, filler BLOB)")
        db.execute("CREATE TABLE tally (total INTEGER)")
        db.executemany("INSERT INTO ledger (filler) VALUES (randomblob(?))", [(8000,)] * 1000)
        db.execute("INSERT INTO tally VALUES (1000)")
    store.close()
    writer = Store(source)
    commits, slowest, errors = [0], [0.0], []
    stop = threading.Event()

    def write() -> None:  # every transaction adds a row and counts it: a copy must agree with itself
        try:
            while not stop.is_set():
                began = time.monotonic()
                with writer.transaction() as db:
                    db.execute("INSERT INTO ledger (filler) VALUES (randomblob(2000))")
                    db.execute("UPDATE tally SET total = total + 1")
                slowest[0] = max(slowest[0], time.monotonic() - began)
                commits[0] += 1
        except Exception as exc:  # "database is locked" would mean the backup held the writer up
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    overlapped = 0
    try:
        for number in range(8):
            before = commits[0]
            result = backup(source, tmp_path / f"copy-{number}.sqlite3")
            after = commits[0]
            overlapped += after > before
            total, rows = one(result.path, "SELECT total FROM tally"), one(result.path, "SELECT count(*) FROM ledger")
            assert result.integrity == "ok"
            assert total == rows  # never half a transaction
            assert 1000 + before <= total <= 1000 + after + 1  # what was committed when the copy began
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert not errors
    assert commits[0] > 0 and overlapped > 0  # writes were committed while copies were being made
    assert slowest[0] < 2  # and none waited on a backup


def test_refuses_to_overwrite_unless_forced(config, tmp_path, capsys):
    dest = tmp_path / "nightly.sqlite3"
    assert main(["backup", str(dest), "-c", str(config)]) == 0
    first = dest.stat().st_ino
    capsys.readouterr()
    assert main(["backup", str(dest), "-c", str(config)]) == 1
    assert capsys.readouterr().err.strip() == (f"error: {dest}: already exists; give another name or a folder, "
                                               f"or pass --force to replace it")
    assert dest.stat().st_ino == first
    assert main(["backup", "--force", str(dest), "-c", str(config)]) == 0
    assert dest.stat().st_ino != first and one(dest, "SELECT count(*) FROM items") == 1


def test_json_is_one_document(config, tmp_path, capsys):
    assert main(["backup", str(tmp_path), "--json", "-c", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["integrity_check"] == "ok"
    assert data["source"] == str(state_path(load_project(config)))
    assert Path(data["path"]).parent == tmp_path and Path(data["path"]).stat().st_size == data["bytes"] > 0


@pytest.mark.parametrize(("dest", "says"), [
    ("missing/", "missing: no such folder; create it first (mkdir -p {tmp}/missing) or give a file name"),
    ("missing/copy.sqlite3", "missing: no such folder for copy.sqlite3; create it first (mkdir -p {tmp}/missing)"),
    ("pipeline.toml/copy.sqlite3", "pipeline.toml: not a folder, so copy.sqlite3 cannot go in it; give another DEST"),
    ("state/pipeline.sqlite", "state/pipeline.sqlite: that is the state database itself; give another file or "
                              "a folder"),
    ("state/pipeline.sqlite-wal", "state/pipeline.sqlite-wal: that is the state database itself; give another "
                                  "file or a folder"),
])
def test_a_bad_dest_is_one_line_naming_it(config, capsys, dest, says):
    tmp = config.parent
    assert main(["backup", f"{tmp}/{dest}", "--force", "-c", str(config)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {tmp}/{says.format(tmp=tmp)}"]


def test_no_state_database_yet(write_project, tmp_path, capsys):
    config = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["backup", str(tmp_path), "--json", "-c", str(config)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["exit_code"] == 1
    assert data["errors"] == [f"{tmp_path}/state/pipeline.sqlite: no state database yet; run `pipeline run` "
                              f"(or `pipeline refresh`) first, or check [pipeline] state_dir in pipeline.toml"]
    assert not (tmp_path / "state").exists()


def test_a_file_that_is_not_a_database_is_exit_2_and_nothing_kept(write_project, tmp_path, capsys):
    config = write_project(FEED_ONLY, {"partner.xml": RSS, "state/pipeline.sqlite": b"not SQLite at all " * 500})
    (tmp_path / "backups").mkdir()
    assert main(["backup", str(tmp_path / "backups"), "-c", str(config)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path}/state/pipeline.sqlite: the state database is damaged (file is not a database); "
        f"no backup was made. Stop `pipeline schedule`, then put back the latest copy made by `pipeline backup` "
        f"(README, \"Operations\"), or salvage it with `sqlite3 pipeline.sqlite .recover` into a new file and put "
        f"that in its place"]  # the line every command gives (review h161)
    assert list((tmp_path / "backups").iterdir()) == []


def test_a_copy_that_fails_the_integrity_check_is_not_kept(tmp_path):
    source = tmp_path / "pipeline.sqlite"
    db = sqlite3.connect(source, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x, y)")
    db.execute("CREATE INDEX t_x ON t (x)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(n, -n) for n in range(100)])
    db.execute("PRAGMA writable_schema=ON")  # the index's entries no longer match what it says it indexes
    db.execute("UPDATE sqlite_schema SET sql = 'CREATE INDEX t_x ON t (y)' WHERE name = 't_x'")
    db.close()
    (tmp_path / "out").mkdir()
    with pytest.raises(StateError, match=r"the copy fails SQLite's integrity check \(row 2 missing from index "
                                         r"t_x; .* more\)\), so the state database itself is damaged"):
        backup(source, tmp_path / "out" / "copy.sqlite3")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_folder_gets_a_name_with_the_time_in_utc(tmp_path):
    moment = datetime(2016, 2, 1, 8, 0, 5, tzinfo=UTC)
    assert destination(str(tmp_path), moment) == tmp_path / "state-20160201T080005Z.sqlite3"
    assert destination(str(tmp_path / "x.db"), moment) == tmp_path / "x.db"
