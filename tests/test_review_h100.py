"""Review h100: failing tests for the latest fixes (withdrawn items' earlier addresses, the fast parser's language).
Each fails while its problem is there."""

from __future__ import annotations

from datetime import date

from plugins.sources.feed import parse_feed
from tests.test_withdrawn import BLOG_TOML, EVENTS_TOML, SEMINAR, post_file

_ITEM = ('<item><title>T</title><link>http://e.example/1</link><guid>http://e.example/1</guid>'
         '<pubDate>Mon, 04 Jan 2016 10:00:00 GMT</pubDate><description>x</description></item>')
_ENTRY = ('<entry><title>T</title><id>urn:1</id><link href="http://e.example/1"/>'
          '<updated>2016-01-04T10:00:00Z</updated><summary>x</summary></entry>')


def _languages(document: str, content_type: str) -> tuple[list[str], list[str]]:
    content = document.encode()
    by = {parser: [item.language for item in parse_feed(content, "http://e.example/feed", content_type,
                                                          "partner", "news", parser=parser).items]
          for parser in ("feedparser", "fast")}
    return by["feedparser"], by["fast"]


def test_fast_parser_language_of_rss_channel_xml_lang_is_feedparsers():
    """xml:lang on <channel> (no <language>): the fast parser gives the items the language feedparser gives."""
    document = (f'<rss version="2.0"><channel xml:lang="de"><title>a</title><link>http://e.example/</link>'
                f'{_ITEM}</channel></rss>')
    slow, fast = _languages(document, "application/rss+xml")
    assert slow and fast == slow


def test_fast_parser_language_of_atom_dc_language_is_feedparsers():
    """An Atom feed with <dc:language>: the fast parser gives the items the language feedparser gives."""
    document = ('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                '<title>a</title><dc:language>cy</dc:language><id>urn:x</id>'
                f'<updated>2016-01-04T10:00:00Z</updated>{_ENTRY}</feed>')
    slow, fast = _languages(document, "application/atom+xml")
    assert slow and fast == slow




def _event(title: str) -> str:
    return f'''
[[event]]
id = "seminar-4"
title = "{title}"
posted = 2016-01-18
start = 2016-03-17T09:30:00
venue = "St Catherine's"
description = "The fourth seminar in the network's series on co-production in mental health care."
'''


def test_withdrawn_event_earlier_address_says_withdrawn(pipeline_project):
    """An event renamed (its page moved) and then withdrawn: its earlier address, linked by the emails sent before
    the rename, still finds a page saying it was withdrawn, not nothing."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": _event("Seminar 4: Power and Co-production"),
                                            "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (first,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]
    project.write({"events.toml": _event("Seminar 4: Power, Peer Support and Co-production")})
    project.refresh(as_of=date(2016, 2, 1))
    assert "Power, Peer Support" in project.site(f"events/{first}/")  # it leads on to the new page
    project.write({"events.toml": "# cancelled\n"})

    report = project.refresh(as_of=date(2016, 2, 1))

    [line] = [r.summary for r in report.results if r.name == "events"]
    assert "withdrawn" in line
    assert (project.root / "out" / "events" / first / "index.html").exists()
    assert "withdrawn" in project.site(f"events/{first}/")




def test_issue_made_again_does_not_withdraw_an_event_pruned_once_over(pipeline_project):
    """An event a later run showed as over, pruned from the file, stays in the archive when an earlier issue is made
    again (--as-of its date): that run does not judge it cancelled and withdraw it for good."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (folder,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]
    project.refresh(as_of=date(2016, 3, 1))  # the seminar was on 17 February
    project.write({"events.toml": "# pruned\n"})

    report = project.refresh(as_of=date(2016, 2, 1))  # the site made again as at the first date

    [line] = [r.summary for r in report.results if r.name == "events"]
    assert "withdrawn" not in line
    project.refresh(as_of=date(2016, 3, 1))
    page = project.site(f"events/{folder}/")
    assert "Contemporary Developments" in page and "withdrawn" not in page





def test_post_listed_again_comes_back_while_another_post_is_skipped(pipeline_project):
    """A withdrawn post published again is back even in a run where another post is skipped for a fault: a skipped
    record can hold back withdrawing, never bringing back what is listed."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "blog/feb.md": post_file("February post", "2016-01-25"),
                                          "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    project.write({"blog/feb.md": post_file("February post", "2016-01-25", "draft: true\n")})
    project.refresh(as_of=date(2016, 2, 1))
    assert "has been withdrawn" in project.site("blog/feb/")

    project.write({"blog/feb.md": post_file("February post", "2016-01-25"),
                   "blog/broken.md": "---\ntitle: [unclosed\n---\n\nText.\n"})
    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    assert any("front matter is not valid YAML" in p for p in report.problems)
    assert "February post" in [entry.title for entry in project.feed().entries]
    assert "withdrawn" not in project.site("blog/feb/")


from tests.test_deliveries_sendgrid import deliver, recipients, sendgrid  # noqa: E402,F401  (the fixture too)


def test_sendgrid_batch_left_by_killed_run_is_cancelled_by_sendgrids_clock_when_ours_is_ahead(
        fake, sendgrid):  # noqa: F811
    """A new run settling a batch a killed run left in flight, its clock 25 minutes ahead of SendGrid's (skew not yet
    learnt): SendGrid's clock leaves 30 minutes before send_at, so the batch is cancelled and its readers sent again,
    not left unknown and then delivered."""
    from datetime import UTC, datetime, timedelta

    from pipeline.components import Delivery, Resolution

    people = recipients(3)
    batch, _ = deliver(sendgrid(), people)  # the killed run: accepted, never journalled, not cancelled
    later = sendgrid()  # the next run's delivery, in a new process: it has not heard SendGrid's Date yet
    later.clock = lambda: datetime.now(UTC) + timedelta(minutes=25)  # our clock 25 minutes ahead of SendGrid's
    known = [Delivery(r.email, False, error="the run stopped", certain=False) for r in people]

    assert later.resolve(batch, known) == {r.email: Resolution.NOT_SENT for r in people}
    assert batch.id in fake.cancelled_batches()
