"""Stop 44: holes left open by earlier reviews."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
            "PIPELINE_FAKE_NOW": "2016-01-20T10:00:00+00:00"}


def _scheduler(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "schedule", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if path.exists() or proc.poll() is not None:
            return
        time.sleep(0.05)


def test_a_second_scheduler_of_one_project_is_refused_while_the_first_runs(write_project, tmp_path):
    """Before: two `pipeline schedule` of one project (a systemd unit and one left in a terminal) both ran, and each
    mailed the organisers the same between-runs alert. Now the second says the first holds the project and ends
    (exit 2: the unit leaves it stopped); once the first has ended, a scheduler starts again."""
    config = write_project('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n')
    first = _scheduler(config)
    try:
        _wait_for(tmp_path / "state" / "pipeline.sqlite", first)  # its first check is under way: it holds the project
        assert first.poll() is None, first.communicate()
        second = _scheduler(config)
        try:
            out, err = second.communicate(timeout=30)
        finally:
            if second.poll() is None:  # it ran alongside the first: the failure below says so
                second.kill()
                second.communicate()
        assert second.returncode == 2, (out, err)
        line = " ".join(err.split())
        assert "another `pipeline schedule` is running" in line and f"pid {first.pid}" in line, line
        assert str(tmp_path / "state" / "schedule.lock") in line, line
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    third = _scheduler(config)
    try:
        _wait_for(tmp_path / "state" / "schedule.lock", third)
        time.sleep(2)  # a refused one ends at once
        assert third.poll() is None, third.communicate()
    finally:
        third.send_signal(signal.SIGTERM)
        third.communicate(timeout=60)


def test_the_pager_links_a_single_left_out_page_rather_than_standing_a_gap_for_it():
    """Before: page 5 of 10 showed "1 … 3 4 5 6 7 … 10", where the first "…" stood for page 2 alone: a gap that
    takes as much room as the page's own number, and hides it. Now a gap stands only for two pages or more."""
    from plugins.sinks.archive.paging import pager

    numbers = [n for n, _ in pager(5, 10, lambda n: f"p{n}/").links]
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 0, 10], numbers
    assert [n for n, _ in pager(1, 10, lambda n: f"p{n}/").links] == [1, 2, 3, 0, 10]
    assert [n for n, _ in pager(6, 10, lambda n: f"p{n}/").links] == [1, 0, 4, 5, 6, 7, 8, 9, 10]


def test_check_says_when_a_network_in_another_language_is_shown_the_shipped_english_templates(write_project, capsys):
    """Before: `language = "cy"` marked every page, the email and the form as Welsh while the shipped templates'
    words ("Past issues", "Subscribe", "Your email address") and dates ("Thursday 23 June") stayed English, so a
    screen reader read English with a Welsh voice, and nothing told the organiser. Now `pipeline check` says which
    of the shipped templates the project still uses, and what to do; an English network, or one that made its own
    of each, hears nothing."""
    import json

    from pipeline.cli import main

    sinks = '[sinks.newsletter]\ntype = "email"\nfrom_email = "n@example.org"\n[sinks.site]\ntype = "archive"\n'
    welsh = write_project(f'[pipeline]\nname = "Rhwydwaith"\nlanguage = "cy"\n{sinks}',
                          {"templates/email/issue.txt": "{{ project.name }}\n"})
    assert main(["check", "--config", str(welsh)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert 'language = "cy"' in said and "written in English" in said, said
    assert "site/layout.html" in said and "web/subscribe.html" in said, said
    assert "email/issue.txt" not in said and "site.css" not in said, said  # its own; no words in a style sheet
    assert "README" in said and "Templates" in said, said

    assert main(["check", "--config", str(welsh), "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 1 and "site/layout.html" in notes[0], notes

    feed_only = write_project('[pipeline]\nname = "Rhwydwaith"\nlanguage = "cy"\n[sinks.feed]\ntype = "rss"\n')
    assert main(["check", "--config", str(feed_only)]) == 0  # a feed has none of the templates' words
    assert "English" not in capsys.readouterr().out
    english = write_project(f'[pipeline]\nname = "Network"\nlanguage = "en-US"\n{sinks}')
    assert main(["check", "--config", str(english)]) == 0
    assert "English" not in capsys.readouterr().out
