"""Review h113: no address a run published goes dead when the organiser changes things between runs.

A reader bookmarks pages, follows theme feeds and keeps old newsletters that link the site. Each test builds a
project, runs it, changes something (a theme renamed or taken out of the taxonomy, a title edited, a source
renamed or removed, an item gone from its feed, a blog file renamed), runs again, and checks that every file
published before is still there: the page itself, or a page leading on to the right new place (meta refresh,
canonical and a plain link), and for a theme's feed a valid feed saying where the theme went.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from html import unescape
from pathlib import Path

import pytest

from pipeline.config import load_project
from tests.feed_rules import assert_valid
from tests.test_site_links import URL_IN_TEXT, Checker, Links

SITE = "https://network.example.org"
SOURCES = """
[sources.blog]
type = "blog"
path = "blog"

[sources.partner]
type = "feed"
url = "partner.xml"

[transforms.themes]
type = "themes"

[transforms.themes.taxonomy]
"peer support" = ["peer support*", "peer worker*"]
"recovery" = ["recovery"]
"""
POST = ("---\ntitle: \"{title}\"\ndate: 2016-01-20\nimage: {image}\n---\n\n"
        "Peer support workers met to talk about recovery. [The programme]({pdf}).\n")
FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Partner</title><link>https://partner.example.org/</link><description>News</description>
{items}
</channel></rss>"""
FEED_ITEM = ("<item><title>{title}</title><link>https://partner.example.org/n/{n}</link>"
             "<guid>https://partner.example.org/n/{n}</guid><pubDate>Thu, {day} Jan 2016 10:00:00 +0000</pubDate>"
             "<description>{text}</description></item>")
FIRST = FEED_ITEM.format(title="Peer workers hired", n=1, day=14, text="Peer support workers join the team.")
SECOND = FEED_ITEM.format(title="Recovery college opens", n=2, day=15, text="A recovery college opens its doors.")
THIRD = FEED_ITEM.format(title="Recovery stories", n=3, day=16, text="Recovery stories.").replace("Jan", "Feb")
PNG = b"\x89PNG\r\n\x1a\n" + b"a small picture"


def files(title: str = "Notes from the seminar", image: str = "lead.png", pdf: str = "programme.pdf",
          items: str = FIRST + SECOND) -> dict[str, str | bytes]:
    return {"blog/notes.md": POST.format(title=title, image=image, pdf=pdf), f"blog/{image}": PNG,
            f"blog/{pdf}": b"%PDF-1.4 programme", "partner.xml": FEED.format(items=items)}


def published(out: Path) -> set[str]:
    """Every file under out/, as a path relative to it."""
    return {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}


def refresh_target(page: Path) -> Path:
    """The file a page's meta refresh leads to (the page itself when it has none)."""
    found = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', page.read_text(encoding="utf-8"))
    if not found:
        return page
    target = (page.parent / unescape(found.group(1))).resolve()
    return target / "index.html" if target.is_dir() else target


def dead_links(project) -> list[str]:
    """Every href and src of every HTML file under out/, and every address in the emails' text, that has no file."""
    check = Checker(project)
    for page in sorted(check.out.rglob("*.html")):
        for link in Links(page.read_text(encoding="utf-8")).links:
            check.relative(page, link)
    for text in sorted(check.out.glob("newsletter/*.txt")):
        for address in URL_IN_TEXT.findall(text.read_text(encoding="utf-8")):
            check.absolute(text, address)
    assert check.checked > 50
    return check.dead


def start(pipeline_project, toml: str = SOURCES):
    project = pipeline_project(toml, files())
    project.run(as_of=date(2016, 2, 1))
    return project, project.root / "out"


def channel(feed: Path) -> ET.Element:
    return ET.fromstring(feed.read_bytes()).find("channel")


# -- a theme renamed or taken out of the taxonomy ------------------------------------------------------------------

def test_a_renamed_themes_page_and_feed_lead_on_to_the_theme_under_its_new_name(pipeline_project):
    project, out = start(pipeline_project)
    before = published(out)
    assert {"themes/peer-support/index.html", "themes/peer-support/feed.xml"} <= before

    project.write({"pipeline.toml": project.config.read_text().replace('"peer support" =', '"peer-led support" =')})
    project.refresh(as_of=date(2016, 2, 1))

    assert before <= published(out)  # nothing a reader found is gone
    old = out / "themes" / "peer-support" / "index.html"
    assert refresh_target(old) == out / "themes" / "peer-led-support" / "index.html"
    page = old.read_text(encoding="utf-8")
    assert f'<link rel="canonical" href="{SITE}/themes/peer-led-support/">' in page
    assert 'href="../peer-led-support/index.html"' in page  # a plain link too, for a browser without refresh
    assert "noindex" in page

    feed = out / "themes" / "peer-support" / "feed.xml"
    assert_valid(feed.read_bytes(), f"{SITE}/themes/peer-support/feed.xml")
    moved = channel(feed)
    assert moved.findtext("link") == f"{SITE}/themes/peer-led-support/"
    [notice] = moved.findall("item")
    assert notice.findtext("link") == f"{SITE}/themes/peer-led-support/"
    assert f"{SITE}/themes/peer-led-support/feed.xml" in notice.findtext("description")
    assert "Peer-led support" in notice.findtext("title")

    again = feed.read_bytes()
    project.refresh(as_of=date(2016, 2, 2))
    assert feed.read_bytes() == again  # the same notice: a feed reader shows it once
    assert dead_links(load_project(project.config)) == []


def test_a_theme_taken_out_of_the_taxonomy_leads_to_the_themes_and_comes_back_whole(pipeline_project):
    project, out = start(pipeline_project)
    toml = project.config.read_text()
    project.write({"pipeline.toml": toml.replace('"peer support" = ["peer support*", "peer worker*"]\n', "")})
    project.refresh(as_of=date(2016, 2, 1))

    old = out / "themes" / "peer-support" / "index.html"
    assert refresh_target(old) == out / "themes" / "index.html"
    feed = out / "themes" / "peer-support" / "feed.xml"
    assert_valid(feed.read_bytes(), f"{SITE}/themes/peer-support/feed.xml")
    [notice] = channel(feed).findall("item")
    assert notice.findtext("link") == f"{SITE}/themes/"
    assert "peer-support" not in (out / "themes" / "index.html").read_text(encoding="utf-8")  # not listed as a theme
    assert f"{SITE}/themes/peer-support/" not in (out / "sitemap.xml").read_text(encoding="utf-8")

    project.write({"pipeline.toml": toml})  # put back: the theme's own page and feed again
    project.refresh(as_of=date(2016, 2, 1))
    assert refresh_target(old) == old and "Peer workers hired" in old.read_text(encoding="utf-8")
    assert [i.findtext("title") for i in channel(feed).findall("item")] == ["Notes from the seminar",
                                                                            "Peer workers hired"]


# -- a blog's file renamed -------------------------------------------------------------------------------------------

def test_a_blog_image_or_pdf_renamed_stays_at_its_old_address_which_the_emails_sent_show(pipeline_project):
    project, out = start(pipeline_project)
    email = project.email().html
    assert f"{SITE}/blog/lead.png" in email  # the lead image, shown by every email already sent

    (project.root / "blog" / "lead.png").rename(project.root / "blog" / "photo.png")
    (project.root / "blog" / "programme.pdf").rename(project.root / "blog" / "programme-2016.pdf")
    project.write({"blog/notes.md": POST.format(title="Notes from the seminar", image="photo.png",
                                                pdf="programme-2016.pdf")})
    project.refresh(as_of=date(2016, 2, 1))

    assert (out / "blog" / "photo.png").read_bytes() == (out / "blog" / "lead.png").read_bytes() == PNG
    assert (out / "blog" / "programme.pdf").read_bytes() == (out / "blog" / "programme-2016.pdf").read_bytes()

    (project.root / "blog" / "photo.png").unlink()  # deleted, not moved: it goes, at both addresses
    project.write({"blog/notes.md": POST.format(title="Notes from the seminar", image="gone.png",
                                                pdf="programme-2016.pdf")})
    project.refresh(as_of=date(2016, 2, 1), check=False)
    assert not (out / "blog" / "photo.png").exists() and not (out / "blog" / "lead.png").exists()
    assert (out / "blog" / "programme.pdf").is_file()


# -- what already holds, and could regress ---------------------------------------------------------------------------

def test_titles_edited_a_source_renamed_or_removed_and_an_item_gone_from_its_feed_leave_no_address_dead(
        pipeline_project):
    """Under a site_url with a path: an item's page named after its title moves and its old address leads on; a
    source renamed gives its items new ids (and pages) but the old ones stay stored, with their pages; an item no
    longer in its feed, or a source taken out of pipeline.toml, keeps its pages; a later issue and an issue made
    again keep every issue's pages and the links in its email."""
    toml = SOURCES.replace("[sources.blog]", f'[pipeline]\nname = "N"\nsite_url = "{SITE}/network"\n'
                                             f'timezone = "Europe/London"\nworkers = 1\n\n[sources.blog]')
    project, out = start(pipeline_project, toml)
    before = published(out)
    assert "news/peer-workers-hired-" in " ".join(before)
    sent = project.email(issue=1)  # what a reader keeps: its links to the site must keep working
    links = [link for link in Links(sent.html).links + URL_IN_TEXT.findall(sent.text)
             if link.startswith(f"{SITE}/network/") and "subscribe" not in link]
    assert len(links) >= 5

    project.write(files(title="Notes from the February seminar",
                        items=FIRST.replace("Peer workers hired", "Peer workers hired in Leeds")))
    project.refresh(as_of=date(2016, 2, 1))
    moved = [path for path in before if path.startswith("news/peer-workers-hired-")]
    assert moved and all(refresh_target(out / path) != out / path for path in moved)
    assert all(refresh_target(out / path).is_file() for path in moved)

    project.write({"pipeline.toml": project.config.read_text().replace("[sources.partner]", "[sources.partners]"),
                   "partner.xml": FEED.format(items=SECOND + THIRD)})  # renamed, an item gone, one new
    renamed = project.run(as_of=date(2016, 3, 1), check=False)  # without renamed_from: said once, exit 3
    assert renamed.exit_code == 3 and any('add renamed_from = "partner"' in p for p in renamed.problems)
    project.write({"pipeline.toml": project.config.read_text().replace(
        '[sources.partners]\ntype = "feed"\nurl = "partner.xml"\n', "")})
    project.run(as_of=date(2016, 2, 1))  # the first issue made again, after the second

    assert before <= published(out)
    assert {"archive/issue-1.html", "archive/issue-2.html", "newsletter/issue-1.html",
            "newsletter/issue-2.html"} <= published(out)
    loaded = load_project(project.config)
    assert dead_links(loaded) == []
    check = Checker(loaded)
    for link in links:
        check.absolute(out / "sent.eml", link)
    assert check.dead == [] and check.checked + sum(check.routes.values()) == len(links)


# -- a blog post's address changed ------------------------------------------------------------------------------------

def test_a_post_whose_slug_or_file_name_changed_leads_from_its_old_address_to_its_new_one(pipeline_project):
    """A post's id is its slug (its file's name, or `slug:`): a new one is a new item, and the old one is withdrawn.
    Its old address, which the emails sent link, used to say the post was withdrawn, though it is on the site still."""
    project, out = start(pipeline_project)
    text = (project.root / "blog" / "notes.md").read_text(encoding="utf-8")
    (project.root / "blog" / "notes.md").unlink()
    project.write({"blog/seminar-notes.md": text})
    project.refresh(as_of=date(2016, 2, 1))

    old = out / "blog" / "notes" / "index.html"
    assert refresh_target(old) == out / "blog" / "seminar-notes" / "index.html"
    assert "withdrawn" not in old.read_text(encoding="utf-8")

    project.write({"blog/seminar-notes.md": text.replace("date: 2016-01-20\n", "date: 2016-01-20\nslug: seminar\n")})
    project.refresh(as_of=date(2016, 2, 1))
    for path in ("blog/notes/", "blog/seminar-notes/"):  # each address it had leads to where it is now
        assert refresh_target(out / path / "index.html") == out / "blog" / "seminar" / "index.html", path
    assert dead_links(load_project(project.config)) == []

    project.write({"blog/seminar-notes.md": text.replace("date: 2016-01-20\n", "date: 2016-01-20\nslug: seminar\n"
                                                                             "draft: true\n")})
    project.refresh(as_of=date(2016, 2, 1))  # taken out: every address says so
    for path in ("blog/notes/", "blog/seminar-notes/", "blog/seminar/"):
        assert "has been withdrawn" in (out / path / "index.html").read_text(encoding="utf-8"), path


def test_a_theme_leads_where_most_of_its_items_went_and_a_rename_of_a_rename_is_followed(tmp_path):
    from dataclasses import replace
    from datetime import UTC, datetime

    from pipeline import site
    from pipeline.models import Kind
    from pipeline.state import Store
    from tests.conftest import make_item

    store = Store(tmp_path / "moves.sqlite")
    try:
        items = [make_item(Kind.NEWS, f"News {n}", themes=["peer support", "recovery"]) for n in range(4)]

        def save(*themes: list[str]) -> None:
            changed = [replace(item, themes=chosen) for item, chosen in zip(items, themes, strict=True)]
            store.save_items([(item, "".join(item.themes)) for item in changed], datetime.now(UTC))

        save(*[["peer support", "recovery"]] * 4)
        save(["Peer Support", "recovery"], ["peer support", "recovery"], ["peer support"], ["peer support"])
        assert site.moved_themes(store) == {}  # a respelling, and a theme dropped: nothing moved
        save(*[["peer-led support", "recovery"]] * 3, ["housing"])
        assert site.moved_themes(store) == {"themes/peer-support/": "peer-led support"}  # 3 of the 4 that lost it
        save(*[["mutual aid", "recovery"]] * 4)
        live = {site.theme_path("mutual aid"), site.theme_path("recovery")}
        assert site.theme_left_for("themes/peer-support/", live, site.moved_themes(store)) == "mutual aid"
        assert site.theme_left_for("themes/recovery/", live, site.moved_themes(store)) is None  # (still there)

        save(["a"], ["b"], ["c"], ["d"])  # went every way: no theme has most of them
        assert "themes/mutual-aid/" not in site.moved_themes(store)
    finally:
        store.close()


@pytest.mark.parametrize(("path", "target"), [
    ("themes/peer-support/page/2/", "themes/peer-support/"), ("themes/peer-support/", "themes/peer-led-support/"),
    ("themes/peer-support/page/3/", "themes/peer-led-support/"), ("themes/housing/", "themes/"),
    ("months/2016-01/page/2/", "months/2016-01/"), ("months/2015-12/", "months/"), ("jobs/page/2/", "jobs/"),
    ("archive/issue-3-page-2.html", "archive/issue-3.html"), ("archive/issue-4-page-2.html", None),
    ("news/some-item-12345678/", None), ("page/2/", None),
])
def test_where_a_list_page_no_longer_made_leads(path, target):
    from plugins.sinks.archive.lists import _left_for

    wanted = {"themes/", "themes/peer-support/", "themes/peer-led-support/", "months/", "months/2016-01/", "jobs/",
              "archive/issue-3.html"}
    moved = {"themes/peer-support/": "peer-led support"}
    if path.endswith("/page/3/"):
        wanted.remove("themes/peer-support/")
    elif path == "themes/peer-support/":
        wanted -= {path}
    assert _left_for(path, wanted, moved) == target
