"""Run history, `pipeline status`, and `--json`: one JSON document on standard output and nothing else."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sample_feeds import ONE_ITEM_RSS as RSS
from sample_feeds import TWO_SOURCES

from pipeline import hookimpl
from pipeline.cli import main
from pipeline.components import Sink
from pipeline.runner import run, state_path
from pipeline.state import Store, history
from pipeline.state.schema import CORE, JOURNAL, SITE, STEPS, SUBSCRIBERS, _run_history

FAILING_SINK = ("from pipeline import hookimpl\nfrom pipeline.components import Sink\n"
                "class Full(Sink):\n    name = 'full'\n"
                "    def write(self, edition, run):\n        raise OSError('disk full')\n"
                "@hookimpl\ndef register_sinks(register):\n    register(Full)\n")
PIPELINE = str(Path(sys.executable).parent / "pipeline")


def cli(config: Path, *words: str) -> subprocess.CompletedProcess:
    """The real command, as a process: its whole standard output is what `--json` promises."""
    return subprocess.run([PIPELINE, *words, "-c", str(config)], capture_output=True, text=True, timeout=120,
                          cwd=config.parent)


def runs_of(config: Path) -> list[history.RunRecord]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return history.last_runs(store, 50)
    finally:
        store.close()


def health_of(config: Path) -> dict[str, history.SourceHealth]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return history.source_health(store)
    finally:
        store.close()


def test_a_good_run_is_recorded_with_each_component(project_from):
    project = project_from('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n[sinks.feed]\ntype = "rss"\n',
                           {"partner.xml": RSS})
    report = run(project, as_of=date(2016, 2, 1))
    store = Store(state_path(project))
    try:
        [record] = history.last_runs(store)
        assert (record.mode, record.as_of, record.edition, record.exit_code, record.outcome) == (
            "run", date(2016, 2, 1), 1, 0, "done")
        assert record.finished is not None and record.finished >= record.started
        results = history.run_results(store, record.id)
        assert [(r.stage, r.name, r.ok, r.count) for r in results] == [("source", "partner", True, 1),
                                                                        ("sink", "feed", True, 0)]
        assert [r.summary for r in results] == [r.summary for r in report.results]
        assert history.latest_run_of_mode(store, "run") == record
        assert history.latest_run_of_mode(store, "refresh") is None
        assert history.source_health(store)["partner"].failures_in_a_row == 0
    finally:
        store.close()


def test_failures_in_a_row_count_up_across_runs_and_reset_on_success(write_project, capsys):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "this is not a feed"})
    for _ in range(3):
        assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    health = health_of(config)
    assert health["down"].failures_in_a_row == 3 and health["down"].last_success is None
    assert "not an RSS or Atom feed" in health["down"].last_error
    assert health["partner"].failures_in_a_row == 0 and health["partner"].last_success is not None
    assert [r.outcome for r in runs_of(config)] == ["done, with problems"] * 3

    (config.parent / "down.xml").write_text(RSS.replace("p.example.org/1", "p.example.org/2"))
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    health = health_of(config)
    assert health["down"].failures_in_a_row == 0 and health["down"].last_success is not None
    assert "not an RSS or Atom feed" in health["down"].last_error  # the last error is kept, for the record

    (config.parent / "down.xml").write_text("broken again")
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    assert health_of(config)["down"].failures_in_a_row == 1


def test_a_failing_sink_is_recorded_with_the_failed_run(write_project, capsys):
    config = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n'
                           '[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n'
                           '[sinks.full]\ntype = "full"\n[sinks.feed]\ntype = "rss"\n',
                           {"partner.xml": RSS, "local/full.py": FAILING_SINK})
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 1
    [record] = runs_of(config)
    assert (record.exit_code, record.outcome, record.edition) == (1, "FAILED (a sink or transform failed)", 1)
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        results = {r.name: r for r in history.run_results(store, record.id)}
    finally:
        store.close()
    assert not results["full"].ok and results["full"].summary == "OSError: disk full"
    assert results["feed"].ok  # the other sink still ran, and says so


def test_a_refused_date_and_a_stopped_run_are_finished_too(project_from):
    class Interrupt:
        @hookimpl
        def register_sinks(self, register):
            class Stop(Sink):
                name = "stop"

                def write(self, edition, run):
                    raise KeyboardInterrupt

            register(Stop)

    project = project_from('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n[sinks.s]\ntype = "stop"\n',
                           {"partner.xml": RSS}, plugins=[("interrupt", Interrupt())])
    with pytest.raises(KeyboardInterrupt):
        run(project, as_of=date(2016, 2, 1))
    with pytest.raises(Exception, match="would overlap"):
        run(project, as_of=date(2015, 2, 1))
    store = Store(state_path(project))
    try:
        refused, stopped = history.last_runs(store)
        assert (stopped.exit_code, stopped.outcome, stopped.edition) == (130, "stopped by Ctrl-C", 1)
        assert [r.name for r in history.run_results(store, stopped.id)] == ["partner"]
        assert refused.exit_code == 2 and refused.outcome.startswith("error: issue 1 is dated 2016-02-01")
    finally:
        store.close()


def test_status_shows_runs_sources_next_times_and_deliveries(write_project, capsys):
    config = write_project(TWO_SOURCES + '[schedule]\nnewsletter_day = 1\nnewsletter_time = "08:00"\n',
                           {"partner.xml": RSS, "down.xml": "this is not a feed"})
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "latest issue: none yet" in out and "no runs recorded yet" in out
    assert not (config.parent / "state").exists()  # status only reads: it makes no state folder

    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:  # a run killed outright (SIGKILL) leaves its row unfinished
        history.begin_run(store, mode="refresh", as_of=date(2016, 2, 2), at=datetime.now(UTC))
    finally:
        store.close()
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "latest issue: 1 (2016-02-01); deliveries: 0 sent, 0 in flight, 0 unknown, 0 failed" in out
    assert "next edition:" in out and "08:00" in out and "every 60 min" in out
    assert "missed: the issue of" in out or "due now: edition" in out  # the latest issue is of 2016
    unfinished = next(line for line in lines if "unfinished" in line)
    assert "refresh" in unfinished and "2016-02-02" in unfinished
    done = next(line for line in lines if "done, with problems" in line)
    assert " run " in done and "2016-02-01" in done
    down = next(line for line in lines if line.strip().startswith("down "))
    assert " 1 " in down and "not an RSS or Atom feed" in down
    partner = next(line for line in lines if line.strip().startswith("partner "))
    assert "never run" not in partner and " 0 " in partner


def test_a_new_project_missed_no_issue_of_a_day_before_it_first_ran(write_project, capsys):
    """Set up today, a project never had last month's newsletter day to make: `status` (and the schedule, which
    would alert the organisers) says no issue was missed, until its runs reach back before a day it did not make."""
    config = write_project('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n[sinks.feed]\ntype = "rss"\n'
                           '[schedule]\nnewsletter_day = 1\nnewsletter_time = "08:00"\n', {"partner.xml": RSS})
    assert main(["refresh", "-c", str(config)]) == 0  # its first run: today
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    assert "missed:" not in capsys.readouterr().out

    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:  # it ran once before last month's newsletter day, then the machine was off
        history.begin_run(store, mode="refresh", as_of=date(2016, 1, 1), at=datetime.now(UTC) - timedelta(days=70))
    finally:
        store.close()
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "missed: the issue of" in out or "due now: edition" in out  # (within its catch-up window: still due)


@pytest.mark.parametrize("count", ["0", "-1", "ten"])
def test_runs_takes_a_number_of_runs_of_one_or_more(write_project, capsys, count):
    """`--runs 0` printed "no runs recorded yet" over a full history, and `--runs -1` every run there is."""
    config = write_project('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n[sinks.feed]\ntype = "rss"\n',
                           {"partner.xml": RSS})
    with pytest.raises(SystemExit) as info:
        main(["status", "-c", str(config), "--runs", count])
    assert info.value.code == 2
    assert f"--runs: {count!r} is not a number of runs (1 or more)" in capsys.readouterr().err


def test_every_json_output_is_one_document_and_nothing_else(write_project):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "this is not a feed"})
    ran = cli(config, "run", "--json", "--as-of", "2016-02-01")
    assert ran.returncode == 3
    report = json.loads(ran.stdout)
    assert (report["mode"], report["as_of"], report["edition"], report["exit_code"]) == ("run", "2016-02-01", 1, 3)
    assert {(r["stage"], r["name"], r["ok"]) for r in report["results"]} == {
        ("source", "partner", True), ("source", "down", False), ("sink", "feed", True)}
    assert report["failed_sources"] == ["down"] and report["problems"] == []

    refreshed = json.loads(cli(config, "refresh", "--json", "--as-of", "2016-02-01").stdout)
    assert refreshed["mode"] == "refresh" and refreshed["edition"] is None

    february = RSS.replace("15 Jan", "15 Feb").replace("p.example.org/1", "p.example.org/2")
    (config.parent / "partner.xml").write_text(february)
    assert cli(config, "run", "--json", "--as-of", "2016-03-01").returncode == 3
    status = cli(config, "status", "--json")
    assert status.returncode == 0 and status.stderr == ""
    data = json.loads(status.stdout)
    assert data["latest_issue"] == 2 and data["issue"]["as_of"] == "2016-03-01"
    assert data["deliveries"] == {"sent": 0, "in_flight": 0, "unknown": 0, "failed": 0}
    assert [(r["mode"], r["edition"], r["exit_code"]) for r in data["runs"]] == [
        ("run", 2, 3), ("refresh", None, 3), ("run", 1, 3)]
    assert {s["name"]: s["failures_in_a_row"] for s in data["sources"]} == {"partner": 0, "down": 3}
    upcoming = data["next"]
    assert upcoming["edition"] and upcoming["refresh_minutes"] == 60 and upcoming["last_refresh"]
    assert upcoming["refresh"] > upcoming["last_refresh"]

    checked = cli(config, "check", "--json")
    assert checked.returncode == 0
    assert json.loads(checked.stdout) == {"config": str(config), "ok": True, "exit_code": 0, "sources": 2,
                                          "transforms": 0, "sinks": 1, "plugins": json.loads(checked.stdout)["plugins"],
                                          "writes": [str(config.parent / "state"), str(config.parent / "out")],
                                          "notes": []}

    plugins = cli(config, "plugins", "--json")
    listed = {p["name"]: p for p in json.loads(plugins.stdout)["plugins"]}
    assert plugins.returncode == 0 and {"category": "source", "name": "feed"} in listed["feed"]["components"]


def test_json_errors_are_a_document_too_with_the_same_exit_code(write_project):
    config = write_project(TWO_SOURCES.replace('type = "rss"', 'type = "rss"\nlimt = 3'),
                           {"partner.xml": RSS, "down.xml": "x"})
    for command in ("check", "run", "status"):
        result = cli(config, command, "--json")
        assert result.returncode == 2
        data = json.loads(result.stdout)
        assert data["ok"] is False and data["exit_code"] == 2 and "unknown key 'limt'" in data["errors"][0]
        assert "unknown key 'limt'" in result.stderr


def test_a_plugin_printing_cannot_spoil_the_json(write_project):
    noisy = FAILING_SINK.replace("raise OSError('disk full')",
                                 "print('hello from a sink')\n        return SinkResult('said hello')")
    noisy = noisy.replace("import Sink", "import Sink, SinkResult")
    noisy = noisy.replace("@hookimpl", "print('loading noisy')\n@hookimpl")
    config = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.full]\ntype = "full"\n',
                           {"local/noisy.py": noisy})
    for words in (("run", "--json", "--as-of", "2016-02-01"), ("plugins", "--json"), ("check", "--json")):
        # the sink's print() and the plugin's own, on loading, go to standard error
        result = cli(config, *words)
        assert result.returncode == 0 and json.loads(result.stdout)["exit_code"] == 0
        assert "loading noisy" in result.stderr
        assert ("hello from a sink" in result.stderr) == (words[0] == "run")


def test_an_older_database_gets_the_run_history(tmp_path):
    path = tmp_path / "pipeline.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(CORE + JOURNAL + SUBSCRIBERS + SITE)
        db.execute("INSERT INTO editions VALUES (1, '2016-02-01', '2016-01-01T00:00:00+00:00', "
                   "'2016-02-01T00:00:00+00:00', 'Issue 1', '[]', '2016-02-01T09:00:00+00:00')")
        db.execute(f"PRAGMA user_version = {STEPS.index(_run_history)}")  # every step before the run history
    db.close()
    store = Store(path)
    try:
        assert store.latest_edition().number == 1
        assert history.last_runs(store) == [] and history.source_health(store) == {}
        run_id = history.begin_run(store, mode="run", as_of=date(2016, 3, 1), at=datetime.now(UTC))
        history.finish_run(store, run_id, at=datetime.now(UTC), edition=None, exit_code=0, outcome="done", results=[])
        assert history.last_runs(store)[0].outcome == "done"
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] >= STEPS.index(_run_history) + 1


def test_status_reads_while_a_run_holds_the_lock_and_names_a_damaged_database(write_project, capsys):
    import fcntl

    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "x"})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in progress holds it
        capsys.readouterr()
        assert main(["status", "-c", str(config)]) == 0
        assert "refresh" in capsys.readouterr().out

    (config.parent / "state" / "pipeline.sqlite").write_text("not a database")
    for name in ("pipeline.sqlite-wal", "pipeline.sqlite-shm"):
        (config.parent / "state" / name).unlink(missing_ok=True)
    assert main(["status", "-c", str(config)]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "the state database is damaged (file is not a database); nothing was changed" in error
    assert "pipeline backup" in error


def _older_database(path: Path) -> None:
    """A state database as an older version left it: no run history yet, and a rollback journal (as a copy
    put back from `pipeline backup` is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(CORE + JOURNAL + SUBSCRIBERS + SITE)
        db.execute("INSERT INTO editions VALUES (1, '2016-02-01', '2016-01-01T00:00:00+00:00', "
                   "'2016-02-01T00:00:00+00:00', 'Issue 1', '[]', '2016-02-01T09:00:00+00:00')")
        db.execute(f"PRAGMA user_version = {STEPS.index(_run_history)}")
    db.close()


def test_status_reads_an_older_database_without_bringing_it_up_to_date(write_project, capsys):
    import time

    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "x"})
    path = config.parent / "state" / "pipeline.sqlite"
    _older_database(path)
    before = path.read_bytes()
    assert main(["status", "--json", "-c", str(config)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["latest_issue"] == 1 and shown["runs"] == []
    assert path.read_bytes() == before  # not migrated, nor switched to WAL: the next run does that
    assert sorted(p.name for p in path.parent.iterdir()) == ["pipeline.sqlite"]

    writer = sqlite3.connect(path, isolation_level=None)  # a run writing to it meanwhile
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO subscribers (email, name, status, themes, created_at, updated_at) "
                   "VALUES ('a@example.org', 'A', 'active', '[]', 'x', 'x')")
    try:
        started = time.monotonic()
        assert main(["status", "-c", str(config)]) == 0
        assert time.monotonic() - started < 5  # nothing waited for the writer
        assert "latest issue: 1 (2016-02-01)" in capsys.readouterr().out
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert path.read_bytes() == before


def test_a_database_locked_by_another_program_is_said_so_not_to_be_restored(write_project, capsys, monkeypatch):
    from pipeline.state import store as store_module

    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "x"})
    path = config.parent / "state" / "pipeline.sqlite"
    _older_database(path)  # a rollback journal, as a copy just put back from a backup has
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(STEPS)}")
    db.close()
    monkeypatch.setattr(store_module, "READ_WAIT", 0.2, raising=False)
    holder = sqlite3.connect(path, isolation_level=None, timeout=0.2)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing it, readers shut out
    try:
        code = main(["status", "-c", str(config)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    error = " ".join(capsys.readouterr().err.split())
    assert code == 1, error
    assert "locked" in error and "try again" in error and "restore" not in error


def test_an_error_since_put_right_is_shown_as_such(write_project, capsys):
    """A source that failed and has since succeeded keeps its last error for the record: the table says when it was
    and that it was put right since, not an error beside "0 failures in a row" that reads as what is wrong now."""
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "this is not a feed"})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    failing = capsys.readouterr().out
    (config.parent / "down.xml").write_text(RSS.replace("p.example.org/1", "p.example.org/2"))
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    mended = capsys.readouterr().out

    down = [line for line in failing.splitlines() if line.strip().startswith("down ")]
    assert down and "not an RSS or Atom feed" in down[0] and "put right since" not in down[0], failing
    down = " ".join(line.strip() for line in mended.split("sources", 1)[1].splitlines() if line.strip())
    assert "put right since: " in down and "not an RSS or Atom" in down, mended
