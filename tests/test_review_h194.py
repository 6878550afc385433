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
