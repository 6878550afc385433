"""Review h158: the last round's fixes (pipeline/current.py and its users, successors and feed guids, the outbox's
Batch.begun, status's read-only fallback, time limits, redaction) against what they promise."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from pipeline.components import Batch, Delivery, Resolution
from pipeline.testing import write_project_files


def _outbox(tmp_path):
    from pipeline.config import load_project

    project = load_project(write_project_files(tmp_path, "", {}, default_sinks=True))
    [sink] = [sink for sink in project.sinks if sink.name == "email"]
    return sink.deliverer


def _settled(outbox, begun: datetime, written_ns: int | None) -> Resolution:
    """What the outbox says of a batch begun at `begun`, cut short, whose reader's file has `written_ns` as its
    modification time (None: no file)."""
    path = outbox.path_for(1, "ann@example.org")
    if written_ns is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"Subject: issue 1\r\n\r\nHello.\r\n")
        os.utime(path, ns=(written_ns, written_ns))
    batch = Batch("cut-short", edition=1, begun=begun)
    return outbox.resolve(batch, [Delivery("ann@example.org", False, certain=False)])["ann@example.org"]


def test_a_batch_file_on_a_fat_stick_written_just_after_the_batch_began_counts_as_the_batchs_own(tmp_path):
    """The outbox on a FAT file system (a USB stick) keeps times to 2 s, cut down to the even second, and the
    kernel stamps a file with its clock of the last tick (some milliseconds behind the clock the batch was
    journalled by). A file the batch wrote 4 ms after it began, 3 ms past an even second, is stamped with the even
    second before that: 2.003 s older than the batch, past the 2 s of slack, so a send cut short later was settled
    unknown for a reader whose file it wrote (and `--resend unknown` would write them a second copy). A file kept
    from before the batch, minutes older, stays unknown."""
    outbox = _outbox(tmp_path)
    begun = datetime(2026, 1, 1, 12, 0, 0, 3000, tzinfo=UTC)  # 3 ms past an even second
    # written at 12:00:00.004 by a kernel whose clock is a 5 ms tick behind (11:59:59.999), stamped on FAT 11:59:58
    even_before = int(begun.timestamp()) // 2 * 2 - 2
    assert begun.timestamp() - even_before > 2
    assert _settled(outbox, begun, even_before * 10**9) is Resolution.SENT
    kept = int((begun - timedelta(minutes=5)).timestamp()) * 10**9  # from before a copy of the state was put back
    assert _settled(outbox, begun, kept) is Resolution.UNKNOWN
