"""Review h172: data safety on a hostile machine (a disk that fills part-way through a run)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sample_feeds import FEED_ONLY
from sample_feeds import ONE_ITEM_RSS as RSS

from pipeline.cli import main

REPO = Path(__file__).parents[1]


def _project(folder: Path) -> None:
    """A project as `pipeline init` writes it, with 40 posts and 200 subscribers mailed through the outbox."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "pipeline", "init", str(folder), "--name", "Test", "--site-url",
                    "https://example.org", "--from-email", "a@example.org"], check=True, capture_output=True, env=env)
    for i in range(40):
        (folder / "content" / "blog" / f"2026-10-{i % 27 + 1:02d}-post-{i}.md").write_text(
            f"---\ntitle: Post {i} on peer support\ndate: 2026-10-{i % 27 + 1:02d}\n---\n\n"
            + "Peer support and co-production matter. " * 200 + "\n")
    (folder / "content" / "subscribers.csv").write_text(
        "email,name\n" + "".join(f"p{i}@example.org,Person {i}\n" for i in range(200)))
    toml = folder / "pipeline.toml"
    toml.write_text(toml.read_text().replace('# subscribers = "content/subscribers.csv"',
                                             'subscribers = "content/subscribers.csv"'))


def _run_on_small_disk(tmp_path: Path, size: str) -> tuple[Path, str]:
    """`pipeline run` of the project on a real tmpfs of `size` (a mount namespace of the test's own; root only):
    (the project as it was left, copied out, and what the run printed)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs")
    source, disk, left = tmp_path / "source", tmp_path / "disk", tmp_path / "left"
    _project(source)
    disk.mkdir()
    script = ('mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99; cp -r "$3" "$2/p" && cd "$2/p" || exit 98; '
              '"$5" -m pipeline run -q --as-of 2026-11-01; code=$?; cp -a "$2/p" "$4"; exit $code')
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", size, str(disk), str(source), str(left),
                           sys.executable], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode in (98, 99):
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    return left, done.stdout + done.stderr


def test_a_sink_that_fills_the_disk_through_the_state_database_says_which_file_and_what_to_do(tmp_path):
    """Before: with the disk filling while the newsletter was being sent (the outbox's files and the journal on one
    disk), the run table said only `newsletter FAILED OperationalError: database or disk is full` (the archive the
    same): no file, nothing to do. Now the sink's line is the one every command gives for it: the state database,
    "the disk is full", free some space, what the database held is as it was. And nothing is lost or half there:
    the database passes its integrity check and the outbox holds no half-written file."""
    left, said = _run_on_small_disk(tmp_path, "3m")
    rows = [line for line in said.splitlines() if line.split()[:2] == ["sink", "newsletter"]]
    assert rows and "FAILED" in rows[0], said
    assert "OperationalError" not in said, said
    assert "state/pipeline.sqlite: the disk is full" in rows[0] and "free some space" in rows[0], said
    database = sqlite3.connect(left / "state" / "pipeline.sqlite")
    assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    database.close()
    assert not [p for p in (left / "outbox").rglob(".*")], "a half-written message was left in the outbox"
    assert not [p for p in (left / "out").rglob(".*")], "a half-written page was left in out/"


@pytest.mark.parametrize("command", [["refresh", "--as-of", "2016-02-01"], ["status"], ["subscribers", "list"]])
def test_a_state_database_from_a_newer_version_is_refused_in_a_line_naming_the_file(write_project, tmp_path, capsys,
                                                                                     command):
    """Before: `error: the state database is from a newer version of the pipeline (...)`: which file, on a machine
    with several projects, was not said. Now the line starts with the database's path; nothing is changed."""
    config = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    database = tmp_path / "state" / "pipeline.sqlite"
    with sqlite3.connect(database) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {version + 1}")
    db.close()
    before = database.read_bytes()
    capsys.readouterr()
    assert main([*command, "-c", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith(f"error: {database}: the state database is from a newer version"), err
    assert database.read_bytes() == before


def test_a_read_only_site_folder_is_a_line_naming_the_folder_and_what_to_do(tmp_path):
    """Before: with out/ read-only (a bind mount, systemd's ReadOnlyPaths) a run's sinks said
    `OSError: [Errno 30] Read-only file system: '.../out/.feed.xml.7gh9w4pe'`: a temporary name nobody knows, and
    nothing to do. Now each names the folder it could not write in and says to mount it read-write or give it to
    the user that runs the pipeline; the pages already there are untouched."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a read-only bind mount")
    project = tmp_path / "p"
    _project(project)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-m", "pipeline", "run", "-q", "--as-of", "2026-11-01"]
    subprocess.run(run, cwd=project, check=True, capture_output=True, env=env, timeout=300)
    before = (project / "out" / "feed.xml").read_bytes()
    (project / "content" / "blog" / "2026-10-28-new.md").write_text("---\ntitle: New\ndate: 2026-10-28\n---\n\nHi.\n")
    done = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind out out && mount -o remount,ro,bind out || '
                           'exit 99; exec "$@"', "sh", *run], cwd=project, capture_output=True, text=True, env=env,
                          timeout=300)
    if done.returncode == 99:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    rows = [line for line in done.stdout.splitlines() if line.split()[:2] == ["sink", "feed"]]
    assert rows and "FAILED" in rows[0], done.stdout
    assert f"{project / 'out'}'" in rows[0] and "/." not in rows[0], rows[0]
    assert "mount it read-write" in rows[0], rows[0]
    assert (project / "out" / "feed.xml").read_bytes() == before
