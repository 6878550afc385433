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
from pipeline.testing import write_project_files
from tests.test_archive_unchanged import SKIPPED, planned, settle, site_of  # noqa: F401 (the fixture)
from tests.test_review_h142 import PEER, RESEARCH, TAXONOMY

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


ONE_BY_ONE = '''
import os
from datetime import UTC, datetime

from pipeline import hookimpl
from pipeline.state import subscribers as subs
from plugins.deliveries.outbox import Outbox


class OneByOne(Outbox):
    """The outbox, one recipient a batch; with H155_MOVE, the other reader chooses peer support once the first is
    handed over, before their own batch begins (as on the preferences page, mid-send)."""

    name = "one_by_one"
    batch_size = 1
    moved = False

    def deliver(self, mailing, recipients, batch, run):
        if os.environ.get("H155_MOVE") and not OneByOne.moved:
            OneByOne.moved = True
            [other] = {"ann@example.org", "cy@example.org"} - {r.email for r in recipients}
            found = subs.find_subscriber(run.store, other)
            subs.set_themes(run.store, found.id, ["peer support"], how="test", at=datetime.now(UTC))
        return super().deliver(mailing, recipients, batch, run)


@hookimpl
def register_deliveries(register):
    register(OneByOne)
'''
THEMED = TAXONOMY


def test_a_resend_to_someone_who_changes_themes_while_it_runs_writes_beside_their_file(tmp_path, monkeypatch):
    """After a copy of the database from before issue 1 went out is put back, the next run keeps Ann's and Cy's
    files and records both unknown; `deliveries --resend unknown` writes the issue beside each. One of them choosing
    other themes while the resend runs is sent the version of their new choice by the send's second pass, which was
    not marked as the organiser's resend: their file was kept again, they stayed unknown, and the resend failed."""
    from tests.newsletter_network import newsletter_toml
    from tests.test_review_h151 import _put_back

    config = write_project_files(
        tmp_path, '[pipeline]\nname = "N"\nsite_url = "https://n.example.org"\nworkers = 1\nplugins_dir = "local"\n'
        + THEMED + newsletter_toml(delivery='type = "one_by_one"'),
        {"blog/research.md": RESEARCH, "blog/peer.md": PEER, "local/one_by_one.py": ONE_BY_ONE,
         "subscribers.csv": "email,name,themes\nann@example.org,Ann,research\ncy@example.org,Cy,research\n"})
    state, issue = config.parent / "state", config.parent / "outbox" / "issue-1"
    assert main(["subscribers", "import", str(config.parent / "subscribers.csv"), "-c", str(config)]) == 0
    copy = tmp_path / "copy.sqlite3"
    assert main(["backup", str(copy), "-c", str(config)]) == 0
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    first = sorted(p.name for p in issue.iterdir())
    assert len(first) == 2
    _put_back(copy, state)
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 1  # both kept, unknown
    assert sorted(p.name for p in issue.iterdir()) == first

    monkeypatch.setenv("H155_MOVE", "1")
    code = main(["deliveries", "--resend", "unknown", "-c", str(config)])
    again = sorted(name[:-len(".eml")] + ".2.eml" for name in first)
    assert sorted(p.name for p in issue.iterdir()) == sorted(first + again)
    assert code == 0
    assert main(["deliveries", "-c", str(config)]) == 0  # nobody unknown


def test_a_resend_cut_short_before_its_file_was_written_is_not_recorded_sent(tmp_path):
    """`deliveries --resend unknown` to a reader whose issue file the outbox kept (a copy of the database put back):
    the resend began their batch and the machine went down before the outbox wrote NAME.2.eml. The next run settles
    the batch by what the outbox holds, and took the kept file, there before the batch began, for the resend's:
    recorded sent, though nothing was written. Now a file older than the batch is no answer: unknown, as before."""
    from datetime import UTC, datetime

    from pipeline.state import Store, journal
    from plugins.deliveries.outbox import file_name
    from tests.test_review_h151 import _put_back

    config = write_project_files(tmp_path, "", {"blog/2016-01-20.md": "---\ntitle: \"A day\"\ndate: 2016-01-20\n"
                                                "---\n\nA day: what happened.\n"}, default_sinks=True)
    config.write_text(config.read_text() + '\n[sources.blog]\ntype = "blog"\npath = "blog"\n')
    state, issue = config.parent / "state", config.parent / "outbox" / "issue-1"
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    copy = tmp_path / "copy.sqlite3"
    assert main(["backup", str(copy), "-c", str(config)]) == 0
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    _put_back(copy, state)
    assert main(["run", "-c", str(config), "--as-of", "2016-02-01"]) == 1  # the file kept, unknown
    [(reader, status, _)] = _listed(state, issue=1)
    kept = issue / file_name(reader)
    assert status == "unknown" and kept.is_file()
    an_hour_ago = kept.stat().st_mtime - 3600  # written by the send before the copy was put back, an hour before
    os.utime(kept, (an_hour_ago, an_hour_ago))

    store = Store(state / "pipeline.sqlite")  # what the resend did before the machine went down
    try:
        assert journal.release_for_resend(store, edition=1, statuses=("unknown",), at=datetime.now(UTC)) == 1
        assert journal.begin_batch(store, batch="cut-short", edition=1, channel="outbox", recipients=[reader],
                                   send_at=None, at=datetime.now(UTC)) == [reader]
    finally:
        store.close()
    main(["refresh", "-c", str(config), "--as-of", "2016-02-01"])  # settles the batch left in flight
    assert [status for _, status, _ in _listed(state, issue=1)] == ["unknown"]
    assert sorted(p.name for p in issue.iterdir()) == [file_name(reader)]


def _listed(state: Path, issue: int) -> list[tuple[str, str, str]]:
    from pipeline.state import Store, journal

    store = Store(state / "pipeline.sqlite")
    try:
        return journal.listed(store, issue, ("sent", "unknown", "failed", "in_flight"))
    finally:
        store.close()


def test_status_reads_the_last_commit_while_a_writer_holds_a_transaction(write_project, capsys):
    """(Sound.) mode=ro under a writer mid-transaction (a run's, serve's): status neither waits for it nor sees what
    it has not committed."""
    import sqlite3

    config = write_project('[sinks.feed]\ntype = "rss"\n')
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    writer = sqlite3.connect(config.parent / "state" / "pipeline.sqlite", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM runs")
        capsys.readouterr()
        assert main(["status", "--json", "-c", str(config)]) == 0
        assert [run["as_of"] for run in json.loads(capsys.readouterr().out)["runs"]] == ["2016-02-01"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
