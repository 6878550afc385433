"""Items the organiser takes out of a source that lists all of its items (`Source.complete`: the blog, the jobs and
events files) are withdrawn: they leave the feeds, the site (its archived issues too) and every issue to come, and
their page says so; the email already sent stays as it was; listed again, they are back."""

from __future__ import annotations

from datetime import date

BLOG_TOML = '''
[sources.blog]
type = "blog"
path = "blog"
'''


def post_file(title: str, day: str, extra: str = "") -> str:
    """A blog post's Markdown file (the tests of withdrawal and its reviews share it)."""
    return (f'---\ntitle: "{title}"\ndate: {day}\n{extra}---\n\n'
            "Peer support workers met in Leeds to talk about co-production and power.\n")


def test_a_post_made_a_draft_again_is_withdrawn_and_comes_back_with_its_guid(pipeline_project):
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "blog/feb.md": post_file("February post", "2016-01-25"),
                                          "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    assert "February post" in project.email().html
    guid = {entry.title: entry.id for entry in project.feed().entries}["February post"]

    project.write({"blog/feb.md": post_file("February post", "2016-01-25", "draft: true\n")})
    report = project.refresh(as_of=date(2016, 2, 1))
    [line] = [r.summary for r in report.results if r.name == "blog"]
    assert line == "1 item; 1 item no longer listed, withdrawn: 'February post'"
    assert [entry.title for entry in project.feed().entries] == ["January post"]
    assert "February post" not in project.site() and "February post" not in project.site("archive/issue-1.html")
    assert "February post" in project.email().html  # as it was sent
    assert "has been withdrawn" in project.site("blog/feb/")  # where its link leads

    project.write({"blog/feb.md": post_file("February post", "2016-01-25")})
    project.refresh(as_of=date(2016, 2, 1))
    assert {entry.title: entry.id for entry in project.feed().entries}["February post"] == guid
    page = project.site("blog/feb/")
    assert "Peer support workers met in Leeds" in page and "withdrawn" not in page


def test_nothing_is_withdrawn_while_a_record_of_the_source_is_skipped(pipeline_project):
    """A post skipped for a fault (broken front matter) may be one listed before: the run withdraws nothing of that
    source until it reads cleanly again."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    project.write({"blog/jan.md": "---\ntitle: [unclosed\ndate: 2016-01-20\n---\n\nText.\n"})
    report = project.refresh(as_of=date(2016, 2, 1), check=False)
    assert any("front matter is not valid YAML" in p for p in report.problems)
    assert [entry.title for entry in project.feed().entries] == ["January post"]


EVENTS_TOML = '''
[sources.events]
type = "events"
path = "events.toml"
'''

SEMINAR = '''
[[event]]
id = "seminar-3"
title = "Seminar 3: Contemporary Developments in Healthcare Practice"
posted = 2016-01-18
start = 2016-02-17T09:30:00
venue = "St Catherine's"
description = "The third seminar in the network's series on co-production in mental health care."
'''
SEMINAR_AT = SEMINAR.replace("venue =", 'url = "https://network.example.org/{path}"\nvenue =')  # its own page: `path`


def test_an_event_taken_out_of_the_file_once_it_is_over_stays_in_the_archive(pipeline_project):
    """Organisers prune the events file of what is over: that is no cancellation, so the event's page and its place
    in the archive stay as they were; taken out before it is over, it is withdrawn."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (folder,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]
    project.write({"events.toml": "# pruned\n"})

    report = project.refresh(as_of=date(2016, 3, 1))  # the seminar was on 17 February

    [line] = [r.summary for r in report.results if r.name == "events"]
    assert line == "0 items"
    page = project.site(f"events/{folder}/")
    assert "Contemporary Developments" in page and "withdrawn" not in page


def test_a_withdrawn_events_ics_stays_saying_it_is_cancelled_and_comes_back_revised(pipeline_project):
    """The email links the event's .ics, and a calendar app that imported it reads it again: it says the event is
    cancelled (same UID, a higher SEQUENCE, RFC 5546 2.1.5) rather than being gone; listed again, it is on again,
    higher still, so the app takes it over the cancellation. The subscribable calendar simply drops it."""
    from icalendar import Calendar

    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR, "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (folder,) = [p.name for p in (project.root / "out" / "events").iterdir() if p.is_dir()]
    ics = project.root / "out" / "events" / folder / "event.ics"

    def event() -> dict:
        (found,) = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
        return found

    before = event()
    assert "STATUS" not in before

    project.write({"events.toml": "# cancelled\n"})
    project.refresh(as_of=date(2016, 2, 1))
    cancelled = event()
    assert cancelled["STATUS"] == "CANCELLED" and cancelled["UID"] == before["UID"]
    assert cancelled["SEQUENCE"] > before["SEQUENCE"] and cancelled["DTSTAMP"].dt >= before["DTSTAMP"].dt
    assert cancelled["DTSTART"].dt == before["DTSTART"].dt  # the same occurrence
    assert str(cancelled["DESCRIPTION"]).startswith("Withdrawn by the organisers.")
    assert "has been withdrawn" in project.site(f"events/{folder}/")
    assert not Calendar.from_ical((project.root / "out" / "events" / "calendar.ics").read_bytes()).walk("VEVENT")

    project.write({"events.toml": SEMINAR})
    project.refresh(as_of=date(2016, 2, 1))
    again = event()
    assert "STATUS" not in again and again["SEQUENCE"] > cancelled["SEQUENCE"] and again["UID"] == before["UID"]
    assert "Contemporary Developments" in project.site(f"events/{folder}/")
