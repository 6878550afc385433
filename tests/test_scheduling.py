"""`pipeline schedule`: what is due comes from the state and the calendar (pure `due()`), and the loop,
run as a real process under a fake clock (PIPELINE_FAKE_NOW, PIPELINE_FAKE_SPEED), makes each issue
once and sends nobody anything twice."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.commands.schedule import run_loop
from pipeline.scheduler import EDITION, REFRESH, RESUME, Due, due, missed
from pipeline.state import Store, history, journal
from pipeline.state import subscribers as subscriber_state

LONDON = ZoneInfo("Europe/London")
PIPELINE = Path(__file__).parent.parent / ".venv" / "bin" / "pipeline"
SCHEDULE = """
[schedule]
newsletter_day = 28
newsletter_time = "10:00"
refresh_minutes = 30
"""


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


def kinds(found: list[Due]) -> list[tuple[str, date | None]]:
    return [(d.kind, d.as_of) for d in found]


@pytest.fixture
def planned(project_from, tmp_path):
    project = project_from(SCHEDULE + '[sinks.feed]\ntype = "rss"\n')
    store = Store(tmp_path / "s.sqlite")
    yield project, store
    store.close()


def _issue(store: Store, as_of: date) -> int:
    start = at(2016, 1, 1)
    return store.create_edition(as_of, start, start, lambda n: "t", [], start).number


def test_a_slot_missed_across_a_month_end_is_due_within_the_window(planned):
    project, store = planned
    assert kinds(due(store, project, at(2016, 2, 28, 9, 59), last_refresh=at(2016, 2, 28, 9, 50))) == []
    assert kinds(due(store, project, at(2016, 2, 28, 10), last_refresh=at(2016, 2, 28, 9, 50))) == [
        (EDITION, date(2016, 2, 28))]
    woke = due(store, project, at(2016, 3, 1, 9), last_refresh=None)  # 47 hours late
    assert kinds(woke) == [(EDITION, date(2016, 2, 28)), (REFRESH, None)]
    assert woke[0].until == at(2016, 3, 1, 10)


def test_across_a_year_end_with_a_longer_window(project_from, tmp_path):
    project = project_from(SCHEDULE + 'catch_up_hours = 96\n[sinks.feed]\ntype = "rss"\n')
    store = Store(tmp_path / "s.sqlite")
    assert kinds(due(store, project, at(2017, 1, 1, 0, 30), last_refresh=at(2017, 1, 1, 0, 20))) == [
        (EDITION, date(2016, 12, 28))]
    assert due(store, project, at(2017, 1, 1, 10, 1), last_refresh=at(2017, 1, 1, 10)) == []
    store.close()


def test_missed_by_more_than_the_window_nothing_and_a_message(planned):
    project, store = planned
    history.begin_run(store, mode="refresh", as_of=date(2016, 2, 1), at=at(2016, 2, 1))  # it ran; then off
    late = at(2016, 3, 1, 10, 1)
    assert due(store, project, late, last_refresh=late) == []
    message = missed(store, project, late)
    assert "2016-02-28 10:00" in message and "pipeline run --as-of 2016-02-28" in message
    assert missed(store, project, at(2016, 3, 1, 9)) is None  # still within it


def test_a_project_first_run_after_the_window_missed_nothing(planned):
    """Set up on 20 March, a project never had the slot of 28 February to make: no message (nor alert)."""
    project, store = planned
    assert missed(store, project, at(2016, 3, 20)) is None  # nothing ever ran
    history.begin_run(store, mode="refresh", as_of=date(2016, 3, 20), at=at(2016, 3, 20))
    assert missed(store, project, at(2016, 3, 20, 1)) is None


def test_an_existing_issue_is_not_due_again(planned):
    project, store = planned
    _issue(store, date(2016, 2, 28))
    assert due(store, project, at(2016, 2, 29, 10), last_refresh=at(2016, 2, 29, 10)) == []
    assert missed(store, project, at(2016, 3, 20)) is None


def test_an_interrupted_send_is_resumed_within_the_window(planned):
    project, store = planned
    number = _issue(store, date(2016, 2, 28))
    subscriber_state.add(store, "a@example.org", "A", [], how="test", at=at(2016, 2, 1))
    subscriber_state.add(store, "b@example.org", "B", [], how="test", at=at(2016, 2, 1))
    journal.begin_batch(store, batch="b1", edition=number, channel="outbox", recipients=["a@example.org"],
                        send_at=None, at=at(2016, 2, 28, 10))  # killed here: a in flight, b never tried
    found = due(store, project, at(2016, 2, 28, 11), last_refresh=at(2016, 2, 28, 11))
    assert kinds(found) == [(RESUME, date(2016, 2, 28))]
    assert "1 in flight" in found[0].why and "1 active subscriber not yet sent" in found[0].why
    journal.settle_batch(store, batch="b1", edition=number, at=at(2016, 2, 28, 11),
                         outcomes=[journal.Outcome("a@example.org", journal.SENT)])
    journal.begin_batch(store, batch="b2", edition=number, channel="outbox", recipients=["b@example.org"],
                        send_at=None, at=at(2016, 2, 28, 11))
    journal.settle_batch(store, batch="b2", edition=number, at=at(2016, 2, 28, 11),
                         outcomes=[journal.Outcome("b@example.org", journal.SENT)])
    assert due(store, project, at(2016, 2, 28, 12), last_refresh=at(2016, 2, 28, 12)) == []


def test_refresh_every_interval_and_at_start(planned):
    project, store = planned
    _issue(store, date(2016, 2, 28))
    now = at(2016, 3, 5, 12)
    assert kinds(due(store, project, now)) == [(REFRESH, None)]
    assert due(store, project, now, last_refresh=now - timedelta(minutes=29)) == []
    assert kinds(due(store, project, now, last_refresh=now - timedelta(minutes=30))) == [(REFRESH, None)]


def test_the_loop_retries_with_backoff_and_survives_errors_in_the_check():
    clock = {"t": at(2016, 2, 28, 10)}
    item = Due(EDITION, date(2016, 2, 28), at(2016, 3, 1, 10))
    checks, runs, warnings = [], [], []

    def check(now, last_refresh):
        checks.append(now)
        if len(checks) == 2:
            raise RuntimeError("database disk image is malformed")
        return [item], []

    def execute(due_item):
        runs.append(clock["t"])
        if len(runs) < 3:
            raise RuntimeError("another run is in progress")
        return True

    def sleep(seconds):
        clock["t"] += timedelta(seconds=seconds)

    code = run_loop(check, execute, now=lambda: clock["t"], sleep=sleep, warn=warnings.append,
                    stop=lambda: 143 if clock["t"] > at(2016, 2, 28, 11) else None)
    assert code == 143
    assert [round((r - runs[0]).total_seconds() / 60) for r in runs] == [0, 1, 3]  # 1 minute, then 2
    assert any("malformed" in w for w in warnings) and sum("another run" in w for w in warnings) == 2


def test_an_error_in_the_check_that_clears_and_comes_back_is_said_again():
    clock = {"t": at(2016, 2, 28, 10)}
    checks, warnings = [], []

    def check(now, last_refresh):
        checks.append(now)
        if len(checks) in (1, 3):  # pipeline.toml broken, mended, then broken the same way again
            raise ValueError("pipeline.toml: line 3: expected '='")
        return [], []

    def sleep(seconds):
        clock["t"] += timedelta(seconds=seconds)

    run_loop(check, lambda due_item: True, now=lambda: clock["t"], sleep=sleep, warn=warnings.append,
             stop=lambda: 143 if len(checks) >= 4 else None)
    assert sum("expected '='" in w for w in warnings) == 2


# -- `pipeline schedule` as a real process ------------------------------------------------------

SUBSCRIBERS = ["alex@example.org", "sam@example.org", "priya@example.org"]
FAST = 120  # the fake clock runs two minutes a second


def _post(day: str, title: str) -> str:
    return f"---\ntitle: \"{title}\"\ndate: {day}\n---\n\n{title}: what happened, and what comes next.\n"


@pytest.fixture
def news_project(write_project):
    def make(extra: str = "") -> Path:
        posts = {f"blog/{d}.md": _post(d, f"Post of {d}") for d in ("2016-02-10", "2016-02-20", "2016-03-10")}
        subscribers = "email,name\n" + "".join(f"{a},{a.split('@')[0]}\n" for a in SUBSCRIBERS)
        return write_project(f"""
            {SCHEDULE.replace("refresh_minutes = 30", "refresh_minutes = 1440")}
            [sources.blog]
            type = "blog"
            path = "blog"
            {extra}
            [sinks.newsletter]
            type = "email"
            subscribers = "subscribers.csv"
            from_email = "news@network.example.org"
            """, {**posts, "subscribers.csv": subscribers})
    return make


class Scheduler(subprocess.Popen):
    """`pipeline schedule` under the fake clock, its standard error read as it comes (`.err`)."""

    def __init__(self, config: Path, fake_now: str):
        env = {**os.environ, "PIPELINE_FAKE_NOW": fake_now, "PIPELINE_FAKE_SPEED": str(FAST)}
        super().__init__([str(PIPELINE), "schedule", "-c", str(config)], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.stderr), daemon=True)
        self.reader.start()

    @property
    def err(self) -> str:
        return "".join(self.lines)


_start = Scheduler


def _wait_for(condition, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _issues(config: Path) -> list[date]:
    path = config.parent / "state" / "pipeline.sqlite"
    if not path.exists():
        return []
    store = Store(path)
    try:
        return sorted(e.as_of for e in store.editions())
    finally:
        store.close()


def _sent(config: Path) -> Counter:
    """(issue folder, recipient) -> .eml files in the outbox."""
    found = Counter()
    for eml in (config.parent / "outbox").glob("issue-*/*.eml"):
        recipient = next(line.split(":", 1)[1].strip() for line in eml.read_text().splitlines()
                         if line.lower().startswith("to:"))
        found[eml.parent.name, recipient.rsplit("<", 1)[-1].rstrip(">")] += 1
    return found


def _stop(process: Scheduler, config: Path) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out = process.stdout.read()
    process.wait(timeout=20)
    process.reader.join(timeout=5)
    err = process.err
    assert process.returncode == 143, err
    assert "stopped by SIGTERM" in err
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:  # nobody holds the lock
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return out, err


def _each_sent_once(config: Path, issues: int) -> None:
    sent = _sent(config)
    assert set(sent.values()) == {1}, sent
    assert len(sent) == issues * len(SUBSCRIBERS)


def test_a_slot_missed_across_a_month_end_is_made_once(news_project):
    config = news_project()
    process = _start(config, "2016-03-01T09:00:00+00:00")  # 47 hours after 28 February, 10:00
    try:
        _wait_for(lambda: len(_sent(config)) == len(SUBSCRIBERS))
        time.sleep(2)  # a few more checks: nothing more is made
    finally:
        out, err = _stop(process, config)
    assert _issues(config) == [date(2016, 2, 28)], out + err
    _each_sent_once(config, 1)
    assert "edition 2016-02-28" in out


def test_a_busy_lock_at_the_due_minute_is_retried(news_project):
    config = news_project()
    (config.parent / "state").mkdir()
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        process = _start(config, "2016-02-28T09:59:00+00:00")
        try:
            _wait_for(lambda: "another run is in progress" in process.err)
            time.sleep(1.5)  # a few more minutes of fake time with the lock held
            assert _issues(config) == []
        except BaseException:
            process.kill()
            raise
    try:
        _wait_for(lambda: len(_sent(config)) == len(SUBSCRIBERS))
        time.sleep(1.5)
    finally:
        _stop(process, config)
    assert _issues(config) == [date(2016, 2, 28)]
    _each_sent_once(config, 1)


def test_a_failing_source_does_not_stop_the_edition(news_project):
    config = news_project("""
        [sources.partner]
        type = "feed"
        url = "http://127.0.0.1:9/feed.xml"
        kind = "news"
        """)
    process = _start(config, "2016-02-28T09:59:30+00:00")
    try:
        _wait_for(lambda: len(_sent(config)) == len(SUBSCRIBERS))
        time.sleep(1.5)
    finally:
        out, _ = _stop(process, config)
    assert "sources that failed: partner" in out
    assert _issues(config) == [date(2016, 2, 28)]
    _each_sent_once(config, 1)


def test_months_in_a_row_and_a_restart_make_one_issue_each(news_project):
    config = news_project()
    process = _start(config, "2016-02-28T10:00:00+00:00")
    try:
        _wait_for(lambda: len(_sent(config)) == len(SUBSCRIBERS))
    finally:
        _stop(process, config)
    process = _start(config, "2016-03-28T10:30:00+01:00")  # restarted: February's is not made again
    try:
        _wait_for(lambda: len(_sent(config)) == 2 * len(SUBSCRIBERS))
        time.sleep(1.5)
    finally:
        _stop(process, config)
    assert _issues(config) == [date(2016, 2, 28), date(2016, 3, 28)]
    _each_sent_once(config, 2)


def test_list_prints_the_next_times_and_exits(news_project):
    config = news_project()
    env = {**os.environ, "PIPELINE_FAKE_NOW": "2016-12-29T12:00:00+00:00"}
    done = subprocess.run([str(PIPELINE), "schedule", "--list", "-c", str(config)], env=env, text=True,
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "next at 2017-01-28 10:00" in done.stdout


def test_list_also_says_what_is_due_at_once(news_project, monkeypatch, capsys):
    from pipeline.cli import main

    config = news_project()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-20"]) == 0  # a state database, no issue yet
    capsys.readouterr()
    monkeypatch.setenv("PIPELINE_FAKE_NOW", "2016-02-28T12:00:00+00:00")  # February's slot passed 2 hours ago
    assert main(["schedule", "--list", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "next at 2016-03-28 10:00" in out and "due now: edition 2016-02-28" in out


def test_a_send_killed_midway_is_resumed_and_nobody_gets_two(news_project):
    from pipeline.cli import main

    config = news_project()
    listed = (config.parent / "subscribers.csv").read_text()
    (config.parent / "subscribers.csv").write_text("email,name\n")
    assert main(["run", "-c", str(config), "--as-of", "2016-02-28"]) == 0  # the issue, sent to nobody yet
    (config.parent / "subscribers.csv").write_text(listed)
    store = Store(config.parent / "state" / "pipeline.sqlite")
    journal.begin_batch(store, batch="killed", edition=1, channel="outbox", recipients=[SUBSCRIBERS[0]],
                        send_at=None, at=datetime.now(UTC))  # killed before the file was written
    store.close()
    process = _start(config, "2016-02-28T11:00:00+00:00")
    try:
        _wait_for(lambda: len(_sent(config)) == len(SUBSCRIBERS))
        time.sleep(1.5)
    finally:
        out, _ = _stop(process, config)
    assert "resume 2016-02-28" in out
    assert _issues(config) == [date(2016, 2, 28)]
    _each_sent_once(config, 1)


def test_a_signal_during_a_run_waits_for_it_and_a_second_one_stops_it():
    from pipeline.cli import Stopped
    from pipeline.commands.schedule import Signals

    said = []
    signals = Signals(said.append)
    signals.running = True
    signals.handle(signal.SIGTERM, None)
    assert signals.received == signal.SIGTERM and "when the current run ends" in said[0]
    with pytest.raises(Stopped):
        signals.handle(signal.SIGTERM, None)
    assert signals.stopped_a_run
    with pytest.raises(Stopped):
        Signals(said.append).handle(signal.SIGINT, None)  # while waiting: at once


@pytest.fixture
def slow_feed():
    """A feed on 127.0.0.1 that answers only once `release` is set: a run that is busy for as long as we like."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked, release = threading.Event(), threading.Event()
    body = (b"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d"
            b"</description><item><title>Late news</title><link>https://p.example.org/1</link>"
            b"<pubDate>Fri, 19 Feb 2016 10:00:00 +0000</pubDate></item></channel></rss>")

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.set()
            release.wait(60)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/feed.xml", asked, release
    release.set()
    server.shutdown()
    server.server_close()


def _last_run(config: Path):
    from pipeline.state import history

    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return history.last_runs(store, 1)[0]
    finally:
        store.close()


def test_sigterm_during_a_run_lets_the_run_finish_then_ends(news_project, slow_feed):
    url, asked, release = slow_feed
    config = news_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n')
    process = _start(config, "2016-02-20T12:00:00+00:00")  # the refresh made at start is busy on the slow feed
    try:
        assert asked.wait(30)
        process.send_signal(signal.SIGTERM)
        _wait_for(lambda: "stopping when the current run ends" in process.err)
        assert process.poll() is None  # still running its run
        release.set()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    process.reader.join(timeout=5)
    assert process.returncode == 143, process.err
    assert "stopped by SIGTERM after the run ended" in process.err
    last = _last_run(config)
    assert last.finished is not None and last.outcome == "done"  # the run was let finish
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_second_sigterm_stops_the_run_safely(news_project, slow_feed):
    url, asked, release = slow_feed
    config = news_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n')
    process = _start(config, "2016-02-20T12:00:00+00:00")
    try:
        assert asked.wait(30)
        process.send_signal(signal.SIGTERM)
        _wait_for(lambda: "stopping when the current run ends" in process.err)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)  # without the feed ever answering
    finally:
        if process.poll() is None:
            process.kill()
    process.reader.join(timeout=5)
    assert process.returncode == 143, process.err
    assert not release.is_set()
    last = _last_run(config)
    assert last.finished is not None and last.outcome == "stopped by SIGTERM" and last.exit_code == 143
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:  # the lock was released
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_damage_met_while_working_out_what_is_due_is_said_with_what_to_do(news_project):
    from test_state_damage import overwrite_page

    config = news_project()
    made = subprocess.run([str(PIPELINE), "run", "-c", str(config), "--as-of", "2016-02-28"], capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    database = config.parent / "state" / "pipeline.sqlite"
    before = database.stat()
    overwrite_page(database, "editions")  # what is due is read from the issues made
    os.utime(database, ns=(before.st_atime_ns, before.st_mtime_ns))
    process = _start(config, "2016-03-01T09:00:00+00:00")
    try:
        _wait_for(lambda: "the state database is damaged" in process.err)
    finally:
        _, err = _stop(process, config)
    said = " ".join(err.split())
    assert "error checking what is due:" in said and "pipeline backup" in said and ".recover" in said
    assert _issues_made_after(config) == []


def _issues_made_after(config: Path) -> list[str]:
    return sorted(path.name for path in (config.parent / "outbox").glob("issue-*") if path.name != "issue-1")


def test_the_window_and_the_refresh_count_real_hours_across_a_clock_change(project_from, tmp_path):
    project = project_from(SCHEDULE.replace("28", "27") + '[sinks.feed]\ntype = "rss"\n')
    store = Store(tmp_path / "s.sqlite")
    try:
        # 27 March 2021, 10:00 GMT; the clocks went forward at 01:00 GMT on the 28th
        woke = at(2021, 3, 29, 10, 30)  # 09:30 GMT: 47.5 hours after the slot
        found = due(store, project, woke, last_refresh=woke)
        assert kinds(found) == [(EDITION, date(2021, 3, 27))]
        assert found[0].until.astimezone(UTC) == datetime(2021, 3, 29, 10, tzinfo=UTC)
        assert missed(store, project, woke) is None
        assert due(store, project, at(2021, 3, 29, 11, 1), last_refresh=at(2021, 3, 29, 11, 1)) == []
        # 31 October 2021: 01:00-02:00 comes twice; a refresh at 01:40 BST is due again 30 minutes later,
        # at 01:10 GMT, not at 02:10
        before = at(2021, 10, 31, 1, 40)
        after = datetime(2021, 10, 31, 1, 10, tzinfo=LONDON, fold=1)
        assert (after.astimezone(UTC) - before.astimezone(UTC)) == timedelta(minutes=30)
        assert kinds(due(store, project, after, last_refresh=before)) == [(REFRESH, None)]
    finally:
        store.close()


def test_the_loop_retries_after_a_minute_in_the_hour_that_comes_twice():
    start = datetime(2021, 10, 31, 0, 59, 30, tzinfo=UTC)  # 01:59:30 BST, then 01:00 GMT
    clock = {"t": start}
    runs = []

    def execute(due_item):
        runs.append(clock["t"])
        return len(runs) > 1

    def sleep(seconds):
        clock["t"] += timedelta(seconds=seconds)

    run_loop(lambda now, last: ([Due(REFRESH)], []), execute, now=lambda: clock["t"].astimezone(LONDON),
             sleep=sleep, warn=lambda line: None, stop=lambda: 143 if len(runs) > 1 else None)
    assert (runs[1] - runs[0]).total_seconds() == 60  # not an hour and a minute
