"""A run checks the whole state database only when it may have changed since a sound run closed it, or a day has
passed (pipeline/state/soundness.py); damage seen in use means a full check next time."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_state_damage import overwrite_page

from pipeline.state import soundness
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
    overwrite_page(database, "items_published")
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
    overwrite_page(database, "items_published")  # a bad copy or restore: the file's time changes
    with pytest.raises(Damaged):
        Store(database, check=True)
    assert soundness.last_check(database) is None


def test_damage_seen_in_use_means_a_full_check_next_time(database):
    store = Store(database, check=True)
    damage_in_place(database)
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        store._rows("SELECT id FROM items WHERE published < '2100' ORDER BY published")
    store.close()

    assert not soundness.record_path(database).exists()
    with pytest.raises(Damaged):
        Store(database, check=True)


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


@pytest.mark.parametrize("record", ["", "not json", '{"checked_at": "yesterday", "files": []}', "[1, 2]",
                                    '{"checked_at": "2999-01-01T00:00:00+00:00", "files": null}'])
def test_a_record_that_cannot_be_read_means_a_full_check(database, record):
    soundness.record_path(database).write_text(record)
    assert soundness.last_check(database) is None
    damage_in_place(database)
    with pytest.raises(Damaged):
        Store(database, check=True)
