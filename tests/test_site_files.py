"""A source's own files that the site publishes as they are (`Source.site_files`): the blog's images and PDFs, kept
in its folder beside the posts, so a post's lead image, its pictures and its PDF links are not dead links."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from pipeline import hookimpl, site
from pipeline.components import Source
from pipeline.config import load_project
from pipeline.models import item_id
from tests.test_site_links import Checker, Links
from tests.test_withdrawn import BLOG_TOML, post_file

PNG = b"\x89PNG\r\n\x1a\n" + b"a small picture"
POST = """---
title: "Notes from the seminar"
date: 2016-01-20
image: lead.jpg
image_alt: "The seminar room"
---

Peer support workers met in Leeds to talk about co-production and power.

![The group after the seminar](photos/group%20one.png) and [the programme](programme.pdf#page=2).

A drawing: ![A drawing](drawing.svg). Elsewhere: ![Not ours](../outside.png). A page: [the post before](../jan/).
"""
SITE = "https://network.example.org"


def test_a_posts_images_and_pdf_in_the_blog_folder_are_published_where_it_links_them(pipeline_project):
    files = {"blog/notes.md": POST, "blog/lead.jpg": b"jpeg bytes", "blog/photos/group one.png": PNG,
             "blog/programme.pdf": b"%PDF-1.4 programme", "blog/drawing.svg": "<svg onload='x()'/>",
             "outside.png": PNG, "blog/.hidden/secret.png": PNG, "subscribers.csv": "email,name\nann@example.org,Ann\n"}
    project = pipeline_project(BLOG_TOML, files)

    report = project.run(as_of=date(2016, 2, 1))

    out = project.root / "out"
    assert (out / "blog" / "lead.jpg").read_bytes() == b"jpeg bytes"
    assert (out / "blog" / "photos" / "group one.png").read_bytes() == PNG
    assert (out / "blog" / "programme.pdf").read_bytes() == b"%PDF-1.4 programme"
    assert not (out / "blog" / "drawing.svg").exists() and not (out / "outside.png").exists()  # SVG: a script
    assert not list(out.rglob("secret.png"))
    page = project.site("blog/notes/")
    sources = Links(page).links
    assert f"{SITE}/blog/lead.jpg" in sources and f"{SITE}/blog/photos/group%20one.png" in sources
    assert f"{SITE}/blog/programme.pdf#page=2" in sources
    assert f"{SITE}/blog/notes/drawing.svg" in sources  # not a file it publishes: read from the post's URL
    assert f"{SITE}/blog/jan/" in sources  # as is any other relative link
    assert f"{SITE}/blog/lead.jpg" in project.email().html  # the lead image, in the email too
    assert not report.problems

    check = Checker(load_project(project.root / "pipeline.toml"))
    for link in sources:
        if not link.endswith((".svg", "/jan/")) and "outside" not in link:
            check.relative(site.file(check.project, "blog/notes/"), link.partition("#")[0])  # (a PDF's page, no id)
    assert check.dead == [] and check.checked >= 4


def test_a_file_changed_is_published_again_and_one_taken_away_is_removed(pipeline_project):
    project = pipeline_project(BLOG_TOML, {"blog/notes.md": POST, "blog/lead.jpg": b"first",
                                          "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    lead = project.root / "out" / "blog" / "lead.jpg"
    assert lead.read_bytes() == b"first"

    project.write({"blog/lead.jpg": b"second, longer"})
    project.refresh(as_of=date(2016, 2, 1))
    assert lead.read_bytes() == b"second, longer"

    (project.root / "blog" / "lead.jpg").unlink()
    project.refresh(as_of=date(2016, 2, 1))
    assert not lead.exists()


class Attaching(Source):
    """A third-party source naming files of its own: one fine (named relative to the project), one that would
    replace a page, one off the site, one climbing out, one missing, one in the outbox's folder, and one no item
    of it links (not published)."""

    name = "attaching"
    FILES = [f"{SITE}/files/report.pdf", f"{SITE}/index.html", "https://elsewhere.example.org/a.pdf",
             f"{SITE}/files/../../etc/passwd.pdf", f"{SITE}/files/missing.pdf", f"{SITE}/outbox/x.pdf"]

    def uses_http(self) -> bool:
        return False

    def fetch(self, run):
        from datetime import UTC, datetime

        from pipeline.models import Item, Kind, item_id

        links = "".join(f'<a href="{address}">a file</a> ' for address in self.FILES)
        return [Item(id=item_id(self.instance, "reports"), kind=Kind.NEWS, source=self.instance, title="Reports",
                     published=datetime(2016, 1, 20, tzinfo=UTC), body_html=f"<p>{links}</p>")]

    def site_files(self):
        named = [(address, Path("missing.pdf" if "missing" in address else "report.pdf")) for address in self.FILES]
        return named + [(f"{SITE}/files/unlinked.pdf", self.project.root / "report.pdf")]


class Failing(Attaching):
    name = "failing"

    def site_files(self):
        raise RuntimeError("disk on fire")


class AttachingPlugin:
    @hookimpl
    def register_sources(self, register):
        register(Attaching)
        register(Failing)


def test_a_sources_files_are_published_only_as_files_under_the_site_and_a_failure_is_its_own(pipeline_project):
    toml = '[sources.reports]\ntype = "attaching"\n[sources.broken]\ntype = "failing"\n'
    project = pipeline_project(toml, {"report.pdf": b"%PDF report", "subscribers.csv": "email,name\n"},
                               plugins=[("attaching", AttachingPlugin())])

    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    out = project.root / "out"
    assert (out / "files" / "report.pdf").read_bytes() == b"%PDF report"
    assert "<html" in (out / "index.html").read_text(encoding="utf-8")  # the front page stays the front page
    assert not (out / "a.pdf").exists() and not list(project.root.rglob("passwd.pdf"))
    assert not (out / "files" / "unlinked.pdf").exists() and not (out / "outbox").exists()
    problems = "\n".join(report.problems)
    assert "source broken: site_files() raised RuntimeError: disk on fire" in problems
    for address in (f"{SITE}/index.html", "https://elsewhere.example.org/a.pdf", f"{SITE}/files/../../etc/passwd.pdf",
                    f"{SITE}/outbox/x.pdf"):
        assert f"source reports: {address}: not published" in problems
    assert re.search(r"missing\.pdf: cannot be read \(No such file or directory\)", problems)
    [archive] = [r for r in report.results if r.name == "archive"]
    assert archive.ok


@pytest.mark.parametrize(("address", "path"), [
    (f"{SITE}/blog/lead.jpg", "blog/lead.jpg"), (f"{SITE}/blog/a%20b.PNG", "blog/a b.PNG"),
    (f"{SITE}/blog/x.html", None), (f"{SITE}/blog/", None), (f"{SITE}/blog/../x.png", None),
    (f"{SITE}/blog//x.png", None), (f"{SITE}/blog/x.svg", None), ("https://other.example.org/x.png", None),
    (f"{SITE}/blog/%0Ax.png", None),
])
def test_the_path_a_sources_file_is_published_at(project_from, address, path):
    project = project_from(f'[pipeline]\nname = "N"\nsite_url = "{SITE}"\n[sinks.archive]\ntype = "archive"\n')
    assert site.file_path(project, address) == path



YEAR_POST = """---
title: "A year on"
date: 2016-01-22
image: ../lead.jpg
---

Kept in a folder of its own: ![The group](../photos/group%20one.png), ![The hall](hall.png),
<img src="./hall.png" alt="The hall again">, [the programme][programme] and [the notes](../notes/).

[programme]: ../programme.pdf
"""


def test_a_post_in_a_subfolder_is_published_and_what_it_links_is_on_the_site_page_email_and_feed(pipeline_project):
    """A post kept in a subfolder of the blog (`blog/2016/year.md`) is read like one beside the others, at
    `<base_url><slug>/`: its relative links are read from its file (`../photos/…`, `hall.png`, a reference link,
    raw HTML), and every address they give on the site page, in the email and in the RSS feed (read elsewhere, so
    absolute) is one where the site has the file."""
    files = {"blog/notes.md": POST, "blog/2016/year.md": YEAR_POST, "blog/lead.jpg": b"jpeg bytes",
             "blog/photos/group one.png": PNG, "blog/2016/hall.png": PNG, "blog/programme.pdf": b"%PDF-1.4",
             "subscribers.csv": "email,name\nann@example.org,Ann\n"}
    project = pipeline_project(BLOG_TOML, files)

    report = project.run(as_of=date(2016, 2, 1))

    assert not report.problems
    page = project.site("blog/year/")
    (entry,) = [e for e in project.feed().entries if e.title == "A year on"]
    feed_links = Links(entry.content[0].value).links
    assert f"{SITE}/blog/2016/hall.png" in feed_links and f"{SITE}/blog/programme.pdf" in feed_links
    check = Checker(load_project(project.root / "pipeline.toml"))
    where = site.file(check.project, "blog/year/")
    for link in Links(page).links:  # the page's own links to the site are relative, the post's absolute
        check.relative(where, link.partition("#")[0]) if not link.startswith("webcal:") else None
    for link in [*feed_links, *Links(project.email().html).links]:
        assert link.startswith("https://"), link  # never relative to where it is read
        check.absolute(where, link)
    assert check.dead == [] and check.checked >= 8


def test_a_posts_link_to_another_posts_file_names_that_posts_page(pipeline_project):
    """A post links another as its editor's preview does, by the other's file (`2016/year.md`, `../notes.md#x`):
    the link names that post's page on the site (its slug's, or its own `url`), not a `.md` address there is none
    at; a link to a draft's file is read from the post's URL, as any other relative link."""
    notes = POST.replace("A page: [the post before](../jan/).",
                         "Then [a year on](2016/year.md) and [a draft](draft.md).")
    year = YEAR_POST.replace("[the notes](../notes/)", "[the notes](../notes.md#programme)")
    draft = "---\ntitle: Draft\ndate: 2016-01-23\ndraft: true\n---\n\nNot yet.\n"
    project = pipeline_project(BLOG_TOML, {"blog/notes.md": notes, "blog/2016/year.md": year, "blog/draft.md": draft,
                                           "subscribers.csv": "email,name\n"})

    project.refresh(as_of=date(2016, 2, 1))

    assert f'href="{SITE}/blog/year/"' in project.site("blog/notes/")
    assert f'href="{SITE}/blog/notes/#programme"' in project.site("blog/year/")
    assert f'href="{SITE}/blog/notes/draft.md"' in project.site("blog/notes/")


def bundle_post(title: str, day: str, body: str, extra: str = "") -> str:
    """A post's `index.md` in a folder of its own (a Hugo leaf bundle), its images beside it."""
    return f'---\ntitle: "{title}"\ndate: {day}\n{extra}---\n\n{body}\n'


def test_a_folder_per_post_is_the_post_its_folder_names(pipeline_project):
    """A blog kept a folder per post, as Hugo's leaf bundles are (`post-a/index.md`, its images beside it): each
    post is named by its folder (`blog/post-a/`), not all `index` (one kept, the others refused as clashes). Its
    relative images are read from its folder, a link to `post-a/index.md` or to `post-a/` names that post's page,
    and a folder's `_index.md` (Hugo's page of a section, not a post) is no post. A post beside the folders, and
    the folder's own `index.md`, keep the slugs, and so the ids, they had."""
    files = {"blog/post-a/index.md": bundle_post("Post A", "2016-01-20", "![The group](group.png)",
                                                 "image: cover.jpg\n"),
             "blog/post-a/cover.jpg": b"jpeg bytes", "blog/post-a/group.png": PNG,
             "blog/post-b/index.md": bundle_post("Post B", "2016-01-21", "After [the first](../post-a/index.md), "
                                                 "[the first again](../post-a/) and ![B](./group.png)."),
             "blog/post-b/group.png": PNG,
             "blog/notes.md": bundle_post("Notes", "2016-01-22", "See [A](post-a/index.md#more) and [B](post-b)."),
             "blog/index.md": bundle_post("The folder's index", "2016-01-10", "Read before any subfolder was."),
             "blog/_index.md": '---\ntitle: "Our blog"\n---\n\nThe section page of the blog: no date.\n',
             "blog/2016/_index.md": bundle_post("2016", "2016-01-01", "The year's section page."),
             "subscribers.csv": "email,name\nann@example.org,Ann\n"}
    project = pipeline_project(BLOG_TOML, files)

    report = project.run(as_of=date(2016, 2, 1))

    assert report.problems == []
    ids = {item.title: item.id for item in project.items()}
    assert ids == {title: item_id("blog", slug) for title, slug in
                   [("Post A", "post-a"), ("Post B", "post-b"), ("Notes", "notes"), ("The folder's index", "index")]}
    page_a, page_b, notes = (project.site(f"blog/{slug}/") for slug in ("post-a", "post-b", "notes"))
    assert "Post A" in page_a and "Post B" in page_b
    assert f"{SITE}/blog/post-a/group.png" in Links(page_a).links
    assert f"{SITE}/blog/post-a/cover.jpg" in project.email().html
    assert Links(page_b).links.count(f"{SITE}/blog/post-a/") == 2 and f"{SITE}/blog/post-b/group.png" in page_b
    assert f"{SITE}/blog/post-a/#more" in Links(notes).links and f"{SITE}/blog/post-b/" in Links(notes).links
    check = Checker(load_project(project.root / "pipeline.toml"))
    for slug, page in (("post-a", page_a), ("post-b", page_b), ("notes", notes)):
        where = site.file(check.project, f"blog/{slug}/")
        for link in Links(page).links:
            check.relative(where, link.partition("#")[0]) if not link.startswith("webcal:") else None
    assert check.dead == [] and check.checked >= 10


def test_a_post_beside_the_folders_keeps_its_slug_over_a_folder_of_that_name(pipeline_project):
    """`post-a.md` was published; a folder `post-a/index.md` then names a post `post-a` too. The post already on the
    site keeps its page and its item; the folder's is skipped, and the problem names its file."""
    project = pipeline_project(BLOG_TOML, {"blog/post-a.md": post_file("Post A", "2016-01-20"),
                                           "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    (first,) = project.items()

    project.write({"blog/post-a/index.md": post_file("Post A, in a folder", "2016-01-21")})
    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    assert [(item.id, item.title) for item in project.items()] == [(first.id, "Post A")]
    assert "Post A" in project.site("blog/post-a/")
    (problem,) = report.problems
    assert "post-a/index.md" in problem.split(": ")[0] and "same slug as post-a.md" in problem
