"""Review h139: sources renamed with `renamed_from`, and what goes on around them.

Each test builds a project on disk (tmp_path), runs it, renames or adds a source, runs again, and checks the state
database and what the run said.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from http_fixtures import Route

from pipeline.errors import ConfigError
from pipeline.models import item_id
from pipeline.testing import BASE_TOML, PipelineProject
from tests.test_source_rename import READERS, SINKS, TWO, rss


def feed(name: str, path: str, renamed_from: str = "") -> str:
    """A feed source's table, read from file `path`."""
    return f'[sources.{name}]\ntype = "feed"\nurl = "{path}"\n{renamed_from}\n'


def stored(config: Path) -> dict[str, str]:
    """{item id: its source} of every item stored."""
    with sqlite3.connect(config.parent / "state" / "pipeline.sqlite") as connection:
        return dict(connection.execute("SELECT id, source FROM items"))


OTHER = rss(("urn:1", "Another network's first post", "20"))  # the same guid as TWO's first entry


def test_a_new_source_given_the_first_name_of_a_renamed_one_is_refused(write_project):
    config = write_project(feed("partner", "partner.xml") + SINKS, {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    project.write({"pipeline.toml": BASE_TOML + feed("odu", "partner.xml", 'renamed_from = "partner"') + SINKS})
    project.refresh(as_of=date(2016, 4, 2))
    before = stored(config)
    # odu's ids are made under "partner": a new source of that name would make the same ones
    project.write({"pipeline.toml": BASE_TOML + feed("odu", "partner.xml") + feed("partner", "other.xml") + SINKS,
                   "other.xml": OTHER})
    with pytest.raises(ConfigError, match=r"\[sources\.partner\].*\[sources\.odu\].*another name"):
        project.refresh(as_of=date(2016, 4, 3), check=False)
    assert stored(config) == before
    assert main_check(config) == 2  # pipeline check says so too, before any run


def main_check(config: Path) -> int:
    from pipeline.cli import main

    return main(["--config", str(config), "check"])


def renamed_twice_then_named_again(write_project):
    """partner renamed odu, then news, and a new source named odu: (its pipeline.toml, the project, the ids partner
    stored, the report of the run that added the new odu)."""
    config = write_project(feed("partner", "partner.xml") + SINKS, {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    ids = set(stored(config))
    project.write({"pipeline.toml": BASE_TOML + feed("odu", "partner.xml", 'renamed_from = "partner"') + SINKS})
    project.refresh(as_of=date(2016, 4, 2))
    project.write({"pipeline.toml": BASE_TOML + feed("news", "partner.xml", 'renamed_from = "odu"') + SINKS})
    project.refresh(as_of=date(2016, 4, 3))
    project.write({"pipeline.toml": BASE_TOML + feed("news", "partner.xml") + feed("odu", "other.xml") + SINKS,
                   "other.xml": OTHER})
    return config, project, ids, project.refresh(as_of=date(2016, 4, 4))


def test_a_new_source_given_a_name_a_renamed_source_had_in_between_makes_its_own_ids(write_project):
    # "odu" is free again: a new source of that name is not a renamed one, and makes its ids under its own name
    config, _, ids, report = renamed_twice_then_named_again(write_project)
    assert not report.problems
    assert stored(config) == {**{item: "news" for item in ids}, item_id("odu", "urn:1"): "odu"}


def opml(*feeds: tuple[str, str]) -> str:
    """An OPML list of (text, xmlUrl) outlines."""
    outlines = "".join(f'<outline text="{text}" type="rss" xmlUrl="{url}"/>' for text, url in feeds)
    return f'<?xml version="1.0"?><opml version="2.0"><head><title>P</title></head><body>{outlines}</body></opml>'


def listed(name: str, path: str) -> str:
    return f'[sources.{name}]\ntype = "opml"\npath = "{path}"\nallow_private = true\n'


@pytest.mark.parametrize("before", ["own table", "another list still configured", "its outline retitled"])
def test_a_feed_moved_into_a_list_is_not_told_a_renamed_from_that_is_then_refused(write_project, feed_server,
                                                                                   monkeypatch, before):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    feed_server.routes["/leeds.xml"] = Route(TWO.encode())
    feed_server.routes["/york.xml"] = Route(rss(("urn:y", "York news", "10")).encode())
    leeds, york = ("Leeds", feed_server.url("/leeds.xml")), ("York", feed_server.url("/york.xml"))
    files = {"subscribers.csv": READERS, "friends.opml": opml(leeds, york), "partners.opml": opml(leeds),
             "retitled.opml": opml(("Leeds Peers", leeds[1]))}
    first = {"own table": feed("leeds", leeds[1]), "another list still configured": listed("friends", "friends.opml"),
             "its outline retitled": listed("partners", "retitled.opml")}[before]
    config = write_project(first + SINKS, files)
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    then = listed("friends", "york.opml") if before.startswith("another") else ""  # Leeds taken out of friends'
    project.write({"pipeline.toml": BASE_TOML + then + listed("partners", "partners.opml") + SINKS,
                   "york.opml": opml(york)})
    report = project.refresh(as_of=date(2016, 4, 2), check=False)
    [line] = report.problems
    assert line.startswith("pipeline.toml: [sources.partners]: 2 items of its first fetch are stored already under ")
    assert "add renamed_from" not in line  # adding it would be refused
    assert ("its name in [sources.partners]'s list changed" if before.startswith("its") else
            "renamed_from cannot move") in line


def test_a_source_renamed_to_the_name_a_removed_source_had_withdraws_none_of_that_sources_items(write_project):
    news = rss(("urn:n1", "A newsletter of the old network", "3"), ("urn:n2", "Peer workers' day", "4"))
    files = {"subscribers.csv": READERS, "partner.xml": TWO, "news.xml": news}
    config = write_project(feed("news", "news.xml") + feed("partner", "partner.xml") + SINKS, files)
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    olds = {item for item, name in stored(config).items() if name == "news"}
    project.write({"pipeline.toml": BASE_TOML + feed("partner", "partner.xml") + SINKS})  # "news" taken out
    project.refresh(as_of=date(2016, 4, 2))
    project.write({"pipeline.toml": BASE_TOML + feed("news", "partner.xml", 'renamed_from = "partner"') + SINKS})
    report = project.refresh(as_of=date(2016, 4, 3))
    [line] = [result.summary for result in report.results if result.name == "news"]
    assert "withdrawn" not in line  # what the old "news" stored is no copy of the partner's items
    with sqlite3.connect(config.parent / "state" / "pipeline.sqlite") as connection:
        assert connection.execute("SELECT item FROM withdrawn").fetchall() == []
    assert olds < set(stored(config)) and len(stored(config)) == 4


def test_a_run_that_makes_an_older_issue_again_imports_the_list_too(tmp_path, monkeypatch):
    """"Imported as active on every run, one with nothing new to send too, but not a refresh": a run re-making an
    older issue (which it sends to nobody) is a run too."""
    from pipeline.config import load_project
    from pipeline.runner import run
    from tests.test_subscribers_import import POST, PROJECT, statuses

    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    (tmp_path / "blog").mkdir()
    (tmp_path / "blog" / "one.md").write_text(POST.format(title="Peer support in Leeds", day="2016-02-15"))
    (tmp_path / "pipeline.toml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "subscribers.csv").write_text("email,name\nann@example.org,Ann\n", encoding="utf-8")
    assert run(load_project(tmp_path / "pipeline.toml"), as_of=date(2016, 3, 1)).edition == 1
    (tmp_path / "blog" / "two.md").write_text(POST.format(title="Peer support in York", day="2016-03-15"))
    assert run(load_project(tmp_path / "pipeline.toml"), as_of=date(2016, 4, 1)).edition == 2
    (tmp_path / "subscribers.csv").write_text("email,name\nann@example.org,Ann\ngus@example.org,Gus\n",
                                              encoding="utf-8")
    assert run(load_project(tmp_path / "pipeline.toml"), as_of=date(2016, 3, 1)).edition == 1  # made again
    assert statuses(tmp_path)["gus@example.org"] == ("active", frozenset())


def test_copies_stored_under_the_new_name_are_withdrawn_after_the_old_name_ran_again_too(write_project):
    """Renamed without the key (each item stored twice), named back, then renamed with it: the copies the new name
    stored, before the old name's last run, are copies all the same."""
    config = write_project(feed("partner", "partner.xml") + SINKS, {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    ids = set(stored(config))
    project.write({"pipeline.toml": BASE_TOML + feed("odu", "partner.xml") + SINKS})
    project.refresh(as_of=date(2016, 4, 2), check=False)
    copies = set(stored(config)) - ids
    project.write({"pipeline.toml": BASE_TOML + feed("partner", "partner.xml") + SINKS})
    project.refresh(as_of=date(2016, 4, 3))
    project.write({"pipeline.toml": BASE_TOML + feed("odu", "partner.xml", 'renamed_from = "partner"') + SINKS})
    report = project.refresh(as_of=date(2016, 4, 4))
    [line] = [result.summary for result in report.results if result.name == "odu"]
    assert "the 2 items stored as odu before were withdrawn as copies" in line
    with sqlite3.connect(config.parent / "state" / "pipeline.sqlite") as connection:
        assert {item for item, in connection.execute("SELECT item FROM withdrawn")} == copies
