"""Review h185 of the round's changes: a form sent twice, addresses in ASCII, feed ids kept across a move to https,
OPML feeds listed twice, jobs and blog dates, all-day events on the days the clocks change, the email's languages
and directions, the web version's pages, and the scheduler's clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from pipeline.errors import ConfigError
from pipeline.models import EventDetails, Kind

# -- a time zone that names a folder of zones ---------------------------------------------------------------------

EVENTS = """
[[event]]
id = "region"
title = "Spring seminar"
posted = 2016-01-12
start = 2016-03-02T10:00:00
timezone = "Europe"

[[event]]
id = "summer"
title = "Summer seminar"
posted = 2016-01-12
start = 2016-03-09T10:00:00
"""


def test_a_time_zone_naming_a_region_is_refused_as_an_unknown_one(project_from):
    """`timezone = "Europe"` (a region, whose zones are a folder of the time zone database) raised IsADirectoryError
    out of ZoneInfo, which no check caught: the command ended with "unexpected IsADirectoryError" and a path
    inside tzdata. It is an unknown time zone, said so as any other is."""
    with pytest.raises(ConfigError) as info:
        project_from('[pipeline]\nname = "N"\ntimezone = "Europe"\n[sinks.feed]\ntype = "rss"\n')
    assert "[pipeline]: timezone: unknown time zone 'Europe'; use an IANA name such as 'Europe/London'" in \
        "\n".join(info.value.lines)


def test_an_event_in_a_region_for_a_time_zone_is_skipped_with_the_form_to_write(pipeline_project):
    """In events.toml, it failed the whole source (every event of the file withdrawn from nothing, none read):
    now that record is skipped, naming it, and the file's other events are read."""
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": EVENTS})
    report = project.run(as_of=date(2016, 2, 1), check=False)
    assert all(result.ok for result in report.results), [r.summary for r in report.results]
    assert [problem.partition(".toml ")[2] for problem in project.problems] == [
        "[[event]] #1 'Spring seminar': timezone 'Europe' is not a time zone: use an IANA name such as "
        "'Europe/London'; record skipped, fix it"]
    assert [item.title for item in project.items()] == ["Summer seminar"]


def test_an_all_day_event_whose_zone_is_a_region_ends_as_it_is_stored(pipeline_project, item_factory):
    """A source's all-day event whose `timezone` names no zone ends at midnight in the offset it is stored with
    (`EventDetails.finishes`, new this round): one naming a region raised IsADirectoryError there, which ended the
    whole run as it chose the issue's items."""
    event = item_factory(Kind.EVENT, "Day out", published=datetime(2016, 1, 10, tzinfo=UTC),
                         event=EventDetails(start=datetime(2016, 3, 27, tzinfo=UTC), all_day=True, timezone="Europe"))
    assert event.event.finishes == datetime(2016, 3, 28, tzinfo=UTC)
    project = pipeline_project(items=[event])
    project.run(as_of=date(2016, 2, 1))
    assert "Day out" in project.email().text


# -- the site of a network written right to left, and an item written so on another's ----------------------------

RTL_NETWORK = ('[pipeline]\nname = "MindNet"\nsite_url = "https://network.example.org"\ntimezone = "Asia/Amman"\n'
               'language = "ar"\nworkers = 1\n')


def _opening(page: str, tag: str) -> str:
    found = re.search(rf"<{tag}(?=[\s>])[^>]*>", page)
    assert found, f"no <{tag}> in the page"
    return found.group(0)


def test_the_site_of_a_network_written_right_to_left_reads_right_to_left(pipeline_project, item_factory):
    """The email of an `ar` network became dir="rtl" this round, and an item in Hebrew in an en-GB email got
    dir="rtl" with its lang; the site, where the email sends its readers, said lang="ar" alone, and HTML takes no
    direction from a lang: every page of the network read left to right, and a Hebrew item's page on an en-GB site
    marked its title and text lang="he" but set them left to right."""
    post = item_factory(Kind.POST, "Peer support", published=datetime(2016, 1, 10, tzinfo=UTC),
                        summary="Peer workers meet monthly.")
    arabic = pipeline_project(RTL_NETWORK, items=[post])
    arabic.run(as_of=date(2016, 2, 1))
    for path in ("", "archive/issue-1.html", "events/"):
        assert _opening(arabic.site(path), "html") == '<html lang="ar" dir="rtl">', path

    hebrew = item_factory(Kind.NEWS, "תמיכת עמיתים", language="he", published=datetime(2016, 1, 11, tzinfo=UTC),
                          summary="עובדי עמיתים נפגשים מדי חודש.")
    english = pipeline_project(items=[post, hebrew])
    english.run(as_of=date(2016, 2, 1))
    [page] = [path.read_text(encoding="utf-8") for path in (english.root / "out" / "news").glob("*/index.html")]
    assert _opening(page, "html") == '<html lang="en-GB" dir="ltr">'
    assert _opening(page, "h1") == '<h1 lang="he" dir="rtl">'
    assert _opening(page, 'div class="body"') == '<div class="body" lang="he" dir="rtl">'


# -- one feed in two folders of an OPML list, under two titles ---------------------------------------------------

LEEDS = '<outline text="Leeds"><outline type="rss" text="ODUK" xmlUrl="http://partner.example.org/feed"/></outline>'
LONDON = ('<outline text="London"><outline type="rss" text="Open Dialogue UK" '
          'xmlUrl="https://www.partner.example.org/feed/"/></outline>')


@pytest.mark.parametrize("folders", [LEEDS + LONDON, LONDON + LEEDS])
def test_a_feed_filed_twice_under_two_titles_keeps_its_name_whatever_the_order_of_the_export(project_from, folders):
    """A feed filed in two folders under its http and https addresses (and two titles) was two sources, each named
    by its own outline wherever it was; this round made them one feed, read once, as the first outline in the file
    named it. But a source's name is part of its items' ids, and none may hang on a place in the file, which
    another export changes (the module says so of feeds sharing a title): with the London folder exported first,
    the feed became partners/open-dialogue-uk instead of partners/oduk, and every entry still in it was stored
    again under new ids, twice on the site and sent again. Of its addresses, the one whose name (then address)
    comes first now names it, wherever each is in the file."""
    opml = f"""<?xml version="1.0"?><opml version="2.0"><head><title>Partners</title></head><body>
    {folders}
    <outline type="rss" text="Mind" xmlUrl="https://mind.example.org/feed"/></body></opml>"""
    project = project_from('[sources.partners]\ntype = "opml"\npath = "partners.opml"\n[sinks.feed]\ntype = "rss"\n',
                           {"partners.opml": opml})
    assert {source.instance: source.settings.url for source in project.sources} == {
        "partners/oduk": "http://partner.example.org/feed", "partners/mind": "https://mind.example.org/feed"}


# -- the form sent again within a minute ----------------------------------------------------------------------------

def test_going_back_to_the_first_choice_within_a_minute_is_a_request_of_its_own(tmp_path):
    """The same name and themes asked for again within a minute is the request already made (a double click); but
    it was matched against any request of that minute, not the latest: someone who asked for "research", then
    corrected it to "space", then went back to "research" (the form sent again from the browser's history) got no
    third request and no mail, so the latest confirmation in their inbox was for "space", the choice they had left,
    and confirming it gave them that. Only a repeat of the latest request is the one already made."""
    from datetime import timedelta

    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from pipeline.subscribers.confirmation import REPEAT_WITHIN

    store = Store(tmp_path / "state.sqlite")
    t0 = datetime(2016, 2, 1, 9, 0, tzinfo=UTC)

    def ask(themes: list[str], seconds: int):
        return subs.request_subscription(store, "rita@example.org", "Rita", themes, how="form",
                                         at=t0 + timedelta(seconds=seconds), once_within=REPEAT_WITHIN)

    try:
        first = ask(["research"], 0)
        assert ask(["research"], 1) is None  # a double click: the request made
        assert ask(["space"], 10) is not None  # a correction
        back = ask(["research"], 20)  # and back to the first choice
        assert back is not None
        assert ask(["research"], 21) is None  # whose double click is the request just made
        assert subs.confirm(store, first.subscriber.id, request=back.id, how="confirmation",
                            at=t0 + timedelta(minutes=5))
        assert subs.get_subscriber(store, first.subscriber.id).themes == frozenset({"research"})
    finally:
        store.close()


# -- the web version of an issue, for items in another language ----------------------------------------------------

def test_the_web_version_of_an_issue_marks_an_item_in_another_language_as_the_email_does(pipeline_project,
                                                                                          item_factory):
    """This round the email marked an item in another language than the site's with its lang (and dir, for one
    written the other way) on its title and text, as the item's own page did. The issue's web version, which the
    email links for the whole issue and for the items it leaves out ("…and 5 more in the web version"), showed the
    same titles and texts without either: a screen reader read the Welsh there with English rules."""
    welsh = item_factory(Kind.NEWS, "Cymorth gan gymheiriaid", language="cy",
                         published=datetime(2016, 1, 10, tzinfo=UTC), summary="Mae gweithwyr cymorth yn cyfarfod.")
    hebrew = item_factory(Kind.NEWS, "תמיכת עמיתים", language="he", published=datetime(2016, 1, 11, tzinfo=UTC),
                          summary="עובדי עמיתים נפגשים מדי חודש.")
    english = item_factory(Kind.NEWS, "Peer support in Leeds", published=datetime(2016, 1, 12, tzinfo=UTC),
                           summary="Peer workers meet monthly.")
    project = pipeline_project(items=[welsh, hebrew, english])
    project.run(as_of=date(2016, 2, 1))
    page = project.site("archive/issue-1.html")

    def around(text: str) -> str:
        found = re.search(r"<(h3|p)\b([^>]*)>(?:<a\b[^>]*>)?" + re.escape(text), page)
        assert found, f"{text!r} not in the issue's web version"
        return found.group(0)

    assert 'lang="cy"' in around("Cymorth gan gymheiriaid") and "dir=" not in around("Cymorth gan gymheiriaid")
    assert 'lang="cy"' in around("Mae gweithwyr cymorth yn cyfarfod.")
    assert 'lang="he" dir="rtl"' in around("תמיכת עמיתים")
    assert 'lang="he" dir="rtl"' in around("עובדי עמיתים נפגשים מדי חודש.")
    assert "lang=" not in around("Peer support in Leeds") and "lang=" not in around("Peer workers meet monthly.")


def test_no_page_of_a_right_to_left_site_scrolls_sideways_on_a_phone(pipeline_project, item_factory, browser):
    """site.css hid the skip link at left: -999px: on a right-to-left page that is space the reader can scroll to,
    so every page of an `ar` network's site was about 1,300 px wide on a 320 px phone (review h187 found it on the
    serve pages). The skip link is now hidden at the start of the line, whichever side that is."""
    from tests.test_archive_browser import open_tab

    post = item_factory(Kind.POST, "Peer support", published=datetime(2016, 1, 10, tzinfo=UTC),
                        summary="Peer workers meet monthly.")
    arabic = pipeline_project(RTL_NETWORK, items=[post])
    arabic.run(as_of=date(2016, 2, 1))
    context, tab, _ = open_tab(browser, viewport={"width": 320, "height": 640})
    try:
        for path in ("index.html", "archive/issue-1.html", "themes/index.html"):
            page = arabic.root / "out" / path
            if not page.exists():
                continue
            tab.goto(page.as_uri())
            assert not tab.evaluate("document.documentElement.scrollWidth > window.innerWidth"), path
        tab.keyboard.press("Tab")  # the skip link, once focused, is on the page
        assert tab.evaluate("document.activeElement.className") == "skip"
        box = tab.evaluate("(() => { const r = document.activeElement.getBoundingClientRect(); "
                           "return [r.left, r.right]; })()")
        assert 0 <= box[0] < box[1] <= 320, box
    finally:
        context.close()
