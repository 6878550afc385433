"""Review h195: holes in the round's changes (the scheduler's lock, Deliverer.kept, the -wal after an erasure)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

from pipeline.cli import main

HERE = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
            "PIPELINE_FAKE_NOW": "2016-01-20T10:00:00+00:00", **extra}


def test_a_scheduler_ending_on_a_state_folder_it_may_not_write_says_its_line_not_an_attribute_error(tmp_path):
    """Before: with no lock file to be had (a state folder its user may not write, one mounted read-only), the
    scheduler went on without the lock, as meant, but its last act was `held.close()` on a `contextlib.nullcontext`:
    "unexpected AttributeError: 'nullcontext' object has no attribute 'close'", exit 1 (systemd restarts it every
    30 s) in place of the state folder's line and exit 2."""
    from pipeline.testing import write_project_files
    from tests.test_review_h161 import ALERTED, BLOG, GOOD, _scheduled

    config = write_project_files(tmp_path, BLOG + ALERTED, {"posts/good.md": GOOD})
    (tmp_path / "tmp").mkdir()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    state = tmp_path / "state"
    state.chmod(0o500)
    try:
        done = _scheduled(config, without_rights=True)
    finally:
        state.chmod(0o700)
    err = " ".join(done.stderr.split())
    assert done.returncode == 2 and "AttributeError" not in err and "the scheduler ends (exit 2)" in err, err


def test_the_scheduler_makes_its_state_folder_for_its_owner_alone(write_project):
    """Before: the scheduler made the state folder for its lock (mkdir with the umask's mode, 0755), before the state
    database was opened, which makes it 0700 (every subscriber's address is in it: README, install -d -m 0700), so a
    project first started by `pipeline schedule` had a state folder anyone on the machine could list and read the
    suppression log and backups in. Now it is made as the database makes it."""
    from pipeline.commands.schedule import _held_alone
    from pipeline.config import load_project

    config = write_project('[pipeline]\nname = "N"\nstate_dir = "fresh/state"\n[sinks.feed]\ntype = "rss"\n')
    held = _held_alone(load_project(config), print)
    try:
        assert stat.S_IMODE((config.parent / "fresh" / "state").stat().st_mode) == 0o700
    finally:
        held.close()


def test_a_lock_the_file_system_cannot_take_leaves_the_scheduler_running_with_a_line(write_project, monkeypatch,
                                                                                      capsys):
    """Before: on a state folder whose file system has no locks (NFS without its lock daemon: flock says ENOLCK), the
    scheduler ended at once with "unexpected OSError" (only BlockingIOError, another scheduler, was caught), so it
    could not run at all where it ran before the lock was added. Now it runs, unguarded, and says so once."""
    from pipeline.commands.schedule import _held_alone
    from pipeline.config import load_project

    config = write_project('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n')

    def no_locks(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    said = []
    held = _held_alone(load_project(config), said.append)
    assert held is not None
    held.close()
    line = " ".join(" ".join(said).split())
    assert "schedule.lock" in line and "No locks available" in line and "only one" in line, line


def test_a_delivery_that_deletes_mail_on_an_erasure_but_cannot_list_it_is_named_by_show(project_from):
    """Before: `subscribers show` (everything held about a person) listed the mail a delivery keeps through
    `Deliverer.kept`, new in this version, whose default is "nothing". A third-party delivery written before it, one
    that keeps mail and deletes it on an erasure (its own `forget`), was taken at that word: show said nothing of the
    mail it keeps, while forget deleted it. Now such a delivery is named as keeping mail it cannot list."""
    from pipeline.components import Deliverer
    from pipeline.mail.transactional import kept_mail
    from tests.test_delivery_hook import SUBSCRIBERS, TOML, Plugin

    plugin = Plugin()

    class KeepingPigeon(plugin.pigeon):
        def forget(self, address):
            return 1

    plugin.pigeon = KeepingPigeon
    project = project_from(TOML, {"subscribers.csv": SUBSCRIBERS}, plugins=[("pigeon", plugin)])
    found, unlisted = kept_mail(project, ["ann@example.org"])
    assert found == [] and len(unlisted) == 1, unlisted
    assert "kept" in unlisted[0] and "ann@" not in unlisted[0], unlisted
    assert type(project.sinks[0].deliverer).kept is Deliverer.kept


def test_a_delivery_that_lists_what_it_keeps_is_not_named_so(project_from):
    from pipeline.mail.transactional import kept_mail
    from tests.test_delivery_hook import SUBSCRIBERS, TOML, Plugin

    plugin = Plugin()
    project = project_from(TOML, {"subscribers.csv": SUBSCRIBERS}, plugins=[("pigeon", plugin)])
    assert kept_mail(project, ["ann@example.org"]) == ([], [])


def _in_files(state: Path, text: bytes) -> list[str]:
    return [path.name for path in sorted(state.iterdir()) if path.is_file() and text in path.read_bytes()]


def test_a_leavers_name_is_not_left_in_the_write_ahead_log_of_a_database_kept_open(tmp_path):
    """Before: someone who left through `pipeline serve` (the one-click link, the preferences page, a webhook's
    bounce) had their name and themes blanked in the database, but `pipeline.sqlite-wal`, which `serve` keeps while it
    runs, still held the pages from when they joined, name and all, until enough writes came to overwrite them: a
    file-level backup of state/ copied it. Now the log is checkpointed and emptied after such a change, without
    waiting for another process (a run reading at that moment: then after the next write)."""
    from datetime import UTC, datetime

    from pipeline.state import Store
    from pipeline.state.subscribers import add, unsubscribe

    state = tmp_path / "state"
    store = Store(state / "pipeline.sqlite")
    other = Store(state / "pipeline.sqlite")  # a run, or another thread's process, with it open too
    try:
        at = datetime(2016, 1, 20, tzinfo=UTC)
        found = add(store, "zeb@example.org", "Zebulon Quackenbush", ["peer support"], how="form", at=at)
        assert "pipeline.sqlite-wal" in _in_files(state, b"Zebulon Quackenbush")  # where it was found
        assert unsubscribe(store, found.id, how="one-click link", at=at)
        assert _in_files(state, b"Zebulon Quackenbush") == []
    finally:
        other.close()
        store.close()


def test_a_checkpoint_another_process_keeps_from_ending_is_tried_again_when_the_store_is_next_used(tmp_path):
    """A run reading the database at that moment keeps the log from being emptied; the leaver's change is not held
    up for it (no waiting), and the store's next use (a link opened, a change of the list) tries again."""
    import sqlite3
    from datetime import UTC, datetime

    from pipeline.state import Store
    from pipeline.state.subscribers import add, find_subscriber, unsubscribe

    state = tmp_path / "state"
    store = Store(state / "pipeline.sqlite")
    reader = sqlite3.connect(state / "pipeline.sqlite", isolation_level=None)
    try:
        at = datetime(2016, 1, 20, tzinfo=UTC)
        found = add(store, "zeb@example.org", "Zebulon Quackenbush", [], how="form", at=at)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM subscribers").fetchone()  # a read under way, on an older snapshot
        assert unsubscribe(store, found.id, how="one-click link", at=at)
        assert "pipeline.sqlite-wal" in _in_files(state, b"Zebulon Quackenbush")  # not waited for
        reader.execute("COMMIT")
        assert find_subscriber(store, "amy@example.org") is None  # serve's next look at the list (a link opened)
        assert _in_files(state, b"Zebulon Quackenbush") == []
    finally:
        reader.close()
        store.close()


def test_a_withdrawn_items_facts_a_later_version_cached_do_not_break_the_site_after_going_back(tmp_path, capsys):
    """h194 made facts a later version cached (a field more) only stale in `load_facts`, but `plan_withdrawn` built
    each withdrawn item's cached facts as they were (`Facts(*json.loads(...))`): after going back to this version,
    the archive sink failed on every run with the same TypeError while one such item was withdrawn. Now its facts
    are made again from the item, and its page still says it was withdrawn, at the address it had."""
    import json
    import sqlite3
    from datetime import UTC, datetime

    from pipeline.state import Store
    from tests.test_review_h194 import _demo

    toml = _demo(tmp_path / "p")
    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-02-01"]) == 0
    database = tmp_path / "p" / "state" / "pipeline.sqlite"
    with sqlite3.connect(database) as db:
        item, source, facts = db.execute(
            "SELECT s.id, i.source, s.facts FROM site_items s JOIN items i ON i.id = s.id WHERE i.kind = 'news' "
            "ORDER BY s.id LIMIT 1").fetchone()
        later = json.loads(facts)
        later.append("a field a later version added")
        db.execute("UPDATE site_items SET stamp = 'a later version', facts = ? WHERE id = ?", (json.dumps(later), item))
    db.close()
    store = Store(database)
    try:
        others = [other for other in store.ids_of(source) if other != item]
        assert store.withdraw_missing(source, others, datetime(2016, 2, 20, tzinfo=UTC))  # the organiser took it out
    finally:
        store.close()
    capsys.readouterr()
    assert main(["-c", str(toml), "refresh", "--as-of", "2016-03-01"]) == 0, capsys.readouterr().out
    assert "TypeError" not in capsys.readouterr().out
    page = tmp_path / "p" / "out" / later[4].strip("/") / "index.html"
    assert "withdrawn" in page.read_text(encoding="utf-8").lower()


def test_schedule_list_names_the_scheduler_that_runs_the_project(write_project, tmp_path):
    """Before: `pipeline schedule --list` while a scheduler ran said "refresh every 60 min: next at <now> (at start)"
    as for one about to start, and nothing of the one running (nor that starting another would be refused). It now
    says a scheduler runs the project, with its pid, or that none does."""
    import signal
    import subprocess
    import sys

    from tests.test_review_s44 import _scheduler, _wait_for

    config = write_project('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n')

    def listed() -> str:
        done = subprocess.run([sys.executable, "-m", "pipeline", "schedule", "--list", "--config", str(config)],
                              capture_output=True, text=True, timeout=60, env=_env())
        assert done.returncode == 0, done.stderr
        return " ".join(done.stdout.split())

    assert "no `pipeline schedule` runs this project" in listed()
    first = _scheduler(config)
    try:
        _wait_for(tmp_path / "state" / "pipeline.sqlite", first)
        assert first.poll() is None, first.communicate()
        out = listed()
        assert f"a `pipeline schedule` runs this project (pid {first.pid})" in out, out
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)


def test_a_scheduler_left_running_across_an_upgrade_ends_to_be_started_again_with_the_new_version(tmp_path):
    """Before: a `pipeline schedule` started before an upgrade (the new version installed, a run of it bringing the
    database up a schema step) checked what was due each minute and said, for ever, "the state database is from a
    newer version of the pipeline...: install that version again, or put back a `pipeline backup` made before the
    upgrade", advice that loses everything since that backup, when the fault is only this process still running the
    old code; and nothing ran. Now it says so and ends with exit 1, which systemd (and Docker) restart, with the new
    version."""
    import sqlite3
    import subprocess
    import sys

    from pipeline.state.schema import STEPS
    from pipeline.testing import write_project_files
    from tests.test_review_h161 import BLOG, GOOD

    config = write_project_files(tmp_path, BLOG, {"posts/good.md": GOOD})
    scheduler = subprocess.Popen([sys.executable, "-m", "pipeline", "schedule", "--config", str(config)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=_env(PIPELINE_FAKE_SPEED="120"), cwd=tmp_path)
    try:
        from tests.test_review_s44 import _wait_for

        _wait_for(tmp_path / "out" / "feed.xml", scheduler)  # its first refresh ran
        assert scheduler.poll() is None, scheduler.communicate()
        with sqlite3.connect(tmp_path / "state" / "pipeline.sqlite") as db:  # the new version's first run
            db.execute(f"PRAGMA user_version = {len(STEPS) + 1}")
        db.close()
        out, err = scheduler.communicate(timeout=60)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.communicate()
    line = " ".join(err.split())
    assert scheduler.returncode == 1, line
    assert "after this scheduler started" in line and "put back a `pipeline backup`" not in line, line



def test_a_double_click_whose_second_post_took_its_time_first_is_still_one_request(tmp_path):
    """A double-clicked Subscribe: each post takes the time, then waits for the database's write lock. The one that
    took the later time may get the lock first; the other then looked for a request made from a minute before its
    own time up to that time, missed the one just made (a moment after it), and a second confirmation was mailed
    (test_serve's test of a form sent twice failed so, now and then, on a busy machine). Now a request within the
    minute either side is the same request."""
    from datetime import UTC, datetime, timedelta

    from pipeline.state import Store
    from pipeline.state.subscribers import request_subscription

    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        first_in = datetime(2016, 1, 20, 10, 0, 0, 5000, tzinfo=UTC)
        took_earlier = datetime(2016, 1, 20, 10, 0, 0, 1000, tzinfo=UTC)
        asked = dict(how="form", once_within=timedelta(minutes=1))
        assert request_subscription(store, "tess@example.org", "Tess", [], at=first_in, **asked) is not None
        assert request_subscription(store, "tess@example.org", "Tess", [], at=took_earlier, **asked) is None
    finally:
        store.close()
