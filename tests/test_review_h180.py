"""Review h180 of what readers get: the feeds (plugins/sinks/rss/) and the static site (plugins/sinks/archive/)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from pipeline.models import JobDetails, Kind

SINKS = """
[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""


def _feed(project, path: str = "feed.xml") -> ET.Element:
    return ET.fromstring((project.root / "out" / path).read_bytes())


def test_a_new_language_in_pipeline_toml_reaches_the_feeds_on_the_next_refresh(pipeline_project, item_factory):
    """`[pipeline] language` is what every feed's <language> says. The archive makes every page again when it changes;
    the feeds were kept as "unchanged: no item changed" (their key left the language out), so they said the old one
    until an item changed."""
    post = item_factory(Kind.POST, "A post", published=datetime(2016, 1, 10, tzinfo=UTC), themes=["peer support"])
    project = pipeline_project(SINKS, items=[post])
    project.run(as_of=date(2016, 2, 1))
    assert _feed(project).findtext("channel/language") == "en-GB"
    toml = project.config.read_text(encoding="utf-8")
    project.write({"pipeline.toml": toml.replace('[pipeline]\n', '[pipeline]\nlanguage = "cy"\n', 1)})
    project.refresh(as_of=date(2016, 2, 1))
    assert 'lang="cy"' in project.site("")
    assert _feed(project).findtext("channel/language") == "cy"
    assert _feed(project, "themes/peer-support/feed.xml").findtext("channel/language") == "cy"


def test_a_shorter_undated_job_days_takes_an_undated_job_out_of_the_feeds_on_the_next_refresh(pipeline_project,
                                                                                                item_factory):
    """A job with no closing date is open `undated_job_days` after it was posted, in the feeds as on the site. Set
    shorter, the site showed it closed on the next refresh while the feeds, "unchanged", still listed it."""
    job = item_factory(Kind.JOB, "Peer worker", published=datetime(2016, 1, 10, tzinfo=UTC),
                       job=JobDetails(organisation="Org", closing_date=None))
    project = pipeline_project(SINKS, items=[job])
    project.run(as_of=date(2016, 2, 1))
    assert [i.findtext("title") for i in _feed(project).iter("item")] == ["Peer worker"]
    toml = project.config.read_text(encoding="utf-8")
    project.write({"pipeline.toml": toml.replace('[pipeline]\n', '[pipeline]\nundated_job_days = 7\n', 1)})
    project.refresh(as_of=date(2016, 2, 1))
    assert "Closed jobs" in project.site("jobs/")
    assert [i.findtext("title") for i in _feed(project).iter("item")] == []


def _stamps(folder) -> dict[str, tuple[int, int]]:
    """Each file under `folder` -> (inode, modification time): what a file written again, even with the same bytes,
    changes (an atomic write puts a new file in its place), and what a sync to the host goes by."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_making_an_issue_again_with_nothing_changed_rewrites_no_file_of_out(pipeline_project, item_factory):
    """`pipeline run --as-of` the day of an issue already made (a send to finish) makes the issue again: the email
    sink wrote out/newsletter/issue-N.html and .txt again each time, the same bytes in new files, so a sync of out/ to
    the host sent them again, and the run's report named them as written. The site and the feeds leave a file with
    the same bytes alone; now so does the email sink."""
    post = item_factory(Kind.POST, "A post & <b>", published=datetime(2016, 1, 10, tzinfo=UTC), themes=["Café"])
    project = pipeline_project(items=[post])  # the email sink (outbox), rss and archive
    project.run(as_of=date(2016, 2, 1))
    out = project.root / "out"
    before = _stamps(out)
    assert "newsletter/issue-1.html" in before and "newsletter/issue-1.txt" in before
    report = project.run(as_of=date(2016, 2, 1))
    assert _stamps(out) == before
    email = next(result for result in report.results if result.name == "newsletter")
    assert "1 already sent" in email.summary


def test_the_feeds_give_every_address_in_ascii_as_a_browser_sends_it(pipeline_project, item_factory):
    """RSS 2.0's `link`, a permalink `guid` and `atom:link` are URLs (RFC 3986): a partner's address with a space or
    letters outside ASCII (`…/newyddion/ein gŵyl`), or a site_url with an umlaut, went into the feeds as given, which
    the validator refuses (InvalidFullLink) and a feed reader may cut short at the space. The email has written them
    in ASCII (host in IDNA, path %-escaped) for a while; the feeds now do the same."""
    from tests.feed_rules import problems

    toml = ('[pipeline]\nname = "N"\nsite_url = "https://bücher.example/schöne"\ntimezone = "Europe/London"\n'
            + SINKS)
    news = item_factory(Kind.NEWS, "Ein gŵyl", published=datetime(2016, 1, 10, tzinfo=UTC), themes=["Gŵyl"],
                        url="https://partner.example.org/newyddion/ein gŵyl")
    own = item_factory(Kind.NEWS, "Plain", published=datetime(2016, 1, 11, tzinfo=UTC), themes=["Gŵyl"],
                       url="https://partner.example.org/plain")
    project = pipeline_project(toml, items=[news, own])
    project.run(as_of=date(2016, 2, 1))
    out = project.root / "out"
    base = "https://xn--bcher-kva.example/sch%C3%B6ne/"
    feeds = {"feed.xml": out / "feed.xml", **{p.relative_to(out).as_posix(): p for p in out.glob("themes/*/feed.xml")}}
    assert len(feeds) == 2
    for path, file in feeds.items():
        data = file.read_bytes()
        assert problems(data, base + path) == []
        channel = ET.fromstring(data).find("channel")
        assert channel.findtext("link").startswith(base)
        links = {item.findtext("title"): item.findtext("link") for item in channel.iter("item")}
        assert links == {"Ein gŵyl": "https://partner.example.org/newyddion/ein%20g%C5%B5yl",
                         "Plain": "https://partner.example.org/plain"}
        guids = {item.findtext("title"): item.find("guid") for item in channel.iter("item")}
        assert guids["Ein gŵyl"].text == links["Ein gŵyl"] and guids["Ein gŵyl"].get("isPermaLink") == "true"


def test_an_ascii_address_with_a_space_or_a_quote_is_escaped_in_the_feeds(pipeline_project, item_factory):
    """`header_link` leaves an address in ASCII as it is: one with a space or a double quote (a partner's typed
    `https://partner.example.org/news/our "big" day`) still went into <link> and the permalink <guid> so."""
    from tests.feed_rules import problems

    news = item_factory(Kind.NEWS, "Big day", published=datetime(2016, 1, 10, tzinfo=UTC),
                        url='https://partner.example.org/news/our "big" day?a=1&b=<2>')
    project = pipeline_project(SINKS, items=[news])
    project.run(as_of=date(2016, 2, 1))
    data = (project.root / "out" / "feed.xml").read_bytes()
    assert problems(data, "https://network.example.org/feed.xml") == []
    (item,) = ET.fromstring(data).iter("item")
    assert item.findtext("link") == "https://partner.example.org/news/our%20%22big%22%20day?a=1&b=%3C2%3E"
    assert item.findtext("guid") == item.findtext("link") and item.find("guid").get("isPermaLink") == "true"


def test_a_guid_given_before_in_another_spelling_of_the_address_is_kept(pipeline_project, item_factory):
    """An item whose guid was its address as given (outside ASCII, before the feeds wrote addresses in ASCII) keeps
    that guid, so no feed reader shows it again as new; it is no permalink now, its link being the ASCII form."""
    from pipeline.runner import state_path
    from pipeline.state import Store, feed_guids

    news = item_factory(Kind.NEWS, "Ein gŵyl", published=datetime(2016, 1, 10, tzinfo=UTC),
                        url="https://partner.example.org/newyddion/gŵyl")
    project = pipeline_project(SINKS, items=[news])
    store = Store(state_path(project.project))
    try:
        feed_guids.record(store, {news.id: news.url}, {})
    finally:
        store.close()
    project.run(as_of=date(2016, 2, 1))
    (item,) = _feed(project).iter("item")
    assert item.findtext("link") == "https://partner.example.org/newyddion/g%C5%B5yl"
    assert item.findtext("guid") == news.url and item.find("guid").get("isPermaLink") == "false"


def test_the_feed_of_a_theme_taken_out_is_not_written_again_for_a_site_url_with_an_ampersand(pipeline_project,
                                                                                             item_factory):
    """A theme's feed no item carries says so in one item, whose guid names where it leads, written once: a later run
    finds that guid in the file and leaves it. The guid was looked for as raw text, so under a site_url whose path
    has an "&" (escaped "&amp;" in the file) it was never found, and every later build of the feeds wrote the feed
    again with a new date: a reader saw its one item change each time."""
    toml = ('[pipeline]\nname = "N"\nsite_url = "https://network.example.org/news&views"\n'
            'timezone = "Europe/London"\n' + SINKS)
    post = item_factory(Kind.POST, "A post", published=datetime(2016, 1, 10, tzinfo=UTC), themes=["peer support"])
    other = item_factory(Kind.POST, "Another", published=datetime(2016, 1, 11, tzinfo=UTC), themes=["recovery"])
    items = [post, other]
    project = pipeline_project(toml, items=items)
    project.run(as_of=date(2016, 2, 1))
    post.themes = []
    project.refresh(as_of=date(2016, 2, 2))
    left = project.root / "out" / "themes" / "peer-support" / "feed.xml"
    said = left.read_bytes()
    assert b"This feed has ended" in said
    other.title = "Another, retitled"  # the feeds are made again
    project.refresh(as_of=date(2016, 2, 3))
    assert b"Another, retitled" in (project.root / "out" / "feed.xml").read_bytes()
    assert left.read_bytes() == said


def test_the_calendars_give_their_addresses_in_ascii(pipeline_project, item_factory):
    """An iCalendar URL or SOURCE is a URI (RFC 5545 3.3.13: RFC 3986): under a site_url with an umlaut they were
    written as given (`https://bücher.example/…`), where the email and the feeds write them in ASCII; and a booking
    link with a space in the text, where a calendar app linking it cuts it at the space."""
    from icalendar import Calendar

    toml = ('[pipeline]\nname = "N"\nsite_url = "https://bücher.example/schöne"\ntimezone = "Europe/London"\n'
            + SINKS)
    event = item_factory(Kind.EVENT, "Gŵyl", published=datetime(2016, 1, 10, tzinfo=UTC), url="")
    event.event.booking_url = "https://tickets.example.org/book a place"
    project = pipeline_project(toml, items=[event])
    project.run(as_of=date(2016, 2, 1))
    out = project.root / "out"
    calendars = sorted(out.rglob("*.ics"))
    assert len(calendars) == 2
    components = [c for path in calendars for c in Calendar.from_ical(path.read_bytes()).walk()]
    addresses = [str(c[name]) for c in components for name in ("URL", "SOURCE") if name in c]
    assert len(addresses) == 4 and all(a.startswith("https://xn--bcher-kva.example/sch%C3%B6ne/") for a in addresses)
    (described,) = [str(c["DESCRIPTION"]) for c in components if c.name == "VEVENT"][:1]
    assert "Book a place: https://tickets.example.org/book%20a%20place\n" in described
    assert "More: https://xn--bcher-kva.example/sch%C3%B6ne/events/" in described


def test_the_code_the_feeds_and_calendars_write_addresses_with_is_in_their_keys():
    """The feeds and the calendars write their addresses through `site.uri`, which takes `header_link` from
    pipeline/mail/message.py: a new version of it must make them again, as a new version of any code that shapes
    them does (the rss sink's key reads its modules' files; the archive's, those of its folders)."""
    import sys
    from pathlib import Path

    from pipeline.mail.message import header_link
    from plugins.sinks.archive.unchanged import _CODE
    from plugins.sinks.rss.sink import FEED_CODE

    where = Path(sys.modules[header_link.__module__].__file__)
    assert where.parent in _CODE
    assert where in FEED_CODE


def test_a_site_outside_ascii_gives_calendar_apps_and_link_previews_its_addresses_in_ascii(pipeline_project,
                                                                                           item_factory):
    """The `webcal://` link, the address shown to paste into a calendar app, and `og:url` are read by programs
    other than a browser (a calendar app, a link preview): under a site_url with an umlaut they were given as
    typed, where the feeds and the calendars themselves give theirs in ASCII (`site.uri`)."""
    import re

    toml = ('[pipeline]\nname = "N"\nsite_url = "https://bücher.example/schöne"\ntimezone = "Europe/London"\n'
            + SINKS)
    event = item_factory(Kind.EVENT, "Gŵyl", published=datetime(2016, 1, 10, tzinfo=UTC), url="")
    project = pipeline_project(toml, items=[event])
    project.run(as_of=date(2016, 2, 1))
    pages = [path.read_text(encoding="utf-8") for path in (project.root / "out").rglob("*.html")]
    webcal = {link for page in pages for link in re.findall(r'href="(webcal:[^"]*)"', page)}
    shown = {code for page in pages for code in re.findall(r"<code>([^<]*\.ics)</code>", page)}
    previews = {url for page in pages for url in re.findall(r'<meta property="og:url" content="([^"]*)"', page)}
    assert webcal == {"webcal://xn--bcher-kva.example/sch%C3%B6ne/events/calendar.ics"}, webcal
    assert shown == {"https://xn--bcher-kva.example/sch%C3%B6ne/events/calendar.ics"}, shown
    assert len(previews) > 3 and all(url.startswith("https://xn--bcher-kva.example/sch%C3%B6ne/") for url in previews)
