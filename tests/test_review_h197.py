"""Review h197: an event or job an issue announced that is moved, cancelled or has its closing date changed after the
issue went out is told of in the next issue ("Changed since issue N"), once, in the email (HTML and text) and in the
issue's web version, for those whose themes chose it."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from pipeline.cli import main
from tests.http_fixtures import Route
from tests.test_review_h192 import rss

PROJECT = """[pipeline]
name = "Co-production Network"
site_url = "https://net.example.org"
timezone = "Europe/London"

[sources.odu]
type = "feed"
url = "{odu}"

[sources.events]
type = "events"
path = "events.toml"

[sources.jobs]
type = "jobs"
path = "jobs.toml"

[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@net.example.org"
always_include = ["event"]

[sinks.archive]
type = "archive"
"""


def seminar(number: int, start: str, end: str, venue: str, posted: str = "2016-02-10") -> str:
    return f"""[[event]]
id = "seminar-{number}"
title = "Seminar {number}: Co-production in practice"
posted = {posted}
start = {start}
end = {end}
timezone = "Europe/London"
venue = "{venue}"
"""


def job(closing: str, title: str = "Peer support worker in Leeds", themes: str = '["peer support"]') -> str:
    return f"""[[job]]
id = "peer-worker"
title = "{title}"
organisation = "Leeds Mind"
posted = 2016-02-12
closing_date = {closing}
description = "Join the team."
themes = {themes}
"""


def project(write_project, feed_server) -> Path:
    feed_server.routes["/odu.xml"] = Route(rss(("Winter news", "https://odu.example.org/winter",
                                                "Mon, 15 Feb 2016 09:00:00 +0000")))
    return write_project(PROJECT.format(odu=feed_server.url("/odu.xml")), {
        "subscribers.csv": "email,name,themes\nfay@example.org,Fay,\ngil@example.org,Gil,research\n",
        "events.toml": seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds Beckett University")
        + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's"),
        "jobs.toml": job("2016-04-30")})


def issue(config: Path, as_of: str, number: int) -> dict[str, tuple[str, str]]:
    """Run the month's issue, issue `number`: {address: (plain text, HTML)} of the emails in the outbox, the text's
    lines joined by single spaces."""
    assert main(["run", "-c", str(config), "--as-of", as_of]) == 0
    found = {}
    for path in (config.parent / "outbox" / f"issue-{number}").glob("*.eml"):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        # the text's lines joined (a long line is wrapped), the HTML as it is
        found[parsed["To"].addresses[0].addr_spec] = (" ".join(parsed.get_body(("plain",)).get_content().split()),
                                                      parsed.get_body(("html",)).get_content())
    assert found, f"no issue {number} was sent on {as_of}"
    return found


def web_version(config: Path, number: int) -> str:
    return (config.parent / "out" / "archive" / f"issue-{number}.html").read_text()


def test_a_moved_a_cancelled_event_and_a_job_extended_are_told_once_in_the_next_issue(write_project, feed_server):
    """March's issue announced seminar 4 (23 June, 13:30), seminar 5 (18 May) and the peer worker's job (closing 30
    April). In March seminar 4 moved to 14:00 and to another venue, seminar 5 was taken out of events.toml
    (cancelled) and the job's closing date was put back to 15 May: April's issue said nothing of any of it, and
    someone could travel to a cancelled seminar. Now April's issue says what changed, with the old and new values,
    in the email's text and HTML and in its web version; May's, with nothing changed since, says nothing again."""
    config = project(write_project, feed_server)
    first = issue(config, "2016-03-01", 1)
    text, html = first["fay@example.org"]
    assert "Seminar 5" in text and "Peer support worker" in text and "Changed since" not in text
    folder = config.parent
    (folder / "events.toml").write_text(
        seminar(4, "2016-06-23T14:00:00", "2016-06-23T16:00:00", "Leeds Civic Hall")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    (folder / "jobs.toml").write_text(job("2016-05-15"))
    second = issue(config, "2016-04-01", 2)
    text, html = second["fay@example.org"]
    assert "Seminar 6" in text  # the new event, as ever
    assert "CHANGED SINCE ISSUE 1" in text
    changed = text[text.index("CHANGED SINCE ISSUE 1"):]
    assert "* Seminar 4: Co-production in practice" in changed
    assert "now Thursday 23 June 2016, 14:00–16:00 BST, not 13:30–16:00 BST" in changed
    assert "now at Leeds Civic Hall, not Leeds Beckett University" in changed
    assert "* Seminar 5: Co-production in practice" in changed and "cancelled" in changed
    assert "* Peer support worker in Leeds" in changed
    assert "now closes Sunday 15 May 2016, not Saturday 30 April 2016" in changed
    assert "<h2>Changed since issue 1</h2>" in html
    assert "14:00–16:00 BST, not 13:30–16:00 BST" in html and "cancelled" in html
    # Gil follows research: every event is his, the job (of peer support) is not, nor its change
    gil_text, gil_html = second["gil@example.org"]
    assert "Seminar 5" in gil_text and "cancelled" in gil_text
    assert "Peer support worker" not in gil_text and "Peer support worker" not in gil_html
    page = web_version(config, 2)
    assert "Changed since issue 1</h2>" in page
    assert "14:00–16:00 BST, not 13:30–16:00 BST" in page and "Peer support worker in Leeds" in page
    # Re-made (a re-run of its date), the issue says the same
    assert main(["run", "-c", str(config), "--as-of", "2016-04-01"]) == 0
    assert "14:00–16:00 BST, not 13:30–16:00 BST" in web_version(config, 2)
    # May: told once; seminar 4 moved to 15:00 and back to 14:00 before the issue says nothing either; the job's
    # title edited is no change of its closing date; a news item edited is nothing to tell
    (folder / "events.toml").write_text(
        seminar(4, "2016-06-23T15:00:00", "2016-06-23T16:00:00", "Leeds Civic Hall")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    assert main(["refresh", "-c", str(config)]) in (0, 3)
    (folder / "events.toml").write_text(
        seminar(4, "2016-06-23T14:00:00", "2016-06-23T16:00:00", "Leeds Civic Hall")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10")
        + seminar(7, "2016-07-20T10:00:00", "2016-07-20T16:00:00", "Hull", posted="2016-04-10"))
    (folder / "jobs.toml").write_text(job("2016-05-15", title="Peer support worker (Leeds)"))
    feed_server.routes["/odu.xml"] = Route(rss(("Winter news, corrected", "https://odu.example.org/winter",
                                                "Mon, 15 Feb 2016 09:00:00 +0000")))
    third = issue(config, "2016-05-01", 3)
    text, html = third["fay@example.org"]
    assert "Seminar 7" in text
    assert "Changed since" not in text and "CHANGED SINCE" not in text and "Changed since" not in html
    assert "Changed since" not in web_version(config, 3)


def test_a_change_after_a_change_was_told_is_told_again_and_a_job_withdrawn_says_so(write_project, feed_server):
    """A change told in April, then another in April: May's issue tells the second, against what April said; a job
    taken out of jobs.toml while still open is withdrawn, and said so."""
    config = project(write_project, feed_server)
    folder = config.parent
    (folder / "jobs.toml").write_text(job("2016-05-31"))
    issue(config, "2016-03-01", 1)
    events = folder / "events.toml"
    events.write_text(seminar(4, "2016-06-23T14:00:00", "2016-06-23T16:00:00", "Leeds Beckett University")
                      + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's")
                      + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    text, _ = issue(config, "2016-04-01", 2)["fay@example.org"]
    assert "now Thursday 23 June 2016, 14:00–16:00 BST, not 13:30–16:00 BST" in text
    assert "Seminar 5" not in text  # not changed
    events.write_text(seminar(4, "2016-06-30T14:00:00", "2016-06-30T16:00:00", "Leeds Beckett University")
                      + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's")
                      + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10")
                      + seminar(7, "2016-07-20T10:00:00", "2016-07-20T16:00:00", "Hull", posted="2016-04-10"))
    (folder / "jobs.toml").write_text("")
    text, html = issue(config, "2016-05-01", 3)["fay@example.org"]
    assert "CHANGED SINCE ISSUE 1" in text  # the job was told by issue 1, seminar 4 by issue 2
    changed = text[text.index("CHANGED SINCE"):]
    assert "now Thursday 30 June 2016, 14:00–16:00 BST, not Thursday 23 June 2016, 14:00–16:00 BST" in changed
    assert "* Peer support worker in Leeds" in changed and "withdrawn" in changed


def test_a_database_from_before_tells_only_what_changes_after_the_upgrade(write_project, feed_server):
    """A state database from the version before (schema step 17), with issue 1 made, recorded nothing of what the
    issue said. The step that adds the record takes each job and event of an issue made before as told as it is
    then: a change made after the upgrade is told in the next issue, and nothing more is."""
    import sqlite3

    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    (database,) = config.parent.glob("**/pipeline.sqlite")
    with sqlite3.connect(database) as db:  # as the version before left it
        db.execute("DROP TABLE told")
        db.execute("DROP TABLE edition_changes")
        db.execute("PRAGMA user_version = 17")
    folder = config.parent
    (folder / "events.toml").write_text(
        seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds Civic Hall")
        + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    text, _ = issue(config, "2016-04-01", 2)["fay@example.org"]
    assert "CHANGED SINCE ISSUE 1" in text and "now at Leeds Civic Hall, not Leeds Beckett University" in text
    assert "Seminar 5" not in text and "Peer support worker" not in text
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 18


def test_the_changed_section_passes_axe_in_the_email_and_the_web_version(write_project, feed_server, browser):
    """The section's heading, list and links, in the email's HTML (WCAG A and AA) and on the issue's page (every
    rule, as each page of the site), in a real Chromium."""
    from axe_playwright_python.sync_playwright import Axe

    from pipeline.config import load_project
    from tests.test_archive_browser import WCAG_A_AA, serving_out

    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    (config.parent / "events.toml").write_text(
        seminar(4, "2016-06-23T14:00:00", "2016-06-23T16:00:00", "Leeds Civic Hall")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    issue(config, "2016-04-01", 2)
    axe = Axe()
    with serving_out(load_project(config)) as served:
        tab = browser.new_page()
        try:
            tab.goto(f"{served.url}newsletter/issue-2.html")
            assert tab.get_by_role("heading", name="Changed since issue 1").count() == 1
            results = axe.run(tab, options=WCAG_A_AA)
            assert results.violations_count == 0, results.generate_report()
            tab.goto(f"{served.url}archive/issue-2.html")
            assert tab.get_by_role("heading", name="Changed since issue 1").count() == 1
            assert tab.get_by_role("link", name="Seminar 4: Co-production in practice").count() >= 1
            results = axe.run(tab)
            assert results.violations_count == 0, results.generate_report()
        finally:
            tab.close()


def test_a_change_alone_of_a_subscribers_themes_is_sent_to_them(write_project, feed_server):
    """Hal follows peer support, and jobs follow themes too here (`always_include = []`). April's issue has nothing
    new of his themes, but the peer worker's job March's issue sent him closes later now: he is sent the issue,
    with that change and nothing else (he would otherwise never hear of it: the change is told once)."""
    config = project(write_project, feed_server)
    config.write_text(config.read_text().replace('always_include = ["event"]', "always_include = []"))
    (config.parent / "subscribers.csv").write_text("email,name,themes\nfay@example.org,Fay,\n"
                                                   "hal@example.org,Hal,peer support\n")
    assert "Peer support worker" in issue(config, "2016-03-01", 1)["hal@example.org"][0]
    (config.parent / "jobs.toml").write_text(job("2016-05-15"))
    (config.parent / "events.toml").write_text(
        (config.parent / "events.toml").read_text()
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    second = issue(config, "2016-04-01", 2)
    text, html = second["hal@example.org"]
    assert "Seminar 6" not in text and "Nothing new for your themes this time" in text
    assert "now closes Sunday 15 May 2016, not Saturday 30 April 2016" in text and "Changed since issue 1" in html
    assert "Seminar 6" in second["fay@example.org"][0]
    assert main(["deliveries", "-c", str(config), "--issue", "2"]) == 0  # nobody it is still to reach


def test_an_event_corrected_under_a_new_id_is_no_cancellation_and_its_move_is_told(write_project, feed_server):
    """Seminar 5's `id` is corrected in events.toml (the same title and posted day): its old id is withdrawn, but the
    same event is on under the new one, so nothing says it is cancelled; moved to another venue at once, the move is
    told, and it is not sent again as new."""
    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    (config.parent / "events.toml").write_text(
        seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds Beckett University")
        + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "York St John").replace(
            'id = "seminar-5"', 'id = "seminar-5-leeds"')
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    text, _ = issue(config, "2016-04-01", 2)["fay@example.org"]
    changed = text[text.index("CHANGED SINCE ISSUE 1"):text.index("EVENTS")]
    assert "* Seminar 5: Co-production in practice now at York St John, not St Catherine's" in changed
    assert "cancelled" not in text
    assert text.count("Seminar 5") == 1  # told as changed, not sent again as new


def test_an_event_over_then_taken_out_says_nothing_and_one_listed_again_is_on_again(write_project, feed_server):
    """Seminar 3 took place on 17 March and was then taken out of the file: nothing to tell (tidying up, not a
    cancellation). Seminar 5, cancelled in March and told so in April, is listed again: May's issue says it is on
    again, with its day."""
    config = project(write_project, feed_server)
    folder = config.parent
    events = folder / "events.toml"
    events.write_text(events.read_text() + seminar(3, "2016-03-17T09:30:00", "2016-03-17T16:00:00", "Leeds"))
    assert "Seminar 3" in issue(config, "2016-03-01", 1)["fay@example.org"][0]
    four = seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds Beckett University")
    five = seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's")
    six = seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10")
    events.write_text(four + six)
    text, _ = issue(config, "2016-04-01", 2)["fay@example.org"]
    assert "* Seminar 5: Co-production in practice cancelled" in text and "Seminar 3" not in text
    events.write_text(four + five + six + seminar(7, "2016-07-20T10:00:00", "2016-07-20T16:00:00", "Hull",
                                                  posted="2016-04-10"))
    text, _ = issue(config, "2016-05-01", 3)["fay@example.org"]
    assert "CHANGED SINCE ISSUE 2" in text
    assert "* Seminar 5: Co-production in practice on again: Wednesday 18 May 2016, 10:00–16:00 BST" in text
    assert text.count("Seminar 5") == 1  # not sent again as new
    assert "Seminar 3" not in text


def test_a_preview_shows_the_changes_and_records_nothing(write_project, feed_server):
    """`pipeline preview` of April's issue, before it is made, shows the change as the issue will; it records
    nothing, so the issue made after still tells it."""
    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    (config.parent / "jobs.toml").write_text(job("2016-05-15"))
    (config.parent / "events.toml").write_text(
        (config.parent / "events.toml").read_text()
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    assert main(["refresh", "-c", str(config)]) == 0
    assert main(["preview", "-c", str(config), "--as-of", "2016-04-01"]) == 0
    (shown,) = (config.parent / "out" / "preview").glob("*.txt")
    assert "now closes Sunday 15 May 2016, not Saturday 30 April 2016" in " ".join(shown.read_text().split())
    text, _ = issue(config, "2016-04-01", 2)["fay@example.org"]
    assert "now closes Sunday 15 May 2016, not Saturday 30 April 2016" in text
