"""Review h115: a theme renamed or taken out, as its subscribers and its moved page and feed see it.

A subscriber chose themes by name; when the taxonomy renames one, the send and the preferences page count the old
name as the new one (`site.theme_left_for`), and one taken out leaves them their other themes, or everything when
none is left, never an empty issue for ever. Then the counting of where a theme went (`theme_moves`, kept by a
trigger) over many changes, and what the moved page and feed are made of.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime

import httpx
import pytest

from pipeline import site
from pipeline.config import load_project
from pipeline.models import Kind
from pipeline.runner import state_path
from pipeline.state import Store
from pipeline.state import subscribers as subscriber_state
from tests.conftest import make_item
from tests.feed_rules import assert_valid
from tests.serve_fixtures import LiveServer
from tests.test_review_h113 import FEED, FEED_ITEM, FIRST, SECOND, SITE, SOURCES, files, refresh_target

FEBRUARY = FEED_ITEM.format(title="Peer workers trained", n=4, day=17,
                            text="Peer support workers trained.").replace("Jan", "Feb")
RENAMED = '"peer-led support" ='
NOW = datetime(2016, 1, 25, tzinfo=UTC)


def with_followers(pipeline_project, toml: str = SOURCES):
    """The h113 project, its first issue sent, and three subscribers who chose themes: 'peer support' alone,
    'peer support' and 'recovery', 'Recovery' spelt otherwise than the taxonomy."""
    project = pipeline_project(toml, files())
    store = Store(state_path(project.project))
    try:
        for address, themes in (("peer@example.org", ["peer support"]),
                                ("both@example.org", ["peer support", "recovery"])):
            subscriber_state.add(store, address, "", themes, how="test", at=NOW)
    finally:
        store.close()
    project.run(as_of=date(2016, 2, 1))
    return project


def subscribers_of(project, address: str) -> int:
    store = Store(state_path(project.project))
    try:
        return subscriber_state.find_subscriber(store, address).id
    finally:
        store.close()


def february(project, toml: str) -> None:
    """The taxonomy changed to `toml`, and a new item about peer support in February: the second issue sent."""
    project.write({"pipeline.toml": toml, "partner.xml": FEED.format(items=FIRST + SECOND + FEBRUARY)})
    project.run(as_of=date(2016, 3, 1))


def titles(message) -> list[str]:
    return [title for title in ("Peer workers trained", "Recovery stories") if title in message.text]


# -- subscribers of a theme renamed or taken out ---------------------------------------------------------------------

def test_a_subscriber_of_a_renamed_theme_gets_its_items_under_the_new_name(pipeline_project):
    project = with_followers(pipeline_project)
    assert "Peer workers hired" in project.email("peer@example.org", issue=1).text

    february(project, project.config.read_text().replace('"peer support" =', RENAMED))
    assert "Peer workers trained" in project.email("peer@example.org", issue=2).text
    assert "Peer workers trained" in project.email("both@example.org", issue=2).text


def test_a_subscriber_of_a_theme_taken_out_keeps_their_other_themes_or_gets_everything(pipeline_project):
    project = with_followers(pipeline_project)
    toml = project.config.read_text().replace('"peer support" = ["peer support*", "peer worker*"]\n', "")
    project.write({"pipeline.toml": toml, "partner.xml": FEED.format(
        items=FIRST + SECOND + FEBRUARY + FEED_ITEM.format(title="Recovery stories", n=3, day=16,
                                                           text="Recovery stories.").replace("Jan", "Feb"))})
    project.run(as_of=date(2016, 3, 1))
    alone = project.email("peer@example.org", issue=2).text  # nothing left of their choice: everything
    assert "Peer workers trained" in alone and "Recovery stories" in alone
    both = project.email("both@example.org", issue=2).text  # their other theme only, as they chose
    assert "Recovery stories" in both and "Peer workers trained" not in both


@pytest.fixture
def preferences(pipeline_project):
    """`preferences(toml)`: the project of `with_followers`, its taxonomy changed to `toml` and refreshed, served;
    the preferences page of an address as `pipeline serve` shows it."""
    servers = []

    def page(change, address: str) -> str:
        project = with_followers(pipeline_project)
        project.write({"pipeline.toml": change(project.config.read_text())})
        project.refresh(as_of=date(2016, 2, 1))
        server = LiveServer(load_project(project.config)).start()
        servers.append(server)
        token = server.app.state.web.links.tokens.make("preferences", subscribers_of(project, address))
        return httpx.get(f"{server.url}/preferences/{token}", timeout=10).text

    yield page
    for server in servers:
        server.stop()


def checked(page: str) -> list[str]:
    return re.findall(r'name="theme" value="([^"]+)"\s+aria-describedby="themes-hint" checked', page)


def test_the_preferences_page_shows_a_renamed_theme_chosen_under_its_new_name(preferences):
    page = preferences(lambda toml: toml.replace('"peer support" =', RENAMED), "both@example.org")
    assert checked(page) == ["peer-led support", "recovery"]
    assert 'value="peer support"' not in page


def test_the_preferences_page_shows_a_theme_respelt_in_the_taxonomy_still_chosen(preferences):
    """A choice was compared with the taxonomy's names as spelt: 'Peer Support' showed 'peer support' unticked."""
    page = preferences(lambda toml: toml.replace('"peer support" =', '"Peer Support" ='), "both@example.org")
    assert checked(page) == ["Peer Support", "recovery"]


def test_the_preferences_page_of_one_whose_only_theme_was_taken_out_shows_everything_and_says_so(preferences):
    page = preferences(lambda toml: toml.replace('"peer support" = ["peer support*", "peer worker*"]\n', ""),
                       "peer@example.org")
    assert checked(page) == []  # none ticked: everything
    assert re.search(r"“peer support”, which you\s+chose, is no longer a theme", page)  # told why


# -- where a theme went, counted over many changes ---------------------------------------------------------------

class Themes:
    """Items in a state database, re-tagged at will, and where the page of a theme no item carries leads."""

    def __init__(self, tmp_path, count: int = 4):
        self.store = Store(tmp_path / "moves.sqlite")
        self.items = [make_item(Kind.NEWS, f"News {n}", themes=[]) for n in range(count)]

    def save(self, *themes: list[str], only: range | None = None) -> None:
        chosen = range(len(self.items)) if only is None else only
        changed = [replace(self.items[n], themes=themes[0] if len(themes) == 1 else themes[n]) for n in chosen]
        self.store.save_items([(item, "".join(item.themes)) for item in changed], NOW)

    def leads(self, theme: str, *live: str) -> str | None:
        return site.theme_left_for(site.theme_path(theme), {site.theme_path(t) for t in live},
                                   site.moved_themes(self.store))


@pytest.fixture
def themes(tmp_path):
    made = Themes(tmp_path)
    yield made
    made.store.close()


def test_a_theme_renamed_back_and_then_renamed_again_leads_to_its_latest_name(themes):
    themes.save(["A"])
    themes.save(["B"])  # A -> B
    themes.save(["A"])  # back: B -> A
    themes.save(["C"])  # A -> C
    assert themes.leads("A", "C") == "C"
    assert themes.leads("B", "C") == "C"


def test_a_theme_respelt_in_case_and_then_renamed_leads_to_its_new_name(themes):
    themes.save(["Peer support"])
    themes.save(["peer support"])  # the same theme, its page the same
    themes.save(["mutual aid"])
    assert themes.leads("peer support", "mutual aid") == "mutual aid"


def test_items_that_drifted_off_a_theme_over_months_do_not_outvote_its_rename(themes):
    themes.save(["A"])
    for month in range(4):  # each month an item loses A to B, the tagger's doing, while new items still get A
        themes.save(["B"], only=range(month, month + 1))
        themes.items.append(make_item(Kind.NEWS, f"New {month}", themes=["A"]))
        themes.save(["A"], only=range(len(themes.items) - 1, len(themes.items)))
    themes.save(["C"], only=range(4, 8))  # then the taxonomy renames A to C
    assert themes.leads("A", "B", "C") == "C"


def test_a_theme_split_between_two_or_in_a_loop_leads_to_the_themes(themes):
    themes.save(["A"])
    themes.save(["B"], ["B"], ["C"], ["C"])
    assert themes.leads("A", "B", "C") is None
    assert site.theme_left_for("themes/x/", set(), {"themes/x/": "y", "themes/y/": "x"}) is None


# -- the moved page and feed ------------------------------------------------------------------------------------------

ODD = 'Peer <support> & "friends"'


def test_a_theme_with_markup_in_its_name_moves_to_a_page_and_feed_that_escape_it(pipeline_project):
    toml = SOURCES.replace('"peer support" =', f"'{ODD}' =")
    project = pipeline_project(toml, files())
    project.run(as_of=date(2016, 2, 1))
    out = project.root / "out"
    old = site.theme_path(ODD)
    assert (out / old / "index.html").is_file()
    project.write({"pipeline.toml": project.config.read_text().replace(f"'{ODD}' =", "'Mutual <aid> & co' =")})
    project.refresh(as_of=date(2016, 2, 1))

    page = (out / old / "index.html").read_text(encoding="utf-8")
    assert refresh_target(out / old / "index.html") == out / site.theme_path("Mutual <aid> & co") / "index.html"
    assert "<aid>" not in page and "Mutual &lt;aid&gt; &amp; co" in page
    feed = (out / old / "feed.xml").read_bytes()
    assert_valid(feed, f"{SITE}/{old}feed.xml")
    [notice] = ET.fromstring(feed).findall("channel/item")
    assert notice.findtext("title") == "This feed has moved: Mutual <aid> & co"
    assert notice.findtext("guid") and notice.findtext("pubDate")


def test_a_site_under_a_path_moves_a_theme_within_it(pipeline_project):
    toml = SOURCES.replace("[sources.blog]", f'[pipeline]\nname = "N"\nsite_url = "{SITE}/network"\n'
                                             f'timezone = "Europe/London"\nworkers = 1\n\n[sources.blog]')
    project = pipeline_project(toml, files())
    project.run(as_of=date(2016, 2, 1))
    project.write({"pipeline.toml": project.config.read_text().replace('"peer support" =', RENAMED)})
    project.refresh(as_of=date(2016, 2, 1))
    out = project.root / "out"
    page = (out / "themes" / "peer-support" / "index.html").read_text(encoding="utf-8")
    assert f'<link rel="canonical" href="{SITE}/network/themes/peer-led-support/">' in page
    feed = ET.fromstring((out / "themes" / "peer-support" / "feed.xml").read_bytes())
    assert feed.findtext("channel/link") == f"{SITE}/network/themes/peer-led-support/"
    assert feed.findtext("channel/item/guid").startswith(f"{SITE}/network/themes/peer-support/feed.xml#")
    assert "peer-support" not in (out / "sitemap.xml").read_text(encoding="utf-8")


def test_a_subscriber_list_naming_a_theme_since_renamed_is_imported_under_the_new_name(themes, tmp_path):
    from pipeline.subscribers import csv_io
    from pipeline.subscribers.importing import import_list

    themes.save(["peer support"])
    themes.save(["peer-led support"])  # renamed in the taxonomy
    listed = tmp_path / "subscribers.csv"
    listed.write_text("email,name,themes\nnew@example.org,New,peer support\nold@example.org,Old,gone;recovery\n",
                      encoding="utf-8")
    done = import_list(themes.store, csv_io.read_csv(listed), ["peer-led support", "recovery"], how="test", at=NOW)
    assert [problem.split(": ", 1)[1] for problem in done.problems] == [
        "unknown theme 'gone' (known: peer-led support; recovery); imported without it"]
    assert any("'peer support' taken as 'peer-led support'" in note for note in done.notes)
    assert subscriber_state.find_subscriber(themes.store, "new@example.org").themes == {"peer-led support"}


# -- a withdrawn item's old address ---------------------------------------------------------------------------------

JOB = """[[job]]
id = "peer-worker"
title = "Peer support worker"
organisation = "{organisation}"
posted = 2016-01-20
closing_date = 2016-03-14
description = "Join our team."
"""


def test_a_job_withdrawn_by_one_organisation_says_so_and_never_leads_to_anothers_job_of_its_title(pipeline_project):
    """An item withdrawn leads on only to the same post under a new id, from its own source: a job two
    organisations advertised under one title on one day is not the other's once one takes it down."""
    toml = "".join(f'[sources.{name}]\ntype = "jobs"\npath = "{name}.toml"\n\n' for name in ("north", "south"))
    project = pipeline_project(toml, {"north.toml": JOB.format(organisation="North Trust"),
                                      "south.toml": JOB.format(organisation="South Trust")})
    project.run(as_of=date(2016, 2, 1))
    out = project.root / "out"
    pages = sorted(path.parent for path in (out / "jobs").glob("*/index.html"))
    north = next(page for page in pages if "North Trust" in (page / "index.html").read_text(encoding="utf-8"))
    project.write({"north.toml": "# the post was filled\n"})
    project.refresh(as_of=date(2016, 2, 1))
    page = north / "index.html"
    assert refresh_target(page) == page and "has been withdrawn" in page.read_text(encoding="utf-8")
