"""Rendering one page of the site: the shared layout's context (navigation, Open Graph, relative
links) around a page template from templates/site/.

Jinja2 autoescapes everything; the only HTML marked safe is an item's body, which was sanitised
before it was stored (`body_html` only renames its headings and gives images an empty alt).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
import re
import time
from dataclasses import dataclass, field
from datetime import date
from html import unescape as html_unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from pipeline import site
from pipeline.config import Project

TEMPLATES = "site/"
LIBRARIES = ("jinja2", "markupsafe", "icalendar")  # what renders the pages, escapes them, writes the calendars
KIND_LABELS = {"post": "Blog post", "news": "Partner news", "job": "Job", "event": "Event"}
SECTIONS = frozenset({site.ARCHIVE_INDEX, site.THEMES, site.JOBS, site.EVENTS, site.MONTHS, site.SEARCH})  # navigation
_HEADING = re.compile(r"<(/?)h([1-6])\b", re.I)
_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt=)", re.I)
_SCROLLER_WITHOUT_TABINDEX = re.compile(r"<(table|pre)\b(?![^>]*\btabindex=)", re.I)
_TAG = r'(?:[^>"]|"[^"]*")*>'  # the rest of a tag as nh3 writes it: attribute values in double quotes
# A link and what is in it, up to its end tag, never past another link's start: anchors do not nest
_LINK = re.compile(rf"<a\b({_TAG})((?:[^<]|<(?!a\b|/a>))*)</a>", re.I)
_IMG = re.compile(rf"<img\b{_TAG}", re.I)
_ANY_TAG = re.compile(rf"<{_TAG}")
_ALT = re.compile(r'\balt="([^"]*)"', re.I)
_HREF = re.compile(r'\bhref="([^"]*)"', re.I)
_TITLE = re.compile(r'\btitle="([^"]*)"', re.I)
_WHOLE_HEADING = re.compile(rf"<h([1-6])\b{_TAG}((?:[^<]|<(?!/?h[1-6]\b))*)</h\1>", re.I)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif")


@dataclass
class Head:
    """What a page says about itself: <title>, description, Open Graph, feeds."""

    title: str  # the page's own title; the <title> adds the network's name
    description: str
    og_type: str = "website"
    feeds: list[tuple[str, str]] = field(default_factory=list)  # (title, absolute URL) of RSS feeds
    calendar: str = ""  # absolute URL of an .ics to offer in <head>
    image: str = ""  # absolute URL of the page's lead image (og:image)


class Renderer:
    def __init__(self, project: Project, env: jinja2.Environment, *, main_feed: bool):
        self.project = project
        self.env = env
        self.main_feed = main_feed  # an rss sink writes feed.xml
        self.subscribe_url = site.subscribe_url(project)  # "" without an email sink: no form to link

    def sources(self) -> str:
        """Every template and asset as the loader finds them (a project's own first): the site's, and those of every
        other folder, which a page's template may include, import or extend (a project's own `partials/`); what
        the plugins preparing the environment may give (`preparers`), and the names of the filters, globals and
        tests it has (a plugin that raised this run gave none: the pages it makes are made again once it works)."""
        names = sorted(listed(self.env))
        given = [sorted(self.env.filters), sorted(self.env.globals), sorted(self.env.tests)]
        return "\n".join([*(f"{name}\n{self._source(name)}" for name in names), preparers(self.project), repr(given)])

    def asset(self, name: str) -> str:
        """A file of templates/ as it is (the stylesheet, the search script)."""
        return self.env.loader.get_source(self.env, name)[0]

    def _source(self, name: str) -> str:
        """A file of templates/ as it is, or what it is when it is no template: a .DS_Store, an editor's swap file
        (not UTF-8), Emacs's lock (a link to nothing), which no page can use."""
        try:
            return self.asset(name)
        except UnicodeDecodeError:
            return "(not UTF-8 text)"
        except (jinja2.TemplateNotFound, OSError):
            return "(cannot be read)"

    def page(self, template: str, path: str, head: Head, **context: Any) -> str:
        core = self.project.core
        feeds = list(head.feeds)
        if self.main_feed:
            feeds.insert(0, (f"{core.name} (RSS)", site.feed_url(self.project)))

        def href(to: str) -> str:
            return site.href(path, to)

        section, current = _section(path)

        # A page that leads on elsewhere (`target`: an item's page at its old address) names that one as canonical.
        canonical = site.url(self.project, context.get("target") or path)
        return self.env.get_template(TEMPLATES + template).render(
            head=head, path=path, canonical=canonical, feeds=feeds, href=href,
            section=section, section_current=current, stylesheet=href(site.STYLESHEET), main_feed=self.main_feed,
            subscribe_url=self.subscribe_url,
            all_events_calendar=site.CALENDAR, all_events_subscribe=site.subscription_url(self.project, site.CALENDAR),
            all_events_address=site.uri(site.url(self.project, site.CALENDAR)), og_url=site.uri(canonical),
            body_html=body_html, kind_label=KIND_LABELS,
            theme_path=site.theme_path, site=site, **context)


def listed(env: jinja2.Environment) -> set[str]:
    """Every template the loader can give: those Jinja2 lists, and, for a folder of templates, those in a folder
    linked into it (templates/partials/ a link to a folder several projects share), which Jinja2 reads through but
    does not list; a loop of links is walked once, and a link to a folder holding templates/ (`..`: the project's
    out/ and state/, which every run changes) not at all."""
    names = set(env.list_templates())
    searchpath = env.loader.searchpath if isinstance(env.loader, jinja2.FileSystemLoader) else []
    for root in searchpath:
        seen: set[str] = set()
        top = os.path.realpath(root)
        for folder, subfolders, files in os.walk(root, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen or top.startswith(real + os.sep):  # a link back to a folder walked, or around them all
                subfolders[:] = []
                continue
            seen.add(real)
            for file in files:
                name = os.path.relpath(os.path.join(folder, file), root).replace(os.sep, "/")
                names.add(name[2:] if name.startswith("./") else name)
    return names


def preparers(project: Project) -> str:
    """What the plugins preparing the templates' environment (`prepare_jinja_environment`) may give a page, as far as
    it can be known: each one's code (its file) and pipeline.toml, whose settings it may read; '' without one. A
    plugin of no file, or one that cannot be read, is never taken as unchanged: every page is made again."""
    hooks = project.host.pm.hook.prepare_jinja_environment.get_hookimpls()
    if not hooks:
        return ""
    digest = hashlib.sha256()
    for file in sorted({_file_of(hook.plugin) or f"a plugin of no file {time.time_ns()}" for hook in hooks}):
        try:
            digest.update(f"{file}\0{hashlib.sha256(Path(file).read_bytes()).hexdigest()}\0".encode())
        except OSError:
            digest.update(f"{file} unreadable {time.time_ns()}\0".encode())
    try:
        digest.update(project.config_path.read_bytes())
    except OSError:
        digest.update(f"pipeline.toml unreadable {time.time_ns()}".encode())
    return digest.hexdigest()


def libraries() -> list[str]:
    """The version of each of `LIBRARIES`: upgraded, one may write other bytes for the same page (MarkupSafe's
    escaping put right), so every page is made again."""
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return found


def _file_of(plugin: object) -> str | None:
    """The file of a plugin's code (a module, or an object of a class), or None (defined in no file)."""
    try:
        return inspect.getfile(plugin if inspect.ismodule(plugin) else type(plugin))
    except (TypeError, OSError):
        return None


def _section(path: str) -> tuple[str | None, str]:
    """The navigation entry a page belongs to, and how: ('themes/', 'page') on the themes index or its
    further pages, ('themes/', 'true') on a theme's page (within the section); (None, '') elsewhere."""
    if path == site.FRONT_PAGE:
        return path, "page"
    first = path.split("/", 1)[0] + "/"
    if first not in SECTIONS:
        return None, ""
    own_list = path == first or path.removeprefix(first).removeprefix("page/").rstrip("/").isdigit()
    return first, "page" if own_list else "true"


def body_html(html: str) -> Markup:
    """An item's sanitised body for a page whose h1 is the item's title: its headings moved so that the
    first is an h2 and each goes at most one level below the heading it comes under (`_relevel`), one with
    nothing to read in it no heading (`_unhead`), every
    image without alt text given an empty one (it decorates; the
    text around it says what it shows), every link with nothing to say a name (`_name_links`), and every table and
    <pre> a place the keyboard reaches
    (tabindex 0): one wider than the column scrolls inside it (site.css), and without a mouse it could
    not be scrolled, in Safari at all (WCAG 2.1.1; axe's scrollable-region-focusable)."""
    html = _relevel(_unhead(html))
    html = _name_links(_IMG_WITHOUT_ALT.sub('<img alt=""', html))
    html = _SCROLLER_WITHOUT_TABINDEX.sub(lambda m: f'<{m.group(1)} tabindex="0"', html)
    return Markup(html)  # noqa: S704 - sanitised when stored


def _name_links(html: str) -> str:
    """Links a screen reader could name only by their address (axe's link-name, WCAG 2.4.4 and 4.1.2): one whose only
    content is images with no alt text (a photo linking to its full size) gets its first image's alt saying where it
    leads ("The image at full size (example.org)", "A link to example.org"), or the image's title if its author gave
    one; one with nothing in it at all (what it held was not kept: an icon, an embed) is no link, only what space it
    held. A link with a title of its own is named by it already, as its author wrote it, and stays as it is."""

    def named(match: re.Match) -> str:
        attributes, inner = match.groups()
        if _has_words(inner) or _titled(attributes):
            return match.group(0)
        images = _IMG.findall(inner)
        if not images:
            return inner
        first = images[0]
        name = _titled(first) or _where(attributes)
        with_name = _ALT.sub(lambda _: f'alt="{escape(name)}"', first, count=1)
        return f"<a{attributes}{inner.replace(first, with_name, 1)}</a>"

    return _LINK.sub(named, html)


def _titled(tag: str) -> str:
    """A tag's title, if it has words in it ('' if none)."""
    found = _TITLE.search(tag)
    return html_unescape(found.group(1)).strip() if found else ""


def _where(attributes: str) -> str:
    """A link's name from where it leads: 'The image at full size (example.org)', 'A link to example.org'."""
    found = _HREF.search(attributes)
    href = html_unescape(found.group(1)) if found else ""
    parts = urlsplit(href)
    where = (parts.hostname or "").removeprefix("www.") or href
    return (f"The image at full size ({where})" if parts.path.lower().endswith(_IMAGE_SUFFIXES)
            else f"A link to {where}")


def _unhead(html: str) -> str:
    """Headings with nothing to read in them (a no-break space an editor left, a decorative image) made no headings,
    which a reader going by headings met blank (axe's empty-heading): what one holds stays, as a paragraph."""

    def unheaded(match: re.Match) -> str:
        inner = match.group(2)
        if _has_words(inner):
            return match.group(0)
        return f"<p>{inner}</p>" if _IMG.search(inner) else ""

    return _WHOLE_HEADING.sub(unheaded, html)


def _has_words(inner: str) -> bool:
    """Whether HTML has text to read: its own, or an image's alt."""
    return bool(html_unescape(_ANY_TAG.sub("", inner)).strip()) or any(
        html_unescape(alt).strip() for image in _IMG.findall(inner) for alt in _ALT.findall(image))


def _relevel(html: str) -> str:
    """The body's headings as an outline under the page's h1: a heading is one level below the nearest heading before
    it of a higher level in the source (an h2 for one with none), so a level the source skipped (## then ####, as
    Markdown lets one write) is not skipped on the page (axe's heading-order), and a closing tag follows its
    opening one."""
    above: list[tuple[int, int]] = []  # (level in the source, level on the page) of the headings it comes under
    now = 2

    def level(match: re.Match) -> str:
        nonlocal now
        if not match.group(1):
            source = int(match.group(2))
            while above and above[-1][0] >= source:
                above.pop()
            now = min(6, above[-1][1] + 1) if above else 2
            above.append((source, now))
        return f"<{match.group(1)}h{now}"

    return _HEADING.sub(level, html)


def month_name(month: str) -> str:
    """'2016-04' -> 'April 2016'."""
    year, number = month.split("-")
    return date(int(year), int(number), 1).strftime("%B %Y")
