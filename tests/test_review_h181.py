"""Review h181: the command line and the schedule as a hostile, careful organiser uses them (`pipeline run`,
`refresh`, `schedule`, `status`; the run lock, signals, exit codes, pipeline.toml's checks; the monthly slot across
month ends, the clocks changing, a machine that was off, two schedulers)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.cli import main
from pipeline.config import load_project
from tests.test_review_h104 import _outbox_project

HERE = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}


# -- a quiet month, then another run by hand -----------------------------------------------------------------------

@pytest.mark.parametrize("then", [["--as-of", "2016-02-01"], ["--as-of", "2016-01-15"]],
                         ids=["the latest issue re-rendered", "a date refused"])
def test_a_quiet_month_stays_quiet_after_another_run_by_hand(write_project, then):
    """March's run finds nothing new since February's issue and makes none (as h104 made sure, no missed issue).
    Then the organiser runs `pipeline run --as-of 2016-02-01` to re-render February's issue (a template mended), or
    mistypes a date the run refuses (exit 2, nothing ran). `nothing_new` read only the latest monthly run of all,
    which is now that one, for another date: so `pipeline schedule` made March's slot due again, and once its window
    closed, `status` and the organisers' alert said the issue of 1 March was not made, for a month with nothing in
    it. Should: a run for another date says nothing of March's."""
    from pipeline.commands.status import status_data
    from pipeline.scheduler import EDITION, due
    from pipeline.state import Store

    config = _outbox_project(write_project, posts=("2016-01-20",))
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # February's issue
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # March: nothing new, no issue
    main(["run", "-c", str(config), *then])
    project = load_project(config)

    store = Store(project.core.state_dir / "pipeline.sqlite", read_only=True)
    try:
        in_window = due(store, project, datetime(2016, 3, 1, 12, tzinfo=LONDON), last_refresh=None)
    finally:
        store.close()
    later = status_data(project, now=datetime(2016, 3, 5, 12, tzinfo=LONDON))

    assert [d for d in in_window if d.kind == EDITION] == []
    assert later["next"]["missed"] is None, later["next"]["missed"]


# -- a pipeline.toml its user may not read -------------------------------------------------------------------------

def test_a_pipeline_toml_its_user_may_not_read_is_one_line_and_exit_2(write_project):
    """The checkout is root's (README, "Under systemd") and pipeline.toml was saved 0600 by root: the service's user
    may not read it. Every command said "unexpected PermissionError: [Errno 13] Permission denied" and exited 1, so
    the unit restarted `pipeline schedule` every 30 s for ever. Should: one line naming the file and what to do, exit
    2 (as any pipeline.toml that will not do), which the unit leaves stopped. (Run in a user namespace of its own, so
    that root's power to ignore a file's mode is gone: root only.)"""
    config = write_project('[sinks.feed]\ntype = "rss"\n')
    config.chmod(0)
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to drop root's rights over files")
    for command in (["check"], ["schedule"], ["status"]):
        done = subprocess.run(["unshare", "-U", sys.executable, "-m", "pipeline", *command, "-c", str(config)],
                              capture_output=True, text=True, timeout=120, env=_env())
        if done.returncode != 0 and done.stderr.startswith("unshare:"):
            pytest.skip(f"cannot make a user namespace here: {done.stderr.strip()}")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (command, done.returncode, done.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"error: {config}: cannot be read"), lines
        assert "unexpected" not in done.stderr and "chmod" in done.stderr, done.stderr


# -- Ctrl-C in the terminal pipeline schedule runs in ------------------------------------------------------------

def test_ctrl_c_while_the_scheduler_runs_lets_the_run_finish_without_a_crash_in_its_workers(write_project):
    """README: 'SIGTERM or Ctrl-C while waiting stops it at once; during a run, the run finishes first'. Ctrl-C in a
    terminal sends SIGINT to every process of the foreground group, the worker processes parsing a feed among them:
    each raised KeyboardInterrupt and ended, so the pool broke, the run said 'a worker process ended abruptly (killed
    for memory, or a crash)' and parsed the feed again from the start, alone (or, a worker stopped inside the call,
    its KeyboardInterrupt came back to the run as the parse's own outcome). Should: the main process alone hears
    Ctrl-C (it ends the workers itself when it stops: `RunContext.close`), so the run finishes as it was, then the
    scheduler ends, exit 130."""
    import signal

    returncode, out, err = signal_the_group_mid_parse(write_project, signal.SIGINT)
    assert returncode == 130, (returncode, err)
    assert "stopped by SIGINT after the run ended" in err, err
    assert "killed for memory, or a crash" not in err and "KeyboardInterrupt" not in out + err, err
    assert " big " in out and "12000 items" in out, out


def signal_the_group_mid_parse(write_project, signum: int) -> tuple[int, str, str]:
    """A real `pipeline schedule` parsing a 12,000-item feed in its worker processes, sent `signum` to its whole
    process group, as a terminal does (Ctrl-C, or the terminal closing), once a worker is busy: its exit code,
    standard output and standard error."""
    import signal
    import time

    from tests.test_review_h107 import _group

    items = "".join(f"<item><title>Item {n}</title><link>https://p.example.org/{n}</link><description>"
                    f"{'Some words about peer support. ' * 30}</description>"
                    f"<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item>" for n in range(12000))
    big = f"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link>{items}</channel></rss>"
    config = write_project('[pipeline]\nname = "N"\nworkers = 2\n[sources.big]\ntype = "feed"\nurl = "big.xml"\n'
                           '[sinks.feed]\ntype = "rss"\n', {"big.xml": big})
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "schedule", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**_env(), "PIPELINE_FAKE_NOW": "2016-01-20T10:00:00+00:00"})
    try:
        for _ in range(1200):  # the parse is under way: a worker process (the forkserver's child) is busy
            group = _group(proc.pid)
            parents = {pid for pid, _ in group if pid != proc.pid}
            if any(_cpu_seconds(pid) >= 0.5 for pid, parent in group if parent in parents):
                break
            time.sleep(0.05)
        else:
            pytest.fail("no worker process was started")
        os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, err


def _cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- [schedule] numbers no calendar holds ------------------------------------------------------------------------

@pytest.mark.parametrize("setting", ["refresh_minutes = 5000000000", "catch_up_hours = 30000000000"])
def test_a_schedule_setting_too_large_for_the_calendar_is_refused_by_check(write_project, capsys, setting):
    """A slip of the keyboard in [schedule] (a refresh every 9,500 years, a catch-up window of 3 million years):
    `pipeline check` said OK, then `pipeline status`, `schedule --list` and every check of `pipeline schedule` said
    'unexpected OverflowError: date value out of range' (exit 1; the scheduler, once a database was there, ran nothing
    at all). Should: refused at start-up as any bad value is: a line naming the file, table and key, exit 2."""
    config = write_project(f'[sinks.feed]\ntype = "rss"\n[schedule]\n{setting}\n')
    key = setting.split()[0]
    capsys.readouterr()
    for command in (["check"], ["status"], ["schedule", "--list"]):
        assert main([*command, "-c", str(config)]) == 2, command
        err = capsys.readouterr().err
        assert f"pipeline.toml: [schedule]: {key}: must be at most" in err and "unexpected" not in err, err


# -- a zone of no one place ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_pipeline_toml_refuses_the_zone_names_init_refuses(write_project, capsys, zone):
    """`pipeline init --timezone localtime` is refused ('not a place's zone: it would be whatever machine runs the
    project next'), but `timezone = "localtime"` in pipeline.toml passed `pipeline check` on the organiser's laptop
    (Europe/London) and then, in the Docker image (UTC), made every issue an hour late all summer, and cut the months
    at another midnight. Should: pipeline.toml refuses what init refuses, one line naming the file, table and key."""
    config = write_project(f'[pipeline]\nname = "N"\ntimezone = "{zone}"\n[sinks.feed]\ntype = "rss"\n')
    capsys.readouterr()
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"pipeline.toml: [pipeline]: timezone: {zone!r} is not a place's zone" in err, err


# -- a refresh that fails for weeks ---------------------------------------------------------------------------------

def test_a_refresh_failing_for_weeks_is_still_retried_every_half_hour(write_project):
    """A sink fails at every refresh (out/ made by a run as root, a webhook's service gone) and nobody mends it for
    three weeks. `pipeline schedule` retries the refresh after 1, 2, 4 … minutes, at most 30; but the wait was worked
    out as 60 * 2 ** (attempts - 1) before the cap, so at the 1,025th attempt (21 days at 30 minutes) Python could
    not make a float of it: 'unexpected OverflowError: int too large to convert to float' ended the scheduler (exit
    1), mid-month. Should: the wait stays 30 minutes, however many attempts. (`run_loop` driven by a clock of the
    test's own: each wait moves it on.)"""
    from datetime import UTC, timedelta

    from pipeline.commands.schedule import LONGEST_RETRY, run_loop
    from pipeline.scheduler import REFRESH, Due

    clock = [datetime(2016, 2, 1, 9, tzinfo=UTC)]
    attempts, waits, said = [], [], []

    def execute(item: Due) -> bool:
        attempts.append(clock[0])
        return False  # a sink failed

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    code = run_loop(lambda moment, last: ([Due(REFRESH, why="every 1:00:00")], []), execute, now=lambda: clock[0],
                    sleep=sleep, warn=said.append, stop=lambda: 0 if len(attempts) >= 1100 else None)

    assert code == 0 and len(attempts) == 1100
    assert attempts[-1] - attempts[-2] == timedelta(seconds=LONGEST_RETRY)
    assert said[-1].startswith("error (refresh, attempt 1100): a sink failed; trying again at "), said[-1]


# -- a delivery written as a sink ----------------------------------------------------------------------------------

def test_a_delivery_type_written_as_a_sink_says_where_it_goes(write_project, capsys):
    """README's delivery table names `smtp`, `sendgrid` and `outbox`, so an organiser writes [sinks.newsletter]
    type = "smtp". It was refused as 'unknown sink type 'smtp'; ... (install the plugin that provides it, or check the
    spelling)': no plugin provides it as a sink, and the spelling is right. A source or transform type in the wrong
    table is told where it goes; so should a delivery: in an email sink's [sinks.NAME.delivery] table."""
    config = write_project('[sinks.newsletter]\ntype = "smtp"\nhost = "smtp.example.org"\n')
    capsys.readouterr()
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "'smtp' is a delivery type, not a sink one" in err and "[sinks.NAME.delivery]" in err, err
    assert "install the plugin" not in err, err
