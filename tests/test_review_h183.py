"""Review h183 of the monthly issue as subscribers receive it: the email's HTML and plain-text parts
(templates/email/, plugins/sinks/email/), checked on real renders through the outbox."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pipeline.models import Kind


def _tag_around(html: str, text: str) -> str:
    """The opening tag of the element whose text starts with `text` (the email's HTML has no line breaks to go by)."""
    found = re.search(r"<(h3|p|a)\b([^>]*)>(?:<a\b[^>]*>)?" + re.escape(text), html)
    assert found, f"{text!r} not found in the email"
    return found.group(0)


def test_an_item_in_another_language_is_marked_so_in_the_email(pipeline_project, item_factory):
    """An item in Welsh on an en-GB network's site has lang="cy" on its title and text (WCAG 2.1, 3.1.2): its page
    had, while the email showed it inside <html lang="en-GB"> alone, so a screen reader read the Welsh with English
    rules. One in en-US, the site's language, gets no lang of its own."""
    welsh = item_factory(Kind.NEWS, "Cymorth gan gymheiriaid", language="cy",
                         published=datetime(2016, 1, 10, tzinfo=UTC), summary="Mae gweithwyr cymorth yn cyfarfod.")
    american = item_factory(Kind.NEWS, "Peer support in Boston", language="en-US",
                            summary="Peer workers meet monthly.", published=datetime(2016, 1, 11, tzinfo=UTC))
    project = pipeline_project(items=[welsh, american])
    project.run(as_of=date(2016, 2, 1))
    html = project.email().html

    assert 'lang="cy"' in _tag_around(html, "Cymorth gan gymheiriaid")
    assert 'lang="cy"' in _tag_around(html, "Mae gweithwyr cymorth yn cyfarfod.")
    assert "lang=" not in _tag_around(html, "Peer support in Boston")
    assert "lang=" not in _tag_around(html, "Peer workers meet monthly.")


def _web_page(project, address: str) -> tuple[str, str]:
    """The page of the site an address of the email names (read from out/), and its #fragment."""
    from pipeline import site

    page, _, fragment = address.partition("#")
    path = site.path_of_url(project.project, page)
    assert path is not None, f"{address} is not on the site"
    return project.site(path), fragment


def test_more_in_the_web_version_links_the_page_of_the_web_version_that_shows_the_rest(pipeline_project,
                                                                                       item_factory):
    """An issue of more than 50 items has a web version of several pages (archive/issue-1.html, issue-1-page-2.html).
    Each "…and N more in the web version" linked page 1 whatever it was about: the jobs the email left out, and every
    event, and an event's whole programme, were on page 2, which page 1 showed none of. Each now links the page
    where they are, at the section (#job, #event), in the HTML and in the text."""
    from pipeline.models import EventDetails, ProgrammeSlot

    posts = [item_factory(Kind.POST, f"Post {n:02d}", published=datetime(2016, 1, 1, n, tzinfo=UTC))
             for n in range(20)]
    news = [item_factory(Kind.NEWS, f"News {n:02d}", published=datetime(2016, 1, 2, n, tzinfo=UTC)) for n in range(22)]
    jobs = [item_factory(Kind.JOB, f"Job {n:02d}", published=datetime(2016, 1, 3, tzinfo=UTC)) for n in range(15)]
    events = [item_factory(Kind.EVENT, f"Event {n:02d}", published=datetime(2016, 1, 4, tzinfo=UTC),
                           event=EventDetails(start=datetime(2016, 3, 1 + n, 10, tzinfo=UTC),
                                              programme=[ProgrammeSlot(f"{h}:00", f"Slot {h}") for h in range(20)]))
              for n in range(12)]
    project = pipeline_project(items=posts + news + jobs + events)
    project.run(as_of=date(2016, 2, 1))
    email = project.email()
    by_text = {text: href for href, text in re.findall(r'<a href="([^"]+)">(…and \d+ more in the web version)</a>',
                                                       email.html)}

    # Posts: 10 of 20 shown; the rest are on page 1. News: 10 of 22; the 11th is the issue's 31st item: page 1 too.
    # Jobs: 10 of 15; the 11th is the 53rd item, on page 2. Events: 10 of 12; the 11th is the 67th, on page 2.
    jobs_link = by_text["…and 5 more in the web version"]
    page, fragment = _web_page(project, jobs_link)
    assert fragment == "job" and 'id="job"' in page
    assert all(f">Job {n:02d}</a>" in page for n in range(10, 15))  # the five the email left out
    events_link = by_text["…and 2 more in the web version"]
    page, fragment = _web_page(project, events_link)
    assert fragment == "event" and 'id="event"' in page
    assert ">Event 10</a>" in page and ">Event 11</a>" in page
    # Event 00's programme: 12 slots of 20 in the email, the rest "in the web version", where Event 00 is whole
    programme_links = [href for href, text in re.findall(r'<a href="([^"]+)">(…and 8 more in the web version)</a>',
                                                          email.html)]
    assert len(programme_links) == 10
    page, _ = _web_page(project, programme_links[0])
    assert ">Event 00</a>" in page and "19:00 Slot 19" in page
    # the text part gives the same addresses
    text = email.text.replace("\r\n", "\n")
    assert f"…and 5 more in the web version:\n{jobs_link}\n" in text
    assert f"…and 2 more in the web version:\n{events_link}\n" in text
    assert f"...and 8 more in the web version:\n    {programme_links[0]}\n" in text


def test_a_network_writing_right_to_left_gets_an_email_that_reads_right_to_left(pipeline_project, item_factory):
    """`[pipeline] language = "ar"`: the email said lang="ar" with MJML's dir="auto", which takes the direction from
    the first letter of the page (its <title>, the network's name, often in Latin letters), and every block was
    text-align:left. It is now dir="rtl", its text set to the right; an item in Hebrew on an en-GB network has
    dir="rtl" with its lang, and an en-GB email is dir="ltr"."""
    post = item_factory(Kind.POST, "Peer support", published=datetime(2016, 1, 10, tzinfo=UTC),
                        summary="Peer workers meet monthly.")
    toml = ('[pipeline]\nname = "MindNet"\nsite_url = "https://network.example.org"\ntimezone = "Asia/Amman"\n'
            'language = "ar"\nworkers = 1\n')
    arabic = pipeline_project(toml, items=[post])
    arabic.run(as_of=date(2016, 2, 1))
    html = arabic.email().html
    assert re.search(r'<html lang="ar" dir="rtl"', html)
    assert "direction:ltr" not in html and "direction:rtl" in html  # MJML's sections and columns say it inline
    item = _tag_around(html, "Peer workers meet monthly.")
    assert re.search(r"<div style=\"[^\"]*text-align:right[^\"]*\">(?:(?!</div>).)*Peer workers meet monthly", html)
    assert "dir=" not in item  # the email's own direction

    hebrew = item_factory(Kind.NEWS, "תמיכת עמיתים", language="he", published=datetime(2016, 1, 11, tzinfo=UTC),
                          summary="עובדי עמיתים נפגשים מדי חודש.")
    english = pipeline_project(items=[post, hebrew])
    english.run(as_of=date(2016, 2, 1))
    html = english.email().html
    assert re.search(r'<html lang="en-GB" dir="ltr"', html)
    assert 'lang="he" dir="rtl"' in _tag_around(html, "תמיכת עמיתים")
    assert 'lang="he" dir="rtl"' in _tag_around(html, "עובדי עמיתים נפגשים מדי חודש.")
    assert html.count("text-align:right") == 2 and "direction:rtl" not in html  # the Hebrew title and text alone


def test_the_scheduler_makes_the_issue_as_at_the_time_it_is_made_not_at_midnight(write_project):
    """`pipeline schedule` made the monthly issue as `pipeline run --as-of <the newsletter day>`, which behaves as at
    midnight that day: an event over by the time the issue was made and mailed (that morning, or a day later when
    the machine was off and the slot was caught up) was still listed, as "Events" to come. The scheduler (its real
    clock) now makes the issue of the latest newsletter day as a run without --as-of does, judged when it is made.
    A real `pipeline schedule` process; the slot is a day or more before now, within the catch-up window."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Europe/London"))
    slot = now.date() - timedelta(days=1)
    if slot.day > 28:  # the newsletter day is one of the first 28
        slot = slot.replace(day=28)
    posted = slot - timedelta(days=10)
    soon = slot + timedelta(days=40)
    events = f"""
[[event]]
id = "over"
title = "Morning workshop"
posted = {posted.isoformat()}
start = {slot.isoformat()}T10:00:00
end = {slot.isoformat()}T12:00:00

[[event]]
id = "coming"
title = "Seminar to come"
posted = {posted.isoformat()}
start = {soon.isoformat()}T10:00:00
"""
    config = write_project(f"""
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1

[schedule]
newsletter_day = {slot.day}
newsletter_time = "00:00"
catch_up_hours = 168
refresh_minutes = 600

[sources.events]
type = "events"
path = "events.toml"

[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
""", {"events.toml": events, "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIPELINE_FAKE")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "schedule", "-c", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=config.parent)
    try:
        deadline = time.monotonic() + 90
        sent = []
        while not sent and time.monotonic() < deadline and process.poll() is None:
            sent = sorted((config.parent / "outbox" / "issue-1").glob("*.eml"))
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert sent, "the scheduler made no issue"
    import email
    from email import policy

    message = email.message_from_bytes(sent[0].read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert "Seminar to come" in text
    assert "Morning workshop" not in text  # over since the day before the issue was made


def test_an_item_written_the_other_way_is_aligned_its_own_way_in_the_email(pipeline_project, item_factory):
    """An item in English in an Arabic network's email had dir="ltr" but kept the text-align:right every block of
    the email is given inline, so its lines stood against the wrong margin (and a Hebrew item in an English email
    against the left). Its title and text now carry the alignment of their own direction."""
    english = item_factory(Kind.POST, "Peer support", language="en", published=datetime(2016, 1, 10, tzinfo=UTC),
                           summary="Peer workers meet monthly.")
    toml = ('[pipeline]\nname = "MindNet"\nsite_url = "https://network.example.org"\ntimezone = "Asia/Amman"\n'
            'language = "ar"\nworkers = 1\n')
    arabic = pipeline_project(toml, items=[english])
    arabic.run(as_of=date(2016, 2, 1))
    html = arabic.email().html
    for text in ("Peer support", "Peer workers meet monthly."):
        tag = _tag_around(html, text)
        assert 'dir="ltr"' in tag and "text-align:left" in tag, tag

    hebrew = item_factory(Kind.NEWS, "תמיכת עמיתים", language="he", published=datetime(2016, 1, 11, tzinfo=UTC),
                          summary="עובדי עמיתים נפגשים מדי חודש.")
    mixed = pipeline_project(items=[hebrew])
    mixed.run(as_of=date(2016, 2, 1))
    tag = _tag_around(mixed.email().html, "עובדי עמיתים נפגשים מדי חודש.")
    assert 'dir="rtl"' in tag and "text-align:right" in tag, tag
