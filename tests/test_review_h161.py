"""Review h161: operations gaps left by the last round (a record skipped run after run, a scheduler that cannot open
its database, the commands' own wording for a database they cannot open, `schedule --list` on a read-only mount)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sample_feeds import FEED_ONLY
from sample_feeds import ONE_ITEM_RSS as RSS

from pipeline.cli import main

HERE = Path(__file__).parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}


def _without_rights(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    """`command` in a user namespace of its own: still the files' owner, but without root's power to ignore their
    mode (CAP_DAC_OVERRIDE), so a file of mode 0000 is refused to it as to the service's user (root only)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to drop root's rights over files")
    done = subprocess.run(["unshare", "-U", *command], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_env())
    if done.returncode != 0 and done.stderr.startswith("unshare:"):
        pytest.skip(f"cannot make a user namespace here: {done.stderr.strip()}")
    return done


COMMANDS = {"subscribers": ["subscribers", "list"], "backup": ["backup", "{tmp}/backups/"],
            "explain": ["explain", "abcdef"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", ["a folder", "no permission", "not a database"])
def test_subscribers_backup_and_explain_say_a_database_they_cannot_open_as_every_command_does(
        write_project, capsys, command, case):
    """`status`, `run` and `schedule` say a state database they cannot open in one shared line (`unopenable`: which
    file, and what to do; a damaged file as damaged). `subscribers` said "cannot open the state database (unable to
    open database file); check [pipeline] state_dir" for a folder in the file's place and for a file that is not a
    database; `backup` and `explain` said "no state database yet" (exit 1) for the folder, and for a file they may
    not read "check that it exists" or "unexpected OperationalError" (exit 1); `explain` "unexpected DatabaseError"
    for a file that is not a database."""
    config = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    tmp, database = config.parent, config.parent / "state" / "pipeline.sqlite"
    (tmp / "backups").mkdir()
    for beside in database.parent.glob("pipeline.sqlite-*"):
        beside.unlink()
    args = [part.format(tmp=tmp) for part in COMMANDS[command]] + ["-c", str(config)]
    if case == "a folder":
        database.unlink()
        database.mkdir()
        expected = f"{database}: a folder is where the state database file should be, so it cannot be opened"
    elif case == "not a database":
        database.write_bytes(b"not SQLite at all " * 500)
        expected = f"{database}: the state database is damaged (file is not a database);"
    else:
        database.chmod(0)
    if case == "no permission":
        done = _without_rights(sys.executable, "-m", "pipeline", *args, cwd=tmp)
        code, err = done.returncode, " ".join(done.stderr.split())
        expected = f"{database}: user "
        assert "may not read and write it (owner " in err and "mode 0000" in err, err
    else:
        capsys.readouterr()
        code = main(args)
        err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert err.startswith(f"error: {expected}"), err
    assert "unexpected" not in err and "no state database yet" not in err
    assert list((tmp / "backups").iterdir()) == []


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_schedule_list_and_status_read_a_read_only_state_folder_with_a_wal_beside_the_database(write_project,
                                                                                              monkeypatch):
    """A state folder mounted read-only (a monitoring unit's ReadOnlyPaths, a snapshot) holding the -wal a killed run
    left, without the -shm (a copy or snapshot that left it out): SQLite reading it must make the -shm, and cannot
    there. `status` refused it (exit 2), and `schedule --list` printed the times with "state database not read: ...
    so the state database cannot be written ... mount it read-write", not what it would start at once. Now both read
    it, the -wal's commits too (the killed run, shown unfinished), and nothing in the folder changes."""
    from tests.test_review_h151 import _killed_mid_run
    from tests.test_review_h155 import _read_only_mount

    config = _killed_mid_run(write_project)
    state = config.parent / "state"
    (state / "pipeline.sqlite-shm").unlink()
    assert (state / "pipeline.sqlite-wal").stat().st_size > 0
    before = _digests(state)
    monkeypatch.setenv("PIPELINE_FAKE_NOW", "2016-02-01T09:00:00+00:00")  # the slot of 08:00 is due, its issue not made
    listed = _read_only_mount(state, sys.executable, "-m", "pipeline", "schedule", "--list", "-c", str(config))
    monkeypatch.delenv("PIPELINE_FAKE_NOW")
    said = " ".join((listed.stdout + listed.stderr).split())
    assert listed.returncode == 0, said
    assert "not read" not in said and "due now: edition 2016-02-01: the issue of 2016-02-01 08:00 is not made" in said
    shown = _read_only_mount(state, sys.executable, "-m", "pipeline", "status", "--json", "-c", str(config))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert [(run["as_of"], run["outcome"]) for run in json.loads(shown.stdout)["runs"]] == [
        ("2016-02-02", "unfinished"), ("2016-02-01", "done")]  # the killed run: in the -wal alone
    assert _digests(state) == before
