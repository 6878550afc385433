"""The state database's transactions end whatever interrupts them, and closing waits for the thread using it."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from pipeline.state import Store
from pipeline.state import store as store_module


class _InterruptedAfterBegin:
    """The connection, with a Ctrl-C (or SIGTERM's exception) landing as soon as BEGIN has run."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def execute(self, sql: str, *args):
        cursor = self.db.execute(sql, *args)
        if sql.startswith("BEGIN"):
            raise KeyboardInterrupt
        return cursor

    def __getattr__(self, name: str):
        return getattr(self.db, name)


def test_a_signal_just_after_begin_leaves_no_transaction_open(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    real = store.db
    store.db = _InterruptedAfterBegin(real)
    try:
        with pytest.raises(KeyboardInterrupt), store.transaction():
            pass
    finally:
        store.db = real
    assert not real.in_transaction
    other = sqlite3.connect(tmp_path / "s.sqlite", timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free: no "database is locked"
    other.execute("ROLLBACK")
    other.close()
    with store.transaction() as db:  # and the store goes on
        db.execute("INSERT INTO counters VALUES ('test', 1)")
    store.close()


def test_close_waits_for_the_thread_in_a_transaction(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    inside, failed = threading.Event(), []

    def write() -> None:
        try:
            with store.transaction() as db:
                inside.set()
                time.sleep(0.3)
                db.execute("INSERT INTO counters VALUES ('test', 1)")
        except Exception as exc:
            failed.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    assert inside.wait(10)
    store.close()
    thread.join(10)
    assert failed == []
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("SELECT value FROM counters WHERE name = 'test'").fetchone() == (1,)
    db.close()


def test_a_held_store_stays_open_past_close_until_the_last_hold_is_released(tmp_path):
    store = Store(tmp_path / "state.sqlite")
    first, second = store.hold(), store.hold()

    store.close()
    assert store._rows("SELECT 1") == [(1,)]  # still open for the work left behind
    first()
    first()  # releasing twice counts once
    assert store._rows("SELECT 1") == [(1,)]
    second()

    with pytest.raises(sqlite3.ProgrammingError):
        store._rows("SELECT 1")


def test_releasing_a_hold_before_close_leaves_close_to_close_it(tmp_path):
    store = Store(tmp_path / "state.sqlite")
    store.hold()()
    assert store._rows("SELECT 1") == [(1,)]
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store._rows("SELECT 1")


def test_a_store_held_while_another_thread_keeps_the_connection_is_closed_and_let_go_at_release(tmp_path, monkeypatch):
    """A stopped send's batch may be waiting on SQLite (another writer) when the run closes the store:
    closing must neither give up on the hold nor leave the run's lock behind."""
    monkeypatch.setattr(store_module, "CLOSE_WAIT", 0.2)
    store = Store(tmp_path / "state.sqlite")
    let_go: list[str] = []
    store.close_with(lambda: let_go.append("lock"))
    release = store.hold()
    holding, done = threading.Event(), threading.Event()

    def keeps_the_connection() -> None:
        with store._lock:
            holding.set()
            done.wait(30)

    busy = threading.Thread(target=keeps_the_connection)
    busy.start()
    assert holding.wait(30)

    store.close()  # the hold is open: it does not wait for the busy connection, and closes nothing yet
    assert let_go == []
    done.set()
    busy.join()
    release()

    assert let_go == ["lock"]
    with pytest.raises(sqlite3.ProgrammingError):
        store._rows("SELECT 1")


def test_no_hold_is_given_once_the_store_is_closing(tmp_path):
    """A stopped send's batch that starts as the run ends must fail before it sends anything, not find the
    database closed under it after."""
    store = Store(tmp_path / "state.sqlite")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="the state database is closed"):
        store.hold()
    store.close()  # closing again is harmless
