"""The `archive` sink: an index of every issue, newest first, and each issue's web version (the email's HTML)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.edition import from_record, prepare_edition
from pipeline.errors import ConfigError
from pipeline.models import Item, Kind, ProgrammeSlot
from pipeline.run_context import RunContext
from pipeline.site import archive_dir, edition_page, feed_url
from pipeline.state import Store
from plugins.sinks.archive.pages import issue_page
from plugins.sinks.email.render import render_edition

SINK = """
[sinks.archive]
type = "archive"
"""
FEB, MAR = date(2016, 2, 1), date(2016, 3, 1)


class Page(HTMLParser):
    """The parts of an HTML page the tests look at: <html lang>, <link>s, <a href>s and the text."""

    def __init__(self, source: str):
        super().__init__()
        self.lang = ""
        self.links: list[dict[str, str]] = []
        self.anchors: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "html":
            self.lang = attributes.get("lang", "")
        elif tag == "link":
            self.links.append(attributes)
        elif tag == "a":
            self.anchors.append(attributes.get("href", ""))

    def handle_data(self, data):
        if data.strip():
            self.text.append(" ".join(data.split()))


@pytest.fixture
def build_archive(project_from, tmp_path: Path):
    """build_archive({as_of: [items]}, sink_toml) -> (project, result, run); makes each edition, then writes."""
    stores: list[Store] = []

    def build(issues: dict[date, list[Item]], sink_toml: str = SINK, files=None, edition: bool = True):
        project = project_from(sink_toml, files)
        store = Store(tmp_path / "s.sqlite")
        stores.append(store)
        latest = None
        for as_of, items in sorted(issues.items()):
            moment = datetime.combine(as_of, datetime.min.time(), project.tz)
            store.save_items([(item, "fp") for item in items], moment)
            latest = prepare_edition(store, as_of, project.tz, project.core.name, moment)
        last = max(issues, default=FEB)
        run = RunContext(project, store, last, datetime.combine(last, datetime.min.time(), project.tz))
        result = project.sinks[0].write(latest if edition else None, run)
        return project, result, run

    yield build
    for store in stores:
        store.close()


def january(item_factory):
    return [item_factory(Kind.POST, "April blog post", published=datetime(2016, 1, 10, tzinfo=UTC),
                         themes=["power", "peer support"]),
            item_factory(Kind.JOB, "Peer support worker", themes=["peer support"]),
            item_factory(Kind.EVENT, "Seminar 3: Contemporary Developments")]


def february(item_factory):
    return [item_factory(Kind.NEWS, f"Partner news {n}", published=datetime(2016, 2, n, tzinfo=UTC),
                         themes=["recovery colleges"]) for n in (3, 4)]


def read(project, name: str) -> str:
    return (archive_dir(project) / name).read_text(encoding="utf-8")


def test_index_lists_every_issue_newest_first(build_archive, item_factory):
    project, result, _ = build_archive({FEB: january(item_factory), MAR: february(item_factory)})

    index = read(project, "index.html")
    page = Page(index)
    issue_links = [href for href in page.anchors if href.startswith("issue-")]
    assert issue_links == [edition_page(2), edition_page(1)]
    text = " | ".join(page.text)
    assert text.index("Test Network: issue 2, March 2016") < text.index("Test Network: issue 1, February 2016")
    assert "Issue 2, | 1 March 2016" in text and "Issue 1, | 1 February 2016" in text
    assert '<time datetime="2016-03-01">' in index
    assert "1 blog post | 1 job | 1 event" in text
    assert "2 news items" in text
    assert "peer support, power" in text  # most frequent theme first
    assert "recovery colleges" in text
    assert result.summary == "3 pages in archive/"
    assert sorted(Path(f).name for f in result.files) == ["archive.css", "index.html", "issue-1.html", "issue-2.html"]


def test_index_is_accessible_and_links_the_feed_the_site_and_its_stylesheet(build_archive, item_factory):
    project, _, _ = build_archive({FEB: january(item_factory)})

    page = Page(read(project, "index.html"))
    assert page.lang == "en-GB"
    assert {"rel": "alternate", "type": "application/rss+xml", "title": "Test Network (RSS)",
            "href": feed_url(project)} in page.links
    assert {"rel": "stylesheet", "href": "archive.css"} in page.links
    assert "https://network.example.org/" in page.anchors  # back to the site
    assert {"main", "h1", "h2", "time"} <= page.tags
    assert "script" not in page.tags
    assert "color" in read(project, "archive.css")


def test_issue_page_is_the_emails_html_with_a_way_back(build_archive, item_factory):
    project, _, run = build_archive({FEB: january(item_factory)})

    edition = from_record(run.store, run.store.editions()[0])
    email_html = render_edition(edition, run).html
    page = read(project, edition_page(1))
    assert page == issue_page(email_html, index_href="index.html", feed_href=feed_url(project),
                              feed_title="Test Network (RSS)")
    parsed = Page(page)
    assert parsed.anchors[0] == "index.html"  # the first link on the page goes back to the archive
    assert any(link.get("type") == "application/rss+xml" for link in parsed.links)
    text = " ".join(parsed.text)
    assert "Peer support worker" in text and "Seminar 3: Contemporary Developments" in text
    assert "£125" in text


def test_issue_page_shows_every_item_and_whole_programmes(build_archive, item_factory):
    posts = [item_factory(Kind.POST, f"Post {n}", published=datetime(2016, 1, n + 1, tzinfo=UTC)) for n in range(15)]
    seminar = item_factory(Kind.EVENT, "Seminar 3")
    seminar.event.programme = [ProgrammeSlot(f"{n}:00", f"Session {n}") for n in range(30)]
    project, _, _ = build_archive({FEB: [*posts, seminar]})

    text = " ".join(Page(read(project, edition_page(1))).text)
    assert all(f"Post {n}" in text for n in range(15))  # the email shows 10 a section; the web version all
    assert "29:00 Session 29" in text and "more in the web version" not in text


def test_issue_page_injection_keeps_the_document_whole():
    page = issue_page('<!doctype html><html><head><title>T</title></head><BODY class="x"><p>Hi</p></body></html>',
                      index_href="index.html", feed_href="https://n.example/feed.xml", feed_title='A "quoted" name')
    assert page.startswith("<!doctype html><html><head><title>T</title>")
    assert re.search(r'<link rel="alternate" [^>]*title="A &quot;quoted&quot; name"[^>]*>\s*</head>', page)
    assert re.search(r'<BODY class="x"><nav aria-label="Archive"[^>]*><a href="index.html"', page)
    assert page.endswith("<p>Hi</p></body></html>")


def test_refresh_rebuilds_every_page_from_state(build_archive, item_factory):
    project, result, _ = build_archive({FEB: january(item_factory), MAR: february(item_factory)}, edition=False)

    assert (archive_dir(project) / edition_page(1)).is_file()
    assert (archive_dir(project) / edition_page(2)).is_file()
    assert result.summary == "3 pages in archive/"


def test_no_issues_yet_still_writes_an_index(build_archive):
    project, result, _ = build_archive({})

    assert "No issues yet" in read(project, "index.html")
    assert result.summary == "1 page in archive/"
    assert sorted(p.name for p in archive_dir(project).iterdir()) == ["archive.css", "index.html"]


def test_untrusted_text_is_escaped_in_the_index(build_archive, item_factory):
    evil = '<script>alert(1)</script><img src=x onerror=alert(1)>'
    items = [item_factory(Kind.POST, "Post", published=datetime(2016, 1, 10, tzinfo=UTC), themes=[evil])]
    project, _, _ = build_archive({FEB: items})

    index = read(project, "index.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in index
    assert {"script", "img"}.isdisjoint(Page(index).tags)


def test_title_setting_and_project_templates(build_archive, item_factory):
    layout = '{% extends "archive/layout.html" %}{% block content %}<p>Ours: {{ editions | length }}</p>{% endblock %}'
    project, _, _ = build_archive({FEB: january(item_factory)}, SINK + 'title = "Back issues"\n',
                                  files={"templates/archive/index.html": layout})

    text = Page(read(project, "index.html")).text
    assert "Back issues" in text and "Ours: 1" in text


def test_unknown_setting_is_rejected(project_from):
    with pytest.raises(ConfigError, match="unknown key 'titel'"):
        project_from(SINK + 'titel = "Back issues"\n')


def test_rewrite_leaves_no_temporary_files(build_archive, item_factory):
    build_archive({FEB: january(item_factory)})
    project, _, _ = build_archive({FEB: january(item_factory)}, edition=False)

    names = sorted(p.name for p in archive_dir(project).iterdir())
    assert names == ["archive.css", "index.html", "issue-1.html"]
