"""Review h194: an organiser upgrades (and goes back). A state database and site made by an earlier version are
brought up to date with nothing lost, re-sent or published twice; one a later version wrote is read without a crash.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from pipeline.cli import main

REPO = Path(__file__).parents[1]


def _demo(folder: Path) -> Path:
    """The shipped demo (pipeline.toml, content/, templates/, local_plugins/) copied to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "pipeline.toml", folder / "pipeline.toml")
    for part in ("content", "templates", "local_plugins"):
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    return folder / "pipeline.toml"


def test_the_site_reads_the_facts_a_later_version_kept_after_going_back_to_this_one(tmp_path, capsys):
    """Before: going back to an earlier version (the same schema step, another `FACTS_VERSION`), every item whose
    cached facts the later version had written with a field more made the archive sink fail on the next run,
    `TypeError: Facts.__init__() takes from 12 to 22 positional arguments but 23 were given`, the site left as it
    was until the cache was deleted by hand. Now such a row is only stale: the item is read again and its facts made
    anew; and the page address the later version gave it (the fifth field, in every version) leads on."""
    toml = _demo(tmp_path / "p")
    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-02-01"]) == 0
    database = tmp_path / "p" / "state" / "pipeline.sqlite"
    with sqlite3.connect(database) as db:
        item, facts = db.execute("SELECT s.id, s.facts FROM site_items s JOIN items i ON i.id = s.id "
                                  "WHERE i.kind = 'news' ORDER BY s.id LIMIT 1").fetchone()
        later = json.loads(facts)
        old_path = later[4]
        later[4] = old_path.rstrip("/") + "-as-a-later-version-named-it/"
        later.append("a field a later version added")
        db.execute("UPDATE site_items SET stamp = 'a later version', facts = ? WHERE id = ?", (json.dumps(later), item))
    db.close()
    capsys.readouterr()

    assert main(["-c", str(toml), "refresh", "--as-of", "2016-03-01"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "TypeError" not in out
    with sqlite3.connect(database) as db:
        assert json.loads(db.execute("SELECT facts FROM site_items WHERE id = ?", (item,)).fetchone()[0])[4] == old_path
        assert db.execute("SELECT item FROM site_moved WHERE path = ?", (later[4],)).fetchone() == (item,)
    db.close()


# A state database of the shipped demo as commit 51806ff (schema step 15, about halfway through this project's
# history) left it, with the secret its links were signed with (a throwaway one, made for this fixture) and what that
# version wrote: tests/data/upgrade_from_51806ff/made.json says how it was made. Checked in, so a test needs neither
# that version nor git history.
OLD = REPO / "tests" / "data" / "upgrade_from_51806ff"


def _upgraded_demo(folder: Path) -> tuple[Path, dict]:
    """The demo in `folder` with the old version's state (not yet brought up to date), and what that version made."""
    toml = _demo(folder)
    state = folder / "state"
    state.mkdir()
    with sqlite3.connect(state / "pipeline.sqlite") as db:
        db.executescript((OLD / "pipeline.sql").read_text())
    db.close()
    shutil.copy(OLD / "secret", state / "secret")
    (state / "secret").chmod(0o600)
    return toml, json.loads((OLD / "made.json").read_text())


def _rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


def _emails(folder: Path, issue: int) -> list[str]:
    return sorted(path.name.split("-")[0] for path in (folder / "outbox" / f"issue-{issue}").glob("*.eml"))


def test_an_organiser_upgrading_from_an_older_version_loses_sends_and_publishes_nothing_twice(tmp_path, capsys):
    """An upgrade from the demo as 51806ff left it: `status` reads the old database as it is; the first run brings it
    up to date keeping every subscriber, consent record, unsubscription, item and feed guid; issue 1 is not sent
    again; every file the old site had is still there; the links the old issue mailed are the ones signed now; issue 2
    goes to those still subscribed, once."""
    folder = tmp_path / "p"
    toml, made = _upgraded_demo(folder)
    database = folder / "state" / "pipeline.sqlite"
    kept = {table: _rows(database, f"SELECT * FROM {table} ORDER BY 1, 2")
            for table in ("subscribers", "subscriber_events", "items", "feed_guids", "editions", "deliveries")}
    capsys.readouterr()

    assert main(["-c", str(toml), "status"]) == 0
    said = capsys.readouterr().out
    assert "latest issue: 1 (2016-02-01); deliveries: 4 sent, 0 in flight, 0 unknown, 0 failed" in said, said
    assert _rows(database, "PRAGMA user_version") == [(15,)]  # status only reads

    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-02-01"]) == 0, capsys.readouterr().out
    assert _emails(folder, 1) == []  # everyone was sent issue 1 by the old version
    for table in ("subscribers", "subscriber_events", "feed_guids", "editions", "deliveries"):
        assert _rows(database, f"SELECT * FROM {table} ORDER BY 1, 2") == kept[table], table
    assert [row[0] for row in _rows(database, "SELECT id FROM items ORDER BY 1")] == [
        row[0] for row in kept["items"]]  # each item stored once, under the id it had
    assert _rows(database, "SELECT email, status FROM subscribers WHERE status != 'active'") == [
        ("sam.okafor@example.org", "unsubscribed")]
    missing = [path for path in made["out"] if not (folder / "out" / path).is_file()]
    assert missing == []

    from pipeline.config import load_project
    from pipeline.subscribers.signing import Links

    links = Links(load_project(toml))
    ids = dict(_rows(database, "SELECT email, id FROM subscribers"))
    assert {email: links.unsubscribe(ids[email]) for email in made["unsubscribe_links"]} == made["unsubscribe_links"]

    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-05-01"]) == 0, capsys.readouterr().out
    assert _emails(folder, 2) == ["alex.morgan@example.org", "jo.fletcher@example.org", "priya.shah@example.org"]
    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-05-01"]) == 0, capsys.readouterr().out
    assert _emails(folder, 2) == ["alex.morgan@example.org", "jo.fletcher@example.org", "priya.shah@example.org"]
    assert _emails(folder, 1) == []
    assert set(kept["feed_guids"]) <= set(_rows(database, "SELECT * FROM feed_guids"))
    feed = (folder / "out" / "feed.xml").read_text()
    assert all(f">{guid}</guid>" in feed for guid in made["feed_guids"])


KILLED_IN_A_STEP = """
import os, signal, sys
from pipeline.state import schema
step = schema.STEPS[{step} - 1]
def killed(db):
    step(db)
    os.kill(os.getpid(), signal.SIGKILL)  # the step done, its transaction not committed
schema.STEPS[{step} - 1] = killed
from pipeline.cli import main
sys.exit(main(["-c", sys.argv[1], "run", "-q", "--as-of", "2016-02-01"]))
"""


def test_an_upgrade_killed_half_way_is_run_again_to_the_end(tmp_path, capsys):
    """A run killed (SIGKILL) inside the last step of bringing the old database up to date leaves it at the step
    before, every row there; the next run finishes the upgrade and sends nobody issue 1 again."""
    import os
    import subprocess
    import sys

    from pipeline.state.schema import STEPS

    folder = tmp_path / "p"
    toml, _ = _upgraded_demo(folder)
    database = folder / "state" / "pipeline.sqlite"
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_A_STEP.format(step=len(STEPS)), str(toml)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert killed.returncode == -9, killed.stderr
    assert _rows(database, "PRAGMA user_version") == [(len(STEPS) - 1,)]
    assert _rows(database, "PRAGMA integrity_check") == [("ok",)]

    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-02-01"]) == 0, capsys.readouterr().out
    assert _rows(database, "PRAGMA user_version") == [(len(STEPS),)]
    assert _rows(database, "SELECT COUNT(*), SUM(status = 'sent') FROM deliveries") == [(4, 4)]
    assert _emails(folder, 1) == []


def test_a_serve_started_before_a_newer_version_upgraded_the_database_refuses_to_write_to_it(tmp_path, caplog):
    """The README's upgrade steps say to restart `pipeline serve` with every upgrade, since a serve still running the
    old code reads and writes a database the new one brought up to date as the old one did (after step 14 it
    answered a one-click unsubscribe "You have unsubscribed" while the mailbox stayed on the list). Before: this
    version's serve did the same once a later one had upgraded the database under it (its schema a step ahead): it
    wrote the unsubscription as it knew how, and said it was done. Now a write of a process whose database a newer
    version brought up to date since it opened it is refused: the reader gets the error page, not a confirmation that
    may be untrue; nothing is written; the log has one line saying what happened and to restart it."""
    import logging

    import httpx

    from pipeline.state.schema import STEPS
    from tests.serve_fixtures import LiveServer, serve_project

    project = serve_project(tmp_path / "p")
    config = project.config_path
    assert main(["subscribers", "add", "ann@example.org", "-c", str(config)]) == 0
    live = LiveServer(load_project_again(config)).start()
    try:
        ann = _rows(tmp_path / "p" / "state" / "pipeline.sqlite", "SELECT id FROM subscribers")[0][0]
        token = live.app.state.web.links.tokens.make("unsubscribe", ann)
        with sqlite3.connect(tmp_path / "p" / "state" / "pipeline.sqlite") as db:  # a newer version's upgrade
            db.execute(f"PRAGMA user_version = {len(STEPS) + 1}")
        db.close()
        with caplog.at_level(logging.ERROR):
            answer = httpx.post(f"{live.url}/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
        assert "You have unsubscribed" not in answer.text
        assert answer.status_code == 500
        assert live.status("ann@example.org") == "active"
        said = [record.getMessage() for record in caplog.records]
        assert any("newer version" in line and "restart" in line for line in said), said
    finally:
        live.stop()


def load_project_again(config: Path):
    from pipeline.config import load_project

    return load_project(config)


# The demo as commit 0a4ff35 (schema step 9, from the project's first days) left it: the outbox in out/outbox, and a
# mailbox on the list under two spellings, active as cy@bücher.de and unsubscribed as cy@xn--bcher-kva.de
# (tests/data/upgrade_from_0a4ff35/README.md).
OLDEST = REPO / "tests" / "data" / "upgrade_from_0a4ff35"


def test_an_upgrade_from_the_first_versions_keeps_who_left_under_another_spelling_and_moves_the_outbox(tmp_path):
    """Eight steps in one upgrade (one spelling per mailbox among them): the mailbox that left under one spelling
    stays left, its two rows one, nobody is sent issue 1 again, the outbox an early version kept in the published
    site is moved out of it with every message, every file of the old site is still there, and issue 2 goes to
    those still subscribed, once."""
    folder = tmp_path / "p"
    toml = _demo(folder)
    (folder / "state").mkdir()
    with sqlite3.connect(folder / "state" / "pipeline.sqlite") as db:
        db.executescript((OLDEST / "pipeline.sql").read_text())
    db.close()
    shutil.copy(OLDEST / "secret", folder / "state" / "secret")
    (folder / "state" / "secret").chmod(0o600)
    made = json.loads((OLDEST / "made.json").read_text())
    for name in made["outbox"]:  # the messages it wrote (their text aside)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("a message issue 1 sent\n")
    database = folder / "state" / "pipeline.sqlite"
    sent = _rows(database, "SELECT edition, recipient, status FROM deliveries ORDER BY 1, 2")

    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-02-01"]) == 0

    from pipeline.state.schema import STEPS

    assert _rows(database, "PRAGMA user_version") == [(len(STEPS),)]
    assert dict(_rows(database, "SELECT email, status FROM subscribers")) == {
        "alex.morgan@example.org": "active", "jo.fletcher@example.org": "active", "priya.shah@example.org": "active",
        "sam.okafor@example.org": "unsubscribed", "cy@bücher.de": "unsubscribed"}
    assert _rows(database, "SELECT email FROM subscriber_aliases") == [("cy@xn--bcher-kva.de",)]
    assert _rows(database, "SELECT edition, recipient, status FROM deliveries ORDER BY 1, 2") == sent
    assert not (folder / "out" / "outbox").exists()
    assert sorted(f"out/outbox/issue-1/{path.name}" for path in (folder / "outbox" / "issue-1").iterdir()) == sorted(
        made["outbox"])
    assert [path for path in made["out"] if not (folder / "out" / path).is_file()] == []

    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-05-01"]) == 0
    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-05-01"]) == 0
    assert _emails(folder, 2) == ["alex.morgan@example.org", "jo.fletcher@example.org", "priya.shah@example.org"]
    assert len(list((folder / "outbox" / "issue-1").iterdir())) == len(made["outbox"])
    feed = (folder / "out" / "feed.xml").read_text()
    assert all(f">{guid}</guid>" in feed for guid in made["feed_guids"])


def test_a_renamed_themes_old_page_and_feed_are_made_again_when_out_is_made_again(tmp_path, capsys):
    """A theme renamed in the taxonomy ("hearing voices" to "voice hearing") leaves a page and a feed at its old
    address, leading on, so bookmarks and feed readers' subscriptions keep working. Before: the rss sink found the feeds
    to keep by looking in out/, so once out/ was made again (`rm -rf out`, as the README advises after some changes,
    or a site moved to a new server with its state) the old feed was gone for good (404 to every reader subscribed to
    it) while its page still led on; and after a `pipeline backup` was put back (it leaves out the site's manifest,
    a cache), the page was gone too. Now both are made from the record of themes items lost (`theme_moves`, not a
    cache, kept by a backup)."""
    toml = _demo(tmp_path / "p")
    folder = tmp_path / "p"
    assert main(["-c", str(toml), "run", "-q", "--as-of", "2016-02-01"]) == 0
    assert (folder / "out" / "themes" / "hearing-voices" / "feed.xml").is_file()
    toml.write_text(toml.read_text().replace('[transforms.themes.taxonomy."hearing voices"]',
                                             '[transforms.themes.taxonomy."voice hearing"]'))
    assert main(["-c", str(toml), "refresh", "-q", "--as-of", "2016-03-01"]) == 0
    left = folder / "out" / "themes" / "hearing-voices"
    assert "This feed has moved: Voice hearing" in (left / "feed.xml").read_text()

    shutil.rmtree(folder / "out")
    assert main(["-c", str(toml), "refresh", "-q", "--as-of", "2016-03-01"]) == 0
    assert "This feed has moved: Voice hearing" in (left / "feed.xml").read_text()
    assert "../voice-hearing/index.html" in (left / "index.html").read_text()

    backup = tmp_path / "backup.sqlite"
    assert main(["-c", str(toml), "backup", str(backup)]) == 0
    secret = (folder / "state" / "secret").read_bytes()
    shutil.rmtree(folder / "out")
    shutil.rmtree(folder / "state")
    (folder / "state").mkdir()
    shutil.copy(backup, folder / "state" / "pipeline.sqlite")
    (folder / "state" / "secret").write_bytes(secret)
    (folder / "state" / "secret").chmod(0o600)
    assert main(["-c", str(toml), "refresh", "-q", "--as-of", "2016-03-01"]) == 0, capsys.readouterr().out
    assert "This feed has moved: Voice hearing" in (left / "feed.xml").read_text()
    assert "../voice-hearing/index.html" in (left / "index.html").read_text()
