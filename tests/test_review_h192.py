"""Review h192: a year of monthly issues read as a subscriber reads them (the email in the outbox, the issue's web
version, the feed), with the network's content changing between months."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from pipeline.cli import main
from tests.http_fixtures import Route

PROJECT = """[pipeline]
name = "Co-production Network"
site_url = "https://net.example.org"
timezone = "Europe/London"

[sources.odu]
type = "feed"
url = "{odu}"

[sources.hvn]
type = "feed"
url = "{hvn}"

[sources.events]
type = "events"
path = "events.toml"

[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@net.example.org"

[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""


def rss(*entries: tuple[str, str, str]) -> bytes:
    items = "".join(f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{date}</pubDate>"
                    f"<description>{title}.</description></item>" for title, link, date in entries)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>p</title><link>https://p.example.org/</link>'
            f"<description>p</description>{items}</channel></rss>").encode()


def network(write_project, feed_server, events: str = "") -> Path:
    feed_server.routes["/odu.xml"] = Route(rss())
    feed_server.routes["/hvn.xml"] = Route(rss())
    return write_project(PROJECT.format(odu=feed_server.url("/odu.xml"), hvn=feed_server.url("/hvn.xml")),
                         {"subscribers.csv": "email,name\nfay@example.org,Fay\n", "events.toml": events})


def issue(config: Path, as_of: str, number: int) -> str:
    """Run the month's issue, issue `number`; the plain text of Fay's email."""
    assert main(["run", "-c", str(config), "--as-of", as_of]) == 0
    messages = list((config.parent / "outbox" / f"issue-{number}").glob("*.eml"))
    assert len(messages) == 1, f"no issue {number} was sent on {as_of}"
    (message,) = messages
    parsed = email.message_from_bytes(message.read_bytes(), policy=email.policy.default)
    return parsed.get_body(("plain",)).get_content()


# -- the same news from two partner feeds ---------------------------------------------------------------------

RENEWAL = ("ESRC renews co-production funding", "https://esrc.example.org/news/renewal",
           "Wed, 24 Feb 2016 09:00:00 +0000")


def test_the_same_news_from_two_partner_feeds_is_in_the_issue_once(write_project, feed_server):
    """Two partners passed on the ESRC's news, each feed's entry linking the ESRC's page: the March issue listed
    "ESRC renews co-production funding" twice under Partner news, one after the other, in the email, its web version
    and the feed (an earlier issue's link is never sent again, but two of one issue were both sent). Now the issue
    holds it once (the first stored), the later one stays out of this issue and the next, and the feed has it once."""
    config = network(write_project, feed_server)
    feed_server.routes["/odu.xml"] = Route(rss(RENEWAL))
    feed_server.routes["/hvn.xml"] = Route(rss(RENEWAL))
    text = issue(config, "2016-03-01", 1)
    assert text.count("* ESRC renews co-production funding") == 1
    out = config.parent / "out"
    assert (out / "archive" / "issue-1.html").read_text().count("ESRC renews co-production funding</a>") == 1
    assert (out / "feed.xml").read_text().count("<title>ESRC renews co-production funding</title>") == 1
    # A month later, with one more item, the one left out is not sent then either
    feed_server.routes["/odu.xml"] = Route(rss(RENEWAL, ("Spring news", "https://odu.example.org/spring",
                                                         "Tue, 15 Mar 2016 09:00:00 +0000")))
    text = issue(config, "2016-04-01", 2)
    assert "Spring news" in text and "ESRC renews" not in text


def test_the_same_news_passed_on_a_month_later_by_another_partner_is_not_sent_again(write_project, feed_server):
    """The second partner's entry comes a month late, its link spelt as its site writes it (http, "www.", a slash
    at the end): a late arrival of March's period, it went out again in April, though the same page was in March's
    issue. Now a news item linking a page an earlier issue linked, however spelt, stays out."""
    config = network(write_project, feed_server)
    feed_server.routes["/odu.xml"] = Route(rss(RENEWAL))
    assert "* ESRC renews co-production funding" in issue(config, "2016-03-01", 1)
    title, link, date = RENEWAL
    feed_server.routes["/hvn.xml"] = Route(rss((title, link.replace("https://", "http://www.") + "/", date),
                                               ("Hearing voices news", "https://hvn.example.org/n",
                                                "Tue, 15 Mar 2016 09:00:00 +0000")))
    text = issue(config, "2016-04-01", 2)
    assert "Hearing voices news" in text and "ESRC renews" not in text


# -- a job or event added late, with the date its advert was first posted --------------------------------------

LATE_JOB = """[[job]]
id = "research-assistant"
title = "Research assistant, peer support study"
organisation = "University of Leeds"
posted = 2016-01-25
closing_date = 2016-04-30
description = "Join the study."
"""
LATE_EVENT = """[[event]]
id = "seminar-5"
title = "Seminar 5: Commissioning"
posted = 2016-01-20
start = 2016-05-18T10:00:00
end = 2016-05-18T16:00:00
timezone = "Europe/London"
venue = "Leeds"
"""
EARLIER = """[[event]]
id = "seminar-3"
title = "Seminar 3: Contemporary Developments in Healthcare Practice"
posted = 2016-02-03
start = 2016-03-17T09:30:00
timezone = "Europe/London"
venue = "St Catherine's"
"""


def test_an_open_job_and_a_coming_event_added_late_with_an_old_posted_date_are_sent(write_project, feed_server):
    """The organisers put a job and an event into the files in March, each with the day its advert was first posted
    (January). A late arrival was only an item of the previous issue's period (February), so neither was ever sent,
    though the job is open until 30 April and the event is in May: subscribers never heard of them. Now a job still
    open or an event still to come, first seen after the last issue, goes in the next one whatever its posted date;
    old news stays out (an earlier period's news is stale by then)."""
    config = network(write_project, feed_server, EARLIER)
    assert "Seminar 3" in issue(config, "2016-03-01", 1)
    (config.parent / "jobs.toml").write_text(LATE_JOB)
    config.write_text(config.read_text() + '\n[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n')
    (config.parent / "events.toml").write_text(EARLIER + "\n" + LATE_EVENT)
    feed_server.routes["/odu.xml"] = Route(rss(("Old January news", "https://odu.example.org/old",
                                                "Sun, 10 Jan 2016 09:00:00 +0000")))
    text = issue(config, "2016-04-01", 2)
    assert "* Research assistant, peer support study" in text
    assert "* Seminar 5: Commissioning" in text
    assert "Old January news" not in text and "Seminar 3" not in text
    assert "Seminar 5: Commissioning" in (config.parent / "out" / "archive" / "issue-2.html").read_text()


# -- a partner's news of a job an earlier issue advertised -----------------------------------------------------

JOB = """[[job]]
id = "odu-administrator"
title = "Administrator for the Open Dialogue UK centre in London"
organisation = "Open Dialogue UK"
location = "London"
posted = 2016-02-10
closing_date = 2016-03-31
description = "Help us open the centre."
"""
SEMINAR = """[[event]]
id = "seminar-5"
title = "Seminar 5: Commissioning services together"
posted = 2016-02-12
start = 2016-05-18T10:00:00
end = 2016-05-18T16:00:00
timezone = "Europe/London"
venue = "Leeds"
"""
SEMINAR_NEWS = ("Seminar 5: commissioning services together, Leeds, 18 May 2016", "https://hvn.example.org/seminar5",
                "Thu, 10 Mar 2016 09:00:00 +0000")
HIRING = ("We are hiring: administrator for our London centre", "https://odu.example.org/news/hiring",
          "Sat, 05 Mar 2016 09:00:00 +0000")


def rss_with_text(title: str, link: str, date: str, text: str) -> bytes:
    return rss((title, link, date)).replace(f"<description>{title}.</description>".encode(),
                                            f"<description>{text}</description>".encode())


def test_a_partners_news_of_a_job_an_earlier_issue_sent_is_not_sent_once_the_job_has_closed(write_project,
                                                                                             feed_server):
    """March's issue advertised the job (closing 31 March). Open Dialogue UK's own news of it came in March: in
    April's issue it went out on its own under Partner news, "applications close on 31 March", a job closed the day
    before, sent a second time. The same job or event is announced once (pipeline/duplicates.py), but only within
    one issue. Now a news item or post announcing a job or event that is not in the issue, because an earlier issue
    sent it or because it has closed or is over, stays out, as it would have been merged into it."""
    config = network(write_project, feed_server, SEMINAR)
    config.write_text(config.read_text() + '\n[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n')
    (config.parent / "jobs.toml").write_text(JOB)
    text = issue(config, "2016-03-01", 1)
    assert "* Administrator for the Open Dialogue UK centre in London" in text
    assert "* Seminar 5: Commissioning services together" in text
    feed_server.routes["/odu.xml"] = Route(rss_with_text(*HIRING, "Open Dialogue UK needs an administrator for its "
                                                         "London centre. Applications close on 31 March 2016."))
    # and the Hearing Voices Network's news of the seminar, still to come, that March's issue announced
    feed_server.routes["/hvn.xml"] = Route(rss(("Hearing voices news", "https://hvn.example.org/n",
                                                "Tue, 15 Mar 2016 09:00:00 +0000"), SEMINAR_NEWS))
    text = issue(config, "2016-04-01", 2)
    assert "Hearing voices news" in text
    assert "We are hiring" not in text
    assert "Seminar 5" not in text


# -- a job that closed the day before an issue, then had its closing date extended -----------------------------

def peer_worker(closing: str) -> str:
    return f"""[[job]]
id = "peer-worker"
title = "Peer support worker in Leeds"
organisation = "Leeds Mind"
posted = 2016-01-20
closing_date = {closing}
description = "Join the team."
"""


def test_a_job_that_had_closed_by_its_issue_and_was_then_extended_is_sent_in_the_next(write_project, feed_server):
    """The job closed on 31 January, the day before February's issue, which rightly left it out. In February its
    closing date was extended to 14 March: it was open again when March's issue was made, but it belonged to
    January and was first seen before February's issue, so no issue ever advertised it. Now a job still open (or an
    event still to come) that no issue sent goes in the next one."""
    config = network(write_project, feed_server, EARLIER.replace("2016-03-17T09:30:00", "2016-02-17T09:30:00")
                     .replace("posted = 2016-02-03", "posted = 2016-01-18"))
    config.write_text(config.read_text() + '\n[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n')
    (config.parent / "jobs.toml").write_text(peer_worker("2016-01-31"))
    text = issue(config, "2016-02-01", 1)
    assert "Seminar 3" in text and "Peer support worker" not in text
    (config.parent / "jobs.toml").write_text(peer_worker("2016-03-14"))
    feed_server.routes["/odu.xml"] = Route(rss(("Spring news", "https://odu.example.org/spring",
                                                "Mon, 15 Feb 2016 09:00:00 +0000")))
    text = issue(config, "2016-03-01", 2)
    assert "* Peer support worker in Leeds" in text and "CLOSING DATE: Monday 14 March 2016" in text
