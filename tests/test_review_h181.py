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
