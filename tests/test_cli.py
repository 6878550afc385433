"""The `pipeline` command: exit codes, one-line errors, and what each subcommand prints."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.cli import main

FEED_ONLY = """
[sources.partner]
type = "feed"
url = "partner.xml"
[sinks.feed]
type = "rss"
"""
RSS = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d</description>"
       "<item><title>News</title><link>https://p.example.org/1</link>"
       "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")


def test_check_ok(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["check", "-c", str(path)]) == 0
    assert "OK — 1 sources, 0 transforms, 1 sinks" in capsys.readouterr().out


def test_check_reports_config_errors_one_line_each_with_exit_2(write_project, capsys):
    path = write_project(FEED_ONLY.replace('type = "rss"', 'type = "rss"\nlimt = 3'), {"partner.xml": RSS})
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: pipeline.toml: [sinks.feed] (rss): unknown key 'limt' (allowed: limit, title, description)"]


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_plugins_lists_components_and_origins(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["plugins", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    feed_line = next(line for line in out.splitlines() if line.strip().startswith("feed "))
    assert "source feed" in feed_line and "entry point plugins.sources.feed" in feed_line
    assert "delivery sendgrid" in out


def test_run_prints_each_stage_and_names_failed_sources(write_project, capsys):
    path = write_project(FEED_ONLY + '[sources.down]\ntype = "feed"\nurl = "broken.xml"\n',
                         {"partner.xml": RSS, "broken.xml": "this is not a feed"})
    code = main(["run", "-c", str(path), "--as-of", "2016-02-01"])
    out = capsys.readouterr().out
    assert code == 3
    assert "partner" in out and "1 item" in out
    assert "sources that failed: down" in out
    assert "broken.xml: not an RSS or Atom feed" in out
    assert (path.parent / "out" / "feed.xml").is_file()


def test_bad_as_of_date(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    with pytest.raises(SystemExit) as info:
        main(["run", "-c", str(path), "--as-of", "1 Feb"])
    assert info.value.code == 2
    assert "'1 Feb' is not a date like 2016-02-01" in capsys.readouterr().err


def test_schedule_list(write_project, capsys):
    path = write_project(FEED_ONLY + '[schedule]\nnewsletter_day = 1\nnewsletter_time = "08:00"\n',
                         {"partner.xml": RSS})
    assert main(["schedule", "-c", str(path), "--list"]) == 0
    out = capsys.readouterr().out
    assert "monthly edition: next at" in out and "08:00" in out and "refresh every 60 min" in out


def test_the_command_runs_as_a_module(write_project):
    path = write_project(FEED_ONLY.replace('"rss"', '"rss"\nlimt = 1'), {"partner.xml": RSS})
    result = subprocess.run([sys.executable, "-m", "pipeline", "check", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unknown key 'limt'" in result.stderr
