"""Review h158: the last round's fixes (pipeline/current.py and its users, successors and feed guids, the outbox's
Batch.begun, status's read-only fallback, time limits, redaction) against what they promise."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.components import Batch, Delivery, Resolution
from pipeline.testing import write_project_files


def _outbox(tmp_path):
    from pipeline.config import load_project

    project = load_project(write_project_files(tmp_path, "", {}, default_sinks=True))
    [sink] = [sink for sink in project.sinks if sink.name == "email"]
    return sink.deliverer


def _settled(outbox, begun: datetime, written_ns: int | None) -> Resolution:
    """What the outbox says of a batch begun at `begun`, cut short, whose reader's file has `written_ns` as its
    modification time (None: no file)."""
    path = outbox.path_for(1, "ann@example.org")
    if written_ns is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"Subject: issue 1\r\n\r\nHello.\r\n")
        os.utime(path, ns=(written_ns, written_ns))
    batch = Batch("cut-short", edition=1, begun=begun)
    return outbox.resolve(batch, [Delivery("ann@example.org", False, certain=False)])["ann@example.org"]


def test_a_batch_file_on_a_fat_stick_written_just_after_the_batch_began_counts_as_the_batchs_own(tmp_path):
    """The outbox on a FAT file system (a USB stick) keeps times to 2 s, cut down to the even second, and the
    kernel stamps a file with its clock of the last tick (some milliseconds behind the clock the batch was
    journalled by). A file the batch wrote 4 ms after it began, 3 ms past an even second, is stamped with the even
    second before that: 2.003 s older than the batch, past the 2 s of slack, so a send cut short later was settled
    unknown for a reader whose file it wrote (and `--resend unknown` would write them a second copy). A file kept
    from before the batch, minutes older, stays unknown."""
    outbox = _outbox(tmp_path)
    begun = datetime(2026, 1, 1, 12, 0, 0, 3000, tzinfo=UTC)  # 3 ms past an even second
    # written at 12:00:00.004 by a kernel whose clock is a 5 ms tick behind (11:59:59.999), stamped on FAT 11:59:58
    even_before = int(begun.timestamp()) // 2 * 2 - 2
    assert begun.timestamp() - even_before > 2
    assert _settled(outbox, begun, even_before * 10**9) is Resolution.SENT
    kept = int((begun - timedelta(minutes=5)).timestamp()) * 10**9  # from before a copy of the state was put back
    assert _settled(outbox, begun, kept) is Resolution.UNKNOWN


def test_an_events_old_calendar_file_after_its_id_was_corrected_offers_the_event_not_a_cancellation(pipeline_project):
    """The organiser corrects an event's `id` in events.toml: a new id, so the old item is withdrawn and the event
    is the same one under the new id (pipeline/state/successors.py: same source, kind, title and date). Its old page
    led on to the new one, but the .ics beside it, which the issue already mailed links as "Add it to your
    calendar", said the event was cancelled (STATUS:CANCELLED): a reader adding it from the email was told an event
    that is on is off. Now the old address's .ics is the event's own, as for a page its title moved (`plan_moved`);
    an event withdrawn with no successor still says it is cancelled."""
    from datetime import date

    from icalendar import Calendar


    project, old = seminar_published(pipeline_project)
    new = seminar_id_corrected(project, old)
    assert f"/events/{new}/" in project.site(f"events/{old}/")  # the old page leads on to the new one

    def vevent(folder: str):
        (found,) = Calendar.from_ical((project.root / "out" / "events" / folder / "event.ics").read_bytes()).walk(
            "VEVENT")
        return found

    offered, own = vevent(old), vevent(new)
    assert offered.get("STATUS") != "CANCELLED"
    assert [offered[name].to_ical() for name in ("UID", "SUMMARY", "DTSTART")] == \
        [own[name].to_ical() for name in ("UID", "SUMMARY", "DTSTART")]

    project.write({"events.toml": "# cancelled\n"})  # taken out for good: both addresses say it is cancelled
    project.refresh(as_of=date(2016, 2, 3))
    assert vevent(old)["STATUS"] == vevent(new)["STATUS"] == "CANCELLED"


def test_a_post_sent_whose_file_was_renamed_is_not_sent_again_in_the_next_issue(pipeline_project):
    """`notes.md` renamed `seminar-notes.md` after issue 1 went out: a new id, the old one withdrawn. The site leads
    the old address on to the post and the feeds keep its guid, "so no feed reader shows it again as new"; but the
    next issue took it for a post published late (first seen after issue 1) and mailed it to everyone a second time.
    Now an item that took the place of one already sent (pipeline/state/successors.py) counts as sent; a post of
    another title, the same day, is still new."""
    from datetime import date

    from tests.test_review_h113 import POST, start

    project, _ = start(pipeline_project)
    assert "Notes from the seminar" in project.email(issue=1).text
    text = (project.root / "blog" / "notes.md").read_text(encoding="utf-8")
    (project.root / "blog" / "notes.md").unlink()
    project.write({"blog/seminar-notes.md": text,
                   "blog/other.md": POST.format(title="Another seminar", image="lead.png", pdf="programme.pdf")})
    project.run(as_of=date(2016, 3, 1))
    second = project.email(issue=2).text
    assert "Another seminar" in second
    assert "Notes from the seminar" not in second


def test_an_issue_page_keeps_a_post_whose_file_was_renamed_after_it_was_sent(pipeline_project):
    """The issue's web version (what the email's "view in browser" opens) lost the post once its file was renamed:
    the old id is withdrawn, and a withdrawn item leaves the archived issues, though the post is on the site under
    its new id. Now the issue shows it as it is now, linking its page, and its page names the issue it was in."""
    from datetime import date

    from pipeline import site
    from tests.test_review_h113 import start

    project, out = start(pipeline_project)
    issue = site.edition_page_path(1, 1)
    assert "Notes from the seminar" in project.site(issue)
    text = (project.root / "blog" / "notes.md").read_text(encoding="utf-8")
    (project.root / "blog" / "notes.md").unlink()
    project.write({"blog/seminar-notes.md": text})
    project.refresh(as_of=date(2016, 2, 1))
    [new] = [item for item in project.items() if item.title == "Notes from the seminar"]
    page = project.site(issue)
    assert "Notes from the seminar" in page
    assert site.item_path(project.project, new) in page
    assert f"{site.edition_page_path(1, 1)}" in project.site(site.item_path(project.project, new))


def test_a_jobs_closing_date_puts_it_above_adverts_with_none_so_the_email_never_cuts_it(pipeline_project):
    """The email's Jobs section is in closing-date order and shows 10 (the rest on the site). A job with no closing
    date (a partner feed's advert) sorted first, an empty date before any date: a dozen adverts pushed the network's
    own job, closing in ten days, out of the email altogether. Now, as on the site's list, jobs with a closing date
    come first, the soonest at the top, then those with none (newest first); events with no date after those with
    one, likewise."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from pipeline.models import EventDetails, Item, JobDetails, Kind, item_id

    tz = ZoneInfo("Europe/London")
    adverts = [Item(id=item_id("given", f"advert-{n}"), kind=Kind.JOB, source="given", title=f"Advert {n:02}",
                    published=datetime(2016, 2, 2 + n, 9, tzinfo=tz), url=f"https://p.example/a{n}",
                    body_html="<p>An advert.</p>") for n in range(12)]
    own = [Item(id=item_id("given", key), kind=Kind.JOB, source="given", title=title,
                published=datetime(2016, 2, 1, 9, tzinfo=tz), url=f"https://n.example/{key}",
                body_html="<p>Our job.</p>", job=JobDetails("Network", closing_date=closing))
           for key, title, closing in [("later", "Coordinator", date(2016, 3, 20)),
                                       ("soon", "Peer worker", date(2016, 3, 10))]]
    events = [Item(id=item_id("given", "notice"), kind=Kind.EVENT, source="given", title="A notice",
                   published=datetime(2016, 2, 20, 9, tzinfo=tz), url="https://p.example/notice",
                   body_html="<p>Soon.</p>"),
              Item(id=item_id("given", "seminar"), kind=Kind.EVENT, source="given", title="Seminar",
                   published=datetime(2016, 2, 5, 9, tzinfo=tz), url="https://n.example/seminar",
                   body_html="<p>Seminar.</p>", event=EventDetails(start=datetime(2016, 3, 15, 10, tzinfo=tz)))]
    project = pipeline_project('[pipeline]\nname = "N"\nsite_url = "https://n.example"\ntimezone = "Europe/London"\n',
                               items=[*adverts, *own, *events])
    project.run(as_of=date(2016, 3, 1))
    text = project.email().text
    shown = [title for title in ["Peer worker", "Coordinator", *(f"Advert {n:02}" for n in range(11, -1, -1))]
             if title in text]
    assert shown == ["Peer worker", "Coordinator", *(f"Advert {n:02}" for n in range(11, 3, -1))]
    assert sorted(shown, key=text.index) == shown
    assert text.index("Seminar") < text.index("A notice")


def test_the_email_links_a_calendar_file_only_where_the_site_writes_one(pipeline_project):
    """Whether an item is an event is judged by its kind (pipeline/current.py; the site writes an .ics for an event
    with a date). A source that gives a news item event details (a partner's notice of a talk) had the email link
    "Add it to your calendar (.ics)" beside it, to an address the site never wrote: every reader who clicked got a
    404; the issue's web version likewise. Now both link one only for an event with a date, as the site writes them."""
    import re
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from pipeline.models import EventDetails, Item, Kind, item_id

    tz = ZoneInfo("Europe/London")
    talk = Item(id=item_id("given", "talk"), kind=Kind.NEWS, source="given", title="A talk next month",
                published=datetime(2016, 2, 10, 9, tzinfo=tz), url="https://p.example/talk", body_html="<p>Talk.</p>",
                event=EventDetails(start=datetime(2016, 3, 20, 18, tzinfo=tz)))
    seminar = Item(id=item_id("given", "seminar"), kind=Kind.EVENT, source="given", title="Seminar",
                   published=datetime(2016, 2, 5, 9, tzinfo=tz), url="https://n.example/seminar",
                   body_html="<p>Seminar.</p>", event=EventDetails(start=datetime(2016, 3, 15, 10, tzinfo=tz)))
    project = pipeline_project('[pipeline]\nname = "N"\nsite_url = "https://n.example"\ntimezone = "Europe/London"\n',
                               items=[talk, seminar])
    project.run(as_of=date(2016, 3, 1))
    email = project.email()
    linked = set(re.findall(r"https://n\.example/(\S+?\.ics)", email.text + email.html))
    assert linked and all((project.root / "out" / path).is_file() for path in linked), linked
    issue = project.root / "out" / "archive" / "issue-1.html"  # its web version: the same links
    linked = set(re.findall(r'href="(?![a-z]+:)([^"]+?\.ics)"', issue.read_text(encoding="utf-8")))  # its own
    assert linked and all((issue.parent / path).resolve().is_file() for path in linked), linked


def test_the_emails_events_are_in_the_order_they_happen_wherever_they_are(pipeline_project):
    """The Events section is in start order; it compared the starts as written, in each venue's zone, so a webinar
    at 09:00 in New York (14:00 in London) came before a London seminar at noon the same day, which is first, and
    first on the site's list. Now starts are compared as moments."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from pipeline.models import EventDetails, Item, Kind, item_id

    def event(key: str, title: str, start: datetime) -> Item:
        return Item(id=item_id("given", key), kind=Kind.EVENT, source="given", title=title,
                    published=datetime(2016, 2, 5, 9, tzinfo=ZoneInfo("Europe/London")), url=f"https://n.example/{key}",
                    body_html="<p>An event.</p>", event=EventDetails(start=start, timezone=str(start.tzinfo)))

    webinar = event("webinar", "Webinar from New York", datetime(2016, 3, 15, 9, tzinfo=ZoneInfo("America/New_York")))
    seminar = event("seminar", "Seminar in London", datetime(2016, 3, 15, 12, tzinfo=ZoneInfo("Europe/London")))
    project = pipeline_project('[pipeline]\nname = "N"\nsite_url = "https://n.example"\ntimezone = "Europe/London"\n',
                               items=[webinar, seminar])
    project.run(as_of=date(2016, 3, 1))
    text = project.email().text
    assert text.index("Seminar in London") < text.index("Webinar from New York")
    listing = project.site("events/")
    assert listing.index("Seminar in London") < listing.index("Webinar from New York")


@pytest.mark.parametrize("spelling", ["pass&#150;word9", "pass&#x96;word9", "pass&#X0096word9", "pass&#0150word9"])
def test_a_value_spelt_with_a_windows_1252_reference_is_masked(spelling, monkeypatch):
    """A browser, and html.unescape, read the numeric references 128 to 159 as the Windows-1252 characters (`&#150;`
    is "–", as `&#8211;` is): a key holding an en dash (a word processor's autocorrect) so spelt in a feed or a
    printed line was shown, though decoded it is the key."""
    import html

    from pipeline import redact

    secret = "pass\u2013word9"
    assert html.unescape(spelling) == secret
    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f?token=${T}", {"T": secret})
    assert redact.redact_text(f"<p>{spelling}</p>") == "<p>***</p>"
    assert redact.redact_text("<p>pass&#151;word9</p>") == "<p>pass&#151;word9</p>"  # an em dash: another key


def seminar_published(pipeline_project):
    """The seminar of tests/test_withdrawn.py, refreshed on 1 February 2016: (the project, its page's folder)."""
    from tests.test_withdrawn import EVENTS_TOML, SEMINAR

    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (old,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]
    return project, old


def seminar_id_corrected(project, old: str) -> str:
    """Its id corrected in events.toml (seminar-3 to seminar-03) and refreshed the next day: its new page's folder."""
    from tests.test_withdrawn import SEMINAR

    project.write({"events.toml": SEMINAR.replace('id = "seminar-3"', 'id = "seminar-03"')})
    project.refresh(as_of=date(2016, 2, 2))
    (new,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir() and p.name != old]
    return new
