"""The CSV list imported the one same way by a run (`[sinks.NAME] subscribers`) and by `pipeline subscribers import`:
the `status` column, unknown themes, a request made after leaving, and a dry run that changes nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.runner import run as run_pipeline
from pipeline.state import Store
from pipeline.state import subscribers as subs
from pipeline.subscribers.csv_io import read_csv
from pipeline.subscribers.importing import import_list

T0 = datetime(2016, 2, 1, 9, 0, tzinfo=UTC)
EXPORTED = ("email,name,themes,status\n"
            "ann@example.org,Ann,,active\n"
            "bob@example.org,Bob,,unsubscribed\n"
            "cat@example.org,Cat,,complained\n"
            "dan@example.org,Dan,Peer Supprt;peer support,active\n"
            "eve@example.org,Eve,,bounced\n"
            "fay@example.org,Fay,,pending\n")
PROJECT = """
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1

[serve]
secret_env = "TEST_SERVE_SECRET"

[sources.blog]
type = "blog"
path = "blog"

[transforms.themes]
type = "themes"

[transforms.themes.taxonomy]
"research" = ["research*"]
"peer support" = ["peer support*"]

[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
"""
POST = """---
title: "{title}"
date: {day}
---

Peer support workers met to plan the spring seminar.
"""


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    yield store
    store.close()


@pytest.fixture
def project_dir(tmp_path, monkeypatch) -> Path:
    """A project whose run imports `subscribers.csv`, with one post for issue 1 (run as of 2016-03-01)."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    (tmp_path / "blog").mkdir()
    (tmp_path / "blog" / "one.md").write_text(POST.format(title="Peer support in Leeds", day="2016-02-15"))
    (tmp_path / "pipeline.toml").write_text(PROJECT, encoding="utf-8")
    return tmp_path


def statuses(folder: Path) -> dict[str, tuple[str, frozenset[str]]]:
    store = Store(folder / "state" / "pipeline.sqlite")
    try:
        return {s.email: (s.status, s.themes) for s, _ in subs.listing(store)}
    finally:
        store.close()


def recipients(folder: Path, issue: int) -> list[str]:
    return sorted(p.name.split("-")[0] for p in (folder / "outbox" / f"issue-{issue}").glob("*.eml"))


def test_status_column_and_unknown_themes_are_checked_and_nothing_is_written_when_only_checking(store, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(EXPORTED + "not-an-address,Nobody,,\ngil@example.org,Gil,,paused\n", encoding="utf-8")

    checked = import_list(store, read_csv(path), ["research", "peer support"], how="csv import list.csv", at=T0,
                          write=False)

    assert checked.problems == [
        f"{path}:8: 'not-an-address' is not a valid email address; correct it or delete the row",
        f"{path}:5: unknown theme 'Peer Supprt' (known: research; peer support); imported without it",
        f"{path}:9: status 'paused' is not imported; use active, unsubscribed, bounced or complained"]
    assert (checked.rows, checked.pending, checked.notes) == (5, 1, [])  # fay's request is counted, not a problem
    assert not checked.written and subs.listing(store) == []

    done = import_list(store, read_csv(path), ["research", "peer support"], how="csv import list.csv", at=T0)

    assert (done.rows, done.activated, done.suppressed, done.left_off, done.pending) == (5, 2, 3, 0, 1)
    assert done.problems == checked.problems
    found = {s.email: (s.status, s.themes) for s, _ in subs.listing(store)}
    assert found == {"ann@example.org": ("active", frozenset()),
                     "bob@example.org": ("unsubscribed", frozenset()),
                     "cat@example.org": ("complained", frozenset()),
                     "dan@example.org": ("active", frozenset({"peer support"})),
                     "eve@example.org": ("bounced", frozenset())}


def test_without_a_themes_transform_a_rows_themes_are_taken_as_they_are(store, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("email,name,themes\nann@example.org,Ann,gardening\n", encoding="utf-8")
    done = import_list(store, read_csv(path), [], how="csv import list.csv", at=T0)
    assert done.problems == [] and subs.find_subscriber(store, "ann@example.org").themes == {"gardening"}


def test_a_pending_address_on_the_list_takes_the_rows_themes_else_every_theme(store, tmp_path):
    """Not the themes or the name of its request, which may be a stranger's form post: the list vouches for the
    address."""
    for address in ("asked@example.org", "listed@example.org"):
        subs.request_subscription(store, address, "Asked", ["research"], how="form", at=T0)
    path = tmp_path / "list.csv"
    path.write_text("email,name,themes\nasked@example.org,,\nlisted@example.org,Listed,peer support\n",
                    encoding="utf-8")
    done = import_list(store, read_csv(path), ["research", "peer support"], how="csv import list.csv",
                       at=T0 + timedelta(days=1))
    assert done.activated == 2
    found = {s.email: (s.status, s.name, s.themes) for s, _ in subs.listing(store)}
    assert found == {"asked@example.org": ("active", "", frozenset()),
                     "listed@example.org": ("active", "Listed", frozenset({"peer support"}))}


def test_the_runs_own_import_honours_the_status_column_and_reports_unknown_themes(project_dir, caplog):
    (project_dir / "subscribers.csv").write_text(EXPORTED, encoding="utf-8")

    report = run_pipeline(load_project(project_dir / "pipeline.toml"), as_of=date(2016, 3, 1))

    csv = project_dir / "subscribers.csv"
    assert report.problems == [
        f"{csv}:5: unknown theme 'Peer Supprt' (known: research; peer support); imported without it"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "pipeline.sinks.email"] == [
        ("WARNING", f"{csv}: 1 pending request not imported: its owner has not confirmed; they can ask again on "
                    f"the form")]
    assert {e: s for e, (s, _) in statuses(project_dir).items()} == {
        "ann@example.org": "active", "bob@example.org": "unsubscribed", "cat@example.org": "complained",
        "dan@example.org": "active", "eve@example.org": "bounced"}
    assert statuses(project_dir)["dan@example.org"][1] == {"peer support"}
    assert recipients(project_dir, 1) == ["ann@example.org", "dan@example.org"]


def test_a_run_with_nothing_new_to_send_imports_the_list_all_the_same(project_dir):
    """"Imported as active on every run": an organiser adds people to the list and runs before anything is new
    (the one post is of 15 February, after the newsletter day of 1 February): they are on the list, and a bad row
    is said then, not on the day the issue goes out."""
    (project_dir / "subscribers.csv").write_text("email,name\nann@example.org,Ann\nbad,Bad\n", encoding="utf-8")

    report = run_pipeline(load_project(project_dir / "pipeline.toml"), as_of=date(2016, 2, 1))

    assert report.edition is None
    assert statuses(project_dir) == {"ann@example.org": ("active", frozenset())}
    assert report.problems == [f"{project_dir / 'subscribers.csv'}:3: 'bad' is not a valid email address; correct "
                               f"it or delete the row"]


def test_the_cli_and_the_run_import_a_list_the_same_way(project_dir, tmp_path):
    (project_dir / "subscribers.csv").write_text(EXPORTED, encoding="utf-8")
    run_pipeline(load_project(project_dir / "pipeline.toml"), as_of=date(2016, 3, 1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pipeline.toml").write_text(PROJECT.replace('path = "blog"', 'path = "../blog"')
                                           .replace('"subscribers.csv"', '"../subscribers.csv"'), encoding="utf-8")
    assert main(["subscribers", "import", str(project_dir / "subscribers.csv"),
                 "--config", str(elsewhere / "pipeline.toml")]) == 3  # a row had a problem (a theme)
    assert statuses(elsewhere) == statuses(project_dir)


def test_a_stranger_asking_for_someone_who_left_does_not_let_the_list_bring_them_back(project_dir):
    (project_dir / "subscribers.csv").write_text("email,name\nfay@example.org,Fay\n", encoding="utf-8")
    run_pipeline(load_project(project_dir / "pipeline.toml"), as_of=date(2016, 3, 1))
    store = Store(project_dir / "state" / "pipeline.sqlite")
    try:
        fay = subs.find_subscriber(store, "fay@example.org")
        now = datetime.now(UTC)
        subs.unsubscribe(store, fay.id, how="one-click unsubscribe", at=now)
        subs.request_subscription(store, "fay@example.org", "", [], how="form", at=now + timedelta(seconds=1))
    finally:
        store.close()
    (project_dir / "blog" / "two.md").write_text(POST.format(title="Peer support in York", day="2016-04-10"))

    report = run_pipeline(load_project(project_dir / "pipeline.toml"), as_of=date(2016, 5, 1))

    assert statuses(project_dir)["fay@example.org"][0] == "pending"
    assert [r.summary for r in report.results if r.stage == "sink"] == ["issue 2: 0 sent via outbox, 0 already sent"]
    assert main(["subscribers", "import", str(project_dir / "subscribers.csv"),
                 "--config", str(project_dir / "pipeline.toml")]) == 0
    assert main(["subscribers", "add", "fay@example.org", "--config", str(project_dir / "pipeline.toml")]) == 2
    assert statuses(project_dir)["fay@example.org"][0] == "pending"


def test_a_dry_run_checks_the_list_but_records_no_subscriber_and_ends_no_request(project_dir):
    (project_dir / "subscribers.csv").write_text("email,name,themes\nann@example.org,Ann,\nbad,Bad,\n"
                                                 "bob@example.org,Bob,gardening\n", encoding="utf-8")
    store = Store(project_dir / "state" / "pipeline.sqlite")
    try:  # a request 8 days old, which a real run would end
        subs.request_subscription(store, "old@example.org", "", [], how="form",
                                  at=datetime.now(UTC) - timedelta(days=8))
    finally:
        store.close()
    database = project_dir / "state" / "pipeline.sqlite"
    before = _subscriber_tables(database)

    report = run_pipeline(load_project(project_dir / "pipeline.toml"), as_of=date(2016, 3, 1), dry_run=True)

    csv = project_dir / "subscribers.csv"
    assert sorted(report.problems) == sorted([
        f"{csv}:3: 'bad' is not a valid email address; correct it or delete the row",
        f"{csv}:4: unknown theme 'gardening' (known: research; peer support); row not imported, as with none of "
        f"its themes it would get every one: correct the spelling, or empty the cell for every theme"])
    assert _subscriber_tables(database) == before
    assert statuses(project_dir) == {"old@example.org": ("pending", frozenset())}


def _subscriber_tables(database: Path) -> tuple[list, list]:
    db = sqlite3.connect(database)
    try:
        return (db.execute("SELECT * FROM subscribers ORDER BY id").fetchall(),
                db.execute("SELECT * FROM subscriber_events ORDER BY id").fetchall())
    finally:
        db.close()


def test_a_row_that_takes_an_address_off_wins_over_an_earlier_row_listing_it_in_other_case(project_dir, capsys):
    (project_dir / "subscribers.csv").write_text("email,name,themes,status\nann@example.org,Ann,,active\n"
                                                 "bob@example.org,Bob,,\n", encoding="utf-8")
    assert main(["subscribers", "import", "-c", str(project_dir / "pipeline.toml"),
                 str(project_dir / "subscribers.csv")]) == 0
    listed = project_dir / "subscribers.csv"  # Ann asked to leave: the organiser adds a row for her at the end
    listed.write_text(listed.read_text() + "ANN@Example.org,Ann,,unsubscribed\nbob@example.org,Bob again,,\n",
                      encoding="utf-8")
    capsys.readouterr()

    assert main(["subscribers", "import", "-c", str(project_dir / "pipeline.toml"), str(listed)]) == 3

    assert statuses(project_dir) == {"ann@example.org": ("unsubscribed", frozenset()),
                                     "bob@example.org": ("active", frozenset())}
    err = " ".join(capsys.readouterr().err.split())
    assert f"{listed}:4: ann@example.org is listed on line 2 too; this row, unsubscribed, is the one kept" in err
    assert "line 5" not in err and ":5:" not in err  # a plain second row for the same address stays quiet
    assert main(["run", "-c", str(project_dir / "pipeline.toml"), "--as-of", "2016-03-01"]) == 3
    assert recipients(project_dir, 1) == ["bob@example.org"]


def test_a_theme_in_another_case_or_with_accents_is_the_taxonomys_theme_in_its_spelling(store, tmp_path):
    """As the site's theme pages and the email tell themes apart ("Peer Support" is "peer support"): a spreadsheet's
    capitals do not drop a theme, and what is stored is the taxonomy's own spelling."""
    path = tmp_path / "list.csv"
    path.write_text("email,name,themes\nann@example.org,Ann,Peer Support;RÉSEARCH\nbob@example.org,Bob,Peer Supprt\n",
                    encoding="utf-8")

    done = import_list(store, read_csv(path), ["research", "peer support"], how="csv import list.csv", at=T0)

    assert done.problems == [
        f"{path}:3: unknown theme 'Peer Supprt' (known: research; peer support); row not imported, as with none of "
        f"its themes it would get every one: correct the spelling, or empty the cell for every theme"]
    found = {s.email: s.themes for s, _ in subs.listing(store)}
    assert found == {"ann@example.org": frozenset({"peer support", "research"})}


def test_a_row_whose_every_theme_is_unknown_is_not_imported_rather_than_given_every_theme(store, tmp_path):
    """Imported without its themes, "Peer Suport" alone would have followed every theme: the opposite of the
    row's wish. Such a row is left out and reported; an address already on the list keeps what it had."""
    subs.request_subscription(store, "kept@example.org", "Kept", ["research"], how="form", at=T0)
    import_list(store, read_csv(_written(tmp_path, "email,name,themes\nkept@example.org,Kept,research\n")),
                ["research", "peer support"], how="csv import first.csv", at=T0)
    path = _written(tmp_path, "email,name,themes\nnew@example.org,New,Peer Suport\n"
                              "kept@example.org,Kept,gardening; Reserch\nboth@example.org,Both,research;gardening\n")

    done = import_list(store, read_csv(path), ["research", "peer support"], how="csv import list.csv", at=T0)

    assert done.problems == [
        f"{path}:2: unknown theme 'Peer Suport' (known: research; peer support); row not imported, as with none "
        f"of its themes it would get every one: correct the spelling, or empty the cell for every theme",
        f"{path}:3: unknown themes 'Reserch', 'gardening' (known: research; peer support); row not imported, as "
        f"with none of its themes it would get every one: correct the spelling, or empty the cell for every theme",
        f"{path}:4: unknown theme 'gardening' (known: research; peer support); imported without it"]
    assert (done.rows, done.activated) == (1, 1)
    found = {s.email: (s.status, s.themes) for s, _ in subs.listing(store)}
    assert found == {"kept@example.org": ("active", frozenset({"research"})),
                     "both@example.org": ("active", frozenset({"research"}))}


def test_a_row_taking_an_address_off_the_list_is_taken_whatever_its_themes(store, tmp_path):
    """A theme never keeps someone on the list: a row saying the address unsubscribed whose every theme is unknown
    (an export from a newsletter with other themes) still takes it off, and says the themes were left out."""
    import_list(store, read_csv(_written(tmp_path, "email,name,themes\nann@example.org,Ann,research\n")),
                ["research"], how="csv import first.csv", at=T0)
    path = _written(tmp_path, "email,name,themes,status\nann@example.org,Ann,gardening,unsubscribed\n"
                              "bob@example.org,Bob,gardening,complained\n")

    done = import_list(store, read_csv(path), ["research"], how="csv import list.csv", at=T0)

    assert done.problems == [f"{path}:{line}: unknown theme 'gardening' (known: research); imported without it"
                             for line in (2, 3)]
    found = {s.email: s.status for s, _ in subs.listing(store)}
    assert found == {"ann@example.org": "unsubscribed", "bob@example.org": "complained"}


def _written(folder: Path, text: str) -> Path:
    path = folder / f"list-{len(list(folder.glob('list-*.csv')))}.csv"
    path.write_text(text, encoding="utf-8")
    return path
