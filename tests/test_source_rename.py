"""A source renamed in pipeline.toml (`renamed_from = "old-name"` in its new table) keeps what it had stored: each
item's id and page address, the issues and deliveries that name them, its feed's ETag and its run history. Nothing is
stored twice, and a `renamed_from` that cannot be right stops the run at start-up, as `pipeline check` does."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from http_fixtures import Route

from pipeline.cli import main
from pipeline.commands.status import status_data
from pipeline.config import load_project
from pipeline.errors import ConfigError
from pipeline.models import item_id
from pipeline.testing import BASE_TOML, PipelineProject

SINKS = '''
[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
unsubscribe = "mailto:news@network.example.org"

[sinks.newsletter.delivery]
type = "outbox"

[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
'''
READERS = "email,name\nreader@example.org,Reader\n"


def rss(*entries: tuple[str, str, str]) -> str:
    """A feed of (guid, title, day in March 2016) entries."""
    items = "".join(f"<item><title>{title}</title><link>https://partner.example.org/{guid}</link><guid>{guid}</guid>"
                    f"<pubDate>{day} Mar 2016 12:00:00 +0000</pubDate><description>Peer support and co-production "
                    f"news.</description></item>" for guid, title, day in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Partner</title>'
            f"<link>https://partner.example.org/</link><description>News</description>{items}</channel></rss>")


TWO = rss(("urn:1", "Peer workers meet in Leeds", "15"), ("urn:2", "A recovery college opens", "16"))


def source(name: str, url: str, renamed_from: str = "") -> str:
    return f'[sources.{name}]\ntype = "feed"\nurl = "{url}"\n{renamed_from}\n' + SINKS


def db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "state" / "pipeline.sqlite")


def stored(config: Path) -> dict[str, str]:
    """{item id: its source} of every item stored."""
    with db(config) as connection:
        return dict(connection.execute("SELECT id, source FROM items"))


def feed_titles(config: Path) -> list[str]:
    return sorted(re.findall(r"<item>\s*<title>([^<]*)</title>", (config.parent / "out" / "feed.xml").read_text()))


def pages(config: Path) -> list[str]:
    """The news pages of the site that show an item (not one leading on to another)."""
    return sorted(page.parent.name for page in (config.parent / "out" / "news").glob("*/index.html")
                  if 'http-equiv="refresh"' not in page.read_text())


def site_links(config: Path) -> list[str]:
    """Every link to a news page on the site's front page."""
    return sorted(re.findall(r'href="[^"]*news/([^"/]+)/', (config.parent / "out" / "index.html").read_text()))


def test_a_renamed_feed_keeps_its_ids_pages_deliveries_and_etag(write_project, feed_server):
    feed_server.routes["/partner.xml"] = Route(TWO.encode(), etag='"v1"')
    url = feed_server.url("/partner.xml")
    config = write_project(source("open-dialogue-uk", url), {"subscribers.csv": READERS})
    project = PipelineProject(config)
    project.run(as_of=date(2016, 4, 1))
    ids, addresses, links = stored(config), pages(config), site_links(config)
    with db(config) as connection:
        deliveries = connection.execute("SELECT * FROM deliveries").fetchall()
    assert len(ids) == 2 and len(addresses) == 2 and len(deliveries) == 1

    project.write({"pipeline.toml": config.read_text().replace(
        "[sources.open-dialogue-uk]", '[sources.odu]\nrenamed_from = "open-dialogue-uk"')})
    report = project.refresh(as_of=date(2016, 4, 2))
    assert feed_server.requests[-1][1].get("if-none-match") == '"v1"'  # the feed's ETag, kept: 304
    [line] = [result.summary for result in report.results if result.name == "odu"]
    assert "renamed from open-dialogue-uk: 2 items kept" in line
    assert stored(config) == {item: "odu" for item in ids}
    assert (pages(config), site_links(config)) == (addresses, links)
    with db(config) as connection:
        assert connection.execute("SELECT * FROM deliveries").fetchall() == deliveries
        assert connection.execute("SELECT source FROM source_state").fetchall() == [("odu",)]
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]

    # The feed changes: its entries keep their ids; a new one is made under the name the source had
    feed_server.routes["/partner.xml"] = Route(rss(("urn:1", "Peer workers meet in Leeds", "15"),
                                                   ("urn:2", "A recovery college opens", "16"),
                                                   ("urn:3", "Hearing voices group", "17")).encode(), etag='"v2"')
    project.refresh(as_of=date(2016, 4, 3))
    assert set(stored(config)) == {*ids, item_id("open-dialogue-uk", "urn:3")}
    assert feed_titles(config) == ["A recovery college opens", "Hearing voices group", "Peer workers meet in Leeds"]
    assert set(addresses) < set(pages(config)) and len(pages(config)) == 3
    [health] = status_data(project.project)["sources"]
    assert (health["name"], health["never_run"], health["failures_in_a_row"]) == ("odu", False, 0)


def test_the_rename_is_done_once_and_the_key_may_go(write_project):
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.run(as_of=date(2016, 4, 1))
    ids = set(stored(config))
    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml", 'renamed_from = "partner"')})
    project.refresh(as_of=date(2016, 4, 2))
    project.refresh(as_of=date(2016, 4, 3))  # again: nothing more to move, nothing refused
    project.write({"pipeline.toml": BASE_TOML + source("news", "partner.xml", 'renamed_from = ["odu", "partner"]')})
    project.refresh(as_of=date(2016, 4, 4))
    project.write({"pipeline.toml": BASE_TOML + source("news", "partner.xml")})  # the key removed once it has run
    project.refresh(as_of=date(2016, 4, 5))
    assert stored(config) == {item: "news" for item in ids}
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]


def test_a_feed_parsed_in_a_worker_process_keeps_its_ids(write_project):
    entries = [(f"urn:{n}", f"Peer support news number {n} " + "x" * 400, "15") for n in range(200)]
    big = rss(*entries)
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": big})
    assert len(big) > 64 * 1024  # parsed in a worker process (feed.OFFLOAD_BYTES)
    text = config.read_text().replace("workers = 1", "workers = 2")
    config.write_text(text)
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    ids = set(stored(config))
    project.write({"pipeline.toml": text.replace("[sources.partner]", '[sources.odu]\nrenamed_from = "partner"'),
                   "partner.xml": rss(*entries, ("urn:new", "A new one", "16"))})
    project.refresh(as_of=date(2016, 4, 2))
    assert set(stored(config)) == {*ids, item_id("partner", "urn:new")}


def test_copies_stored_under_the_new_name_first_are_withdrawn_and_lead_on(write_project):
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.run(as_of=date(2016, 4, 1))
    ids, addresses = set(stored(config)), pages(config)
    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml")})  # renamed without the key: twice
    project.refresh(as_of=date(2016, 4, 2), check=False)
    copies = set(stored(config)) - ids
    assert len(copies) == 2  # stored twice; the feed lists each page once, the copy an issue sent
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]

    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml", 'renamed_from = "partner"')})
    report = project.refresh(as_of=date(2016, 4, 3))
    [line] = [result.summary for result in report.results if result.name == "odu"]
    assert "the 2 items stored as odu before were withdrawn as copies" in line
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]
    assert pages(config) == addresses
    with db(config) as connection:
        assert {item for item, in connection.execute("SELECT item FROM withdrawn")} == copies
    for copy in copies:  # the copies' pages, linked from the feed readers already had, lead on to the items kept
        [page] = (config.parent / "out" / "news").glob(f"*-{copy[:8]}/index.html")
        target = re.search(r'http-equiv="refresh" content="0; url=\.\./([^/]+)/', page.read_text()).group(1)
        assert target in addresses


def test_a_rename_that_fails_part_way_moves_nothing(write_project):
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.run(as_of=date(2016, 4, 1))
    ids = set(stored(config))
    with db(config) as connection:  # the last table it moves fails, as a full disk would
        connection.execute("CREATE TRIGGER stop BEFORE INSERT ON source_renames BEGIN SELECT RAISE(ABORT, 'full'); "
                           "END")
    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml", 'renamed_from = "partner"')})
    with pytest.raises(sqlite3.IntegrityError):
        project.refresh(as_of=date(2016, 4, 2))
    assert stored(config) == {item: "partner" for item in ids}
    with db(config) as connection:
        assert connection.execute("SELECT DISTINCT name FROM run_results WHERE stage = 'source'").fetchall() == [
            ("partner",)]
        connection.execute("DROP TRIGGER stop")
    project.refresh(as_of=date(2016, 4, 2))
    assert stored(config) == {item: "odu" for item in ids}
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]


def test_a_renamed_opml_lists_feeds_keep_their_items(write_project, feed_server, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    feed_server.routes["/leeds.xml"] = Route(TWO.encode(), etag='"v1"')
    opml = ('<?xml version="1.0"?><opml version="2.0"><head><title>Partners</title></head><body>'
            f'<outline text="Leeds Peers" type="rss" xmlUrl="{feed_server.url("/leeds.xml")}"/></body></opml>')
    toml = '[sources.partners]\ntype = "opml"\npath = "partners.opml"\nallow_private = true\n' + SINKS
    config = write_project(toml, {"subscribers.csv": READERS, "partners.opml": opml})
    project = PipelineProject(config)
    project.refresh(as_of=date(2016, 4, 1))
    ids = set(stored(config))
    assert set(stored(config).values()) == {"partners/leeds-peers"}
    project.write({"pipeline.toml": BASE_TOML + toml.replace("[sources.partners]",
                                                             '[sources.friends]\nrenamed_from = "partners"')})
    project.refresh(as_of=date(2016, 4, 2))
    assert feed_server.requests[-1][1].get("if-none-match") == '"v1"'
    assert stored(config) == {item: "friends/leeds-peers" for item in ids}
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]


@pytest.mark.parametrize(("renamed_from", "said"), [
    ('"jobs"', "pipeline.toml: [sources.odu]: renamed_from: [sources.jobs] is still in pipeline.toml; remove that "
               "table (its items move to this one), or this key if it is another source"),
    ('"partnr"', "pipeline.toml: [sources.odu]: renamed_from: nothing is stored under 'partnr' in "),
    ('"odu"', "pipeline.toml: [sources.odu]: renamed_from: names this table itself ('odu'); give the name its table "
              "had before"),
    ("3", "pipeline.toml: [sources.odu]: renamed_from: must be the name the source had before"),
])
def test_a_renamed_from_that_cannot_be_right_is_one_line_at_start_up(write_project, capsys, renamed_from, said):
    files = {"subscribers.csv": READERS, "partner.xml": TWO, "jobs.toml": ""}
    jobs = '[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n'
    config = write_project(jobs + source("partner", "partner.xml"), files)
    PipelineProject(config).refresh(as_of=date(2016, 4, 1))
    config.write_text(config.read_text().replace("[sources.partner]", f"[sources.odu]\nrenamed_from = {renamed_from}"))
    for command in ("check", "refresh"):
        assert main([command, "-c", str(config)]) == 2
        [line] = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert said in line
    assert set(stored(config).values()) == {"partner"}  # nothing moved


def test_a_renamed_from_that_two_tables_give_or_that_names_a_renamed_source_is_refused(write_project):
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    PipelineProject(config).refresh(as_of=date(2016, 4, 1))
    other = '[sources.other]\ntype = "feed"\nurl = "partner.xml"\nrenamed_from = "partner"\n'
    config.write_text(BASE_TOML + other + source("odu", "partner.xml", 'renamed_from = "partner"'))
    with pytest.raises(ConfigError, match=r"\[sources.other\] says it was 'partner' too"):
        load_project(config)
    config.write_text(BASE_TOML + source("odu", "partner.xml", 'renamed_from = "partner"'))
    PipelineProject(config).refresh(as_of=date(2016, 4, 2))
    config.write_text(BASE_TOML + source("odu", "partner.xml") + other.replace("[sources.other]", "[sources.later]"))
    assert main(["refresh", "-c", str(config)]) == 2  # 'partner' is 'odu' now, which is still configured


def test_a_source_renamed_without_the_key_is_told_what_to_add_once(write_project):
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.run(as_of=date(2016, 4, 1))
    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml")})
    report = project.refresh(as_of=date(2016, 4, 2), check=False)
    assert report.exit_code == 3
    [line] = report.problems
    assert line.startswith("pipeline.toml: [sources.odu]: 2 items of its first fetch are stored already under "
                           "'partner', which is no longer in pipeline.toml, so each is stored twice, with a page of "
                           "its own; if this is that source renamed, add renamed_from = \"partner\" to its table")
    assert project.refresh(as_of=date(2016, 4, 3)).problems == []  # said once

    renamed = source("odu", "partner.xml", 'renamed_from = "partner"')
    project.write({"pipeline.toml": BASE_TOML + renamed})
    assert project.refresh(as_of=date(2016, 4, 4)).problems == []
    project.write({"pipeline.toml": BASE_TOML + renamed + source("another", "partner.xml").replace(SINKS, "")})
    assert project.refresh(as_of=date(2016, 4, 5)).problems == []  # its items are a configured source's: no rename


def test_the_state_layers_rename_done_again_moves_and_withdraws_nothing(write_project):
    from pipeline.state import Store
    from pipeline.state.renames import rename_source

    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    PipelineProject(config).refresh(as_of=date(2016, 4, 1))
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        first, again = rename_source(store, "partner", "odu"), rename_source(store, "partner", "odu")
    finally:
        store.close()
    assert (first.items, first.withdrawn, again.items, again.withdrawn) == (2, 0, 0, 0)
    with db(config) as connection:
        assert connection.execute("SELECT COUNT(*) FROM withdrawn").fetchone() == (0,)
        assert connection.execute("SELECT old, new, ids FROM source_renames").fetchall() == [
            ("partner", "odu", "partner")]


def test_a_source_renamed_back_keeps_its_ids(write_project):
    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    project.run(as_of=date(2016, 4, 1))
    ids, addresses = set(stored(config)), pages(config)
    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml", 'renamed_from = "partner"')})
    project.refresh(as_of=date(2016, 4, 2))
    project.write({"pipeline.toml": BASE_TOML + source("partner", "partner.xml", 'renamed_from = "odu"')})
    project.refresh(as_of=date(2016, 4, 3))
    assert stored(config) == {item: "partner" for item in ids}
    assert pages(config) == addresses
    assert feed_titles(config) == ["A recovery college opens", "Peer workers meet in Leeds"]
    with db(config) as connection:  # 'partner' is a name in use again, not a former one
        assert connection.execute("SELECT old, new, ids FROM source_renames").fetchall() == [
            ("odu", "partner", "partner")]


def test_a_first_fetch_is_kept_to_compare_only_while_a_source_no_longer_configured_has_items(write_project):
    """The warning above compares a source's first fetch with what sources taken out stored; with none (a project's
    first run, every run after), a run keeps nothing of its items for it (a cold run of 10,000 items held them all,
    70 MB, until every source had finished)."""
    from pipeline.renaming import first_fetches
    from pipeline.state import Store

    config = write_project(source("partner", "partner.xml"), {"subscribers.csv": READERS, "partner.xml": TWO})
    project = PipelineProject(config)
    assert first_fetches(load_project(config), Store(config.parent / "state" / "pipeline.sqlite")) == {}
    project.run(as_of=date(2016, 4, 1))

    project.write({"pipeline.toml": config.read_text() + source("odu", "partner.xml").replace(SINKS, "")})
    with_both = load_project(config)
    assert first_fetches(with_both, Store(config.parent / "state" / "pipeline.sqlite")) == {}  # partner still here

    project.write({"pipeline.toml": BASE_TOML + source("odu", "partner.xml")})
    renamed = load_project(config)
    assert first_fetches(renamed, Store(config.parent / "state" / "pipeline.sqlite")) == {"odu": None}
