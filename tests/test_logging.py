"""Logging through the standard `logging` module: --verbose, --quiet, --log-file; the run table stays on the
terminal and is not repeated there by the log."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import datetime, timedelta

import pytest
from http_fixtures import Route, start_feed_server
from sample_feeds import ONE_ITEM_RSS as RSS
from sample_feeds import TWO_SOURCES

from pipeline.cli import main

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) pipeline[.\w]*: ")


def test_the_log_file_has_every_line_of_the_run_and_the_terminal_has_each_once(write_project, capsys):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "not a feed"})
    log_file = config.parent / "run.log"

    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01", "--log-file", str(log_file)]) == 3

    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines and all(STAMPED.match(line) for line in lines)
    text = "\n".join(lines)
    assert re.search(r"INFO pipeline\.run: refresh 1 as of 2016-02-01: started, 2 sources", text)
    assert re.search(r"INFO pipeline\.run: source partner: 1 item \(", text)
    assert re.search(r"WARNING pipeline\.run: source down: FAILED: .*down\.xml: not an RSS or Atom feed", text)
    assert re.search(r"INFO pipeline\.run: refresh 1 as of 2016-02-01: done, with problems", text)
    out, err = capsys.readouterr()
    assert "sources that failed: down" in out  # the run table, as before
    assert err == ""  # the failure is in the table: not said twice

    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01", "--log-file", str(log_file)]) == 3
    assert "refresh 2 as of" in log_file.read_text(encoding="utf-8")  # appended, not replaced


def test_the_log_file_gives_each_time_with_its_offset_from_utc(write_project, monkeypatch):
    """Local time alone is ambiguous for the hour the clocks go back, and on another machine."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "not a feed"})
        log_file = config.parent / "run.log"
        main(["refresh", "-c", str(config), "--as-of", "2016-02-01", "--log-file", str(log_file)])
    finally:
        monkeypatch.undo()
        time.tzset()
    stamps = [datetime.fromisoformat(line.split(" ", 1)[0]) for line in log_file.read_text().splitlines()]
    assert stamps and {stamp.utcoffset() for stamp in stamps} <= {timedelta(hours=-5), timedelta(hours=-4)}


def test_verbose_says_what_happens_and_very_verbose_each_download(write_project, capsys):
    state, server = start_feed_server()
    state.routes["/feed.xml"] = Route(RSS.encode(), etag='"v1"')
    try:
        config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{state.url("/feed.xml")}"\n'
                               f'[sinks.feed]\ntype = "rss"\n')
        assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
        assert "info:" not in capsys.readouterr().err  # warnings only, by default

        assert main(["-v", "refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
        err = capsys.readouterr().err
        assert "info: refresh 2 as of 2016-02-01: started, 1 sources" in err and "debug:" not in err

        assert main(["refresh", "-vv", "-c", str(config), "--as-of", "2016-02-01"]) == 0
        assert f"debug: {state.url('/feed.xml')}: 304 Not Modified" in capsys.readouterr().err
    finally:
        server.shutdown()
        server.server_close()


def test_quiet_prints_nothing_for_a_clean_run_and_the_table_for_a_bad_one(write_project, capsys):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS.replace("News", "Other")})
    assert main(["refresh", "-q", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    assert capsys.readouterr() == ("", "")

    (config.parent / "down.xml").write_text("broken", encoding="utf-8")
    assert main(["--quiet", "refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    assert "sources that failed: down" in capsys.readouterr().out


def test_json_stays_one_document_with_logs_on_standard_error(write_project, capsys):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": "broken"})
    assert main(["refresh", "--json", "-vv", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    out, err = capsys.readouterr()
    assert json.loads(out)["failed_sources"] == ["down"]
    assert "info: refresh 1 as of 2016-02-01: started" in err


def test_a_log_file_from_the_environment_that_cannot_be_written_names_the_variable(write_project, capsys,
                                                                                   monkeypatch):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS})
    missing = config.parent / "no-such-folder" / "run.log"
    monkeypatch.setenv("PIPELINE_LOG_FILE", str(missing))
    assert main(["status", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: cannot write the log file there" in err
    assert "set PIPELINE_LOG_FILE to a path in a folder that exists and is writable" in err and "--log-file" not in err


def test_a_log_file_that_cannot_be_written_is_one_line_and_exit_2(write_project, capsys):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS})
    missing = config.parent / "no-such-folder" / "run.log"
    assert main(["refresh", "-c", str(config), "--log-file", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: cannot write the log file there" in err
    assert not (config.parent / "state").exists()  # nothing ran


@pytest.mark.parametrize("argv", [["refresh", "-q", "-v"], ["-v", "refresh", "-q"], ["-q", "refresh", "-v"],
                                  ["subscribers", "-v", "list", "-q"], ["-q", "subscribers", "list", "-v"]])
def test_quiet_and_verbose_together_are_refused_wherever_each_is_given(write_project, capsys, argv):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS})
    with pytest.raises(SystemExit) as refused:
        main([*argv, "-c", str(config)])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "not allowed with argument" in err or "-v (--verbose) and -q (--quiet) cannot be given together" in err
    assert not (config.parent / "state").exists()  # nothing ran


@pytest.mark.parametrize(("argv", "level"), [(["-v", "subscribers", "list", "-v"], logging.DEBUG),
                                             (["subscribers", "-v", "list", "-v"], logging.DEBUG),
                                             (["subscribers", "list", "-v"], logging.INFO),
                                             (["-v", "subscribers", "list"], logging.INFO),
                                             (["subscribers", "list"], logging.WARNING)])
def test_each_v_counts_wherever_it_is_given(write_project, argv, level):
    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS})
    assert main([*argv, "-c", str(config)]) == 0
    terminal = [h for h in logging.getLogger("pipeline").handlers if getattr(h, "stream", None) is sys.stderr]
    assert [h.level for h in terminal] == [level]


def test_each_batch_of_a_send_is_logged(write_project, capsys):
    config = write_project("""
        [sources.blog]
        type = "blog"
        path = "blog"
        [sinks.newsletter]
        type = "email"
        from_email = "news@network.example.org"
        subscribers = "subscribers.csv"
        """, {"blog/leeds.md": "---\ntitle: Peer support in Leeds\ndate: 2016-02-15\n---\n\nWe met in Leeds.\n",
              "subscribers.csv": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"})
    log_file = config.parent / "run.log"
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01", "--log-file", str(log_file)]) == 0
    assert re.search(r"INFO pipeline\.send: issue 1, batch \S+ via outbox: 2 sent", log_file.read_text())


def test_json_gets_its_error_document_when_the_log_file_cannot_be_written(write_project):
    import subprocess
    import sys
    from pathlib import Path

    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS})
    env = {"PATH": "/usr/bin:/bin", "PIPELINE_LOG_FILE": str(config.parent / "missing" / "x.log")}
    done = subprocess.run([str(Path(sys.executable).parent / "pipeline"), "status", "--json", "-c", str(config)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["ok"] is False and "cannot write the log file there" in document["errors"][0]


def test_quiet_schedule_prints_nothing_while_all_is_well(write_project):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    config = write_project(TWO_SOURCES, {"partner.xml": RSS, "down.xml": RSS})
    env = {"PATH": "/usr/bin:/bin", "PIPELINE_FAKE_NOW": "2016-02-10T12:00:00+00:00"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "pipeline"), "-q", "schedule", "-c", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while not _a_run_finished(config.parent / "state" / "pipeline.sqlite"):  # the refresh made at start
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    assert (config.parent / "out" / "feed.xml").exists()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143
    assert (out, err) == ("", "")


def _a_run_finished(database) -> bool:
    """Whether the state database records a finished run (read only: the scheduler holds it)."""
    import sqlite3

    if not database.exists():
        return False
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return bool(db.execute("SELECT 1 FROM runs WHERE finished IS NOT NULL").fetchone())
    except sqlite3.OperationalError:  # made but not yet set up
        return False
    finally:
        db.close()
