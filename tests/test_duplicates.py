"""The same job or event once: pairs that are one thing, near-misses that are not, and the demo's issue 1."""

from __future__ import annotations

import dataclasses
import random
import shutil
import time
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.duplicates import compare, date_mentions, merge_duplicates, names, significant_words
from pipeline.edition import SECTION_TITLES, from_record, prepare_edition
from pipeline.models import EventDetails, Item, JobDetails, Kind, item_id
from pipeline.run_context import RunContext
from pipeline.state import Store
from plugins.sinks.email.render import render_edition

ROOT = Path(__file__).parent.parent
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"  # the full text of an RSS item


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2016, month, day, hour, tzinfo=UTC)


def job(title: str, *, source: str = "jobs", organisation: str = "Open Dialogue UK", location: str = "London",
        closing: date = date(2016, 2, 14), posted: datetime = at(1, 20), url: str = "", body: str = "") -> Item:
    return Item(id=item_id(source, title), kind=Kind.JOB, source=source, title=title, published=posted,
                url=url or f"https://jobs.example.org/{item_id(source, title)}", body_html=body, author=organisation,
                job=JobDetails(organisation=organisation, location=location, closing_date=closing))


def event(title: str, start: datetime, *, source: str = "events", posted: datetime = at(1, 12),
          url: str = "", booking_url: str = "", end: datetime | None = None) -> Item:
    return Item(id=item_id(source, title + start.isoformat()), kind=Kind.EVENT, source=source, title=title,
                published=posted, url=url or f"https://events.example.org/{start:%Y-%m-%d}",
                event=EventDetails(start=start, end=end, timezone="Europe/London", booking_url=booking_url))


def news(title: str, body: str, *, source: str = "open-dialogue-uk", author: str = "Open Dialogue UK",
         published: datetime = at(1, 20, 9), kind: Kind = Kind.NEWS, url: str = "") -> Item:
    return Item(id=item_id(source, title), kind=kind, source=source, title=title, published=published,
                url=url or f"https://{source}.example.org/news/{item_id(source, title)}", body_html=body,
                author=author)


# The demo's pair, as content/ ships it.
ADMIN_JOB = job("Administrator for the new Open Dialogue UK centre in London",
                url="https://opendialogue-uk.example.org/jobs/administrator-2016",
                body="<p>Open Dialogue UK wants more administrative help as it works towards opening a centre "
                     "for training and practice in London during 2016.</p>")
HIRING = news("We are hiring: administrator for our London centre",
              "<p>We are looking for administrative help as we prepare to open a centre for training and practice "
              "in London. People with lived experience of mental distress or extreme states are warmly encouraged "
              "to apply. Applications close on 14 February 2016.</p>",
              url="https://opendialogue-uk.example.org/news/hiring-administrator")


# -- pairs that are the same thing -----------------------------------------------------------------------

def test_the_demos_job_and_its_announcement_are_one_job():
    verdict = compare(ADMIN_JOB, HIRING)
    assert verdict.same, verdict.reason
    assert "administrator, centre" in verdict.reason and "14 February 2016" in verdict.reason

    merged = merge_duplicates([HIRING, ADMIN_JOB])
    (shown,) = merged.items
    assert shown.kind is Kind.JOB and shown.id == ADMIN_JOB.id  # the most specific kind is kept
    assert shown.also_announced == [{"id": HIRING.id, "source": "open-dialogue-uk", "by": "Open Dialogue UK",
                                     "title": HIRING.title, "url": HIRING.url}]
    assert merged.merged == [HIRING] and merged.into == {HIRING.id: ADMIN_JOB.id}
    assert ADMIN_JOB.also_announced == []  # pure: the items given are left as they were


def test_the_same_job_announced_by_two_partner_feeds_is_shown_once_with_both():
    voices = news("Open Dialogue UK seeks an administrator for its new centre",
                  "<p>Our friends at Open Dialogue UK are hiring. The closing date is 14th Feb.</p>",
                  source="hearing-voices", author="Hearing Voices Network", published=at(1, 25))
    merged = merge_duplicates([HIRING, voices, ADMIN_JOB])

    (shown,) = merged.items
    assert [(a["by"], a["title"]) for a in shown.also_announced] == [
        ("Open Dialogue UK", HIRING.title), ("Hearing Voices Network", voices.title)]  # oldest first


def test_a_jobs_feed_and_a_news_feed_announcing_one_job_are_merged():
    # A partner's vacancies feed (`feed` with kind = "job") has no job details: the dates its own text
    # gives are what an announcement must mention (or it must link to the advert).
    board = news("Administrator, Open Dialogue UK London centre",
                 "<p>Closing date: 14/02/2016. Interviews in the week of 22 February.</p>",
                 source="charity-jobs", author="", kind=Kind.JOB, url="https://charityjobs.example.org/4411")
    assert compare(board, HIRING).same
    (shown,) = merge_duplicates([board, HIRING]).items
    assert shown is not board and shown.id == board.id and shown.also_announced[0]["id"] == HIRING.id


def test_a_link_to_the_advert_ties_them_when_no_date_is_given():
    linked = news("We are hiring an administrator for our centre",
                  '<p>Details on <a href="https://opendialogue-uk.example.org/jobs/administrator-2016/">our jobs '
                  "page</a>.</p>")
    undated = dataclasses.replace(linked, id="no-link", body_html="<p>Details on our jobs page.</p>")
    assert compare(ADMIN_JOB, linked).same
    assert compare(ADMIN_JOB, undated).reason == "no date of the record is mentioned and there is no link to it"


def test_a_blog_post_about_an_event_is_shown_on_the_event():
    seminar = event("Seminar 4: Co-production and Commissioning", datetime(2016, 3, 9, 9, 30, tzinfo=UTC),
                    url="https://network.example.org/seminars/4/")
    post = news("Join us for seminar 4 on co-production in commissioning",
                "<p>Our next seminar, on Wednesday 9 March at St Catherine's, asks who commissions co-produced "
                "services and how.</p>", source="network-blog", author="Pamela Fisher", kind=Kind.POST,
                published=at(2, 20))
    verdict = compare(seminar, post)
    assert verdict.same, verdict.reason
    (shown,) = merge_duplicates([post, seminar]).items
    assert shown.kind is Kind.EVENT and shown.also_announced[0]["by"] == "Pamela Fisher"


def test_any_day_of_a_several_day_event_counts():
    congress = event("Hearing Voices World Congress", datetime(2016, 9, 12, tzinfo=UTC),
                     end=datetime(2016, 9, 14, 17, tzinfo=UTC))
    notice = news("World Congress of hearing voices: we will be there",
                  "<p>Find our stall on September 13th in the main hall.</p>", published=at(8, 1))
    assert compare(congress, notice).same


# -- near-misses: they stay separate ---------------------------------------------------------------------

def test_the_same_organisation_advertising_two_jobs_keeps_them_apart():
    admin = job("Administrator for the London centre")
    trainer = job("Peer trainer for the London centre")  # same organisation, place and closing date
    hiring_trainer = news("We are hiring: a peer trainer for our London centre",
                          "<p>Applications close on 14 February 2016.</p>")

    assert not compare(admin, hiring_trainer).same  # only "centre" is shared once organisation and place are set aside
    assert "1 of 2 shared (centre)" in compare(admin, hiring_trainer).reason
    merged = merge_duplicates([admin, trainer, hiring_trainer])
    assert merged.into == {hiring_trainer.id: trainer.id}
    assert [i.also_announced for i in merged.items if i.id == admin.id] == [[]]


def test_an_announcement_as_close_to_two_records_stays_on_its_own():
    first = job("Peer worker, recovery team", source="jobs")
    second = job("Peer worker, crisis team", source="partner-jobs")
    vague = news("Peer worker posts open", "<p>Closing date 14 February 2016.</p>", source="news")
    assert compare(first, vague).same and compare(second, vague).same
    merged = merge_duplicates([first, second, vague])
    assert merged.into == {} and len(merged.items) == 3


def test_two_events_on_the_same_topic_on_different_dates_stay_separate():
    spring = event("Co-production in commissioning", datetime(2016, 3, 9, 9, 30, tzinfo=UTC))
    autumn_notice = news("Co-production in commissioning: our autumn workshop",
                         "<p>Join us on 20 October 2016 for a workshop on commissioning co-produced services.</p>",
                         source="network-blog", kind=Kind.POST, published=at(2, 1))
    autumn = event("Co-production in commissioning", datetime(2016, 10, 20, 9, 30, tzinfo=UTC),
                   source="partner-events")

    assert compare(spring, autumn_notice).reason == "no date of the record is mentioned and there is no link to it"
    merged = merge_duplicates([spring, autumn_notice, autumn])
    assert merged.into == {autumn_notice.id: autumn.id}  # the notice goes with its own date's event
    assert compare(spring, autumn).reason.startswith("only a job or event record")  # two records: never merged


def test_a_news_round_up_that_mentions_the_job_in_passing_stays_separate():
    round_up = news("Network news: a new chair, a summer school and a book",
                    "<p>Our new chair starts in March. The summer school is in Leeds. We are also looking for an "
                    "administrator for our London centre: applications close on 14 February 2016.</p>")
    verdict = compare(ADMIN_JOB, round_up)
    assert not verdict.same and verdict.reason.startswith("title words: 0 of 2 shared")
    assert merge_duplicates([ADMIN_JOB, round_up]).into == {}


def test_another_organisations_job_with_the_same_title_and_date_stays_separate():
    mind = news("We are hiring: administrator for our London centre",
                "<p>Applications close on 14 February 2016.</p>", source="mind", author="Mind",
                url="https://mind.example.org/news/admin")
    assert compare(ADMIN_JOB, mind).reason == "does not name the organisation (Open Dialogue UK)"


def test_what_is_published_after_the_closing_date_is_not_an_announcement():
    late = dataclasses.replace(HIRING, id="late", published=at(2, 20))
    assert "published after the record's date" in compare(ADMIN_JOB, late).reason


def test_items_of_one_source_are_never_merged():
    own = dataclasses.replace(HIRING, id="own", source="jobs")
    assert compare(ADMIN_JOB, own).reason == "same source"
    assert merge_duplicates([ADMIN_JOB, own]).into == {}


def test_a_conference_news_item_with_no_word_of_the_events_title_stays_separate():
    # The demo's conference update: it names the conference's date and links its booking page, but
    # "Open Dialogue UK 2016 Conference" has no word the news item's title shares.
    conference = event("Open Dialogue UK 2016 Conference", datetime(2016, 2, 2, tzinfo=UTC),
                       booking_url="https://opendialogue-uk.example.org/conference-2016")
    update = news("Three more speakers for our 2016 conference",
                  '<p>They will speak at our London conference on 2 February. '
                  '<a href="https://opendialogue-uk.example.org/conference-2016">Book a place</a>.</p>',
                  published=at(1, 14))
    assert compare(conference, update).reason.startswith("title words: 0 of 2 shared")


# -- the pieces of the rule ------------------------------------------------------------------------------

def test_dates_in_the_forms_people_write_them():
    text = ("Closes Sunday 14th February 2016; interviews on Feb 22, then 1 March. Starts 2016-04-04 "
            "or 05/04/16. Call 0113 496 0000. On 31/02/2016 nothing.")
    assert date_mentions(text) == {(2016, 2, 14), (None, 2, 22), (None, 3, 1), (2016, 4, 4), (2016, 4, 5)}


def test_significant_words_leave_out_stop_and_generic_words_and_fold_plurals():
    assert significant_words("We are hiring: Peer Workers for our new Recovery Colleges (2016)") == {
        "peer", "worker", "recovery", "college"}
    assert significant_words("Co-production vacancies: the centre's administrator") == {
        "coproduction", "centre", "administrator"}


def test_an_organisation_is_named_only_by_whole_words():
    assert names("opendialogueuk", "opendialogue-uk.example.org")
    assert names("opendialogueuk", "Our partners at Open Dialogue UK are hiring")
    assert names("mind", "Leeds Mind")
    assert not names("mind", "A reminder about mindfulness")


# -- where the merge is applied --------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    yield store
    store.close()


def test_an_edition_shows_the_job_once_and_the_announcement_never_comes_back(store, project_from):
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    tz = project.tz
    other = news("Three more speakers for our 2016 conference", "<p>Speakers.</p>", published=at(1, 14))
    store.save_items([(i, "fp") for i in (HIRING, ADMIN_JOB, other)], at(1, 25))

    feb = prepare_edition(store, date(2016, 2, 1), tz, "Net", datetime(2016, 2, 1, tzinfo=tz))
    assert [i.title for i in feb.sections[Kind.JOB]] == [ADMIN_JOB.title]
    assert [i.title for i in feb.sections[Kind.NEWS]] == [other.title]
    assert feb.sections[Kind.JOB][0].also_announced[0]["url"] == HIRING.url
    record = store.editions()[0]
    assert set(record.item_ids) == {HIRING.id, ADMIN_JOB.id, other.id}  # stored, so never in a later issue
    assert record.item_ids[-1] == HIRING.id  # what is shown first, in newsletter order
    again = from_record(store, record)
    assert [i.id for i in again.items] == [i.id for i in feb.items]
    assert again.sections[Kind.JOB][0].also_announced == feb.sections[Kind.JOB][0].also_announced

    # The partner's feed re-dates its entry into March: it is still the item issue 1 carried.
    store.save_items([(dataclasses.replace(HIRING, published=at(2, 10)), "fp2")], at(2, 10))
    store.save_items([(news("Spring programme", "<p>More soon.</p>", published=at(2, 12)), "fp")], at(2, 12))
    march = prepare_edition(store, date(2016, 3, 1), tz, "Net", datetime(2016, 3, 1, tzinfo=tz))
    assert [i.title for i in march.items] == ["Spring programme"]


def test_the_email_html_and_text_and_the_web_version_show_who_else_announced_it(store, project_from):
    project = project_from('[sinks.feed]\ntype = "rss"\n')
    store.save_items([(i, "fp") for i in (HIRING, ADMIN_JOB)], at(1, 25))
    edition = prepare_edition(store, date(2016, 2, 1), project.tz, "Net", datetime(2016, 2, 1, tzinfo=project.tz))
    run = RunContext(project, store, date(2016, 2, 1), datetime(2016, 2, 1, tzinfo=project.tz))
    for rendered in (render_edition(edition, run, max_per_section=10), render_edition(edition, run)):
        assert ('Also announced by Open Dialogue UK: <a href="https://opendialogue-uk.example.org/news/'
                'hiring-administrator">We are hiring: administrator for our London centre</a>') in rendered.html
        assert rendered.html.count(HIRING.title) == 1 and SECTION_TITLES[Kind.NEWS] not in rendered.html
        assert ("Also announced by Open Dialogue UK: We are hiring: administrator for\n  our London centre\n"
                "  https://opendialogue-uk.example.org/news/hiring-administrator\n") in rendered.text
    run.close()


def test_the_feed_lists_the_job_once_with_the_announcement_linked(store, project_from):
    project = project_from('[sinks.feed]\ntype = "rss"\nlimit = 2\n')
    older = [news(f"Older news {n}", "<p>Old.</p>", source="other", published=at(1, n)) for n in (2, 3, 4)]
    store.save_items([(i, "fp") for i in (*older, ADMIN_JOB, HIRING)], at(1, 25))
    run = RunContext(project, store, date(2016, 2, 1), datetime(2016, 2, 1, tzinfo=UTC))
    project.sinks[0].write(None, run)
    run.close()

    channel = ET.parse(project.core.out_dir / "feed.xml").getroot().find("channel")
    titles = [i.findtext("title") for i in channel.findall("item")]
    assert titles == [ADMIN_JOB.title, "Older news 4"]  # two items: the job once, then the next newest
    description = channel.find("item").findtext(CONTENT)
    assert ('<p>Also announced by Open Dialogue UK: <a href="https://opendialogue-uk.example.org/news/'
            'hiring-administrator">We are hiring: administrator for our London centre</a></p>') in description


def test_a_job_announced_again_recently_stays_in_the_feed_at_its_own_date(store, project_from):
    project = project_from('[sinks.feed]\ntype = "rss"\nlimit = 2\n')
    early_job = dataclasses.replace(ADMIN_JOB, published=at(1, 1))
    between = [news(f"Other news {n}", "<p>Other.</p>", source="other", published=at(1, n)) for n in (6, 7)]
    store.save_items([(i, "fp") for i in (early_job, *between, HIRING)], at(1, 25))
    run = RunContext(project, store, date(2016, 2, 1), datetime(2016, 2, 1, tzinfo=UTC))
    project.sinks[0].write(None, run)
    run.close()

    channel = ET.parse(project.core.out_dir / "feed.xml").getroot().find("channel")
    # Both are among the newest 2 x limit; the job is as recent as its announcement of 20 January, so it
    # is one of the two, listed at its own date.
    assert [i.findtext("title") for i in channel.findall("item")] == ["Other news 7", ADMIN_JOB.title]


# -- the shipped demo ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "pipeline.toml", root)
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copytree(ROOT / "local_plugins", root / "local_plugins")
    assert main(["run", "-c", str(root / "pipeline.toml"), "--as-of", "2016-02-01"]) == 0
    return root / "out"


ANNOUNCEMENT_URL = "https://opendialogue-uk.example.org/news/hiring-administrator"


def test_the_demos_issue_1_lists_the_administrator_job_once_under_jobs(demo):
    also = f'Also announced by Open Dialogue UK: <a href="{ANNOUNCEMENT_URL}">{HIRING.title}</a>'
    for page in (demo / "newsletter" / "issue-1.html", demo / "archive" / "issue-1.html"):
        html = page.read_text()
        assert html.count(ADMIN_JOB.title) == 1 and html.count(HIRING.title) == 1 and also in html
        assert html.index(">Jobs<") < html.index(ADMIN_JOB.title) < html.index(also) < html.index(">Events<")
        assert "1 partner news item, 1 job and 2 events" in html
    text = (demo / "newsletter" / "issue-1.txt").read_text()
    jobs = text.split("JOBS\n====")[1].split("EVENTS\n======")[0]
    assert "Also announced by Open Dialogue UK: We are hiring: administrator for" in jobs
    assert ANNOUNCEMENT_URL in jobs and text.count(ANNOUNCEMENT_URL) == 1


def test_the_demos_feed_lists_the_administrator_job_once(demo):
    items = ET.parse(demo / "feed.xml").getroot().find("channel").findall("item")
    titles = [i.findtext("title") for i in items]
    assert titles.count(ADMIN_JOB.title) == 1 and HIRING.title not in titles
    (admin,) = [i for i in items if i.findtext("title") == ADMIN_JOB.title]
    assert f'Also announced by Open Dialogue UK: <a href="{ANNOUNCEMENT_URL}">' in admin.findtext(CONTENT)


# -- speed -----------------------------------------------------------------------------------------------

def test_ten_thousand_items_are_merged_in_a_fraction_of_a_second():
    rng = random.Random(9)
    vocabulary = [f"word{n}" for n in range(3000)] + ["peer", "support", "recovery", "centre", "london", "worker",
                                                      "mental", "health", "coproduction", "training"] * 40
    items: list[Item] = []
    for n in range(1500):
        items.append(job(" ".join(rng.sample(vocabulary, 5)) + f" {n}", source=f"jobs{n % 3}",
                         closing=date(2016, 2, 1) + timedelta(days=n % 60)))
    for n in range(500):
        items.append(event(" ".join(rng.sample(vocabulary, 5)), datetime(2016, 2, 1, tzinfo=UTC)
                           + timedelta(days=n % 60), source=f"events{n % 2}"))
    body = "<p>" + " ".join(rng.sample(vocabulary, 200)) + " on 14 February 2016.</p>"
    for n in range(7990):
        items.append(news(" ".join(rng.sample(vocabulary, 6)) + f" n{n}", body, source=f"feed{n % 40}",
                          published=at(1, 1 + n % 28)))
    for n in range(10):  # ten real duplicates
        record = items[n]
        items.append(news("Hiring: " + record.title, f"<p>Closes {record.job.closing_date:%-d %B %Y}.</p>",
                          source="partner", published=at(1, 5)))
    started = time.perf_counter()
    merged = merge_duplicates(items)
    elapsed = time.perf_counter() - started
    assert len(items) == 10_000 and {items[n].id for n in range(10)} <= set(merged.into.values())
    assert elapsed < 5.0, f"{elapsed:.2f} s"  # about 0.3 s on the project's 2-core machine
