"""Review h105: the fixes made for reviews h103 and h104 (never_sent, the scheduler's checks between runs, the
latest monthly run in status, a database from a newer version, the missed-issue alert). Each test fails while the
problem it names is there."""

from __future__ import annotations

import fcntl
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.state.schema import STEPS
from tests.test_review_h104 import Scheduling, _alerts, _outbox_project


def _store(config: Path):
    from pipeline.runner import state_path
    from pipeline.state import Store

    return Store(state_path(load_project(config)))


def _user_version(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    return version


# -- never_sent: who was on the list when the send began -----------------------------------------------------

def test_someone_who_confirmed_after_the_send_is_not_counted_as_never_sent(write_project):
    """Bob fills in the subscribe form an hour before the monthly send (his row is made, pending), and clicks the
    confirmation link after the send has gone out to the list. Now: `never_sent` takes 'on the list when the send
    began' to be `subscribers.created_at <= the first batch`, and created_at is when his row was made (pending), so
    `pipeline status` says '1 subscriber on the list when it was made never sent it' and the `deliveries:1` alert
    tells the organisers a send was cut short, though the send reached everyone on the list (and within the window
    the scheduler would 'resume' it, mailing Bob last month's issue). The same for one who unsubscribed before the
    send and re-subscribed after it (the row keeps its first created_at). Should: one who became active after the
    send began is not counted (journal.active_without_delivery, joined_by)."""
    from pipeline.commands.status import status_data
    from pipeline.state import subscribers

    config = _outbox_project(write_project)  # Ann on the list
    store = _store(config)
    try:
        request = subscribers.request_subscription(store, "bob@example.org", "Bob", [], how="form",
                                                   at=datetime.now(UTC) - timedelta(hours=1))
    finally:
        store.close()
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # issue 1 to Ann, the whole list
    time.sleep(0.01)
    store = _store(config)
    try:
        assert subscribers.confirm(store, request.subscriber.id, how="link", at=datetime.now(UTC),
                                   request=request.id)
    finally:
        store.close()

    data = status_data(load_project(config))

    assert data["never_sent"] == 0, data["never_sent"]


def test_a_subscriber_who_joined_after_an_issue_sent_to_nobody_is_not_counted_as_never_sent(write_project):
    """A new network: the first issue is made while the list is still empty, so its send begins no batch at all.
    A week later the organiser adds Bob (`pipeline subscribers add`). Now: `journal.send_began` is None for an issue
    with no batch, and `active_without_delivery(joined_by=None)` then counts every active subscriber, so
    `pipeline status` says '1 subscriber on the list when it was made never sent it' and the alerts say a send was
    cut short. Should: an issue whose send began no batch was on the list of nobody who joined after it was made
    (its created_at at the latest)."""
    from pipeline.commands.status import status_data
    from pipeline.state import subscribers

    config = _outbox_project(write_project)
    (config.parent / "subscribers.csv").write_text("email,name\n", encoding="utf-8")  # nobody yet
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    time.sleep(0.01)
    store = _store(config)
    try:
        subscribers.add(store, "bob@example.org", "Bob", [], how="cli", at=datetime.now(UTC))
    finally:
        store.close()

    data = status_data(load_project(config))

    assert data["never_sent"] == 0, data["never_sent"]


# -- the scheduler's check between runs ----------------------------------------------------------------------

def test_the_schedulers_check_does_not_migrate_the_database_while_another_run_holds_the_lock(write_project):
    """After an upgrade, the state database is one step behind; a `pipeline run` started by hand holds the run
    lock. The scheduler's check is meant to read only (review h104: 'the migration is a run's, once it has checked
    the file and holds the lock'). Now: `check` compares `loaded[0] is not current`, and `current` is a fresh
    `load_project` at every check, so every check (every minute, with [alerts] to set, as in production) calls
    `alerts.between_runs(current, None, key=CONFIG)`, which opens `Store(check=True)` for writing: that migrates the
    file, without the run lock, while the other run holds it. (The same call, on a database it cannot open,
    logs 'the organisers could not be told config:pipeline.toml' every minute, though pipeline.toml loads.)
    Should: the check leaves the file as it is; the config alert is resolved only when one was open."""
    config = _outbox_project(write_project)
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # February's issue: nothing missed
    database = config.parent / "state" / "pipeline.sqlite"
    with sqlite3.connect(database) as db:  # as the release before left it
        db.execute(f"PRAGMA user_version = {len(STEPS) - 1}")
    db.close()

    with open(config.parent / "state" / "pipeline.lock", "w") as lock:  # a run in another process
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        scheduler = Scheduling(config, "2016-02-10T12:00:00+00:00")
        try:
            scheduler.wait_for("running")
            time.sleep(3)  # half an hour of the fake clock: its refreshes refused by the lock
        finally:
            said = scheduler.stop()
        version = _user_version(database)

    assert version == len(STEPS) - 1, f"migrated to {version} by the scheduler's check: {said}"


def test_the_scheduler_refuses_a_database_from_a_newer_version_as_the_readme_says(write_project):
    """The organiser upgrades, meets a bug, goes back to the release before and restarts the unit. README
    (`pipeline status` row): 'A database a newer version brought up to date is refused (exit 2), by every command'
    (exit 2 is what the unit does not restart, RestartPreventExitStatus=2). Now: `pipeline schedule` starts, each
    check fails with 'error checking what is due: ... newer version', and it runs on for good, making no issue and
    refreshing nothing, with the unit 'active (running)' and no alert (each minute it logs instead that the
    organisers 'could not be told config:pipeline.toml'). Should: exit 2 saying so, as every other command does."""
    config = _outbox_project(write_project)
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    database = config.parent / "state" / "pipeline.sqlite"
    with sqlite3.connect(database) as db:  # as a later release leaves it
        db.execute(f"PRAGMA user_version = {len(STEPS) + 1}")
    db.close()

    scheduler = Scheduling(config, "2016-02-10T12:00:00+00:00")
    try:
        deadline = time.monotonic() + 8
        while scheduler.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        code = scheduler.process.poll()
    finally:
        said = scheduler.stop()

    assert code == 2, said[-1500:]


# -- the latest monthly run in status ------------------------------------------------------------------------

def test_status_does_not_say_a_monthly_run_still_going_did_not_finish(write_project, capsys):
    """On the first of the month the scheduler's edition run is fetching (it holds the run lock); the organiser
    runs `pipeline status` to watch it. Now: the new line for the latest monthly run shows any run with no exit
    code, so a run in progress is printed in red as 'the latest run (as of 2016-02-01, ...) did not finish:
    unfinished', as if it had been killed. Should: a run still going (the run lock is held) is not said to have
    failed or not finished."""
    from pipeline.state import history

    config = _outbox_project(write_project)
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:  # the run, in the scheduler's process
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        store = _store(config)
        try:
            history.begin_run(store, mode="run", as_of=date(2016, 2, 1), at=datetime.now(UTC))
        finally:
            store.close()
        capsys.readouterr()
        assert main(["status", "-c", str(config)]) == 0
        out = " ".join(capsys.readouterr().out.split())

    assert "did not finish" not in out, out


# -- the missed-issue alert ----------------------------------------------------------------------------------

def test_the_missed_issue_alert_closes_when_its_run_by_hand_finds_nothing_new(write_project):
    """The scheduler could not make the issue of 1 March in its window and told the organisers ('the issue of
    2016-03-01 was not made ... make it with `pipeline run --as-of 2016-03-01`'). The organiser runs that command:
    it goes well, and makes no issue because nothing was new (exit 0). `missed()` now says nothing is missed
    (`_nothing_new`), but the alert stays open: `assess`'s `fine` closes a `missed:` key only when an issue of that
    date or a later one exists, so `pipeline status` lists 'problem: the issue of 2016-03-01 was not made' all
    month, after the organiser did what it said. Should: a run of that date that went well with nothing new closes
    it, as it ends the missed slot everywhere else."""
    from pipeline import alerts
    from pipeline.state import alerts as alert_rows

    config = _outbox_project(write_project, posts=("2016-01-20",))
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # February's issue
    project = load_project(config)
    alerts.between_runs(project, alerts.missed_issue(date(2016, 3, 1), "the issue of 2016-03-01 08:00 GMT was not "
                                                                       "made within 48 hours"))
    assert _alerts(config), "the missed issue was not told"  # (as the scheduler tells it)

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # nothing new since February

    store = _store(config)
    try:
        still = [alert.key for alert in alert_rows.open_alerts(store)]
    finally:
        store.close()
    assert "missed:2016-03-01" not in still, still


# -- the warning of a secret just made -----------------------------------------------------------------------

def test_a_secret_made_by_this_process_for_an_issue_sent_to_nobody_gives_no_false_warning_later(
        write_project, monkeypatch, caplog):
    """A new network's `pipeline schedule` (one long process) makes issue 1 while the list is still empty: the email
    sink's `groups` makes `Links`, so this process makes state/secret (`signing.MADE_HERE`), and `_note_secret`
    returns at once for a send with no groups, so the mark is never cleared. The organiser then adds Ann and sends
    issue 1 to her by hand (`pipeline run --as-of 2016-02-01`, another process, the same state/secret). Now: when the
    scheduler sends issue 2, signed with that very secret, it warns 'this issue's links are signed with a new
    secret, just made ..., but issues were mailed before with links signed by another: theirs (unsubscribe,
    preferences) no longer work; put back the state/secret they were signed with', which is false (Ann's links
    work) and sends the organiser looking for a secret that never existed. Should: no such warning; the mark is
    about the first send after the secret was made, whatever its groups."""
    import logging
    import os
    import subprocess
    import sys

    from pipeline.subscribers import signing
    from tests.test_review_h104 import POST, ROOT

    monkeypatch.setattr(signing, "MADE_HERE", set())  # this test's process is the scheduler's
    monkeypatch.delenv("PIPELINE_SECRET", raising=False)
    config = _outbox_project(write_project)
    (config.parent / "subscribers.csv").write_text("email,name\n", encoding="utf-8")  # nobody yet
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # issue 1, to nobody
    assert (config.parent / "state" / "secret").exists()

    (config.parent / "subscribers.csv").write_text("email,name\nann@example.org,Ann\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "PIPELINE_SECRET"}
    by_hand = subprocess.run([sys.executable, "-m", "pipeline", "run", "-c", str(config), "--as-of", "2016-02-01"],
                             env={**env, "PYTHONPATH": str(ROOT)}, cwd=config.parent, capture_output=True, text=True)
    assert by_hand.returncode == 0 and "1 sent" in by_hand.stdout, by_hand.stdout + by_hand.stderr

    (config.parent / "blog" / "2016-02-20.md").write_text(POST.format(title="Post of 2016-02-20", day="2016-02-20"),
                                                          encoding="utf-8")
    caplog.set_level(logging.WARNING)
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # issue 2, by the scheduler's process

    said = [r.getMessage() for r in caplog.records if "new secret" in r.getMessage()]
    assert said == [], said


def test_resuming_a_send_cut_short_does_what_status_says_it_does(write_project, capsys):
    """Issue 1 reached Ann; the machine rebooted before Bob's and Cy's batches (review h104's `_send_cut_short`).
    Dan subscribes a week later. The review found `pipeline status` and the alert saying `pipeline run --as-of
    2016-02-01` "sends to those never sent it (and to no one it reached)", counting two, while that command (and
    the scheduler's resume) sends the latest issue to every active subscriber without a delivery of it: Dan too.
    Decided: the latest issue made again still reaches whoever joined since (as it always has, and as the README
    says of a send that found new subscribers), and status and the alert now say so; their count is of those the
    send was cut short for."""
    from tests.test_review_h104 import _send_cut_short

    config = _send_cut_short(write_project)
    time.sleep(0.01)
    store = _store(config)
    try:
        from pipeline.state import subscribers

        subscribers.add(store, "dan@example.org", "Dan", [], how="cli", at=datetime.now(UTC))
    finally:
        store.close()
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert ("2 subscribers on the list when its send began never sent it (`pipeline run --as-of 2016-02-01` sends "
            "to them, and to anyone who joined since)") in said, said

    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # as status says

    mailed = sorted(path.name.split("-")[0] for path in (config.parent / "outbox" / "issue-1").glob("*.eml"))
    assert mailed == ["ann@example.org", "bob@example.org", "cy@example.org", "dan@example.org"], mailed  # once each


# -- a sink a project has once -------------------------------------------------------------------------------

def test_a_subclass_that_words_its_own_single_reason_is_still_refused_beside_its_base(project_from):
    """A plugin's sink made from the rss sink (another name, writing the same out_dir/feed.xml) says why in its own
    words: `single = "..."` on the subclass. Now: `config._single_of` takes the first class of the MRO that defines
    `single`, which is the subclass itself for one and RssSink for the other, so `[sinks.feed]` (rss) and
    `[sinks.short]` (short-feed) are two different 'single' types and both load, each writing over the other's
    feed.xml on every run (what h103's fix was for). Should: refused, as the same subclass without its own wording
    is (the sink type furthest up the MRO that is single decides)."""
    import pytest

    from pipeline import hookimpl
    from pipeline.errors import ConfigError
    from plugins.sinks.rss.sink import RssSink

    class ShortFeed(RssSink):
        name = "short-feed"
        single = "it writes out_dir/feed.xml, as the rss sink does"

    class Plugin:
        @hookimpl
        def register_sinks(self, register):
            register(ShortFeed)

    with pytest.raises(ConfigError, match=r"a second"):
        project_from('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n[sinks.short]\ntype = "short-feed"\n',
                     plugins=[("short", Plugin())])


# -- a quiet month -------------------------------------------------------------------------------------------

def test_a_quiet_month_with_a_skipped_post_is_not_reported_as_a_missed_issue(write_project):
    """A quiet March: the scheduler's run on 1 March finds nothing new since February's issue and makes none, as it
    should. The blog folder also holds a half-written post whose front matter lacks its date (skipped, said as a
    problem on every run: exit 3, 'done, with problems'); every source was fetched. Now: `_nothing_new` wants
    exit 0, so the run counts as no run at all: once the window closes, `pipeline status` says in red that the issue
    of 2016-03-01 'was not made ... make it with `pipeline run --as-of 2016-03-01`' (and the scheduler alerts the
    organisers that it was missed), a command that makes nothing. Should: a run whose sources all worked is a quiet
    month, whatever records it skipped (a source that failed is what may hide something new)."""
    from zoneinfo import ZoneInfo

    from pipeline.commands.status import status_data

    config = _outbox_project(write_project, posts=("2016-01-20",))
    (config.parent / "blog" / "draft.md").write_text("---\ntitle: \"Half written\"\n---\n\nSoon.\n", encoding="utf-8")
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 3  # February's issue; the draft skipped
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 3  # March: nothing new, no issue
    project = load_project(config)

    later = status_data(project, now=datetime(2016, 3, 5, 12, tzinfo=ZoneInfo("Europe/London")))

    assert later["next"]["missed"] is None, later["next"]["missed"]
