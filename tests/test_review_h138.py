"""Review h138: alerts through a delivery of their own ([alerts.delivery]), feed links from the root, blog folders
per post and the plain run table."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from pipeline.cli import main
from tests.http_fixtures import Route

ORGANISER = "fay@network.example.org"
NEWSLETTER = ('[sources.partner]\ntype = "feed"\nurl = "down.xml"\n'
              '[sinks.newsletter]\ntype = "email"\nsubscribers = "subscribers.csv"\n'
              'from_email = "news@network.example.org"\n')


def alerting_project(write_project, delivery: str):
    """A newsletter whose one source always fails, alerting `ORGANISER` at once through `delivery`."""
    toml = (NEWSLETTER + f'[alerts]\nto = ["{ORGANISER}"]\nsource_failures = 1\n'
            f'[alerts.delivery]\ntype = "outbox"\nfolder = "alerts"\n{delivery}')
    return write_project(toml, {"down.xml": "not a feed", "subscribers.csv": f"email,name\n{ORGANISER},Fay\n"})


def refresh(config) -> int:
    return main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])


def test_forget_deletes_the_alerts_the_alerts_own_outbox_kept_for_that_person(write_project):
    """An organiser on the list who asks to be erased: the alerts written to them by [alerts.delivery]'s outbox go
    with the rest of their mail, as README says of `subscribers forget` (the outbox's mail to them)."""
    config = alerting_project(write_project, "")
    assert main(["subscribers", "add", ORGANISER, "--config", str(config)]) == 0
    assert refresh(config) == 3
    alerts = config.parent / "alerts" / "messages"
    assert any(alerts.glob(f"*{ORGANISER}*"))

    assert main(["subscribers", "forget", ORGANISER, "--config", str(config)]) == 0
    assert not any(alerts.glob(f"*{ORGANISER}*"))


def test_the_alerts_own_outbox_keeps_no_message_past_keep_message_days(write_project):
    """README: the files in messages/ are kept `keep_message_days`; the alerts' own outbox never sends an issue, and
    so kept every alert for ever."""
    config = alerting_project(write_project, "keep_message_days = 30\n")
    old = config.parent / "alerts" / "messages" / (
        f"{datetime.now() - timedelta(days=31):%Y%m%d-%H%M%S-%f}-{ORGANISER}-0123456789.eml")
    old.parent.mkdir(parents=True)
    old.write_text("an alert of long ago")

    assert refresh(config) == 3
    assert not old.exists()
    assert len(list(old.parent.glob("*.eml"))) == 1  # this run's alert


SHORT_KEY = "k3y9q7"  # 4 to 7 characters: read through ${NAME}, but not masked in a feed's items (README)
KEYED_ITEM = ("<rss version='2.0'><channel><title>Partner</title><description>d</description><item>"
              "<title>Members' news</title><link>/feeds/{key}/news/1.html</link>"
              "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate><media:thumbnail "
              "xmlns:media='http://search.yahoo.com/mrss/' url='/feeds/{key}/lead.png'/>"
              "<description>&lt;p&gt;See &lt;a href=\"/feeds/{key}/news/2.html\"&gt;the next&lt;/a&gt; and "
              "&lt;a href=\"/about/\"&gt;about us&lt;/a&gt;&lt;/p&gt;</description></item></channel></rss>")


def refreshed_private_feed(pipeline_project, feed_server, monkeypatch, parser: str, document: str):
    """A feed served at `/feeds/SHORT_KEY/rss.xml`, read as `/feeds/${PARTNER_KEY}/rss.xml` with `parser`, refreshed
    once: (its one item, the run's report)."""
    from pipeline import redact

    monkeypatch.setenv("PARTNER_KEY", SHORT_KEY)
    monkeypatch.setattr(redact, "_remembered", set())  # (masked in messages: not in the next tests')
    feed_server.routes[f"/feeds/{SHORT_KEY}/rss.xml"] = Route(document.encode())
    url = feed_server.url("/feeds/${PARTNER_KEY}/rss.xml")
    project = pipeline_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\nparser = "{parser}"\n',
                               {"subscribers.csv": "email,name\n"})
    report = project.refresh(as_of=date(2016, 2, 1), check=False)
    [item] = project.items()
    return item, report


@pytest.mark.parametrize("parser", ["feedparser", "fast"])
def test_a_link_from_the_root_that_repeats_the_key_of_the_feeds_path_is_left_out(
        pipeline_project, feed_server, monkeypatch, parser):
    """A private feed at `/feeds/${PARTNER_KEY}/rss.xml` declaring no base, whose links from the root repeat its
    path (`/feeds/KEY/news/1.html`): read from its origin they published the key, which a link from the root
    never needs to; left out, as before, and counted. `/about/` is still read from the origin."""
    item, report = refreshed_private_feed(pipeline_project, feed_server, monkeypatch, parser,
                                          KEYED_ITEM.format(key=SHORT_KEY))
    assert SHORT_KEY not in repr(item)
    assert item.url == "" and item.image == "" and f'href="{feed_server.url("/about/")}"' in item.body_html
    assert any(": 3 relative links in 1 new item could not be resolved" in problem for problem in report.problems)


BLOG = '[sources.blog]\ntype = "blog"\npath = "blog"\n'
POST_A = '---\ntitle: "Peer support in Leeds"\ndate: 2016-01-20\n---\n\nPeer workers met in Leeds.\n'


def test_the_folders_post_an_earlier_version_published_as_index_keeps_its_page_and_is_not_sent_again(
        pipeline_project, monkeypatch):
    """Before folders per post, a blog's one `post-a/index.md` was the post `index` (`blog/index/`), and went out
    in an issue. After the upgrade it must not come again as a new post `post-a` in the next issue (every
    reader would get it twice), nor its page move from under the link that issue gave."""
    from plugins.sources.blog import BlogSource

    project = pipeline_project(BLOG, {"blog/post-a/index.md": POST_A,
                                      "subscribers.csv": "email,name\nann@example.org,Ann\n"})
    with monkeypatch.context() as earlier:  # the slug an earlier version gave it: its file's name
        earlier.setattr(BlogSource, "_slug", lambda self, path, post: str(post.metadata.get("slug") or path.stem))
        project.run(as_of=date(2016, 2, 1))
    [published] = project.items()
    assert "Peer support in Leeds" in project.email(issue=1).html

    project.write({"blog/notes.md": POST_A.replace("Peer support in Leeds", "Notes from Bradford").replace(
        "2016-01-20", "2016-02-10")})
    project.run(as_of=date(2016, 3, 1))

    assert "Notes from Bradford" in project.email(issue=2).html
    assert "Peer support in Leeds" not in project.email(issue=2).html
    assert "Peer support in Leeds" in project.site("blog/index/")
    assert published.id in {item.id for item in project.items()}


def test_a_folders_post_added_after_the_blogs_own_index_was_deleted_is_named_by_its_folder(pipeline_project):
    """The item `index` of a blog's own `index.md`, deleted and so withdrawn, is not a folder's post published as
    `index` by an earlier version: a folder's post added later is `post-a`, a new post."""
    project = pipeline_project(BLOG, {"blog/index.md": POST_A.replace("Peer support in Leeds", "Welcome"),
                                      "subscribers.csv": "email,name\nann@example.org,Ann\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (project.root / "blog" / "index.md").unlink()
    project.refresh(as_of=date(2016, 2, 1))

    project.write({"blog/post-a/index.md": POST_A})
    project.refresh(as_of=date(2016, 2, 1))

    assert "Peer support in Leeds" in project.site("blog/post-a/")
