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


def issue(config: Path, as_of: str) -> str:
    """Run the month's issue; the plain text of Fay's email."""
    assert main(["run", "-c", str(config), "--as-of", as_of]) == 0
    number = len(list((config.parent / "outbox").glob("issue-*")))
    (message,) = (config.parent / "outbox" / f"issue-{number}").glob("*.eml")
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
    text = issue(config, "2016-03-01")
    assert text.count("* ESRC renews co-production funding") == 1
    out = config.parent / "out"
    assert (out / "archive" / "issue-1.html").read_text().count("ESRC renews co-production funding</a>") == 1
    assert (out / "feed.xml").read_text().count("<title>ESRC renews co-production funding</title>") == 1
    # A month later, with one more item, the one left out is not sent then either
    feed_server.routes["/odu.xml"] = Route(rss(RENEWAL, ("Spring news", "https://odu.example.org/spring",
                                                         "Tue, 15 Mar 2016 09:00:00 +0000")))
    text = issue(config, "2016-04-01")
    assert "Spring news" in text and "ESRC renews" not in text


def test_the_same_news_passed_on_a_month_later_by_another_partner_is_not_sent_again(write_project, feed_server):
    """The second partner's entry comes a month late, its link spelt as its site writes it (http, "www.", a slash
    at the end): a late arrival of March's period, it went out again in April, though the same page was in March's
    issue. Now a news item linking a page an earlier issue linked, however spelt, stays out."""
    config = network(write_project, feed_server)
    feed_server.routes["/odu.xml"] = Route(rss(RENEWAL))
    assert "* ESRC renews co-production funding" in issue(config, "2016-03-01")
    title, link, date = RENEWAL
    feed_server.routes["/hvn.xml"] = Route(rss((title, link.replace("https://", "http://www.") + "/", date),
                                               ("Hearing voices news", "https://hvn.example.org/n",
                                                "Tue, 15 Mar 2016 09:00:00 +0000")))
    text = issue(config, "2016-04-01")
    assert "Hearing voices news" in text and "ESRC renews" not in text
