"""Review h204: the README's changed statements checked against the commands they name."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from tests.test_review_h195 import _env
from tests.test_review_s44 import _scheduler, _wait_for


def _cli(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=60, env=_env())


def test_schedule_list_gives_the_running_schedulers_next_refresh_not_now(write_project, tmp_path):
    """Before: `pipeline schedule --list` while a scheduler ran the project (after its refresh at start) still said
    "refresh every 60 min: next at <now> (at start)", as for a scheduler about to start, while the one running
    refreshes next an hour after its last refresh, as `pipeline status` says; the README says --list prints the next
    run times. Now, with a scheduler running, it gives the time status gives."""
    config = write_project('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n')
    first = _scheduler(config)
    try:
        _wait_for(tmp_path / "state" / "pipeline.sqlite", first)
        for _ in range(600):  # its refresh at start has finished: status has a last refresh
            status = json.loads(_cli(config, "status", "--json").stdout)
            if status["next"]["last_refresh"] or first.poll() is not None:
                break
            time.sleep(0.1)
        assert first.poll() is None, first.communicate()
        listed = _cli(config, "schedule", "--list")
        assert listed.returncode == 0, listed.stderr
        out = " ".join(listed.stdout.split())
        assert "runs this project" in out and "(at start)" not in out, out
        assert f"next at {status['next']['refresh'][:16].replace('T', ' ')}" in out, (out, status["next"])
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
