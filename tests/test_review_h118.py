"""Review h118: the suppression log against restores, secrets, spellings and hostile lines.

Real projects on disk and the real CLI, as in tests/test_suppression_log.py, whose helpers these use.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.state.subscribers import REAPPLIED, UPGRADE
from tests.test_suppression_log import (
    SECRET,
    add,
    backup,
    cli,
    issue_to,
    log_path,
    record,
    restore,
    row,
    run_issue,
    write_project,
)


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """The project of tests/test_suppression_log.py."""
    return write_project(tmp_path, monkeypatch)


def left_across_a_new_secret(config, monkeypatch):
    """Ann, Bob and Cy on the list, then a backup; Ann leaves, the secret is changed, Bob leaves. The backup."""
    add(config, "ann@example.org", "bob@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    monkeypatch.setenv("TEST_SERVE_SECRET", "the-new-long-enough-secret-after-rotation")
    assert cli(config, "subscribers", "remove", "bob@example.org") == 0
    return copy

def test_an_upgrade_entry_stamped_when_an_old_copy_is_brought_up_to_date_does_not_hide_a_later_leave(config):
    """A copy from before schema step 14 is respelled when it is opened after the restore, and the step's entry in
    the record (`UPGRADE`) is stamped with that moment, later than every line of the log: it is no change of the
    person's, and must not count as their coming back."""
    add(config, "ann@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    db = sqlite3.connect(copy)  # as `respelling._one_row` writes it when the restored copy is migrated
    try:
        [(ann,)] = db.execute("SELECT id FROM subscribers WHERE email = 'ann@example.org'").fetchall()
        later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(timespec="microseconds")
        db.execute("INSERT INTO subscriber_events (subscriber, at, status, how, detail) VALUES (?, ?, 'active', ?, "
                   "'was ''Ann@example.org'': the same mailbox')", (ann, later, UPGRADE))
        db.commit()
    finally:
        db.close()

    restore(config, copy)
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_entries_written_under_another_secret_are_applied_once_that_secret_is_back(config, monkeypatch, capsys):
    """README: without the secret the lines were written with ("or another secret") the log is kept and its lines
    applied once the secret is back; the warning says to give it back to have them applied."""
    add(config, "ann@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    restore(config, copy)
    monkeypatch.setenv("TEST_SERVE_SECRET", "another-long-enough-secret-set-by-mistake")
    capsys.readouterr()
    assert cli(config, "subscribers", "list") == 0
    assert "written under another secret" in capsys.readouterr().err
    assert row(config, "ann@example.org")[1] == "active"

    monkeypatch.setenv("TEST_SERVE_SECRET", SECRET)  # the organiser does as the warning says
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_a_warning_about_a_line_never_repeats_what_the_line_holds(config, capsys):
    """A line written by hand (or by a script) with an address in it: the warning names the file and the line,
    never its content, since no address goes to the logs."""
    add(config, "ann@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    with open(log_path(config), "ab") as log:
        log.write(b"2026-03-01T00:00:00.000000+00:00 zoe.walker@sunnyvale-trust.org 0123456789abcdef "
                  + b"ab" * 32 + b"\n")
    restore(config, copy)
    capsys.readouterr()
    assert cli(config, "subscribers", "list") == 0
    err = capsys.readouterr().err
    assert f"{log_path(config)}: line 2:" in err
    assert "zoe" not in err and "sunnyvale" not in err
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_who_joined_and_left_after_the_backup_is_not_made_active_again_by_the_organisers_list(config):
    """The restored copy has no row for Dan at all (he joined from the organiser's list after it was made, then
    left): importing that list again must not make him active and mail him."""
    add(config, "cy@example.org")
    copy = backup(config)
    listed = config.parent / "members.csv"
    listed.write_text("email,name\ndan@example.org,Dan\n", encoding="utf-8")
    assert cli(config, "subscribers", "import", str(listed)) == 0
    assert cli(config, "subscribers", "remove", "dan@example.org") == 0

    restore(config, copy)
    assert row(config, "dan@example.org") is None
    assert cli(config, "subscribers", "import", str(listed)) == 0  # the organiser's list, as each run reads it
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}
    assert row(config, "dan@example.org")[1] == "unsubscribed"
    assert record(config, "dan@example.org")[-1][:2] == ("unsubscribed", REAPPLIED)


def test_who_joined_and_was_forgotten_after_the_backup_cannot_be_added_back_by_the_cli(config, capsys):
    add(config, "cy@example.org")
    copy = backup(config)
    add(config, "dan@example.org")
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0

    restore(config, copy)
    capsys.readouterr()
    assert cli(config, "subscribers", "add", "dan@example.org") != 0
    assert "suppression log" in capsys.readouterr().err
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}


def test_a_log_with_lines_under_an_old_and_a_new_secret_is_applied_whole_and_then_costs_nothing(
        config, monkeypatch, capsys):
    """The secret was changed between two leaves: a copy from before both, put back, has each line applied, the
    old secret's once it is given for one start; then each start reads no more than before and says nothing."""
    from pipeline.state import suppression_log

    restore(config, left_across_a_new_secret(config, monkeypatch))
    capsys.readouterr()
    assert cli(config, "subscribers", "list") == 0
    assert "1 entry was written under another secret" in capsys.readouterr().err
    assert (row(config, "ann@example.org")[1], row(config, "bob@example.org")[1]) == ("active", "unsubscribed")
    assert cli(config, "status") == 0
    assert "suppression log: 1 entry" in capsys.readouterr().out

    monkeypatch.setenv("TEST_SERVE_SECRET", SECRET)  # given back for one start
    assert cli(config, "subscribers", "list") == 0
    assert row(config, "ann@example.org")[1] == "unsubscribed"
    monkeypatch.setenv("TEST_SERVE_SECRET", "the-new-long-enough-secret-after-rotation")
    capsys.readouterr()
    hashed = []
    digest = suppression_log.Key.digest
    monkeypatch.setattr(suppression_log.Key, "digest", lambda key, address: hashed.append(address) or
                        digest(key, address))
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}
    assert hashed == [] and "suppressions.log" not in capsys.readouterr().err


def test_a_line_still_being_written_when_the_log_is_read_is_no_damaged_line(config, capsys):
    """Another process appends (under the database's write lock) while this one reads the log without it: the
    piece after the last newline is a line not finished yet, read again once it is, and not warned of."""
    add(config, "ann@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    with open(log_path(config), "ab") as log:
        log.write(b"2026-03-01T00:00:00.000000+00:00 unsubscribed 0123456789ab")
    restore(config, copy)
    capsys.readouterr()
    assert cli(config, "subscribers", "list") == 0
    err = capsys.readouterr().err
    assert "line 2" not in err and "1 address who left" in err
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def _event_at(copy, address: str, at: str) -> None:
    db = sqlite3.connect(copy)
    try:
        db.execute("INSERT INTO subscriber_events (subscriber, at, status, how) SELECT id, ?, 'active', 'form' "
                   "FROM subscribers WHERE email = ?", (at, address))
        db.commit()
    finally:
        db.close()


def test_within_one_second_the_later_of_a_leave_and_a_return_wins_and_restoring_twice_changes_nothing(config):
    add(config, "ann@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    [line] = log_path(config).read_text(encoding="ascii").splitlines()
    left = datetime.fromisoformat(line.split()[0])
    came_back = config.parent / "came-back.sqlite3"
    shutil.copyfile(copy, came_back)  # a return a microsecond after the leave, in the same second: it stands
    _event_at(came_back, "ann@example.org", (left + timedelta(microseconds=1)).isoformat(timespec="microseconds"))
    _event_at(copy, "ann@example.org", (left - timedelta(microseconds=1)).isoformat(timespec="microseconds"))

    restore(config, came_back)
    assert cli(config, "subscribers", "list") == 0
    assert row(config, "ann@example.org")[1] == "active"
    for _ in range(2):  # the same copy put back twice: the leave is newer than its record each time
        restore(config, copy)
        assert cli(config, "subscribers", "list") == 0
        assert row(config, "ann@example.org")[1] == "unsubscribed"
        assert [how for _, how, _ in record(config, "ann@example.org")].count(REAPPLIED) == 1


def test_status_writes_nothing_while_entries_wait_to_be_checked_or_for_their_secret(config, monkeypatch, capsys):
    restore(config, left_across_a_new_secret(config, monkeypatch))
    database = config.parent / "state" / "pipeline.sqlite"
    for _ in range(2):  # before any check, then with Ann's entry kept waiting for the old secret
        before = database.read_bytes()
        capsys.readouterr()
        assert cli(config, "status") == 0
        assert "suppression log:" in capsys.readouterr().out
        assert database.read_bytes() == before
        assert cli(config, "subscribers", "list") == 0


def test_a_log_of_100000_lines_put_against_a_copy_hashes_each_address_once_and_then_never(config, monkeypatch):
    from pipeline.state import suppression_log

    add(config, "ann@example.org", "bob@example.org", "cy@example.org")
    copy = backup(config)
    key = suppression_log.Key(SECRET.encode())
    with open(log_path(config), "ab") as log:  # 100,000 people the copy never held, who left
        log.write(b"".join(f"2026-03-01T00:00:{n % 60:02d}.000000+00:00 unsubscribed {key.id} "
                           f"{key.digest(f'someone{n}@example.net')}\n".encode("ascii") for n in range(100_000)))
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    restore(config, copy)
    hashed = []
    digest = suppression_log.Key.digest
    monkeypatch.setattr(suppression_log.Key, "digest", lambda key, address: hashed.append(address) or
                        digest(key, address))
    assert cli(config, "subscribers", "list") == 0
    assert sorted(hashed) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    assert row(config, "ann@example.org")[1] == "unsubscribed"
    hashed.clear()
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"bob@example.org", "cy@example.org"} and hashed == []


def test_an_address_that_complained_after_the_backup_cannot_come_back_through_the_form_once_it_is_put_back(config):
    """A complained address gets nothing from the form; one the copy never held but the log says complained is no
    different."""
    import re

    import httpx

    from pipeline.config import load_project
    from tests.serve_fixtures import LiveServer

    add(config, "cy@example.org")
    copy = backup(config)
    listed = config.parent / "left.csv"
    listed.write_text("email,name,status\ndan@example.org,,complained\n", encoding="utf-8")
    assert cli(config, "subscribers", "import", str(listed)) == 0
    restore(config, copy)
    assert cli(config, "subscribers", "list") == 0

    server = LiveServer(load_project(config)).start()
    try:
        with httpx.Client(base_url=server.url) as browser:
            form = browser.get("/subscribe").text
            token = re.search(r'name="form" value="([^"]+)"', form).group(1)
            assert browser.post("/subscribe", data={"form": token, "email": "dan@example.org"}).status_code == 200
    finally:
        server.stop()
    assert row(config, "dan@example.org")[1] == "complained"
    assert not list((config.parent / "outbox" / "messages").glob("*dan@example.org*"))
