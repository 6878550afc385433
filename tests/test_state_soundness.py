"""A run checks the whole state database only when it may have changed since a sound run closed it, or a day has
passed (pipeline/state/soundness.py); damage seen in use means a full check next time."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_state_damage import overwrite_page

from pipeline.state import soundness
from pipeline.state.backup import backup
from pipeline.state.store import Damaged, Store


@pytest.fixture
def database(tmp_path) -> Path:
    path = tmp_path / "state" / "pipeline.sqlite"
    store = Store(path, check=True)
    store.set_source_state("partner", {"etag": '"1"'})
    store.close()
    return path


def damage_in_place(database: Path) -> None:
    """A page gone bad on the disk: the file's size and times stay as they were."""
    before = os.stat(database)
    overwrite_page(database, "items_recent")
    os.utime(database, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_closed_store_is_remembered_as_sound_until_the_file_changes(database):
    checked_at = soundness.last_check(database)
    assert checked_at is not None and datetime.now(UTC) - checked_at < timedelta(minutes=1)

    Store(database).close()  # an unchecked store (`pipeline status`) that only reads changes nothing
    assert soundness.last_check(database) == checked_at

    with sqlite3.connect(database) as other:  # another program, or `pipeline serve`, writes to it
        other.execute("INSERT INTO source_state (source, data) VALUES ('other', '{}')")
    other.close()
    assert soundness.last_check(database) is None


def test_a_store_left_as_it_was_is_not_checked_again_within_the_day(database):
    damage_in_place(database)  # nothing outside SQLite could tell: only reading every page would

    store = Store(database, check=True)  # not read through: opens
    store.close()

    record = json.loads(soundness.record_path(database).read_text())
    record["checked_at"] = (datetime.now(UTC) - soundness.CHECK_EVERY - timedelta(minutes=1)).isoformat()
    soundness.record_path(database).write_text(json.dumps(record))
    with pytest.raises(Damaged):  # the daily full check finds it
        Store(database, check=True)


def test_a_changed_file_is_checked_in_full(database):
    overwrite_page(database, "items_recent")  # a bad copy or restore: the file's time changes
    with pytest.raises(Damaged):
        Store(database, check=True)
    assert soundness.last_check(database) is None


def read_a_damaged_page(store: Store) -> None:
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        store._rows("SELECT id FROM items INDEXED BY items_recent WHERE published < '2100' ORDER BY published")


@pytest.mark.parametrize("checked", [True, False], ids=["the run's store", "an unchecked one (pipeline serve)"])
def test_damage_seen_in_use_means_a_full_check_next_time(database, checked):
    run = Store(database, check=True)  # open meanwhile, and closed after: it cannot record the file as sound
    store = Store(database, check=checked) if not checked else run
    damage_in_place(database)
    read_a_damaged_page(store)
    store.close()
    run.close()

    assert soundness.last_check(database) is None
    with pytest.raises(Damaged):
        Store(database, check=True)


def test_damage_under_an_extended_error_code_counts(database):
    with sqlite3.connect(database) as db:  # an index that disagrees with its table: SQLITE_CORRUPT_INDEX
        db.execute("CREATE TABLE t (a, b)")
        db.execute("CREATE INDEX t_a ON t (a)")
        db.execute("INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)")
        db.execute("PRAGMA writable_schema = ON")
        db.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX t_a ON t (b)' WHERE name = 't_a'")
    db.close()
    store = Store(database, check=True)
    with pytest.raises(sqlite3.DatabaseError) as raised, store.transaction() as db:
        db.execute("DELETE FROM t WHERE a = 2")
    assert raised.value.sqlite_errorname == "SQLITE_CORRUPT_INDEX"
    store.close()
    assert soundness.last_check(database) is None
    with pytest.raises(Damaged, match="missing from index"):  # the next check compares every index with its table
        Store(database, check=True)


def test_a_commit_by_another_connection_while_open_is_not_recorded_as_sound(database):
    store = Store(database, check=True)
    with sqlite3.connect(database) as serve:  # `pipeline serve` adds a subscriber meanwhile
        serve.execute("INSERT INTO source_state (source, data) VALUES ('other', '{}')")
    serve.close()
    store.set_source_state("partner", {"etag": '"2"'})
    store.close()
    assert soundness.last_check(database) is None


def test_a_file_put_in_place_while_open_is_not_recorded_as_sound(database, tmp_path):
    store = Store(database, check=True)
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(database.read_bytes())
    os.replace(copy, database)  # a restore made while a run was still going
    store.close()
    assert soundness.last_check(database) is None


def test_a_store_that_could_not_close_records_nothing(database, monkeypatch):
    soundness.record_path(database).unlink()
    monkeypatch.setattr("pipeline.state.store.CLOSE_WAIT", 0.05)
    store = Store(database, check=True)
    busy, done = threading.Event(), threading.Event()

    def keep_it_busy():
        with store._lock:
            busy.set()
            done.wait(5)

    thread = threading.Thread(target=keep_it_busy)
    thread.start()
    busy.wait(5)
    store.close()  # gives up waiting: the connection stays open
    done.set()
    thread.join()
    assert not soundness.record_path(database).exists()


def test_an_unchecked_store_records_nothing(database):
    soundness.record_path(database).unlink()
    Store(database).close()
    assert not soundness.record_path(database).exists()


def test_a_record_that_cannot_be_written_costs_only_a_full_check(database, monkeypatch, caplog):
    def no_room(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    store = Store(database, check=True)
    store.set_source_state("partner", {"etag": '"2"'})
    released = []
    store.close_with(lambda: released.append(True))
    monkeypatch.setattr(soundness, "write_atomic", no_room)
    store.close()  # no error: the run's outcome matters more than the record
    assert released == [True]
    assert "cannot record the state database as checked (No space left on device)" in caplog.text
    assert soundness.last_check(database) is None  # the old record no longer matches the file


def test_a_backup_between_runs_keeps_the_record(database, tmp_path):
    checked_at = soundness.last_check(database)
    backup(database, tmp_path / "copy.sqlite")
    assert soundness.last_check(database) == checked_at


def test_a_store_closed_while_another_connection_keeps_the_log(database):
    keeper = sqlite3.connect(database)  # `pipeline serve`: the write-ahead log outlives the run's connection
    keeper.execute("SELECT COUNT(*) FROM items").fetchall()
    store = Store(database, check=True)
    store.set_source_state("partner", {"etag": '"2"'})
    store.close()
    assert database.with_name(database.name + "-wal").exists()
    assert soundness.last_check(database) is not None  # the log is part of what was recorded

    keeper.execute("INSERT INTO source_state (source, data) VALUES ('other', '{}')")
    keeper.commit()
    assert soundness.last_check(database) is None
    keeper.close()


@pytest.mark.parametrize("checked_at", ["yesterday", "2026-01-01T00:00:00", "2999-01-01T00:00:00+00:00", 5, None])
@pytest.mark.parametrize("form", ["record", "text"])
def test_a_record_that_cannot_be_read_means_a_full_check(database, checked_at, form):
    matching = json.loads(soundness.record_path(database).read_text())["files"]
    record = ({"checked_at": checked_at, "files": matching} if form == "record" else
              {"": "", "not json": "not json", 5: "[1, 2]"}.get(checked_at, '{"files": null}'))
    soundness.record_path(database).write_text(record if isinstance(record, str) else json.dumps(record))
    assert soundness.last_check(database) is None
    damage_in_place(database)
    with pytest.raises(Damaged):
        Store(database, check=True)
