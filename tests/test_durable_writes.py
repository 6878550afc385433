"""What a send counts on survives a power cut: the journal's record of a batch handed over (SQLite synchronous=FULL
for that one commit) and each email the outbox delivers (on the disk, by one sync a batch, before it is recorded)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pipeline.state import Store, journal
from tests.test_deliveries_outbox import outbox  # noqa: F401 (fixture)


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


def test_the_outbox_puts_a_batch_on_the_disk_before_it_is_recorded(tmp_path, monkeypatch, outbox):  # noqa: F811
    """One `os.sync()` after the batch's files are written and before `send` returns what the journal records."""
    from tests.test_deliveries_outbox import messages

    deliverer, run = outbox()
    seen: list[list[str]] = []
    monkeypatch.setattr(os, "sync", lambda: seen.append(sorted(p.name for p in tmp_path.rglob("*.eml"))))
    results = deliverer.send(messages("ann@example.org", "bob@example.org"), run)
    assert all(d.ok for d in results) and len(seen) == 1 and len(seen[0]) == 2  # both written, then synced once
