"""Review h155: the last round's changes (h149's site inputs, h151's operations) against what they promise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import site
from pipeline.cli import main
from pipeline.templating import SHIPPED_TEMPLATES
from tests.test_archive_unchanged import SKIPPED, planned, settle, site_of  # noqa: F401 (the fixture)

FRONT = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")


def _front_with(text: str) -> str:
    return FRONT.replace("{% endblock %}", text + "{% endblock %}", 1)


def test_a_template_in_a_linked_folder_that_a_site_template_includes_is_shown_when_edited(site_of, tmp_path):  # noqa: F811
    """templates/partials/ a symbolic link to a folder several projects share: the loader reads through it, but
    Jinja2 lists templates without following a linked folder, so an edit of the partial was in no page key and the
    front page kept the old note. A loop of links in templates/ is walked once, not for ever, and a link to the
    project's folder not at all: its out/ and state/, which every build changes, would make every page again."""
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with('{% include "partials/note.html" %}'), encoding="utf-8")
    shared = tmp_path / "shared-partials"
    shared.mkdir()
    (shared / "again").symlink_to(shared, target_is_directory=True)  # a loop: shared/again/again/... is shared
    (shared / "up").symlink_to(tmp_path, target_is_directory=True)  # around templates/: out/ and state/ too
    (tmp_path / "templates" / "partials").symlink_to(shared, target_is_directory=True)
    note = shared / "note.html"
    note.write_text("<p>First note.</p>", encoding="utf-8")
    built = site_of()
    assert "First note." in built.read(site.FRONT_PAGE)
    settle(built)
    note.write_text("<p>Second note.</p>", encoding="utf-8")
    built.write()
    assert "Second note." in built.read(site.FRONT_PAGE)
    settle(built)  # made again once, and no more: out/ and state/, reached through up/, are in no page key


def _read_only_mount(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` run with `folder` bound read-only onto itself, in a mount namespace of the test's own (root only)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a folder read-only")
    done = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" '
                           '&& shift && exec "$@"', "sh", str(folder), *command],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
                              str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")]))})
    if done.returncode != 0 and done.stderr.startswith(("mount:", "unshare:")):
        pytest.skip(f"cannot mount read-only here: {done.stderr.strip()}")
    return done


def test_status_reads_a_state_folder_mounted_read_only(write_project):
    """`status` reads only, yet a state folder mounted read-only (a monitoring unit's ReadOnlyPaths, a backup's
    snapshot) stopped it: SQLite opening a WAL database read-only must create the -shm beside it, and cannot there
    ("on a file system mounted read-only, so the state database cannot be written", exit 2). With no -wal beside it
    (no run has it open, nor was killed with commits in one) the file holds everything, and is read as it is."""
    config = write_project('[sinks.feed]\ntype = "rss"\n')
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    state = config.parent / "state"
    assert not (state / "pipeline.sqlite-wal").exists() and not (state / "pipeline.sqlite-shm").exists()
    done = _read_only_mount(state, sys.executable, "-m", "pipeline", "status", "--json", "-c", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(run["as_of"], run["outcome"]) for run in json.loads(done.stdout)["runs"]] == [("2016-02-01", "done")]
    assert sorted(path.name for path in state.iterdir()) == ["pipeline.lock", "pipeline.sqlite",
                                                             "pipeline.sqlite-checked"]
