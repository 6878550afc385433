"""Review h182 of the built-in sources (plugins/sources/): what organisers and readers expect of a partner's feed,
an OPML list, and the jobs and events files."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

SINK = '\n[sinks.feed]\ntype = "rss"\n'

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Partner</title><link>{scheme}://partner.example.org/</link>
<item><title>Peer support group opens in Leeds</title><link>{scheme}://partner.example.org/news/1</link>
<pubDate>{first}</pubDate><description>The group meets on Tuesdays.</description></item>
<item><title>Open Dialogue training dates</title><link>{scheme}://partner.example.org/news/2</link>
<pubDate>Sat, 16 Apr 2016 12:00:00 +0000</pubDate><description>Three days in London.</description></item>
</channel></rss>"""


def _feed(scheme: str = "https", first: str = "Fri, 15 Apr 2016 12:00:00 +0000") -> str:
    return FEED.format(scheme=scheme, first=first)


@pytest.mark.parametrize("when", ["0000-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"])
def test_an_entry_dated_outside_the_years_python_has_is_undated_and_the_feeds_other_entries_are_read(
        project_from, run_context, when):
    """feedparser reads `0000-01-01T00:00:00Z` as the year 0, and 23:00 on 31 December 9999 at -05:00 as the year
    10000 in UTC; making a datetime of either raised ValueError ("year 0 is out of range"), which failed the whole
    feed, naming neither the entry nor the feed. Such a date is no date: the entry is read as undated (it keeps the
    moment it was first seen), and the feed's other entries as they are."""
    project = project_from('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": _feed(first=when)})
    run = run_context(project, date(2016, 5, 1))
    items = {item.title: item for item in project.sources[0].fetch(run)}
    assert set(items) == {"Peer support group opens in Leeds", "Open Dialogue training dates"}
    assert items["Open Dialogue training dates"].published == datetime(2016, 4, 16, 12, tzinfo=UTC)
    assert items["Peer support group opens in Leeds"].published < run.moment  # first seen now, as an undated one
    assert items["Peer support group opens in Leeds"].published.year == 2016


MOVED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Partner</title><link>{site}/</link>
<item><title>Hearing Voices group at the library</title><link>{site}/news/3</link><guid>{site}/news/3</guid>
<pubDate>Fri, 20 May 2016 12:00:00 +0000</pubDate><description>Every other Thursday.</description></item>
<item><title>Peer support group opens in Leeds</title><link>{site}/news/1</link><guid>{site}/news/1</guid>
<pubDate>Fri, 15 Apr 2016 12:00:00 +0000</pubDate><description>The group meets on Tuesdays.</description></item>
<item><title>Open Dialogue training dates</title><link>{site}/news/2</link>
<pubDate>Sat, 16 Apr 2016 12:00:00 +0000</pubDate><description>Three days in London.</description></item>
</channel></rss>"""


@pytest.mark.parametrize("before, after", [("http://partner.example.org", "https://partner.example.org"),
                                           ("https://partner.example.org", "https://www.partner.example.org")])
def test_a_partner_moving_to_https_or_to_www_keeps_its_items_and_sends_none_again(pipeline_project, before, after):
    """An entry's id is its guid, else its link; a partner moving its site to https (or to "www.") rewrites both, so
    every entry still in its feed came under a new id: stored a second time (twice on the site, in the feeds), and,
    being of the last issue's month and first seen after it, sent again in the next issue as a late arrival. The
    README expects partners to move so ("a partner moving to https"). Now an entry whose id moved only so keeps
    the id it was stored under, and with it its page and its place in the issue it was sent in; its link is the new
    one."""
    april = MOVED.split("<item>", 2)
    first = april[0] + "<item>" + april[2]  # without May's entry
    project = pipeline_project('[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n',
                               {"partner.xml": first.format(site=before)})
    project.run(as_of=date(2016, 5, 1))
    assert "Peer support group opens in Leeds" in project.email().text
    project.write({"partner.xml": MOVED.format(site=after)})
    project.run(as_of=date(2016, 6, 1))
    june = project.email().text
    assert "Hearing Voices group at the library" in june
    assert "Peer support group opens in Leeds" not in june and "Open Dialogue training dates" not in june
    items = project.items()
    assert sorted(item.title for item in items) == ["Hearing Voices group at the library",
                                                    "Open Dialogue training dates", "Peer support group opens in Leeds"]
    assert {item.url for item in items} == {f"{after}/news/{n}" for n in (1, 2, 3)}


@pytest.mark.parametrize("written", [
    '[job]\nid = "oduk-admin"\ntitle = "Administrator"\norganisation = "Open Dialogue UK"\nposted = 2016-01-20\n'
    'closing_date = 2016-02-14\n',
    'job = "oduk-admin"\n'])
def test_jobs_under_one_bracket_are_told_apart_from_a_bad_record(project_from, run_context, written):
    """A job written under `[job]` (one pair of brackets: a table, not a list of them) was read key by key, each key's
    name taken for a record, so the organiser was told of five bad records, "#1 '(not a table)': (record) must be a
    table ... not 'id'", "#2 ... not 'title'"..., and never that the heading was wrong. `job = "..."` was read a
    character at a time. Now the file is refused in one line that says to write each record under [[job]]."""
    from pipeline.errors import SourceError

    project = project_from('[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n' + SINK, {"jobs.toml": written})
    run = run_context(project, date(2016, 2, 1))
    with pytest.raises(SourceError) as raised:
        list(project.sources[0].fetch(run))
    said = str(raised.value)
    assert "jobs.toml" in said and "[[job]]" in said and "\n" not in said
    assert run.problems == []


def test_a_post_dated_as_jekyll_and_hugo_write_it_is_published_at_that_moment(project_from, run_context):
    """Jekyll's front matter writes a post's moment `2016-04-20 10:00:00 +0100` (its documented form), and a post
    written by hand often has `2016-04-21 10:00`; YAML reads neither as a timestamp (an offset needs its colon, a
    time its seconds), so the text was refused, "is not a date like 2016-04-20; post skipped", and a blog moved from
    Jekyll published nothing. Now such text is read as the moment it says (without an offset, in the project's
    zone); text that is no date is still refused, naming the file."""
    files = {"blog/jekyll.md": "---\ntitle: Seminar 3 report\ndate: 2016-04-20 10:00:00 +0100\n---\nNotes.\n",
             "blog/by-hand.md": "---\ntitle: April blog post\ndate: 2016-04-21 10:00\n---\nSome ideas.\n",
             "blog/quoted.md": "---\ntitle: Key words\ndate: '2016-04-22'\n---\nPower, space.\n",
             "blog/wrong.md": "---\ntitle: Wrong\ndate: 20 April 2016\n---\nNo.\n"}
    project = project_from('[sources.blog]\ntype = "blog"\npath = "blog"\n' + SINK, files)
    run = run_context(project, date(2016, 5, 1))
    items = {item.title: item.published for item in project.sources[0].fetch(run)}
    assert items == {"Seminar 3 report": datetime(2016, 4, 20, 9, tzinfo=UTC),
                     "April blog post": datetime(2016, 4, 21, 9, tzinfo=UTC),
                     "Key words": datetime(2016, 4, 21, 23, tzinfo=UTC)}
    assert len(run.problems) == 1 and "wrong.md" in run.problems[0] and "20 April 2016" in run.problems[0]


JOBS = """
[[job]]
id = "oduk-admin"
title = "Administrator, Open Dialogue UK centre"
organisation = "Open Dialogue UK"
posted = 2016-01-20
closing_date = {closing}

[[job]]
id = "lch-peer-worker"
title = "Peer support worker"
organisation = "Leeds Community Healthcare"
posted = 2016-01-25
closing_date = 2016-02-28
"""


def test_a_job_closing_before_it_was_posted_is_reported_not_hidden(project_from, run_context):
    """A closing date with last year's year (typed in January: 2015-02-14 for a job posted on 20 January 2016) made a
    job closed from the moment it was posted: in no issue, off the feeds and the site's open jobs, and nobody was told.
    An event ending before it starts is refused as a mistake; so now is a job closing before the day it was posted:
    skipped and reported with its file and record, the file's other jobs read."""
    project = project_from('[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n' + SINK,
                           {"jobs.toml": JOBS.format(closing="2015-02-14")})
    run = run_context(project, date(2016, 2, 1))
    assert [item.title for item in project.sources[0].fetch(run)] == ["Peer support worker"]
    [said] = run.problems
    assert "jobs.toml" in said and "#1" in said and "closing_date" in said and "posted" in said
    same_day = project_from('[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n' + SINK,
                            {"jobs.toml": JOBS.format(closing="2016-01-20")})
    run = run_context(same_day, date(2016, 2, 1))
    assert len(list(same_day.sources[0].fetch(run))) == 2 and run.problems == []  # closing the day it was posted


def test_one_feed_listed_twice_in_an_opml_file_under_its_http_and_https_addresses_is_read_once(project_from):
    """A feed filed in two folders of a list is one feed, read once; but only when both outlines wrote its address
    alike. Listed once as http://partner.example.org/feed and again (added later, in another folder, under another
    title) as https://www.partner.example.org/feed/, it became two sources, each storing every entry under ids of
    its own: each item twice in every issue, on the site and in the feeds. The list already takes such addresses for
    one feed (a feed moved to https or to "www." keeps its name); now an outline whose address is another's so is
    read as that one, as an outline of the same address is: the first in the file."""
    opml = """<?xml version="1.0"?><opml version="2.0"><head><title>Partners</title></head><body>
    <outline text="Leeds"><outline type="rss" text="ODUK" xmlUrl="http://partner.example.org/feed"/></outline>
    <outline text="London">
      <outline type="rss" text="Open Dialogue UK" xmlUrl="https://www.partner.example.org/feed/"/>
      <outline type="rss" text="Mind" xmlUrl="https://mind.example.org/feed"/>
      <outline type="rss" text="Mind comments" xmlUrl="https://mind.example.org/feed?comments=1"/>
    </outline></body></opml>"""
    project = project_from('[sources.partners]\ntype = "opml"\npath = "partners.opml"\n' + SINK,
                           {"partners.opml": opml})
    assert {source.instance: source.settings.url for source in project.sources} == {
        "partners/oduk": "http://partner.example.org/feed", "partners/mind": "https://mind.example.org/feed",
        "partners/mind-comments": "https://mind.example.org/feed?comments=1"}


@pytest.mark.parametrize("day, over_at", [(date(2016, 3, 27), datetime(2016, 3, 27, 23, tzinfo=UTC)),
                                          (date(2016, 10, 30), datetime(2016, 10, 31, 0, tzinfo=UTC))])
def test_an_all_day_event_on_the_day_the_clocks_change_is_over_at_midnight_after_it(project_from, run_context,
                                                                                     day, over_at):
    """An all-day event's last day ended at midnight in the offset that day began with, as stored; on the day the
    clocks change that is not the offset it ends with, so an all-day event on Sunday 27 March 2016 in London (GMT at
    its start, BST at its end) was over at 01:00 on the Monday, and one on Sunday 30 October 2016 at 23:00 on the
    Sunday itself: an hour early, left out of what a run then made. Now its last day ends at midnight at the venue,
    in the venue's own zone (`EventDetails.timezone`)."""
    from pipeline.models import Item

    toml = f'[[event]]\nid = "walk"\ntitle = "Sponsored walk"\nposted = 2016-02-01\nstart = {day}\n'
    project = project_from('[sources.events]\ntype = "events"\npath = "events.toml"\n' + SINK, {"events.toml": toml})
    [given] = project.sources[0].fetch(run_context(project, date(2016, 3, 1)))
    stored = Item.from_dict(given.to_dict())  # as every run after the first reads it
    assert given.event.finishes == over_at
    assert stored.event.finishes == over_at
