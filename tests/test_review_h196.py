"""Review h196: what goes into each issue (review h192's rules) as the site, the feed and later issues see it."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import main
from tests.http_fixtures import Route
from tests.test_review_h192 import PROJECT, issue, rss

THEMED = PROJECT + """
[transforms.themes]
type = "themes"

[transforms.themes.taxonomy]
"funding" = ["funding"]
"peer support" = ["peer support*"]
"housing" = ["housing"]
"""


def network(write_project, feed_server, subscribers: str = "email,name\nfay@example.org,Fay\n") -> Path:
    feed_server.routes["/odu.xml"] = Route(rss())
    feed_server.routes["/hvn.xml"] = Route(rss())
    return write_project(THEMED.format(odu=feed_server.url("/odu.xml"), hvn=feed_server.url("/hvn.xml")),
                         {"subscribers.csv": subscribers, "events.toml": ""})


RENEWAL = "ESRC renews co-production funding"


def test_the_same_news_from_two_partner_feeds_is_listed_once_on_the_site(write_project, feed_server):
    """Two partners passed on the ESRC's news, each entry linking the ESRC's page: the issue, its web version and the
    feed had it once (review h192), but the site's month page, the theme's page and their indexes' counts listed it
    twice, one after the other. Now the site's lists have the copy the issue sent, once (the other keeps its page)."""
    config = network(write_project, feed_server)
    feed_server.routes["/odu.xml"] = Route(rss((RENEWAL, "https://esrc.example.org/news/renewal",
                                                "Wed, 24 Feb 2016 09:00:00 +0000")))
    feed_server.routes["/hvn.xml"] = Route(rss((RENEWAL, "http://www.esrc.example.org/news/renewal/",
                                                "Thu, 25 Feb 2016 09:00:00 +0000")))
    assert issue(config, "2016-03-01", 1).count(f"* {RENEWAL}") == 1
    out = config.parent / "out"
    for page in ("months/2016-02/index.html", "themes/funding/index.html"):
        assert _listed(out / page) == 1, page
    assert "1 item" in (out / "months" / "index.html").read_text()
    assert len(list((out / "news").glob("*/index.html"))) == 2  # the dropped copy's own page stays


def test_the_site_lists_the_copy_the_issue_sent(write_project, feed_server):
    """A second partner's copy, under its own title, arrives after March's issue with an earlier date: April's issue
    rightly leaves it out (its page was sent), and the site's lists show the copy March's issue sent, not this one;
    the feed kept the first published, so it swapped March's copy for this one, the same news new again in every
    feed reader. Now the feed too keeps the copy an issue sent."""
    config = network(write_project, feed_server)
    feed_server.routes["/odu.xml"] = Route(rss((RENEWAL, "https://esrc.example.org/news/renewal",
                                                "Wed, 24 Feb 2016 09:00:00 +0000")))
    assert f"* {RENEWAL}" in issue(config, "2016-03-01", 1)
    feed_server.routes["/hvn.xml"] = Route(rss(("Funding renewed for co-production", "https://esrc.example.org/news/"
                                                "renewal", "Sat, 20 Feb 2016 09:00:00 +0000"),
                                               ("Hearing voices news", "https://hvn.example.org/n",
                                                "Tue, 15 Mar 2016 09:00:00 +0000")))
    assert "Funding renewed" not in issue(config, "2016-04-01", 2)
    month = (config.parent / "out" / "months" / "2016-02" / "index.html").read_text()
    assert _listed(config.parent / "out" / "months" / "2016-02" / "index.html") == 1
    assert "Funding renewed for co-production" not in month
    # and the feed, which had March's copy, keeps it: the later copy in its place would be new to every feed reader
    feed = (config.parent / "out" / "feed.xml").read_text()
    assert f"<title>{RENEWAL}</title>" in feed and "Funding renewed for co-production" not in feed


def _listed(page: Path, title: str = RENEWAL) -> int:
    return page.read_text().count(f">{title}</a>")


# -- one page, however its link is spelt ---------------------------------------------------------------------

def test_two_partners_links_to_one_page_with_their_own_tracking_tags_are_one(write_project, feed_server):
    """Each partner's feed tags the links it passes on with its own campaign (`?utm_source=odu&utm_medium=rss`, a
    `fbclid`): the page is one, but the query told them apart, so the same news went out twice. Now tracking tags
    are no part of the page; a query that names another page (`?id=12`, `?id=13`) still is."""
    config = network(write_project, feed_server)
    date = "Wed, 24 Feb 2016 09:00:00 +0000"
    feed_server.routes["/odu.xml"] = Route(rss(
        (RENEWAL, "https://esrc.example.org/news/renewal?utm_source=odu&utm_medium=rss#top", date),
        ("Minutes of meeting 12", "https://esrc.example.org/minutes?id=12&utm_campaign=feb", date)))
    feed_server.routes["/hvn.xml"] = Route(rss(
        (RENEWAL, "https://esrc.example.org/news/renewal/?fbclid=IwAR0x&utm_source=hvn", date),
        ("Minutes of meeting 13", "https://esrc.example.org/minutes?id=13", date)))
    text = issue(config, "2016-03-01", 1)
    assert text.count(f"* {RENEWAL}") == 1
    assert "Minutes of meeting 12" in text and "Minutes of meeting 13" in text


# -- the first issue's backlog ---------------------------------------------------------------------------------

def seminar(number: int, posted: str, start: str) -> str:
    return (f'[[event]]\nid = "seminar-{number}"\ntitle = "Seminar {number} on peer work"\nposted = {posted}\n'
            f'start = {start}T10:00:00\ntimezone = "Europe/London"\nvenue = "Leeds"\n\n')


def test_the_backlog_the_first_issue_left_out_does_not_flood_the_second(write_project, feed_server):
    """A new project's events.toml holds the year's seminars, most of them posted in the autumn. The first issue
    holds what was posted in the month before it, as the README says, so the autumn's stayed out; but the second
    issue then sent every one of them (every event still to come that no issue sent, whatever its posted date),
    the backlog the first issue had left out coming a month later, all at once, with April's own. Now an event or
    job first seen before the first issue and posted before its month stays out of the later issues as of the first
    (one put in the files later, with an older posted date, still goes in the next issue)."""
    backlog = "".join(seminar(n, f"2015-10-{n + 10:02d}", f"2016-0{5 + n % 3}-{n + 1:02d}") for n in range(1, 7))
    config = network(write_project, feed_server)
    (config.parent / "events.toml").write_text(backlog + seminar(7, "2016-02-10", "2016-06-20"))
    first = issue(config, "2016-03-01", 1)
    assert "Seminar 7 on peer work" in first and "Seminar 1 on peer work" not in first
    (config.parent / "events.toml").write_text(backlog + seminar(7, "2016-02-10", "2016-06-20")
                                               + seminar(8, "2016-03-10", "2016-06-21")
                                               + seminar(9, "2016-01-05", "2016-07-01"))  # put in late
    second = issue(config, "2016-04-01", 2)
    assert "Seminar 8 on peer work" in second and "Seminar 9 on peer work" in second
    assert not [n for n in range(1, 7) if f"Seminar {n} on peer work" in second]


# -- a subscriber's themes -------------------------------------------------------------------------------------

def test_a_subscriber_following_the_left_out_copys_theme_still_gets_the_news(write_project, feed_server):
    """Two partners passed on one page, each in its own words: the first (kept) is about funding, the second about
    peer support. Gus follows peer support only: before review h192 he got the second partner's copy; since, the
    issue kept the first alone, which carries none of his themes, and he got nothing of it (nor anything at all,
    this month). Now the copy kept goes to whoever follows a theme of either copy, in the email, on a re-run and in
    what `deliveries --resend` and `status` count as reachable."""
    config = network(write_project, feed_server,
                     "email,name,themes\nfay@example.org,Fay,\ngus@example.org,Gus,peer support\n")
    feed_server.routes["/odu.xml"] = Route(rss((RENEWAL, "https://esrc.example.org/news/renewal",
                                                "Wed, 24 Feb 2016 09:00:00 +0000")))
    feed_server.routes["/hvn.xml"] = Route(rss(("Peer support research to go on", "https://esrc.example.org/news/"
                                                "renewal", "Thu, 25 Feb 2016 09:00:00 +0000")))
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0
    sent = {path.name: path.read_text() for path in (config.parent / "outbox" / "issue-1").glob("*.eml")}
    assert len(sent) == 2, sorted(sent)
    gus = next(text for name, text in sent.items() if "gus" in name)
    assert RENEWAL in gus
    # Shown once everywhere: the issue's web version, the email as re-made, the site's lists
    out = config.parent / "out"
    page = (out / "archive" / "issue-1.html").read_text()
    assert page.count(f">{RENEWAL}</a>") == 1 and "Peer support research to go on" not in page
    assert "Peer support research to go on" not in (out / "newsletter" / "issue-1.txt").read_text()
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # a re-run: nobody is sent it twice
    assert len(list((config.parent / "outbox" / "issue-1").glob("*.eml"))) == 2
    page = (out / "archive" / "issue-1.html").read_text()
    assert page.count(f">{RENEWAL}</a>") == 1 and "Peer support research to go on" not in page
    assert _listed(out / "months" / "2016-02" / "index.html") == 1
    assert "Peer support research to go on" not in (out / "months" / "2016-02" / "index.html").read_text()
    # A theme's page lists the news as the theme's feed has it: the copy carrying the theme, once
    themes = out / "themes"
    assert _listed(themes / "funding" / "index.html") == 1
    assert _listed(themes / "peer-support" / "index.html", "Peer support research to go on") == 1
    # The copy's own page stays, and does not send the reader to an issue that does not show it
    (copy,) = [p for p in (out / "news").glob("*/index.html") if "Peer support research to go on" in p.read_text()]
    assert "issue 1</a> of the newsletter" not in copy.read_text()
    # What `deliveries --resend`, `status` and the organisers' alert count as reachable agrees: Gus gets something
    from pipeline.config import load_project
    from pipeline.mail.reach import gets_something
    from pipeline.state import Store

    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        chosen = gets_something(load_project(config), store, store.latest_edition())
        assert chosen(frozenset({"peer support"})) and not chosen(frozenset({"housing"}))
    finally:
        store.close()


# -- a news item that mentions a job among other news ----------------------------------------------------------

def test_a_partners_roundup_that_names_a_job_sent_earlier_among_other_news_still_goes_out(write_project,
                                                                                          feed_server):
    """March's issue advertised Open Dialogue UK's administrator job. Its March roundup, titled with the job among
    three pieces of news (a peer support guide, the spring seminars), counts as an announcement of the job (its
    title has the job's words, it names the organisation and the closing date); since review h192 a news item of a
    job an earlier issue sent stays out, so the roundup went out nowhere and the guide and the seminars with it
    (within one issue it is at least linked on the job, "Also announced by"). Now only a news item whose title is
    about the job or event alone stays out; a roundup goes out. Their news of the job alone still stays out."""
    from tests.test_review_h192 import JOB, rss_with_text
    from tests.test_review_h192 import network as h192_network

    config = h192_network(write_project, feed_server)
    config.write_text(config.read_text() + '\n[sources.jobs]\ntype = "jobs"\npath = "jobs.toml"\n')
    (config.parent / "jobs.toml").write_text(JOB)
    assert "* Administrator for the Open Dialogue UK centre in London" in issue(config, "2016-03-01", 1)
    text = ("We are hiring an administrator for our London centre: applications close on 31 March 2016. Our new "
            "peer support guide is out, and three seminars are coming in May.")
    roundup = rss_with_text("Open Dialogue UK in March: an administrator for our centre, a peer support guide, "
                            "spring seminars", "https://odu.example.org/news/march", "Sun, 20 Mar 2016 09:00:00 +0000",
                            text)
    hiring = rss_with_text("We are hiring: administrator for our London centre", "https://odu.example.org/news/hiring",
                           "Sat, 05 Mar 2016 09:00:00 +0000", "Open Dialogue UK needs an administrator for its London "
                           "centre. Applications close on 31 March 2016.")
    feed_server.routes["/odu.xml"] = Route(roundup.replace(b"</channel>", hiring[hiring.index(b"<item>"):]
                                                           .replace(b"</channel></rss>", b"") + b"</channel>"))
    sent = issue(config, "2016-04-01", 2)
    assert "* Open Dialogue UK in March" in sent, sent[sent.index("PARTNER NEWS"):][:400]
    assert "* We are hiring" not in sent
