"""Review h99: failing tests for problems found in one day's changes (withdrawal, feed guids, SendGrid's take-back
budget, the site's horizon, moved pages, serve, consent records, calendars). Each fails while its problem is there."""

from __future__ import annotations

from collections import Counter
from datetime import date

from pipeline.runner import run
from tests.newsletter_network import SUBSCRIBERS, everyone, statuses
from tests.test_withdrawn import BLOG_TOML, EVENTS_TOML, SEMINAR_AT, post_file

AS_OF = date(2016, 3, 1)


def _run_in_process(config):
    from pipeline.config import load_project
    return run(load_project(config), as_of=AS_OF)


def test_take_back_budget_holds_when_our_clock_is_ahead_of_sendgrids(fake, network):
    """With this machine's clock an hour ahead of SendGrid's, runs retried during one outage still keep count of the
    batches SendGrid holds cancelled (send_at is by SendGrid's clock), so none is used up and nobody is left unknown."""
    fake.advance(-3600)  # SendGrid's clock (its Date header, and so every send_at) an hour behind ours
    config = network()
    fake.fail_before(503, times=10_000)  # an outage: nothing is accepted
    for _ in range(3):  # the scheduler's retries, well inside the 30-minute hold
        _run_in_process(config)
    fake.heal()

    _run_in_process(config)

    got = fake.delivered()
    assert all(got[r] <= 1 for r in everyone()), "someone got two copies"
    assert sorted(r for r in everyone() if not got[r]) == [], "never delivered"
    assert statuses(config) == Counter(sent=SUBSCRIBERS)





def test_one_run_with_a_far_later_date_does_not_publish_future_posts_for_good(pipeline_project):
    """A dry run with a mistaken, far later --as-of leaves no lasting mark: the next runs publish no post dated after
    them."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "blog/summer.md": post_file("Summer programme", "2016-07-01"),
                                          "subscribers.csv": "email,name\n"})
    project.run(as_of=date(2026, 1, 1), dry_run=True)  # 2026 typed for 2016
    project.refresh(as_of=date(2016, 2, 1))
    project.refresh(as_of=date(2016, 2, 2))

    assert [entry.title for entry in project.feed().entries] == ["January post"]


def test_a_post_withdrawn_while_an_issue_was_made_is_in_the_next_issue_once_listed_again(pipeline_project):
    """A post made a draft before issue 1 was made, and published again after, reaches subscribers in issue 2."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "blog/other.md": post_file("Other post", "2016-01-22"),
                                          "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.refresh(as_of=date(2016, 1, 25))
    project.write({"blog/jan.md": post_file("January post", "2016-01-20", "draft: true\n")})
    project.refresh(as_of=date(2016, 1, 28))  # withdrawn
    project.run(as_of=date(2016, 2, 1))
    assert "January post" not in project.email(issue=1).html
    project.write({"blog/jan.md": post_file("January post", "2016-01-20"),
                   "blog/feb.md": post_file("February post", "2016-02-10")})
    project.refresh(as_of=date(2016, 2, 12))  # back

    project.run(as_of=date(2016, 3, 1))

    assert "January post" in project.email(issue=2).html


EVENT_AND_BLOG_TOML = '''
[sources.events]
type = "events"
path = "events.toml"

[sources.blog]
type = "blog"
path = "blog"
'''

CONFERENCE = '''
[[event]]
id = "conference-2016"
title = "Open Dialogue UK 2016 Conference"
posted = 2016-01-12
start = 2016-02-02
venue = "London"
description = "A day with many of the people developing Open Dialogue around the world."
'''

ANNOUNCEMENT = ('---\ntitle: "Open Dialogue conference in London"\ndate: 2016-01-20\n---\n\n'
                "The Open Dialogue UK conference is on 2 February 2016 in London; book now.\n")


def test_an_archived_issue_keeps_a_listed_post_whose_event_was_withdrawn(pipeline_project):
    """A post issue 1 carried as an announcement of an event stays on issue 1's page when only the event is
    withdrawn."""
    project = pipeline_project(EVENT_AND_BLOG_TOML, {"events.toml": CONFERENCE, "blog/conference.md": ANNOUNCEMENT,
                                                     "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    assert "Open Dialogue conference in London" in project.site("archive/issue-1.html")  # announced on the event
    project.write({"events.toml": "# the conference was cancelled\n"})
    project.refresh(as_of=date(2016, 2, 1))
    assert [entry.title for entry in project.feed().entries] == ["Open Dialogue conference in London"]  # still listed

    assert "Open Dialogue conference in London" in project.site("archive/issue-1.html")


def test_an_address_pending_here_that_an_import_makes_active_keeps_its_consent_record(tmp_path, capsys):
    """An exported member's address only pending in the other database is made active by the import with the
    consent record it brought (the proof its activation rests on), as a new address keeps it."""
    import csv
    from datetime import UTC, datetime

    from pipeline.cli import main
    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from tests.test_subscribers_cli import SERVE_TOML

    listed = tmp_path / "moved.csv"
    with listed.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([["email", "name", "themes", "status", "record"],
                                   ["ann@example.org", "Ann", "", "active",
                                    "2016-01-05 10:00:00 UTC pending form; "
                                    "2016-01-05 10:30:00 UTC active confirmation"]])
    config = tmp_path / "pipeline.toml"
    config.write_text(SERVE_TOML, encoding="utf-8")
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:  # someone asked through this site's form too, and has not confirmed yet
        subs.request_subscription(store, "ann@example.org", "Ann", [], how="form", at=datetime.now(UTC))
    finally:
        store.close()

    assert main(["subscribers", "import", str(listed), "--config", str(config)]) == 0
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        ann = subs.find_subscriber(store, "ann@example.org")
        record = subs.history(store, ann.id)
    finally:
        store.close()
    assert ann.status == "active"
    assert any("2016-01-05 10:30:00 UTC active confirmation" in event.detail for event in record), record





def test_an_events_old_address_leads_on_again_once_the_event_is_listed_again(pipeline_project):
    """The old address an email sent names (an event's url since edited) leads on to its page again once the event,
    withdrawn for a while, is back."""
    project = pipeline_project(EVENTS_TOML, {"events.toml": SEMINAR_AT.format(path="seminars/3/"),
                                           "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    assert "https://network.example.org/seminars/3/" in project.email().html
    project.write({"events.toml": SEMINAR_AT.format(path="seminars/seminar-3/")})
    project.refresh(as_of=date(2016, 2, 1))
    assert "seminar-3/" in project.site("seminars/3/")  # leads on
    project.write({"events.toml": "# taken out for a while\n"})
    project.refresh(as_of=date(2016, 2, 1))
    project.write({"events.toml": SEMINAR_AT.format(path="seminars/seminar-3/")})
    project.refresh(as_of=date(2016, 2, 1))
    assert "Seminar 3" in project.site("seminars/seminar-3/")  # back

    assert "seminar-3/" in project.site("seminars/3/")


def test_a_list_saying_a_stored_address_with_letters_outside_ascii_left_takes_it_off(tmp_path, capsys):
    """An address stored before such addresses were refused (jörg@ ... by smtp) is taken off by a list whose row
    says it unsubscribed, as any row stored before the limits on a new address is."""
    import sqlite3
    from datetime import UTC, datetime

    from pipeline.cli import main
    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from tests.test_subscribers_cli import SERVE_TOML

    config = tmp_path / "pipeline.toml"
    config.write_text(SERVE_TOML, encoding="utf-8")
    database = tmp_path / "state" / "pipeline.sqlite"
    Store(database).close()
    stamp = datetime(2016, 1, 5, tzinfo=UTC).isoformat(timespec="microseconds")
    db = sqlite3.connect(database)  # the row as the version before this one stored it (it took such an address)
    db.execute("INSERT INTO subscribers (id, email, name, status, themes, requested_at, created_at, updated_at) "
               "VALUES (7, 'jörg@example.org', 'Jörg', 'active', '[]', NULL, ?, ?)", (stamp, stamp))
    db.commit()
    db.close()
    listed = tmp_path / "list.csv"
    listed.write_text("email,name,themes,status\njörg@example.org,Jörg,,unsubscribed\n", encoding="utf-8")

    main(["subscribers", "import", str(listed), "--config", str(config)])

    store = Store(database)
    try:
        assert subs.find_subscriber(store, "jörg@example.org").status == "unsubscribed", capsys.readouterr().err
    finally:
        store.close()


def test_the_confirm_page_says_the_name_the_button_gives(tmp_path_factory):
    """The confirm page of a request without a name shows the name confirming it keeps (one left on the address),
    not "no name"."""
    import re
    from datetime import UTC, datetime

    import httpx
    import pytest

    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from tests.serve_fixtures import LiveServer, serve_project
    from tests.test_serve import ask, link_in

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TEST_SERVE_SECRET", raising=False)
        live = LiveServer(serve_project(tmp_path_factory.mktemp("h99-serve"))).start()
        try:
            store = Store(live.project.core.state_dir / "pipeline.sqlite")
            try:  # Ann was on the list as "Ann Smith", and left
                subs.import_rows(store, [("ann@example.org", "Ann Smith")], how="cli", at=datetime.now(UTC))
                subs.remove(store, "ann@example.org", how="cli", at=datetime.now(UTC))
            finally:
                store.close()
            with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": "192.0.2.99"}, timeout=10) as client:
                assert ask(client, "ann@example.org").status_code == 200  # back, leaving the name empty
                link = link_in(live.wait_for_message("ann@example.org"), "confirm")
                shown = re.search(r"<dt>Your name in each issue</dt><dd>(.*?)</dd>", client.get(link).text).group(1)
                assert client.post(link).status_code == 200
            store = Store(live.project.core.state_dir / "pipeline.sqlite")
            try:
                given = subs.find_subscriber(store, "ann@example.org").name
            finally:
                store.close()
        finally:
            live.stop()

    assert shown == (given or "no name")


def test_a_post_made_a_draft_is_withdrawn_while_another_post_is_kept_with_a_warning(pipeline_project):
    """A warning about a post that is kept all the same (themes not a list) skips no record, so a post made a draft
    again is still withdrawn in that run."""
    project = pipeline_project(BLOG_TOML, {"blog/jan.md": post_file("January post", "2016-01-20"),
                                          "blog/feb.md": post_file("February post", "2016-01-25", "themes: housing\n"),
                                          "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1), check=False)
    assert any("themes 'housing' is not a list" in p for p in project.problems)  # February post kept all the same
    project.write({"blog/jan.md": post_file("January post", "2016-01-20", "draft: true\n")})

    project.refresh(as_of=date(2016, 2, 1), check=False)

    assert [entry.title for entry in project.feed().entries] == ["February post"]
