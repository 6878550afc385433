"""What a send counts on survives a power cut: the journal's record of a batch handed over (SQLite synchronous=FULL
for that one commit) and each email the outbox delivers (the file and its folder fsynced before it is recorded)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pipeline.files import write_atomic
from pipeline.state import Store, journal


def test_a_batch_is_recorded_in_flight_with_a_full_sync_and_the_store_goes_back_to_normal(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    at = datetime(2016, 3, 1, tzinfo=UTC)
    store.create_edition(at.date(), at, at, lambda number: f"Issue {number}", [], at)  # the issue the batch sends
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    try:
        journal.begin_batch(store, batch="b1", edition=1, channel="outbox", recipients=["ann@example.org"],
                            send_at=None, at=datetime(2016, 3, 1, tzinfo=UTC))
        store.touch_items([], datetime(2016, 3, 1, tzinfo=UTC))  # an ordinary write after it
        synchronous = store.db.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        store.db.set_trace_callback(None)
        store.close()
    begin = statements.index("BEGIN IMMEDIATE")
    assert statements[begin - 1] == "PRAGMA synchronous=FULL"
    assert statements[statements.index("COMMIT", begin) + 1] == "PRAGMA synchronous=NORMAL"
    assert synchronous == 1  # NORMAL: only that commit waited for the disk
    assert statements.count("PRAGMA synchronous=FULL") == 1


def test_a_durable_write_syncs_the_file_and_then_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "plain.txt", "site page")
    write_atomic(tmp_path / "mail" / "ann.eml", b"Subject: hi\r\n\r\nhello\r\n", durable=True)
    assert (tmp_path / "mail" / "ann.eml").read_bytes().endswith(b"hello\r\n")
    assert len(synced) == 2 and ".ann.eml." in synced[0] and synced[1] == str(tmp_path / "mail")
