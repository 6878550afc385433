"""The built-in sources: blog, feed (file and HTTP), jobs, events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pipeline import hookimpl
from pipeline.components import Transform
from pipeline.errors import SourceError
from pipeline.models import Kind
from tests.http_fixtures import Route

SINK = '\n[sinks.feed]\ntype = "rss"\n'
LONDON = ZoneInfo("Europe/London")

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Partner</title><link>https://partner.example.org/</link>
<description>News</description>
<item><title>Peer support &amp; &lt;b&gt;recovery&lt;/b&gt;</title>
<link>https://partner.example.org/news/1</link><guid>urn:partner:1</guid>
<pubDate>Tue, 15 Mar 2016 12:00:00 +0000</pubDate><author>desk@partner.example.org (Desk)</author>
<description><![CDATA[<p onclick="steal()">Hello <a href="/about">about</a> <a href="javascript:alert(1)">x</a></p>
<svg onload="alert(1)"><circle/></svg><img src="javascript:alert(2)"><img src="/logo.png" alt="logo">
<script>alert(3)</script><iframe src="https://evil.example"></iframe>]]></description></item>
<item><title>Second</title><link>https://partner.example.org/news/2</link>
<pubDate>Wed, 16 Mar 2016 12:00:00 +0000</pubDate><description>Plain text.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom partner</title><id>urn:x</id>
<updated>2016-03-01T00:00:00Z</updated><link href="https://atom.example.org/"/>
<entry><title type="html">Open &lt;em&gt;Dialogue&lt;/em&gt;</title><id>urn:atom:1</id>
<link href="https://atom.example.org/e/1"/><updated>2016-03-02T09:00:00Z</updated>
<content type="html">&lt;p&gt;Body&lt;/p&gt;</content><author><name>Ann</name></author></entry>
</feed>"""


def fetch(project, run_context, as_of=date(2016, 5, 1)):
    run = run_context(project, as_of)
    return list(project.sources[0].fetch(run)), run


# -- feed ----------------------------------------------------------------------------------------

def test_feed_from_a_file_sanitises_every_field(project_from, run_context):
    project = project_from('[sources.p]\ntype = "feed"\nurl = "feeds/p.xml"\n' + SINK, {"feeds/p.xml": RSS})
    items, _ = fetch(project, run_context)
    first, second = items
    assert first.kind is Kind.NEWS and first.source == "p"
    assert first.title == "Peer support & recovery"  # plain text: markup gone, entities decoded
    assert first.published == datetime(2016, 3, 15, 12, tzinfo=UTC)
    body = first.body_html
    for bad in ("onclick", "javascript:", "<svg", "onload", "<script", "alert(3)", "<iframe"):
        assert bad not in body
    assert 'href="https://partner.example.org/about"' in body  # relative links made absolute
    assert 'src="https://partner.example.org/logo.png"' in body
    assert second.body_html == "Plain text."


def test_feed_ids_are_stable_and_url_based(project_from, run_context):
    project = project_from('[sources.p]\ntype = "feed"\nurl = "feeds/p.xml"\n' + SINK, {"feeds/p.xml": RSS})
    once, _ = fetch(project, run_context)
    again, _ = fetch(project, run_context)
    assert [i.id for i in once] == [i.id for i in again]
    assert len({i.id for i in once}) == 2


def test_a_feed_that_repeats_an_entry_keeps_the_first_quietly(pipeline_project):
    repeated = RSS.replace("</channel>", "<item><title>Peer support, updated</title><guid>urn:partner:1</guid>"
                                         "<pubDate>Thu, 17 Mar 2016 12:00:00 +0000</pubDate></item>"
                                         "<item><title>Second, again</title><link>https://partner.example.org/news/2"
                                         "</link><description>Plain text.</description></item></channel>")
    project = pipeline_project('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": repeated})
    project.refresh(as_of=date(2016, 5, 1))  # exit 0: nothing the organiser could change
    assert sorted(item.title for item in project.items()) == ["Peer support & recovery", "Second"]
    assert project.problems == []


def test_atom_feed(project_from, run_context):
    project = project_from('[sources.a]\ntype = "feed"\nurl = "a.xml"\nkind = "post"\n' + SINK, {"a.xml": ATOM})
    (item,), _ = fetch(project, run_context)
    assert (item.kind, item.title, item.author) == (Kind.POST, "Open Dialogue", "Ann")
    assert item.body_html == "<p>Body</p>"


def test_a_file_that_is_not_a_feed_fails_with_the_file_named(project_from, run_context):
    project = project_from('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK,
                           {"p.xml": "<html><body><p>Just a page</p></body></html>"})
    with pytest.raises(SourceError, match=r"p.xml: not an RSS or Atom feed"):
        fetch(project, run_context)


CUT_SHORT = ("<?xml version='1.0'?><rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link>"
             "<description>d</description><it")


@pytest.mark.parametrize("parser", ["feedparser", "fast"])
def test_a_feed_cut_short_before_its_first_item_fails_saying_so_and_an_empty_one_does_not(project_from,
                                                                                          run_context, parser):
    # "0 items" from a feed whose server cut it short would hide it until someone noticed; a feed with no item
    # yet is no error
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "p.xml"\nparser = "{parser}"\n'
                           f'[sources.e]\ntype = "feed"\nurl = "e.xml"\nparser = "{parser}"\n' + SINK,
                           {"p.xml": CUT_SHORT,
                            "e.xml": "<rss version='2.0'><channel><title>P</title></channel></rss>"})
    run = run_context(project)
    cut, empty = project.sources
    with pytest.raises(SourceError, match=r"p.xml: not well-formed XML \(.*\) before any item could be read; the "
                                          r"file may end part-way: check it"):
        cut.fetch(run)
    assert empty.fetch(run) == []


@pytest.mark.parametrize("reference", ["&#xD800;", "&#x110000;", "&#9999999999;"])
def test_a_character_reference_no_text_can_hold_fails_the_feed_in_one_line(project_from, run_context, reference):
    # not well-formed, so feedparser's loose parser reads it, and raised from inside it
    feed = (f"<rss version='2.0'><channel><title>P {reference}</title><item><title>A</title>"
            f"<link>https://p.example.org/1</link></item></channel></rss>")
    project = project_from('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": feed})
    with pytest.raises(SourceError, match=r"p.xml: not a feed that can be read \((UnicodeEncodeError|ValueError|"
                                          r"OverflowError): .*\); it is not well-formed XML .*tell the feed's owner"):
        project.sources[0].fetch(run_context(project))


def test_feed_over_http_with_conditional_get(project_from, run_context, feed_server):
    feed_server.routes["/feed.xml"] = Route(RSS.encode(), etag='"v1"')
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n' + SINK)
    run = run_context(project)
    assert len(list(project.sources[0].fetch(run))) == 2
    # Until the runner has saved the items, the ETag is not remembered: a crash loses nothing.
    assert len(list(project.sources[0].fetch(run))) == 2
    assert "if-none-match" not in feed_server.requests[-1][1]
    run.saved()
    assert list(project.sources[0].fetch(run)) == []  # 304: nothing new to parse
    assert feed_server.requests[-1][1]["if-none-match"] == '"v1"'
    assert feed_server.requests[0][1]["user-agent"].startswith("newsletter-pipeline/")


def test_a_feed_that_answered_304_says_unchanged_in_the_run_report(project_from, feed_server):
    """"0 items" alone reads as a feed gone empty: the report says the feed had not changed, and how it knew."""
    from pipeline.runner import run

    feed_server.routes["/feed.xml"] = Route(RSS.encode(), etag='"v1"')
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n' + SINK)
    first = run(project, as_of=date(2016, 2, 1), mode="refresh")
    second = run(project, as_of=date(2016, 2, 1), mode="refresh")
    [fetched] = [r.summary for r in first.results if r.stage == "source"]
    [unchanged] = [r.summary for r in second.results if r.stage == "source"]
    assert (fetched, unchanged) == ("2 items", "0 items; unchanged since the last run (HTTP 304)")


def test_a_web_page_given_for_a_feed_says_so_and_names_the_feeds_it_links(project_from, run_context, feed_server):
    """The partner's home page where its feed belongs: said in those words, with the feeds the page's own
    <link rel="alternate"> tags name, made absolute; an address that is not plain http(s) is never repeated."""
    page = ('\ufeff<!DOCTYPE html>\n<html><head><title>Open Dialogue UK</title>'
            '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
            '<link rel="alternate" type="application/rss+xml" href="/x\u001b[2J">'
            '<link rel="alternate" type="application/rss+xml" title="News" href="/feed/">'
            '<link type="application/atom+xml" href="https://partner.example.org/atom.xml" rel="Alternate">'
            '<link rel="stylesheet" href="/site.css"></head><body><p>Hello</p></body></html>')
    feed_server.routes["/"] = Route(page.encode(), content_type="text/html; charset=utf-8")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/")}"\n' + SINK)
    with pytest.raises(SourceError) as error:
        project.sources[0].fetch(run_context(project))
    assert str(error.value) == (f"{feed_server.url('/')}: a web page, not an RSS or Atom feed; give the address of "
                                f"its feed; it names {feed_server.url('/feed/')} and https://partner.example.org/atom.xml")


def test_a_feed_that_failed_to_parse_is_fetched_in_full_next_time(project_from, run_context, feed_server):
    feed_server.routes["/feed.xml"] = Route(b"<html>maintenance page</html>", etag='"down"')
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n' + SINK)
    run = run_context(project)
    with pytest.raises(SourceError):
        project.sources[0].fetch(run)
    run.saved()
    feed_server.routes["/feed.xml"] = Route(RSS.encode(), etag='"down"')  # same ETag, now a feed
    assert len(project.sources[0].fetch(run)) == 2


def test_undated_entries_keep_the_date_they_were_first_seen(project_from, feed_server):
    from pipeline.runner import run, state_path
    from pipeline.state import Store

    undated = RSS.replace("<pubDate>Tue, 15 Mar 2016 12:00:00 +0000</pubDate>", "")
    feed_server.routes["/feed.xml"] = Route(undated.encode())
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n' + SINK)
    run(project, as_of=date(2016, 4, 1), mode="refresh")
    run(project, as_of=date(2016, 4, 20), mode="refresh")
    store = Store(state_path(project))
    items = store.items_published(datetime(2000, 1, 1, tzinfo=LONDON), datetime(2100, 1, 1, tzinfo=LONDON))
    store.close()
    dates = {item.title: item.published for item, _ in items}
    assert dates["Second"] == datetime(2016, 3, 16, 12, tzinfo=UTC)
    # First seen by the run as of 1 April, so dated just before it, and kept on later runs.
    assert dates["Peer support & recovery"] == datetime(2016, 4, 1, tzinfo=LONDON) - timedelta(microseconds=1)


def test_feed_http_error_names_the_url_and_status(project_from, run_context, feed_server):
    url = feed_server.url("/gone.xml")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{url}"\n' + SINK)
    with pytest.raises(SourceError, match=rf"{url}: HTTP 404 Not Found; check the URL in \[sources.p\]"):
        fetch(project, run_context)


def test_a_feed_larger_than_the_limit_is_refused(project_from, run_context, feed_server):
    feed_server.routes["/huge.xml"] = Route(RSS.encode() + b" " * (1024 * 1024 + 1))
    url = feed_server.url("/huge.xml")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{url}"\nmax_megabytes = 1\n' + SINK)
    with pytest.raises(SourceError, match=rf"{url}: larger than 1 MB; raise max_megabytes in \[sources.p\]"):
        fetch(project, run_context)


def test_large_feeds_are_parsed_in_worker_processes(project_from, run_context):
    entries = "".join(f"<item><title>T{i}</title><link>https://p.example.org/{i}</link>"
                      f"<description>{'&lt;p&gt;word&lt;/p&gt; ' * 150}</description></item>" for i in range(60))
    big = f"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link>{entries}</channel></rss>"
    project = project_from('[pipeline]\nname = "N"\nworkers = 2\n[sources.p]\ntype = "feed"\nurl = "big.xml"\n'
                           + SINK, {"big.xml": big})
    items, run = fetch(project, run_context)
    assert len(items) == 60 and run._pool is not None


# -- blog ----------------------------------------------------------------------------------------

POST = """---
title: "Space to <em>think</em>"
date: 2016-04-18
author: Pamela Fisher
---
Some **Markdown** with <script>alert(1)</script> and a [link](/elsewhere/).
"""


def test_blog_reads_markdown_posts(pipeline_project):
    project = pipeline_project('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK, {"posts/space.md": POST})
    (post,) = project.fetch(as_of=date(2016, 5, 1))
    assert post.kind is Kind.POST
    assert post.title == "Space to think"
    assert post.author == "Pamela Fisher"
    assert post.published == datetime(2016, 4, 18, tzinfo=LONDON)
    assert post.url == "https://network.example.org/blog/space/"
    assert "<strong>Markdown</strong>" in post.body_html and "<script" not in post.body_html
    assert 'href="https://network.example.org/elsewhere/"' in post.body_html


def test_a_post_with_broken_front_matter_is_skipped_and_reported(project_from, run_context):
    project = project_from('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK, {
        "posts/good.md": POST,
        "posts/broken.md": "---\ntitle: [unclosed\ndate: 2016-04-01\n---\nBody\n",
        "posts/untitled.md": "---\ndate: 2016-04-01\n---\nBody\n",
    })
    items, run = fetch(project, run_context)
    assert [i.title for i in items] == ["Space to think"]
    broken = next(p for p in run.problems if "broken.md" in p)
    assert "front matter is not valid YAML" in broken and "post skipped" in broken
    assert any("untitled.md" in p and "lacks title" in p for p in run.problems)


def test_a_post_with_the_slug_of_another_is_skipped_and_reported(pipeline_project):
    copy = POST.replace('"Space to <em>think</em>"', "Space to talk").replace("2016-04-18", "2016-04-19")
    project = pipeline_project('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK, {
        "posts/a-space.md": POST.replace("author:", "slug: space\nauthor:"),
        "posts/space.md": copy,  # the file name is the slug when the front matter gives none
    })
    project.refresh(as_of=date(2016, 5, 1), check=False)
    assert [i.title for i in project.items()] == ["Space to think"]
    (problem,) = project.problems
    assert "posts/space.md" in problem and "has the same slug as a-space.md" in problem and "post skipped" in problem
    assert project.report.exit_code == 3


def test_themes_written_as_text_are_reported_not_dropped_quietly(project_from, run_context):
    """`themes: housing` (no brackets) was dropped without a word; the post is kept and the line says how."""
    project = project_from('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK, {
        "posts/text.md": POST.replace("author:", "themes: housing, recovery\nauthor:"),
        "posts/list.md": POST.replace("author:", "slug: listed\nthemes: [housing]\nauthor:"),
    })
    items, run = fetch(project, run_context)
    assert sorted((item.url.rsplit("/", 2)[1], item.themes) for item in items) == [
        ("listed", ["housing"]), ("text", [])]
    (problem,) = run.problems
    assert problem.endswith("posts/text.md: themes 'housing, recovery' is not a list; write it as "
                            "themes: [housing, recovery]; post kept without them")


def test_drafts_are_left_out(project_from, run_context):
    draft = POST.replace("author:", "draft: true\nauthor:")
    project = project_from('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK, {"posts/d.md": draft})
    assert fetch(project, run_context)[0] == []



@pytest.mark.parametrize("written, published, said", [
    ('"false"', True, ""), ("'no'", True, ""), ('"true"', False, ""), ("yes", False, ""), ("[]", True, ""),
    ('"later"', False, "'later'"), ("1", False, "1"),
])
def test_a_draft_written_as_text_is_read_as_the_word_says(project_from, run_context, written, published, said):
    """`draft: "false"` (quoted, so YAML reads text) was taken as a draft, since any text is true, and the post
    was left out without a word. A draft's value is now read as the word says (true, yes, on / false, no, off);
    one that is no such word is a problem of the run naming the file, and the post stays unpublished."""
    draft = POST.replace("author:", f"draft: {written}\nauthor:")
    project = project_from('[sources.b]\ntype = "blog"\npath = "posts"\n' + SINK, {"posts/d.md": draft})
    items, run = fetch(project, run_context)
    assert (len(items) == 1) is published
    assert bool(run.problems) is bool(said)
    if said:
        (problem,) = run.problems
        assert problem.endswith(f"posts/d.md: draft {said} is neither true nor false; write draft: true or "
                                "draft: false; post left unpublished"), problem

# -- jobs and events -----------------------------------------------------------------------------

JOBS = """
[[job]]
id = "admin"
title = "Administrator"
organisation = "Open Dialogue UK"
location = "London"
posted = 2016-01-20
closing_date = 2016-02-14
how_to_apply = "Email us."
url = "https://odu.example.org/jobs/admin"

[[job]]
id = "no-closing-date"
title = "Peer worker"
organisation = "Somewhere"
posted = 2016-01-20
"""


def test_jobs_file_with_a_bad_record(pipeline_project):
    project = pipeline_project('[sources.j]\ntype = "jobs"\npath = "jobs.toml"\n', {"jobs.toml": JOBS})
    project.run(as_of=date(2016, 2, 1), check=False)
    assert project.report.exit_code == 3  # a record was skipped; the rest reached every sink
    (job,) = project.items()
    assert job.kind is Kind.JOB
    assert (job.job.organisation, job.job.location, job.job.closing_date) == ("Open Dialogue UK", "London",
                                                                            date(2016, 2, 14))
    (problem,) = project.problems
    assert "jobs.toml [[job]] #2 'Peer worker'" in problem and "closing_date is missing" in problem
    assert "Administrator" in project.email().text and "Administrator" in project.site("jobs/")
    assert project.feed().entries[0].title == "Administrator"


def test_a_job_with_the_id_of_another_is_skipped_and_reported(pipeline_project):
    copied = JOBS.replace('id = "no-closing-date"', 'id = "admin"') + "closing_date = 2016-02-20\n"
    project = pipeline_project('[sources.j]\ntype = "jobs"\npath = "jobs.toml"\n', {"jobs.toml": copied + JOBS})
    project.run(as_of=date(2016, 2, 1), check=False)
    assert [job.title for job in project.items()] == ["Administrator"]
    assert [problem.partition("jobs.toml ")[2] for problem in project.problems] == [
        "[[job]] #2 'Peer worker': id 'admin' is also the id of #1; give each record its own id, record skipped",
        "[[job]] #3 'Administrator': id 'admin' is also the id of #1; give each record its own id, record skipped",
        "[[job]] #4 'Peer worker': closing_date is missing; record skipped, fix it"]
    assert project.report.exit_code == 3


BAD_DATES = """
[[job]]
id = "slashes"
title = "Peer worker"
organisation = "Leeds Mind"
posted = 2016-01-20
closing_date = "14/02/2016"

[[job]]
id = "digits"
title = "Coordinator"
organisation = "York Mind"
posted = 20160120
closing_date = 2016-02-14
"""

NUMBERED_EVENT = """
[[event]]
id = "digits"
title = "Summer seminar"
posted = 2016-01-12
start = 20160302

[[event]]
id = "words"
title = "Spring seminar"
posted = 2016-01-12
start = "2 March 2016"
[[event.prices]]
label = "Standard"
amount = 10
[[event.prices]]
label = "Concession"
"""


def test_a_date_written_wrongly_is_named_with_the_form_to_use(pipeline_project):
    """A date in another form, or as a number (20160120 once became 23 August 1970 without a word), skips its
    record with one line that says the form to write; a price tier is counted from 1, as the records are."""
    toml = '[sources.j]\ntype = "jobs"\npath = "jobs.toml"\n[sources.e]\ntype = "events"\npath = "events.toml"\n'
    project = pipeline_project(toml, {"jobs.toml": BAD_DATES, "events.toml": NUMBERED_EVENT})
    project.run(as_of=date(2016, 2, 1), check=False)
    assert project.items() == [] and project.report.exit_code == 3
    assert sorted(problem.partition(".toml ")[2] for problem in project.problems) == [
        "[[event]] #1 'Summer seminar': start 20160302 is not a date like 2016-02-14 or a date and time like "
        "2016-02-14T09:30:00; record skipped, fix it",
        "[[event]] #2 'Spring seminar': start '2 March 2016' is not a date like 2016-02-14 or a date and time "
        "like 2016-02-14T09:30:00 (and 1 more); record skipped, fix it",
        "[[job]] #1 'Peer worker': closing_date '14/02/2016' is not a date like 2016-02-14; record skipped, fix it",
        "[[job]] #2 'Coordinator': posted 20160120 is not a date like 2016-02-14 or a date and time like "
        "2016-02-14T09:30:00; record skipped, fix it"]


def test_a_price_tier_without_its_amount_is_counted_from_one(pipeline_project):
    events = NUMBERED_EVENT.replace('start = "2 March 2016"', "start = 2016-03-02")
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": events})
    project.run(as_of=date(2016, 2, 1), check=False)
    assert [problem.partition(".toml ")[2] for problem in project.problems if "Spring" in problem] == [
        "[[event]] #2 'Spring seminar': prices #2 amount is missing; record skipped, fix it"]


def test_an_events_unknown_time_zone_says_the_form_to_write(pipeline_project):
    zoned = 'start = 2016-03-02T10:00:00\ntimezone = "Europe/Londres"'
    events = NUMBERED_EVENT.replace('start = "2 March 2016"', zoned)
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": events})
    project.run(as_of=date(2016, 2, 1), check=False)
    assert [problem.partition(".toml ")[2] for problem in project.problems if "Spring" in problem] == [
        "[[event]] #2 'Spring seminar': timezone 'Europe/Londres' is not a time zone: use an IANA name such as "
        "'Europe/London' (and 1 more); record skipped, fix it"]


def test_a_price_written_with_its_currency_sign_says_to_write_the_number(pipeline_project):
    events = NUMBERED_EVENT.replace('start = "2 March 2016"', "start = 2016-03-02").replace(
        'label = "Concession"', 'label = "Concession"\namount = "\u00a35"')
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": events})
    project.run(as_of=date(2016, 2, 1), check=False)
    assert [problem.partition(".toml ")[2] for problem in project.problems if "Spring" in problem] == [
        "[[event]] #2 'Spring seminar': prices #2 amount must be a number such as 25 or 25.00, without a currency "
        "sign, not '\u00a35'; record skipped, fix it"]


def test_dates_given_as_text_in_iso_form_are_still_read(pipeline_project):
    jobs = BAD_DATES.replace('"14/02/2016"', '"2016-02-14"').replace("posted = 20160120", 'posted = "2016-01-20"')
    events = NUMBERED_EVENT.replace("start = 20160302", 'start = "2016-03-02T09:30:00"')
    events = events.split('[[event]]\nid = "words"')[0]  # the first event alone
    toml = '[sources.j]\ntype = "jobs"\npath = "jobs.toml"\n[sources.e]\ntype = "events"\npath = "events.toml"\n'
    project = pipeline_project(toml, {"jobs.toml": jobs, "events.toml": events})
    project.run(as_of=date(2016, 2, 1))
    items = {item.title: item for item in project.items()}
    assert items["Peer worker"].job.closing_date == date(2016, 2, 14)
    assert items["Coordinator"].published == datetime(2016, 1, 20, tzinfo=LONDON)
    assert items["Summer seminar"].event.start == datetime(2016, 3, 2, 9, 30, tzinfo=LONDON)


def test_jobs_file_that_is_not_toml(project_from, run_context):
    project = project_from('[sources.j]\ntype = "jobs"\npath = "jobs.toml"\n' + SINK, {"jobs.toml": "[[job]\n"})
    with pytest.raises(SourceError, match=r"jobs.toml: not valid TOML"):
        fetch(project, run_context)


EVENTS = """
[[event]]
id = "conf"
title = "Open Dialogue UK 2016 Conference"
posted = 2016-01-12
start = 2016-02-02T09:30:00
end = 2016-02-02T17:00:00
timezone = "Europe/London"
venue = "London"
speakers = ["Jaakko Seikkula"]
booking_url = "https://odu.example.org/book"
[[event.prices]]
label = "Organisation rate"
amount = 125
[[event.prices]]
label = "Organisation group rate"
amount = 112.50
[[event.programme]]
time = "10:00"
title = "Opening"
speakers = ["John Walsh"]

[[event]]
id = "backwards"
title = "Ends before it starts"
posted = 2016-01-12
start = 2016-02-02T09:30:00
end = 2016-02-01T09:30:00
"""


def test_events_with_programme_prices_and_time_zone(pipeline_project):
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": EVENTS})
    project.run(as_of=date(2016, 2, 1), check=False)
    (event,) = project.items()
    details = event.event
    assert details.start == datetime(2016, 2, 2, 9, 30, tzinfo=LONDON)
    assert [(p.label, p.amount) for p in details.prices] == [("Organisation rate", Decimal("125")),
                                                             ("Organisation group rate", Decimal("112.50"))]
    assert details.programme[0].speakers == ("John Walsh",)
    assert event.url == "https://odu.example.org/book"
    assert any("'Ends before it starts'" in p and "end is before start" in p for p in project.problems)
    assert "Open Dialogue UK 2016 Conference" in project.site("events/")
    assert "Jaakko Seikkula" in project.email().text
    assert "DTSTART;TZID=Europe/London:20160202T093000" in project.site("events/calendar.ics")



def test_an_event_whose_start_and_end_carry_different_offsets_is_judged_by_the_moments_they_name(pipeline_project):
    """An event starting 10:00 BST (+01:00) and ending 09:30 GMT (+00:00), an hour and a half later, was refused as
    'end is before start': the check compared the clock times and left the offsets out. Times with offsets are now
    compared as the moments they name; one the wrong way round is still refused."""
    events = EVENTS.split("[[event]]\nid = \"backwards\"")[0] + """
[[event]]
id = "offsets"
title = "Crossing offsets"
posted = 2016-01-12
start = 2016-03-27T10:00:00+01:00
end = 2016-03-27T09:30:00+00:00

[[event]]
id = "really-backwards"
title = "Really backwards"
posted = 2016-01-12
start = 2016-03-27T10:00:00+00:00
end = 2016-03-27T10:30:00+01:00
"""
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": events})
    project.run(as_of=date(2016, 2, 1), check=False)
    titles = sorted(item.title for item in project.items())
    assert titles == ["Crossing offsets", "Open Dialogue UK 2016 Conference"], titles
    assert [p for p in project.problems if "end is before start" in p and "'Really backwards'" in p], project.problems



def test_an_event_at_a_time_the_clocks_skip_is_kept_and_the_organiser_told(pipeline_project):
    """01:30 on 27 March 2016 never happens in London (the clocks go from 01:00 to 02:00): such a start was taken
    silently as 02:30 BST. The event is still published, at that moment, and the run says which record holds a
    time that does not exist, and what it was taken as."""
    events = EVENTS.split("[[event]]\nid = \"backwards\"")[0] + """
[[event]]
id = "skipped-hour"
title = "Night walk"
posted = 2016-01-12
start = 2016-03-27T01:30:00
timezone = "Europe/London"
"""
    project = pipeline_project('[sources.e]\ntype = "events"\npath = "events.toml"\n', {"events.toml": events})
    project.run(as_of=date(2016, 2, 1), check=False)
    walk = next(item for item in project.items() if item.title == "Night walk")
    assert walk.event.start.astimezone(UTC) == datetime(2016, 3, 27, 1, 30, tzinfo=UTC)  # 02:30 BST
    (said,) = [p for p in project.problems if "Night walk" in p]
    assert said.endswith("start 2016-03-27 01:30 does not happen in Europe/London (the clocks go forward then), "
                         "so it is taken as 02:30; write the time meant"), said

def test_many_http_feeds_in_parallel_keep_their_own_state(project_from, feed_server):
    from pipeline.runner import run, state_path
    from pipeline.state import Store

    tables = []
    for n in range(12):
        body = RSS.replace("urn:partner:1", f"urn:partner:{n}").replace("/news/", f"/{n}/news/")
        feed_server.routes[f"/f{n}.xml"] = Route(body.encode(), etag=f'"e{n}"')
        tables.append(f'[sources.f{n}]\ntype = "feed"\nurl = "{feed_server.url(f"/f{n}.xml")}"\n')
    project = project_from("".join(tables) + SINK)
    report = run(project, as_of=date(2016, 5, 1))
    assert report.failed("source") == [] and report.exit_code == 0
    store = Store(state_path(project))
    assert [store.source_state(f"f{n}")["etag"] for n in range(12)] == [f'"e{n}"' for n in range(12)]
    assert store.count_items() == 24
    store.close()


def test_one_malformed_link_does_not_fail_the_feed(project_from, run_context):
    odd = RSS.replace("<link>https://partner.example.org/news/2</link>", "<link>http://[oops/london</link>")
    odd = odd.replace('<a href="/about">', '<a href="//[oops/x">')
    project = project_from('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": odd})
    items, _ = fetch(project, run_context)
    assert len(items) == 2 and items[1].url == ""
    assert "oops" not in items[0].body_html


def test_an_upper_case_scheme_is_still_a_url(project_from, run_context, feed_server):
    feed_server.routes["/f.xml"] = Route(RSS.encode())
    url = feed_server.url("/f.xml").replace("http://", "HTTP://")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{url}"\n' + SINK)
    assert len(fetch(project, run_context)[0]) == 2


def test_a_run_where_every_feed_answers_304_reuses_its_connections(project_from, feed_server):
    from pipeline.runner import run

    tables = []
    for n in range(12):
        feed_server.routes[f"/c{n}.xml"] = Route(RSS.replace("urn:partner:1", f"urn:c:{n}").encode(), etag=f'"c{n}"')
        tables.append(f'[sources.c{n}]\ntype = "feed"\nurl = "{feed_server.url(f"/c{n}.xml")}"\n')
    project = project_from('[pipeline]\nname = "N"\nper_host = 2\n' + "".join(tables) + SINK)
    assert run(project, mode="refresh", as_of=date(2016, 5, 1)).exit_code == 0
    feed_server.clients.clear()

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0 and [r.count for r in report.results if r.stage == "source"] == [0] * 12
    assert feed_server.connections <= 2  # per_host connections at most, each kept alive for the next feed


def test_a_server_that_ignores_conditional_requests_sends_the_same_bytes_read_as_a_304(
        project_from, run_context, feed_server, monkeypatch):
    import plugins.sources.feed as feed_module

    parsed = []
    real = feed_module.parse_feed
    monkeypatch.setattr(feed_module, "parse_feed", lambda *args: (parsed.append(args[1]), real(*args))[1])
    feed_server.routes["/feed.xml"] = Route(RSS.encode())  # no ETag, no Last-Modified
    toml = f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n'
    run = run_context(project_from(toml + SINK))
    source = run.project.sources[0]
    assert len(source.fetch(run)) == 2
    run.saved()
    assert source.fetch(run) == [] and len(parsed) == 1  # the same bytes: not parsed again
    run.saved()
    feed_server.routes["/feed.xml"] = Route(RSS.replace("Second", "Second, revised").encode())
    assert len(source.fetch(run)) == 2 and len(parsed) == 2  # other bytes: read
    run.saved()
    other = project_from(toml + 'kind = "post"\n' + SINK).sources[0]  # the same bytes, read otherwise
    assert [item.kind for item in other.fetch(run)] == [Kind.POST, Kind.POST] and len(parsed) == 3


def test_a_feed_whose_items_a_transform_failed_on_is_read_again_in_full(project_from, feed_server):
    from pipeline.runner import run, state_path
    from pipeline.state import Store

    failing = {"now": True}

    class Flaky:
        @hookimpl
        def register_transforms(self, register):
            class FlakyTransform(Transform):
                name = "flaky"

                def apply(self, items, run):
                    if failing["now"]:
                        raise RuntimeError("model server unreachable")
                    for item in items:
                        item.themes.append("checked")

            register(FlakyTransform)

    feed_server.routes["/feed.xml"] = Route(RSS.encode(), etag='"v1"')
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n'
                           '[transforms.flaky]\ntype = "flaky"\n' + SINK, plugins=[("flaky", Flaky())])
    assert [r.name for r in run(project, as_of=date(2016, 5, 1), mode="refresh").failed("transform")] == ["flaky"]
    failing["now"] = False
    assert run(project, as_of=date(2016, 5, 1), mode="refresh").exit_code == 0
    assert "if-none-match" not in feed_server.requests[-1][1]  # not a 304: the items came back, transformed
    store = Store(state_path(project))
    try:
        assert {tuple(item.themes) for item in store.recent_items(datetime(2016, 5, 1, tzinfo=UTC), 10)} == {
            ("checked",)}
        assert store.source_state("p")["etag"] == '"v1"'  # recorded now that all went well
    finally:
        store.close()


class Tagging:
    """A transform plugin whose one setting is the theme it gives every item."""

    @hookimpl
    def register_transforms(self, register):
        class TagTransform(Transform):
            name = "tag"

            class Settings(Transform.Settings):
                theme: str

            def apply(self, items, run):
                for item in items:
                    item.themes = [self.settings.theme]

        register(TagTransform)


def test_a_changed_transform_setting_reads_every_feed_again(project_from, feed_server):
    from pipeline.runner import run, state_path
    from pipeline.state import Store

    feed_server.routes["/etag.xml"] = Route(RSS.encode(), etag='"v1"')
    feed_server.routes["/plain.xml"] = Route(RSS.replace("urn:partner:", "urn:plain:").encode())  # no validators

    def project(theme):
        return project_from(f'[sources.e]\ntype = "feed"\nurl = "{feed_server.url("/etag.xml")}"\n'
                            f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/plain.xml")}"\n'
                            f'[transforms.tag]\ntype = "tag"\ntheme = "{theme}"\n' + SINK,
                            plugins=[("tagging", Tagging())])

    run(project("space"), as_of=date(2016, 5, 1), mode="refresh")
    report = run(project("space"), as_of=date(2016, 5, 1), mode="refresh")
    assert [r.count for r in report.results if r.stage == "source"] == [0, 0]  # a 304, and the same bytes
    report = run(project("recovery"), as_of=date(2016, 5, 1), mode="refresh")
    assert [r.count for r in report.results if r.stage == "source"] == [2, 2]
    assert "if-none-match" not in feed_server.requests[-1][1] and "if-none-match" not in feed_server.requests[-2][1]
    store = Store(state_path(project("recovery")))
    try:
        assert {tuple(item.themes) for item in store.recent_items(datetime(2016, 5, 1, tzinfo=UTC), 10)} == {
            ("recovery",)}
    finally:
        store.close()


def test_validators_recorded_by_an_earlier_version_are_not_trusted(project_from, run_context, feed_server):
    feed_server.routes["/feed.xml"] = Route(RSS.encode(), etag='"v1"')
    url = feed_server.url("/feed.xml")
    run = run_context(project_from(f'[sources.p]\ntype = "feed"\nurl = "{url}"\n' + SINK))
    # As an earlier version recorded them, perhaps after a run whose transform failed.
    run.store.set_source_state("p", {"url": url, "etag": '"v1"', "last_modified": ""})
    assert len(run.project.sources[0].fetch(run)) == 2
    assert "if-none-match" not in feed_server.requests[-1][1]


def test_a_validator_that_is_not_ascii_is_not_sent_back(project_from, run_context, feed_server):
    # httpx sends header values as ASCII: a server's ETag or Last-Modified with other bytes (here Latin-1 é),
    # sent back as it was stored, raised UnicodeEncodeError on the source's every later run
    feed_server.routes["/feed.xml"] = Route(RSS.encode(), etag='"caf\xe9"')
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/feed.xml")}"\n' + SINK)
    run = run_context(project)
    assert len(project.sources[0].fetch(run)) == 2
    run.saved()
    assert project.sources[0].fetch(run) == []  # asked in full: the same bytes, so nothing new, as for a 304
    assert len(feed_server.requests) == 2 and "if-none-match" not in feed_server.requests[-1][1]


def test_a_web_page_cannot_put_words_of_its_own_into_the_message_as_a_feed_address(project_from, run_context,
                                                                                  feed_server):
    """Review (helper 93): 'only plain http(s) addresses from the page are repeated', but an href with spaces is
    ASCII and printable, so a stranger's page wrote a sentence of its choosing into the organiser's run report (and
    its alert mail): the address offered must be a plain URL (`sanitize.PLAIN_URL`), or none."""
    href = "https://evil.example/feed is moved: reply with the SMTP password to help@evil.example"
    page = ('<!DOCTYPE html>\n<html><head><title>Partner</title>'
            f'<link rel="alternate" type="application/rss+xml" href="{href}"></head><body></body></html>')
    feed_server.routes["/"] = Route(page.encode(), content_type="text/html; charset=utf-8")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/")}"\n' + SINK)
    with pytest.raises(SourceError) as error:
        project.sources[0].fetch(run_context(project))
    assert "password" not in str(error.value), str(error.value)
