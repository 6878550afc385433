"""Review h161: operations gaps left by the last round (a record skipped run after run, a scheduler that cannot open
its database, the commands' own wording for a database they cannot open, `schedule --list` on a read-only mount)."""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from email import policy
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
            "explain": ["explain", "abcdef"], "check": ["check"]}  # check: it said OK, where every run would fail


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
    expected = _spoil(database, case)
    args = [part.format(tmp=tmp) for part in COMMANDS[command]] + ["-c", str(config)]
    if case == "no permission":
        done = _without_rights(sys.executable, "-m", "pipeline", *args, cwd=tmp)
        code, err = done.returncode, " ".join(done.stderr.split())
        assert "may not read and write it (owner " in err and "mode 0000" in err, err
    else:
        capsys.readouterr()
        code = main(args)
        err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert err.startswith(f"error: {expected}"), err
    assert "unexpected" not in err and "no state database yet" not in err
    assert list((tmp / "backups").iterdir()) == []


def _spoil(database: Path, case: str) -> str:
    """The state database made one a command cannot open (`case`: a folder in its place, not a database, or no
    permission: mode 0000, which only a test without root's rights meets), its -wal and -shm gone; the start of the
    line every command then gives."""
    for beside in database.parent.glob("pipeline.sqlite-*"):
        beside.unlink()
    if case == "a folder":
        database.unlink()
        database.mkdir()
        return f"{database}: a folder is where the state database file should be, so it cannot be opened"
    if case == "not a database":
        database.write_bytes(b"not SQLite at all " * 500)
        return f"{database}: the state database is damaged (file is not a database);"
    database.chmod(0)
    return f"{database}: user "


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


BLOG = '[sources.blog]\ntype = "blog"\npath = "posts"\n[sinks.feed]\ntype = "rss"\n'
GOOD = "---\ntitle: Peer support in practice\ndate: 2016-01-20\n---\n\nWhat we learnt.\n"
UNDATED = GOOD.replace("date: 2016-01-20\n", "")
ALERTED = ('[alerts]\nto = ["fay@network.example.org"]\nfrom_email = "alerts@network.example.org"\n'
           '[alerts.delivery]\ntype = "outbox"\nfolder = "alerts"\n')


def _status(config: Path, capsys) -> tuple[dict, str]:
    capsys.readouterr()
    assert main(["status", "--json", "-c", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main(["status", "-c", str(config)]) == 0
    return data, " ".join(capsys.readouterr().out.split())


def test_status_shows_each_source_s_records_its_last_run_skipped_and_why(write_project, capsys):
    """A post without a date is skipped by every refresh, alone (exit 3: "done, with problems"), and `pipeline
    schedule` goes on as after a success. `status` showed the source as healthy (last success now, no failures) and
    nowhere which record, or why; without [alerts] nothing else says it but the log. Now each source shows the records
    its last run skipped, each with its problem, until a run skips none."""
    config = write_project(BLOG, {"posts/good.md": GOOD, "posts/undated.md": UNDATED})
    for _ in range(2):
        assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    undated = config.parent / "posts" / "undated.md"
    line = f"{undated}: front matter lacks date; add it, post skipped"
    data, shown = _status(config, capsys)
    [blog] = data["sources"]
    assert blog["name"] == "blog" and blog["skipped"] == [line], blog
    assert f"skipped by blog in its last run: {line}" in shown, shown

    undated.write_text(GOOD.replace("Peer", "Dated"), encoding="utf-8")
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    data, shown = _status(config, capsys)
    assert data["sources"][0]["skipped"] == [] and "skipped by" not in shown


def test_a_record_skipped_run_after_run_under_schedule_is_told_once_and_stays_in_status(tmp_path, capsys):
    """Under `pipeline schedule` the same post is skipped at every refresh: the organisers are told once (not each
    run), with the file and what is wrong, and `status` shows it as an open problem, with the record, meanwhile."""
    from pipeline.state import Store, history
    from pipeline.testing import write_project_files

    config = write_project_files(tmp_path, BLOG + "[schedule]\nrefresh_minutes = 10\n" + ALERTED,
                                 {"posts/good.md": GOOD, "posts/undated.md": UNDATED})
    database = tmp_path / "state" / "pipeline.sqlite"

    def refreshes() -> int:
        if not database.exists():
            return 0
        try:
            store = Store(database, read_only=True)
        except Exception:  # not made yet
            return 0
        try:
            return sum(1 for run in history.last_runs(store, 50) if run.finished and run.mode == "refresh")
        finally:
            store.close()

    with open(tmp_path / "schedule.out", "w") as out, open(tmp_path / "schedule.err", "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "pipeline", "schedule", "-c", str(config)], stdout=out,
                                   stderr=err, cwd=tmp_path, env={**_env(), "PIPELINE_FAKE_NOW": "2016-02-10T12:00:00"
                                                                  "+00:00", "PIPELINE_FAKE_SPEED": "600"})
        try:
            deadline = time.monotonic() + 120
            while refreshes() < 3:
                assert process.poll() is None, (tmp_path / "schedule.err").read_text()
                assert time.monotonic() < deadline, "fewer than 3 refreshes in 2 minutes"
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    told = sorted((tmp_path / "alerts" / "messages").glob("*.eml"))
    assert len(told) == 1, [path.name for path in told]
    message = email.message_from_bytes(told[0].read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert str(message["Subject"]) == "[Test Network] the source 'blog' skipped 1 record"
    assert "undated.md: front matter lacks date" in " ".join(text.split()), text
    data, shown = _status(config, capsys)
    assert [problem["subject"] for problem in data["problems"]] == ["the source 'blog' skipped 1 record"]
    undated = tmp_path / "posts" / "undated.md"
    assert data["sources"][0]["skipped"] == [f"{undated}: front matter lacks date; add it, post skipped"]


def _alerts(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted((folder / "messages").glob("*.eml"))] if (folder / "messages").is_dir() else []


def _scheduled(config: Path, *args: str, without_rights: bool = False) -> subprocess.CompletedProcess:
    """`pipeline schedule` (or the command `args`) as a process, its clock fast; its temporary folder the project's
    own `tmp/`."""
    command = [sys.executable, "-m", "pipeline", *(args or ["schedule"]), "-c", str(config)]
    env = {**_env(), "PIPELINE_FAKE_NOW": "2016-02-10T12:00:00+00:00", "PIPELINE_FAKE_SPEED": "600",
           "TMPDIR": str(config.parent / "tmp")}
    if without_rights:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("needs root and unshare(1) to drop root's rights over files")
        command = ["unshare", "-U", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=config.parent, env=env)


def test_schedule_ending_on_a_state_database_it_cannot_open_tells_the_organisers_once(tmp_path):
    """`pipeline schedule` ends with exit 2 on a state database it cannot open (a folder in its place), and the unit
    leaves it stopped; the alerts live in that database, so nobody was told, and nothing ran from then on. Now the
    organisers are told at once through the alerts' delivery, with the line and what to do, once: a file beside the
    database remembers it (it cannot), until a run opens the database again; then a new failure is told again."""
    from pipeline.testing import write_project_files

    config = write_project_files(tmp_path, BLOG + ALERTED, {"posts/good.md": GOOD})
    (tmp_path / "tmp").mkdir()
    database = tmp_path / "state" / "pipeline.sqlite"
    database.mkdir(parents=True)
    line = f"{database}: a folder is where the state database file should be"
    for _ in range(2):  # a restart by hand, with nothing put right: not told twice
        done = _scheduled(config)
        assert done.returncode == 2 and line in " ".join(done.stderr.split()), done.stderr
        told = _alerts(tmp_path / "alerts")
        assert len(told) == 1, done.stderr
    subject = str(told[0]["Subject"])
    assert subject == "[Test Network] `pipeline schedule` has stopped: its state database cannot be used", subject
    body = " ".join(told[0].get_body(("plain",)).get_content().split())
    assert line in body and "move that folder out of the way" in body and "systemctl restart" in body, body

    database.rmdir()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # it opens: the mark goes
    database.unlink()
    database.mkdir()
    assert _scheduled(config).returncode == 2
    assert len(_alerts(tmp_path / "alerts")) == 2  # a new failure: told again


def test_schedule_told_once_of_a_state_folder_it_may_not_write_remembers_it_in_the_temporary_folder(tmp_path):
    """The usual cause, a state folder and database its user may not use (a copy put back as root, a folder mounted
    read-only): no file can be written beside the database to remember that the organisers were told, so it is kept
    in the temporary folder (a container restarted by Docker's policy keeps its own; the unit is not restarted after
    exit 2), and each restart does not mail them again."""
    from pipeline.testing import write_project_files

    config = write_project_files(tmp_path, BLOG + ALERTED, {"posts/good.md": GOOD})
    (tmp_path / "tmp").mkdir()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    state = tmp_path / "state"
    database = state / "pipeline.sqlite"
    database.chmod(0)
    state.chmod(0o500)
    try:
        for _ in range(2):
            done = _scheduled(config, without_rights=True)
            err = " ".join(done.stderr.split())
            assert done.returncode == 2 and f"{state}: user " in err and "may not write in it" in err, err
            assert len(_alerts(tmp_path / "alerts")) == 1, err
    finally:
        state.chmod(0o700)
        database.chmod(0o600)
    assert [path.name for path in (tmp_path / "tmp").iterdir()] != []  # what remembers it
    body = " ".join(_alerts(tmp_path / "alerts")[0].get_body(("plain",)).get_content().split())
    assert f"{state}: user " in body and "chmod -R u+rwX" in body, body
    refreshed = _scheduled(config, "refresh", "--as-of", "2016-02-01", without_rights=True)  # as the same user
    assert refreshed.returncode == 0, refreshed.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # the database opens again: forgotten


def test_schedule_that_may_not_make_its_state_folder_ends_with_the_line_a_run_gives_and_tells_the_organisers(
        tmp_path):
    """A state folder not made yet, in a folder the service's user may not write in (the checkout, root's, before
    README's `install -d` of state/): `pipeline schedule` said "error checking what is due: PermissionError: [Errno
    13] Permission denied" once and went on waiting for ever, running nothing and telling nobody, while `pipeline
    refresh` ended with exit 2. Now both give one line naming the folder, its owner and mode and what to do, and the
    scheduler ends with exit 2, having told the organisers."""
    from pipeline.testing import write_project_files

    config = write_project_files(tmp_path, BLOG + ALERTED, {"posts/good.md": GOOD})
    (tmp_path / "tmp").mkdir()
    (tmp_path / "alerts").mkdir()
    (tmp_path / "out").mkdir()  # as README's `install -d` makes it; not state/
    tmp_path.chmod(0o555)
    try:
        done = _scheduled(config, without_rights=True)
        refreshed = _scheduled(config, "refresh", "--as-of", "2016-02-01", without_rights=True)
    finally:
        tmp_path.chmod(0o755)
    err = " ".join(done.stderr.split())
    line = (f"{tmp_path / 'state'}: the state folder cannot be made in {tmp_path}, which user ")
    assert done.returncode == 2 and line in err and "PermissionError" not in err, err
    assert "install -d" in err and "the scheduler ends (exit 2)" in err, err
    assert refreshed.returncode == 2 and line in " ".join(refreshed.stderr.split()), refreshed.stderr
    [told] = _alerts(tmp_path / "alerts")
    assert line in " ".join(told.get_body(("plain",)).get_content().split())
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("wal", [False, True])
def test_backup_copies_a_state_folder_mounted_read_only_as_status_reads_it(write_project, wal):
    """Copying from a read-only snapshot of the state folder, or under a unit with ReadOnlyPaths: `backup` only reads,
    yet it said "cannot copy ... to DEST (unable to open database file); check both are readable and writable" (exit
    1), blaming the destination: SQLite could not make the -shm beside the database. It now opens the database as
    `status` does: the file alone with no -wal beside it, with the -wal's commits when there is one (no -shm)."""
    from tests.test_review_h151 import _killed_mid_run
    from tests.test_review_h155 import _read_only_mount

    config = _killed_mid_run(write_project)
    state = config.parent / "state"
    (state / "pipeline.sqlite-shm").unlink()
    if not wal:  # the -wal put into the file, as by the last connection to close
        db = sqlite3.connect(state / "pipeline.sqlite")
        db.execute("SELECT count(*) FROM runs").fetchone()
        db.close()
        assert not (state / "pipeline.sqlite-wal").exists()
    before = _digests(state)
    copies = config.parent / "copies"
    copies.mkdir()
    done = _read_only_mount(state, sys.executable, "-m", "pipeline", "backup", str(copies / "copy.sqlite3"), "-c",
                            str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _digests(state) == before
    from pipeline.state import Store, history

    store = Store(copies / "copy.sqlite3", read_only=True)
    try:
        assert [(run.as_of.isoformat(), run.finished is None) for run in history.last_runs(store)] == [
            ("2016-02-02", True), ("2016-02-01", False)]  # the killed run's record too
    finally:
        store.close()


def test_explain_reads_a_state_folder_mounted_read_only(write_project):
    """`explain` only reads, yet it opened the database to write (bringing an older one up to date, switching it to
    WAL), so on a state folder mounted read-only it said "cannot be written ... mount it read-write" (exit 2). It
    now opens it read-only, as `status` does, and changes nothing there."""
    from tests.test_review_h155 import _read_only_mount

    config = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    state = config.parent / "state"
    before = _digests(state)
    done = _read_only_mount(state, sys.executable, "-m", "pipeline", "explain", "https://p.example.org/1", "-c",
                            str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "News" in done.stdout and "from partner" in done.stdout, done.stdout
    assert _digests(state) == before


def test_a_new_record_a_source_skips_while_its_alert_is_open_is_told_once(write_project):
    """The organisers were told of a source's skipped record once, and then of nothing more while that record stayed
    wrong: a second post without a date a week later, skipped at every refresh, was never named to them. Now a run
    whose source skips a record it did not skip before (and the alert did not name) tells them again, once, naming
    the new one first; the next runs, skipping the same two, tell nobody."""
    config = write_project(BLOG + ALERTED, {"posts/good.md": GOOD, "posts/undated.md": UNDATED})
    alerted = config.parent / "alerts"
    for _ in range(2):
        assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    assert len(_alerts(alerted)) == 1
    (config.parent / "posts" / "later.md").write_text(UNDATED.replace("Peer", "Later"), encoding="utf-8")
    for _ in range(3):
        assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    told = _alerts(alerted)
    assert len(told) == 2, [str(m["Subject"]) for m in told]
    assert str(told[1]["Subject"]) == "[Test Network] the source 'blog' skipped 2 records"
    body = " ".join(told[1].get_body(("plain",)).get_content().split())
    assert "1 of them not skipped before" in body and body.index("later.md") < body.index("undated.md"), body


def test_a_source_renamed_keeps_the_records_its_last_run_skipped(write_project, capsys):
    """The records a source skipped follow it when its table is renamed (`renamed_from`): shown under its new name
    before it has run under it, and moved with the rest of what it has stored by its first run, which then says what
    it skips itself."""
    config = write_project(BLOG, {"posts/good.md": GOOD, "posts/undated.md": UNDATED})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    line = f"{config.parent / 'posts' / 'undated.md'}: front matter lacks date; add it, post skipped"
    config.write_text(config.read_text().replace("[sources.blog]", '[sources.notes]\nrenamed_from = "blog"'),
                      encoding="utf-8")
    data, shown = _status(config, capsys)
    assert [(s["name"], s["skipped"]) for s in data["sources"]] == [("notes", [line])]
    assert f"skipped by notes in its last run: {line}" in shown, shown
    (config.parent / "posts" / "later.md").write_text(UNDATED.replace("Peer", "Later"), encoding="utf-8")
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 3
    data, _ = _status(config, capsys)
    later = line.replace("undated.md", "later.md")
    assert [(s["name"], sorted(s["skipped"])) for s in data["sources"]] == [("notes", [later, line])]
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        assert db.execute("SELECT DISTINCT source FROM skipped_records").fetchall() == [("notes",)]
    finally:
        db.close()


@pytest.mark.parametrize("case", ["a folder", "no permission", "not a database"])
def test_serve_says_a_database_it_cannot_open_as_every_command_does(write_project, case):
    """`pipeline serve` said "unexpected OperationalError: unable to open database file" (or "DatabaseError: file is
    not a database"), exit 1, so a unit restarting it on failure started it again and again; now the line every
    command gives, exit 2."""
    config = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    database = config.parent / "state" / "pipeline.sqlite"
    expected = _spoil(database, case)
    command = [sys.executable, "-m", "pipeline", "serve", "--port", "0", "-c", str(config)]
    env = {**_env(), "PIPELINE_SECRET": "h161-a-secret-of-sixteen-or-more"}
    if case == "no permission":
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("needs root and unshare(1) to drop root's rights over files")
        command = ["unshare", "-U", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=config.parent, env=env)
    err = " ".join(done.stderr.split())
    assert done.returncode == 2 and f"error: {expected}" in err and "unexpected" not in err, err


def test_schedule_on_a_state_folder_mounted_read_only_is_told_once_across_restarts(write_project, monkeypatch):
    """A state folder mounted read-only: the scheduler's check reads it (as `status` does), and its first run cannot
    write, which ends it (exit 2). Being read is no sign the database can be used again, so a restart (Docker's policy
    restarts it within a minute) must not tell the organisers again: only a run that opens it to write does."""
    from tests.test_review_h155 import _read_only_mount

    config = write_project(BLOG + ALERTED, {"posts/good.md": GOOD})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    (config.parent / "tmp").mkdir()
    state = config.parent / "state"
    monkeypatch.setenv("PIPELINE_FAKE_NOW", "2016-02-10T12:00:00+00:00")
    monkeypatch.setenv("PIPELINE_FAKE_SPEED", "600")
    monkeypatch.setenv("TMPDIR", str(config.parent / "tmp"))
    for _ in range(2):
        done = _read_only_mount(state, sys.executable, "-m", "pipeline", "schedule", "-c", str(config))
        err = " ".join(done.stderr.split())
        assert done.returncode == 2 and "mounted read-only" in err, err
        assert len(_alerts(config.parent / "alerts")) == 1, err


@pytest.mark.parametrize("command", [["refresh"], ["run", "--as-of", "2016-02-01"]])
def test_a_run_from_cron_on_a_state_database_it_cannot_open_tells_the_organisers_once(tmp_path, command):
    """Only `pipeline schedule` told the organisers of a state database it cannot use; `pipeline run` or `refresh`
    started by cron (as the README's cron lines are) ended with exit 2 on every run, the alerts in that database
    unreachable, so nobody heard unless cron's own mail reached someone. Now the first such run tells them, once,
    as the scheduler does; a run that opens the database again clears it, so a new failure is told again."""
    from pipeline.testing import write_project_files

    config = write_project_files(tmp_path, BLOG + ALERTED, {"posts/good.md": GOOD})
    (tmp_path / "tmp").mkdir()
    database = tmp_path / "state" / "pipeline.sqlite"
    database.mkdir(parents=True)
    line = f"{database}: a folder is where the state database file should be"
    for _ in range(2):  # cron's next run, nothing put right: not told twice
        done = _scheduled(config, *command)
        assert done.returncode == 2 and line in " ".join(done.stderr.split()), done.stderr
        assert len(_alerts(tmp_path / "alerts")) == 1, done.stderr
    [told] = _alerts(tmp_path / "alerts")
    assert str(told["Subject"]) == f"[Test Network] `pipeline {command[0]}` failed: its state database cannot be used"
    body = " ".join(told.get_body(("plain",)).get_content().split())
    assert line in body and "move that folder out of the way" in body and "systemctl" not in body, body
    assert "every run fails the same way until" in body, body

    database.rmdir()
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0  # it opens: the mark goes
    database.unlink()
    database.mkdir()
    assert _scheduled(config, *command).returncode == 2
    assert len(_alerts(tmp_path / "alerts")) == 2  # a new failure: told again
