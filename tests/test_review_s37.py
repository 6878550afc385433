"""Stop 37: holes left open by earlier reviews."""

from __future__ import annotations

import html

import pytest

SECRET = "tok_4f9a/2c+e&d"


@pytest.mark.parametrize("spelling", [
    "tok_4f9a/2c+e&ampd",  # a legacy reference with no semicolon: html.unescape and browsers read "&amp" as "&"
    "tok_4f9a/2c+e&AMPd",
    "to&#107_4f9a/2c+e&d",  # a numeric one with no semicolon, before a character that is no digit
    "to&#x6B_4f9a/2c+e&d",
    "tok_4f9a/2c&#43e&d",
])
def test_a_value_spelt_with_references_missing_their_semicolon_is_masked(spelling, monkeypatch):
    """Before: `&amp` with no `;` (which every browser and html.unescape read as `&`) and `&#47` with no `;` showed
    the key in a feed or a printed line, though decoded it is the key."""
    from pipeline import redact

    assert html.unescape(spelling) == SECRET, html.unescape(spelling)
    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f/${T}/rss.xml", {"T": SECRET})
    said = redact.redact_text(f"<p>see {spelling} here</p>")
    assert said == "<p>see *** here</p>", said


def test_a_numeric_reference_without_semicolon_is_not_read_into_the_next_digit(monkeypatch):
    """`&#470` is one character (U+01D6), not "/" then "0": masking must not take it for the key's "/"."""
    from pipeline import redact

    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f/${T}/rss.xml", {"T": "tok_4f9a/02c+e&d"})
    other = "tok_4f9a&#4702c+e&d"
    assert html.unescape(other) != "tok_4f9a/02c+e&d"
    assert redact.redact_text(f"<p>{other}</p>") == f"<p>{other}</p>"


@pytest.mark.parametrize("on_main_thread", [True, False])
def test_a_deadline_that_passes_inside_a_nested_one_is_reported_as_its_own(on_main_thread):
    """Before: the inner call caught the outer deadline's interrupt as its own, and said "inner: did not finish
    within 30 s" after 0.3 s; the outer call's code then went on as after any ordinary error."""
    import threading
    import time

    from pipeline.time_limits import OutOfTime, call_within

    went_on = []

    def inner():
        for _ in range(100):  # (short sleeps: on another thread the interrupt lands between two)
            time.sleep(0.05)

    def outer():
        try:
            call_within(30, "inner: did not finish within 30 s", inner)
        except OutOfTime:
            went_on.append("caught the inner's deadline")
            raise

    said: list[str] = []

    def run():
        try:
            call_within(0.3, "outer: did not finish within 0.3 s", outer)
        except OutOfTime as exc:
            said.append(str(exc))

    if on_main_thread:
        run()
    else:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(10)
    assert said == ["outer: did not finish within 0.3 s"]
    assert went_on == []


def test_a_post_whose_slug_changed_keeps_its_guid_in_every_feed(pipeline_project):
    """A new slug is a new id, and a new id got a new guid: every feed reader showed the post again as new, in the
    main feed and in each theme's. Now the post under its new slug takes over the guid its old id had (the same
    source, kind, title and date, as the site's page leading on to it decides), and back again."""
    from datetime import date

    from tests.test_review_h113 import channel, start

    project, out = start(pipeline_project)

    def guids() -> dict[str, dict[str, str]]:
        found = {}
        for feed in sorted(out.rglob("feed.xml")):
            found[str(feed.relative_to(out))] = {item.findtext("title"): item.findtext("guid")
                                                 for item in channel(feed).iter("item")}
        return found

    before = guids()
    text = (project.root / "blog" / "notes.md").read_text(encoding="utf-8")
    title = next(line.split(":", 1)[1].strip().strip('"') for line in text.splitlines() if line.startswith("title:"))
    assert any(title in feed for feed in before.values()) and len(before) > 1
    (project.root / "blog" / "notes.md").unlink()
    project.write({"blog/seminar-notes.md": text})
    project.refresh(as_of=date(2016, 2, 1))
    assert guids() == before

    (project.root / "blog" / "seminar-notes.md").unlink()
    project.write({"blog/notes.md": text})  # and back: the old id takes it again
    project.refresh(as_of=date(2016, 2, 1))
    assert guids() == before


def test_an_undated_notice_posted_on_the_first_of_a_31_day_month_is_still_in_that_months_issue():
    """h150 made the email and the feeds keep the site's 30 days for an event with no date: a notice posted at 09:00 on
    1 March was over by the issue of 1 April (31 days), so that issue, which holds March's items, left it out."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from pipeline.current import Horizons
    from pipeline.edition import start_of, still_relevant
    from pipeline.models import Item, Kind, item_id

    london = ZoneInfo("Europe/London")
    notice = Item(id=item_id("partners", "n"), kind=Kind.EVENT, source="partners", title="Spring seminar",
                  published=datetime(2016, 3, 1, 9, tzinfo=london), url="https://p.example/n", body_html="<p>Soon.</p>")
    assert still_relevant(notice, start_of(date(2016, 4, 1), london), Horizons())
    assert not still_relevant(notice, start_of(date(2016, 5, 1), london), Horizons())
