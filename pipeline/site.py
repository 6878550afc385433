"""Where things live on the published site: `out_dir` is the site root, served at `site_url`.

Every page and file has one site path, relative to the root: a path ending in "/" is a folder
whose page is its `index.html` (as a static host serves it). `url()` turns a site path into the
address readers see; `file()` into the file written under `out_dir`. Nothing else in the project
spells out a folder of the site, so a link and the file it points to cannot disagree.

    index.html                      the front page
    site.css                        the one stylesheet (light and dark)
    archive/                        every issue, newest first; archive/issue-N.html each issue's web page
                                    (archive/issue-N-page-2.html… when it has more than PAGE_SIZE items)
    months/ months/YYYY-MM/         every month; the items published that month
    blog/SLUG/ news/… jobs/… events/…   one page per item (`item_path`)
    jobs/ events/                   open jobs by closing date; upcoming events first
    themes/ themes/SLUG/            every theme; one theme's items, newest first
    themes/SLUG/feed.xml            one theme's RSS feed
    feed.xml                        the main RSS feed
    events/calendar.ics             every event, subscribable; events/…/event.ics one event
    search/                         search over every item (search/index.json, and search/index.js
                                    holding the same for a page opened from file://; search/search.js)
    sitemap.xml

    subscribe                       not a file: the form `pipeline serve` answers (a project with an `email`
                                    sink only), which every page and every email links (`subscribe_url`)

Pages link each other with relative links (`href`), so out/ can be browsed from a folder as well
as from the host; addresses meant for elsewhere (Open Graph, the sitemap, feeds, emails) use `url()`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pipeline.config import Project
from pipeline.models import Item, Kind
from pipeline.sanitize import safe_url

if TYPE_CHECKING:
    from pipeline.state import Store

FEED_FILE = "feed.xml"
ARCHIVE_DIR = "archive"
PAGE_SIZE = 50  # a list longer than this is paginated: page 2 is at <list>/page/2/

KIND_FOLDERS = {Kind.POST: "blog", Kind.NEWS: "news", Kind.JOB: "jobs", Kind.EVENT: "events"}
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_IN_URI = re.compile(r'[ "<>`{}|^]')  # ASCII that a URI holds only %-escaped (RFC 3986; "\\" aside)


# ---- paths and addresses ---------------------------------------------------------------------

def url(project: Project, path: str) -> str:
    """The public address of a site path ('' is the front page)."""
    return f"{project.core.site_url}/{path}"


def uri(address: str) -> str:
    """`address` as a URI (RFC 3986), for a feed, a calendar or a program reading a page, as a browser sends it: a
    host outside ASCII in its IDNA form and a path outside ASCII %-escaped (`header_link`, as the email writes its
    links), and a space or another character no URI holds as it is (`"<>`{}|^`) %-escaped too. An address with no
    such form is given back as it is."""
    from pipeline.mail.message import header_link  # here: a refresh that writes no page or feed needs none of it

    linked = header_link(address)
    return _NOT_IN_URI.sub(lambda found: f"%{ord(found[0]):02X}", linked) if linked.isascii() else linked


def subscription_url(project: Project, path: str) -> str:
    """The `webcal://` form of a calendar's address, which calendar apps open as a subscription (an https link is
    downloaded, and imported as a copy that never takes a change), in ASCII as calendar apps need it (`uri`)."""
    return "webcal://" + uri(url(project, path)).partition("://")[2]


def file(project: Project, path: str) -> Path:
    """The file under `out_dir` that a static host serves for a site path."""
    target = project.core.out_dir / path
    return target / "index.html" if path == "" or path.endswith("/") else target


def other_language(project: Project, item) -> str:
    """The item's language when it is another than the site's (`[pipeline] language`: "cy" on an "en-GB" site, not
    "en-US"), for the `lang` of its title and text (WCAG 2.1, 3.1.2); "" otherwise."""
    own, site_language = item.language.partition("-")[0].lower(), project.core.language.partition("-")[0].lower()
    return item.language if own and own != site_language else ""


# Scripts written right to left (ISO 15924), and the languages written in one unless their tag names another script
_RTL_SCRIPTS = frozenset({"adlm", "arab", "hebr", "mand", "mend", "nkoo", "rohg", "samr", "syrc", "thaa"})
_RTL_LANGUAGES = frozenset({"ar", "arc", "bal", "ckb", "dv", "fa", "glk", "he", "iw", "ks", "lrc", "mzn", "pnb", "prs",
                            "ps", "sd", "syr", "ug", "ur", "yi"})


def direction(language: str) -> str:
    """"rtl" for a language tag of a language written right to left ("ar", "he-IL", "fa"), or naming such a script
    ("pa-Arab"); else "ltr": the `dir` that goes with a `lang`."""
    primary, *rest = language.lower().split("-")
    script = next((part for part in rest if len(part) == 4 and part.isalpha()), "")
    return "rtl" if (script in _RTL_SCRIPTS if script else primary in _RTL_LANGUAGES) else "ltr"


def path_of_url(project: Project, address: str) -> str | None:
    """The site path of an address under `site_url`, or None for an address elsewhere."""
    base = project.core.site_url + "/"
    if address == project.core.site_url:
        return FRONT_PAGE
    if not address.startswith(base):
        return None
    path = urlsplit(address[len(base):]).path
    return path


def file_path(project: Project, address: str) -> str | None:
    """The site path where a source's own file at `address` is published (`Source.site_files`): under `site_url`,
    decoded ("Lead%20photo.jpg" is the file "Lead photo.jpg"), with a `FILE_SUFFIXES` ending and no empty, "." or
    ".." part; else None."""
    path = path_of_url(project, address)
    if not path:
        return None
    path = unquote(path)
    parts = path.split("/")
    if any(part in ("", ".", "..") or part != part.strip() for part in parts) or not path.isprintable():
        return None
    if parts[0] in _SITE_FOLDERS:  # the site's own, the outbox's and those of `pipeline serve`'s routes
        return None
    return path if PurePosixPath(path).suffix.lower() in FILE_SUFFIXES else None


def slug(text: str, limit: int | None = 60) -> str:
    """'Peer Support & Recovery' -> 'peer-support-recovery' (ASCII, at most `limit` characters; None: no limit)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NOT_SLUG.sub("-", ascii_text).strip("-")[:limit].strip("-") or "item"


def page(path: str, number: int) -> str:
    """Page `number` of a paginated list at `path` (page 1 is the list itself)."""
    return path if number <= 1 else f"{path}page/{number}/"


def href(from_path: str, to_path: str) -> str:
    """A relative link from the page at `from_path` to `to_path` that a static host and a browser
    reading the folder (file://) both follow: a folder's page is linked as its index.html."""
    target = (to_path + "index.html" if to_path == "" or to_path.endswith("/") else to_path).split("/")
    here = from_path.split("/")[:-1]  # the folders the page is in
    common = 0
    while common < len(here) and common < len(target) - 1 and here[common] == target[common]:
        common += 1
    return "../" * (len(here) - common) + "/".join(target[common:])


# ---- the site's pages ------------------------------------------------------------------------

FRONT_PAGE = ""
ARCHIVE_INDEX = f"{ARCHIVE_DIR}/"
JOBS = "jobs/"
EVENTS = "events/"
THEMES = "themes/"
THEME_SLUG = 60  # characters of a theme's slug in its address (a longer one is cut, and takes a digest)
SEARCH = "search/"
SEARCH_INDEX = "search/index.json"
CALENDAR = "events/calendar.ics"
SITEMAP = "sitemap.xml"
STYLESHEET = "site.css"
MONTHS = "months/"
SEARCH_SCRIPT = "search/search.js"
SEARCH_INDEX_SCRIPT = "search/index.js"
# What a source's own files may be, for the site to publish them as they are (`Source.site_files`): images and PDFs,
# no page, script or feed of the site's (nor SVG, which can carry a script).
FILE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".pdf"})
SUBSCRIBE = "subscribe"  # the route of `pipeline serve`'s form (pipeline/web/app.py): exactly this, no slash after
# Folders whose pages the site makes itself, its own files and the other outputs in out_dir (the email's
# HTML, `pipeline preview`), and outbox/, where earlier versions wrote the outbox: the outbox delivery moves
# what is there into its own folder and the proxy configs answer 404 for it, so no page may go there. An
# item's own URL there is not taken as its page. Nor is one under the routes of `pipeline serve`
# (pipeline/web/app.py), where the proxy sends every request: a page there could not be reached, or, for a
# stranger's item, would stand beside the subscribe form.
_SERVE_ROUTES = frozenset({SUBSCRIBE, "confirm", "unsubscribe", "preferences", "webhooks"})
_SITE_FOLDERS = frozenset({ARCHIVE_DIR, "themes", "months", "search", FEED_FILE, SITEMAP, STYLESHEET, "index.html",
                           "newsletter", "outbox", "preview", *_SERVE_ROUTES})
_LISTS = frozenset({JOBS, EVENTS, *(f"{folder}/" for folder in KIND_FOLDERS.values())})
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")


def item_path(project: Project, item: Item, owners: Mapping[str, str] | None = None) -> str:
    """An item's page: where its own URL already points when that is on this site (a blog post at
    <site_url>/blog/SLUG/), otherwise its kind's folder, a slug of its title and a piece of its id
    (`kind_path`).

    An own URL is taken only as a plain folder path (letters, digits, `-._~`; no `..`, no `%`)
    outside the site's own lists and files, so no item's page can replace one or land outside out/.
    Of two items claiming one page (their own URLs name it, or one's own URL names the other's kind
    page), the older has it (`owners`, from `own_pages`: the archive gives it so); the other has its
    kind's folder, or, should that be taken too, the folder and its whole id. Without `owners` the
    item is taken to be the only one claiming its page."""
    own = _own_path(project, item)
    candidates = [own] if own is not None and _own_page(own) else []
    candidates += [kind_path(item), f"{KIND_FOLDERS[item.kind]}/{item.id}/"]
    if owners is None:
        return candidates[0]
    return next((path for path in candidates if owners.get(path, item.id) == item.id), candidates[-1])


def kind_path(item: Item) -> str:
    """'news/<slug of the title>-<first 8 of the id>/': an item's page when its own URL gives it none."""
    return _kind_path(item.kind, item.title, item.id)


def _kind_path(kind: Kind, title: str, item_id: str) -> str:
    return f"{KIND_FOLDERS[kind]}/{slug(title, 50)}-{item_id[:8]}/"


def own_pages(project: Project, store: Store) -> dict[str, str]:
    """Site path -> the id of the item whose page it is, for every item's page, as the archive gives them
    (`plugins/sinks/archive/builder.py`): oldest first (by publication, then id), each takes the page its own
    URL names, else its kind's folder (`kind_path`); one already taken, its kind path; that too, its folder
    and whole id. So of two items naming one page, or one naming an older item's kind page, the older has
    it. What `item_path`, `item_link` and `event_calendar_path` take as `owners`, so every sink links an
    item to the page the archive gives it. Worked out once until an item changes: an email is rendered once
    per choice of themes."""
    return store.remembered(("own_pages", project.core.site_url), lambda: _own_pages(project, store))


def _own_pages(project: Project, store: Store) -> dict[str, str]:
    claims = []
    for item_id, kind_name, title, address in store.item_pages():
        kind = Kind(kind_name)
        own = _own_path_of(project, address) if address else None
        home = _kind_path(kind, title or "", item_id)
        claims.append((item_id, kind, own if own is not None and _own_page(own) else home, home))
    owners: dict[str, str] = {}
    for item_id, path in assign_pages(claims).items():
        owners.setdefault(path, item_id)
    return owners


def assign_pages(claims: Iterable[tuple[str, Kind, str, str]]) -> dict[str, str]:
    """Item id -> its page, from (id, kind, the page it claims (`item_path` without `owners`), its kind path),
    oldest first: each takes the page it claims; one already taken, its kind path; that too, its folder and
    whole id. How the archive gives pages, and `own_pages` works them out for the other sinks."""
    pages: dict[str, str] = {}
    taken: set[str] = set()
    for item_id, kind, path, home in claims:
        if path in taken:
            path = home if home not in taken else f"{KIND_FOLDERS[kind]}/{item_id}/"
        pages[item_id] = path
        taken.add(path)
    return pages


def item_link(project: Project, item: Item, owners: Mapping[str, str] | None = None) -> str:
    """Where links to an item point: its own URL, unless that is an address on this site other than the
    item's page (say <site_url>/seminars/3, which no file answers, or a page an older item has: `owners`,
    as `item_path` takes it) and the site is written (an `archive` sink): then its page, so no link is dead
    or leads to another item; an item with no URL of its own (a job the network posts) also links to its
    page then. Without an archive the own URL is all there is ('' if none)."""
    own = safe_url(item.url, url(project, FRONT_PAGE)) if item.url else ""
    written = publishes(project, "archive")
    if own and (not written or _own_path(project, item) is None):
        return own
    return url(project, item_path(project, item, owners)) if written else ""


def also_link(project: Project, entry: Mapping[str, str], page_of: Callable[[str], str | None]) -> str:
    """Where "Also announced by …" links an announcement merged into a job or event (`duplicates.also_entry`): its
    own URL, unless that is an address on this site and the site is written, as `item_link` links the announcement
    itself: then its page (`page_of(id)`: the site path the archive gives it), so the link is never to an address
    no page answers (<site_url>/vacancies/3) or to another item's page."""
    own = safe_url(entry.get("url", ""), url(project, FRONT_PAGE)) if entry.get("url") else ""
    if not own or not publishes(project, "archive") or _own_path_of(project, own) is None:
        return own
    page = page_of(entry.get("id", ""))
    return url(project, page) if page is not None else own


def pages_of(owners: Mapping[str, str]) -> Callable[[str], str | None]:
    """Item id -> its page, from `own_pages` (site path -> the id of the item whose page it is)."""
    pages = {item_id: path for path, item_id in owners.items()}
    return pages.get


def _own_path(project: Project, item: Item) -> str | None:
    """The site path of the item's own URL (a relative one read from the front page), or None."""
    return _own_path_of(project, item.url) if item.url else None


def _own_path_of(project: Project, address: str) -> str | None:
    """The site path an item's own URL `address` names, or None. An absolute http(s) address that does not
    start with `site_url` names none, and is known so without parsing it (`own_pages` asks of every item)."""
    if address.startswith(("http://", "https://")) and not address.startswith(project.core.site_url):
        return None
    return path_of_url(project, safe_url(address, url(project, FRONT_PAGE)))


def _own_page(path: str) -> bool:
    segments = path.split("/")
    if not path.endswith("/") or len(segments) < 2 or path in _LISTS or segments[0] in _SITE_FOLDERS:
        return False
    if len(segments) >= 3 and segments[-3] == "page" and segments[-2].isdigit():  # a list's page 2, 3…
        return False
    return all(_SAFE_SEGMENT.fullmatch(segment) for segment in segments[:-1])


def event_calendar_path(project: Project, item: Item, owners: Mapping[str, str] | None = None) -> str:
    """One event's .ics file, beside its page (`owners` as `item_path` takes it)."""
    return item_path(project, item, owners) + "event.ics"


def theme_label(theme: str) -> str:
    """A theme as a heading or a feed's title shows it: 'peer support' -> 'Peer support'; 'Open Dialogue' stays as
    it is. A first letter with no capital of its own ('ß', whose upper case is 'SS') stays as it is."""
    first = theme[:1].upper()
    return (first if len(first) == 1 else theme[:1]) + theme[1:]


def theme_path(theme: str) -> str:
    """themes/<slug>/. A theme with letters or digits outside the Latin script (which the slug drops), or
    with nothing the slug keeps (emoji, punctuation), gets a piece of a digest of its name as well, so two
    such themes never share a page; spellings that differ only in case or accents ('Peer support', 'peer
    support'; 'ΥΓΕΙΑ', 'Υγεία') still do. So does a theme whose slug is cut at `THEME_SLUG` characters: a
    digest of its whole slug, so two long themes that differ only after them have pages of their own."""
    whole = slug(theme, limit=None)
    name = whole[:THEME_SLUG].strip("-") or "item"
    if (digest := _script_digest(theme)) is not None:
        name = digest if name == "item" else f"{name}-{digest}"
    elif len(whole) > THEME_SLUG:
        name = f"{name}-{hashlib.sha256(whole.encode()).hexdigest()[:8]}"
    return f"{THEMES}{name}/"


def fold_theme(theme: str) -> str:
    """A theme as its spellings compare: case and accents folded, spaces made one ('Ärzte' is 'arzte', 'ß' is 'ss',
    'ΥΓΕΙΑ' is 'υγεια'). The themes index sorts by it, so 'Ärzte' comes with the A's."""
    decomposed = unicodedata.normalize("NFKD", theme).casefold()
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def _script_digest(theme: str) -> str | None:
    """A piece of a digest of a theme with letters or digits outside the Latin script, or with nothing the slug
    keeps ('ß', which the slug drops, as it does emoji and punctuation), folded (case and accents: 'ΥΓΕΙΑ' is
    'Υγεία'); None for any other theme."""
    folded = fold_theme(theme)
    if any(ch.isalnum() and not ch.isascii() for ch in folded) or (folded and not _slug_keeps(theme)):
        return hashlib.sha256(folded.encode()).hexdigest()[:8]
    return None


def _slug_keeps(theme: str) -> bool:
    """Whether the slug of `theme` keeps a letter or digit of it (not of 'ß' or '🙂')."""
    return re.search("[a-z0-9]", unicodedata.normalize("NFKD", theme).encode("ascii", "ignore").decode().lower()) \
        is not None


def _cut_theme_path(theme: str) -> str | None:
    """Where a theme's page was before its address changed, or None for a theme whose address never changed: a long
    theme's while its address was only its slug cut at `THEME_SLUG` characters (as addresses were made until November
    2026); themes/item/ for one whose slug keeps nothing of it but whose folded name is ASCII ('ß', folded 'ss'), which
    had no digest until December 2026."""
    if _script_digest(theme) is not None:
        folded = fold_theme(theme)
        old_digest = any(ch.isalnum() and not ch.isascii() for ch in folded) or not re.search("[a-z0-9]", folded)
        return None if old_digest else f"{THEMES}item/"
    if len(slug(theme, limit=None)) <= THEME_SLUG:
        return None
    return f"{THEMES}{slug(theme, THEME_SLUG)}/"


def moved_themes(store: Store, carried: Iterable[str] = ()) -> dict[str, str]:
    """A theme's page -> the theme that most of the items which lost it gained in the same change, when more than
    half of them did (a theme renamed in the taxonomy: 'peer support' to 'peer-led support'); a theme only taken
    out is not here. Counted since an item last took the theme (schema.py, THEME_MOVES); a respelling that keeps the
    page is no move. Where the page and the feed of a theme no item carries any more lead (`theme_left_for`), and what
    a subscriber's choice of it counts as (`subscribers.themes.choice_now`). The page a long theme of `carried` (the
    themes items carry now) had while its address was its slug cut short (`_cut_theme_path`) leads to it too, unless
    two such themes shared that page."""
    from pipeline.state.site import theme_moves

    lost: Counter[str] = Counter()
    gained: dict[str, Counter[str]] = {}
    for old, new, items in theme_moves(store):
        path = theme_path(old)
        if not new:
            lost[path] += items
        elif path != theme_path(new):
            gained.setdefault(path, Counter())[new] += items
        else:  # the same theme spelt otherwise ('Peer support' to 'peer support'): those items kept it
            lost[path] -= items
    moved = {was: theme for was, pages in _cut_addresses(carried).items() if len(pages) == 1
             for theme in pages.values()}
    for path, themes in gained.items():
        theme = min(themes, key=lambda t: (-themes[t], t))
        if 2 * themes[theme] > lost[path]:
            moved[path] = theme
    return moved


def themes_lost(store: Store, carried: Iterable[str]) -> set[str]:
    """The page (themes/SLUG/) of each theme items lost (schema.py, THEME_MOVES: not a cache, kept by a backup) that
    none of `carried` (the themes items carry now) has: readers found its page and feed, which lead on from then on.
    Known so whether or not out/ still holds them, or the sinks' record of what they wrote (`rm -rf out`, a site moved
    to a new server with its state, a `pipeline backup` put back, which leaves that record out)."""
    from pipeline.state.site import theme_moves

    live = {theme_path(theme) for theme in carried}
    return {path for old, _, _ in theme_moves(store) if (path := theme_path(old)) not in live}


def split_theme(path: str, carried: Iterable[str]) -> list[str]:
    """The themes of `carried` (those items carry now) that shared the page at `path` while their addresses were
    their slugs cut short (`_cut_theme_path`), one spelling each, when two or more did; else none."""
    pages = _cut_addresses(carried).get(path, {})
    return sorted(pages.values()) if len(pages) > 1 else []


def _cut_addresses(carried: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each address themes of `carried` had before theirs changed (`_cut_theme_path`: a long one's slug cut short)
    -> the page of each such theme now -> one spelling of it."""
    cut: dict[str, dict[str, str]] = {}
    for theme in sorted(carried):
        if (was := _cut_theme_path(theme)) is not None:
            cut.setdefault(was, {}).setdefault(theme_path(theme), theme)
    return cut


def theme_left_for(path: str, live: Container[str], moved: Mapping[str, str]) -> str | None:
    """The theme the page of a theme no item carries (`path`, themes/SLUG/) leads to: the one it became, or what
    that became in turn (`moved`, from `moved_themes`), whose page is `live`; None when there is none."""
    seen = {path}
    while path in moved:
        theme = moved[path]
        path = theme_path(theme)
        if path in live:
            return theme
        if path in seen:
            return None
        seen.add(path)
    return None


def theme_feed_path(theme: str) -> str:
    return f"{theme_path(theme)}{FEED_FILE}"


def month_path(month: date) -> str:
    return f"months/{month:%Y-%m}/"


def edition_page(number: int) -> str:
    """File name of an edition's page inside the archive folder."""
    return f"issue-{number}.html"


def edition_path(number: int) -> str:
    return f"{ARCHIVE_DIR}/{edition_page(number)}"


def edition_page_path(number: int, page_number: int) -> str:
    """Page `page_number` of an issue's web version: archive/issue-N.html, then archive/issue-N-page-2.html…"""
    return edition_path(number) if page_number <= 1 else f"{ARCHIVE_DIR}/issue-{number}-page-{page_number}.html"


# ---- addresses the email and the feeds link to ------------------------------------------------

def publishes(project: Project, sink_type: str) -> bool:
    """Whether the project has a sink of this type: "archive" writes the site's pages (the issues' web
    versions among them), "rss" its feeds."""
    return any(sink.name == sink_type for sink in project.sinks)


def feed_url(project: Project) -> str:
    return url(project, FEED_FILE)


def archive_url(project: Project) -> str:
    return url(project, ARCHIVE_INDEX)


def edition_url(project: Project, number: int) -> str:
    return url(project, edition_path(number))


def organizer(project: Project) -> tuple[str, str] | None:
    """(address, name) the calendars publish from (ORGANIZER): the newsletter's sender, when the project has an
    email sink."""
    sink = next((sink for sink in project.sinks if hasattr(sink, "sender")), None)
    if sink is None:
        return None
    address, name, _ = sink.sender()
    return address, name


def subscribe_url(project: Project) -> str:
    """The subscribe form's address (`pipeline serve` answers it at `SUBSCRIBE`, beside the site, never with a
    file of out/), for the site's pages and the email to link; "" for a project with no `email` sink, which has
    no list to join and no form."""
    return url(project, SUBSCRIBE) if publishes(project, "email") else ""
