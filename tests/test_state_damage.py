"""A damaged state database is found before anything is fetched: exit 2, a line saying what to do, no request
made and not a byte of the file changed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from http_fixtures import Route, start_feed_server

PIPELINE = str(Path(sys.executable).parent / "pipeline")


def rss(count: int) -> bytes:
    entries = "".join(f"<item><title>Seminar note {n}</title><link>https://p.example.org/{n}</link>"
                      f"<guid>https://p.example.org/{n}</guid><pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate>"
                      f"<description>Peer support and power-sharing, part {n}.</description></item>"
                      for n in range(count))
    return (f"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link>"
            f"<description>d</description>{entries}</channel></rss>").encode()


@pytest.fixture
def served_project(write_project):
    state, server = start_feed_server()
    state.routes["/feed.xml"] = Route(rss(300))
    config = write_project(f"""
        [sources.partner]
        type = "feed"
        url = "{state.url('/feed.xml')}"
        [sinks.feed]
        type = "rss"
        """)
    try:
        yield config, state
    finally:
        server.shutdown()
        server.server_close()


def refresh(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PIPELINE, "refresh", "-c", str(config), "--as-of", "2016-02-01"], capture_output=True,
                          text=True, timeout=120, cwd=config.parent)


def overwrite_page(database: Path, index: str) -> None:
    """Fill the root page of `index` with junk, as a bad disk sector would: the file still opens."""
    with sqlite3.connect(database) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
    db.close()
    with open(database, "r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(bytes(range(256)) * (page_size // 256))


def test_a_damaged_page_stops_the_run_before_any_fetch(served_project):
    config, server = served_project
    assert refresh(config).returncode == 0
    database = config.parent / "state" / "pipeline.sqlite"
    assert not (config.parent / "state" / "pipeline.sqlite-wal").exists()  # checkpointed when the run closed it
    overwrite_page(database, "items_recent")
    with sqlite3.connect(database) as db:  # the damage is real, yet the database still opens
        assert db.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    db.close()
    before, requests = database.read_bytes(), len(server.requests)

    done = refresh(config)

    assert done.returncode == 2, done.stderr
    error = " ".join(done.stderr.split())
    assert "pipeline.sqlite: the state database is damaged" in error
    assert "pipeline backup" in error and ".recover" in error and "nothing was fetched" in error
    assert "Traceback" not in done.stderr
    assert len(server.requests) == requests  # no source was fetched
    assert database.read_bytes() == before  # and nothing was written


def test_a_file_that_is_not_a_database_is_named_the_same_way(served_project):
    config, server = served_project
    state = config.parent / "state"
    state.mkdir()
    (state / "pipeline.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)

    done = refresh(config)

    assert done.returncode == 2
    assert "the state database is damaged" in done.stderr
    assert server.requests == []


def test_an_older_damaged_database_is_not_migrated_first(served_project):
    config, server = served_project
    assert refresh(config).returncode == 0
    database = config.parent / "state" / "pipeline.sqlite"
    with sqlite3.connect(database) as db:  # as a database from before the last migration step
        db.execute("DROP TABLE alerts")
        db.execute("PRAGMA user_version = 4")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    overwrite_page(database, "items_recent")
    before = database.read_bytes()

    done = refresh(config)

    assert done.returncode == 2 and "the state database is damaged" in done.stderr
    assert database.read_bytes() == before  # the migration never ran on it
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    db.close()


def test_the_organisers_hear_of_a_damaged_database_once(write_project):
    config = write_project("""
        [sources.partner]
        type = "feed"
        url = "feed.xml"
        [sinks.newsletter]
        type = "email"
        from_email = "news@network.example.org"
        subscribers = "subscribers.csv"
        [alerts]
        to = ["fay@network.example.org"]
        """, {"feed.xml": rss(300).decode(), "subscribers.csv": "email,name\\n"})
    messages = config.parent / "outbox" / "messages"
    database = config.parent / "state" / "pipeline.sqlite"
    assert refresh(config).returncode == 0
    overwrite_page(database, "items_recent")

    for _ in range(2):
        assert refresh(config).returncode == 2
    [told] = list(messages.glob("*.eml"))  # once, though two runs stopped
    text = told.read_text(encoding="utf-8")
    assert "the state database is damaged" in text and "pipeline backup" in text

    for name in ("pipeline.sqlite", "pipeline.sqlite-wal", "pipeline.sqlite-shm"):  # restored (here: made anew)
        (config.parent / "state" / name).unlink(missing_ok=True)
    assert refresh(config).returncode == 0
    overwrite_page(database, "items_recent")
    assert refresh(config).returncode == 2
    assert len(list(messages.glob("*.eml"))) == 2  # damaged again after a sound run: a new problem


def test_a_command_that_meets_the_damage_says_what_to_do(served_project):
    config, _ = served_project
    assert refresh(config).returncode == 0
    database = config.parent / "state" / "pipeline.sqlite"
    overwrite_page(database, "runs")  # the file still opens: `pipeline status` meets it in its first query

    done = subprocess.run([PIPELINE, "status", "-c", str(config)], capture_output=True, text=True, timeout=60,
                          cwd=config.parent)

    assert done.returncode == 2, done.stderr
    error = " ".join(done.stderr.split())
    assert "pipeline.sqlite: the state database is damaged (database disk image is malformed)" in error
    assert "pipeline backup" in error and ".recover" in error
    assert "unexpected" not in error and "Traceback" not in done.stderr


def test_damage_a_sink_meets_ends_the_run_with_what_to_do_and_the_next_run_checks(served_project):
    config, _ = served_project
    config.write_text(config.read_text() + '[sinks.site]\ntype = "archive"\n')  # a sink after the one that meets it
    assert refresh(config).returncode == 0
    database = config.parent / "state" / "pipeline.sqlite"
    before = database.stat()
    overwrite_page(database, "site_pages")  # read by the feed sink; a bad sector leaves the file's time as it was
    os.utime(database, ns=(before.st_atime_ns, before.st_mtime_ns))

    done = refresh(config)  # the file looks as the last run left it: no full check, and the sink meets the damage

    assert done.returncode == 2, done.stdout + done.stderr
    error = " ".join(done.stderr.split())
    assert "the state database is damaged (database disk image is malformed); the run stopped at its sinks" in error
    assert "feed: DatabaseError: database disk image is malformed" in error
    assert "site: not run: the state database is damaged" in error  # no later sink writes into the damaged file
    assert ".recover` into a new file" in error and "putting one back sends the issue again" in error
    assert "Traceback" not in done.stderr
    again = refresh(config)
    assert again.returncode == 2 and "nothing was fetched or sent" in " ".join(again.stderr.split())


def test_damage_a_source_meets_stops_the_run_before_its_sinks(served_project):
    config, server = served_project
    assert refresh(config).returncode == 0
    feed = (config.parent / "out" / "feed.xml").read_bytes()
    server.routes["/feed.xml"] = Route(rss(301))  # a new item: the feed sink would write it
    database = config.parent / "state" / "pipeline.sqlite"
    before = database.stat()
    overwrite_page(database, "sqlite_autoindex_source_state_1")  # the feed's validators are read through it
    os.utime(database, ns=(before.st_atime_ns, before.st_mtime_ns))

    done = refresh(config)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "the run stopped before its sinks: nothing was sent" in " ".join(done.stderr.split())
    assert (config.parent / "out" / "feed.xml").read_bytes() == feed
