"""Where things live on the published site: `out_dir` is the site root, served at `site_url`.

Every page and file has one site path, relative to the root: a path ending in "/" is a folder
whose page is its `index.html` (as a static host serves it). `url()` turns a site path into the
address readers see; `file()` into the file written under `out_dir`. Nothing else in the project
spells out a folder of the site, so a link and the file it points to cannot disagree.

    index.html                      the front page
    archive/                        every issue, newest first; archive/issue-N.html each issue's web page
    months/YYYY-MM/                 the items published that month
    blog/SLUG/ news/… jobs/… events/…   one page per item (`item_path`)
    jobs/ events/                   open jobs by closing date; upcoming events first
    themes/ themes/SLUG/            every theme; one theme's items, newest first
    themes/SLUG/feed.xml            one theme's RSS feed
    feed.xml                        the main RSS feed
    events/calendar.ics             every event, subscribable; events/…/event.ics one event
    search/                         search over every item (search/index.json)
    sitemap.xml
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.config import Project
from pipeline.models import Item, Kind

FEED_FILE = "feed.xml"
ARCHIVE_DIR = "archive"
PAGE_SIZE = 50  # a list longer than this is paginated: page 2 is at <list>/page/2/

KIND_FOLDERS = {Kind.POST: "blog", Kind.NEWS: "news", Kind.JOB: "jobs", Kind.EVENT: "events"}
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


# ---- paths and addresses ---------------------------------------------------------------------

def url(project: Project, path: str) -> str:
    """The public address of a site path ('' is the front page)."""
    return f"{project.core.site_url}/{path}"


def file(project: Project, path: str) -> Path:
    """The file under `out_dir` that a static host serves for a site path."""
    target = project.core.out_dir / path
    return target / "index.html" if path == "" or path.endswith("/") else target


def path_of_url(project: Project, address: str) -> str | None:
    """The site path of an address under `site_url`, or None for an address elsewhere."""
    base = project.core.site_url + "/"
    if not address.startswith(base):
        return None
    path = urlsplit(address[len(base):]).path
    return path


def slug(text: str, limit: int = 60) -> str:
    """'Peer Support & Recovery' -> 'peer-support-recovery' (ASCII, at most `limit` characters)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NOT_SLUG.sub("-", ascii_text).strip("-")[:limit].strip("-") or "item"


def page(path: str, number: int) -> str:
    """Page `number` of a paginated list at `path` (page 1 is the list itself)."""
    return path if number <= 1 else f"{path}page/{number}/"


# ---- the site's pages ------------------------------------------------------------------------

FRONT_PAGE = ""
ARCHIVE_INDEX = f"{ARCHIVE_DIR}/"
JOBS = "jobs/"
EVENTS = "events/"
THEMES = "themes/"
SEARCH = "search/"
SEARCH_INDEX = "search/index.json"
CALENDAR = "events/calendar.ics"
SITEMAP = "sitemap.xml"


def item_path(project: Project, item: Item) -> str:
    """An item's page: where its own URL already points when that is on this site (a blog post at
    <site_url>/blog/SLUG/), otherwise its kind's folder, a slug of its title and a piece of its id."""
    own = path_of_url(project, item.url) if item.url else None
    if own is not None and own.endswith("/") and own.strip("/"):
        return own
    return f"{KIND_FOLDERS[item.kind]}/{slug(item.title, 50)}-{item.id[:8]}/"


def event_calendar_path(project: Project, item: Item) -> str:
    """One event's .ics file, beside its page."""
    return item_path(project, item) + "event.ics"


def theme_path(theme: str) -> str:
    return f"{THEMES}{slug(theme)}/"


def theme_feed_path(theme: str) -> str:
    return f"{theme_path(theme)}{FEED_FILE}"


def month_path(month: date) -> str:
    return f"months/{month:%Y-%m}/"


def edition_page(number: int) -> str:
    """File name of an edition's page inside the archive folder."""
    return f"issue-{number}.html"


def edition_path(number: int) -> str:
    return f"{ARCHIVE_DIR}/{edition_page(number)}"


# ---- kept for the sinks written before the layout above ---------------------------------------

def feed_path(project: Project) -> Path:
    return project.core.out_dir / FEED_FILE


def feed_url(project: Project) -> str:
    return url(project, FEED_FILE)


def archive_dir(project: Project) -> Path:
    return project.core.out_dir / ARCHIVE_DIR


def archive_url(project: Project) -> str:
    return url(project, ARCHIVE_INDEX)


def edition_url(project: Project, number: int) -> str:
    return url(project, edition_path(number))
