"""The site's lists: the front page, a page per theme and per month with their indexes, jobs
(open by closing date, then closed) and events (upcoming, then past). Each is paginated by
PAGE_SIZE and made only from `Facts`, never from item bodies.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from pipeline import site
from pipeline.ordering import soonest_first
from plugins.sinks.archive.builder import Site
from plugins.sinks.archive.facts import Facts
from plugins.sinks.archive.issues import summary
from plugins.sinks.archive.paging import chunks, pager
from plugins.sinks.archive.render import Head, month_name
from plugins.sinks.archive.writer import Planned, key

FRONT_SHOWN = 5  # open jobs and upcoming events on the front page


@dataclass
class Part:
    """A titled stretch of a list on one page ('Open jobs', 'Closed jobs')."""

    title: str
    entries: list[Facts]
    empty: str = ""  # said on the first page when the part has nothing


@dataclass
class Group:
    """A theme or a month, as its index lists it."""

    name: str
    path: str
    count: int


def plan_lists(built: Site) -> list[Planned]:
    every = list(reversed(built.facts.values()))  # the facts are oldest first
    newest_first = list(reversed(built.listed.values()))  # the same news from two partner feeds once
    return [*_front(built), *_themes(built, every), *_months(built, newest_first), *_jobs(built),
            *_events(built)]


def _paged(built: Site, base: str, kind: str, parts: list[Part], head: Callable[[int, int], Head],
           **context) -> list[Planned]:
    """The pages of a list at `base` made of `parts` one after the other."""
    flat = [(index, entry) for index, part in enumerate(parts) for entry in part.entries]
    pages = chunks(flat)
    planned = []
    for number, chunk in enumerate(pages, 1):
        path = site.page(base, number)
        on_page = [Part(part.title, [e for i, e in chunk if i == index], part.empty if number == 1 else "")
                   for index, part in enumerate(parts)]
        on_page = [part for part in on_page if part.entries or part.empty]
        made_from = key(built.version, kind, base, number, len(pages), *context.values(),
                        *(f"{part.title}|{part.empty}|{built.prints(part.entries)}" for part in on_page))
        planned.append(Planned(path, made_from, lambda path=path, on_page=on_page, number=number, count=len(pages):
                               built.renderer.page("list.html", path, head(number, count), parts=on_page,
                                                   pager=pager(number, count, lambda n: site.page(base, n)),
                                                   **context)))
    return planned


def _titled(title: str, number: int, count: int) -> str:
    return title if count == 1 else f"{title} (page {number} of {count})"


# -- themes ------------------------------------------------------------------------------------

def _themes(built: Site, newest_first: list[Facts]) -> list[Planned]:
    by_slug: dict[str, list[Facts]] = defaultdict(list)
    spellings: dict[str, Counter] = defaultdict(Counter)
    paths: dict[str, str] = {}  # theme -> its page, worked out once per spelling
    for entry in newest_first:
        for theme in dict.fromkeys(entry.themes):
            path = paths.get(theme) or paths.setdefault(theme, site.theme_path(theme))
            if not by_slug[path] or by_slug[path][-1] is not entry:
                by_slug[path].append(entry)
            spellings[path][theme] += 1
    planned, groups = [], []
    for path, carrying in by_slug.items():
        entries = built.one_per_page(carrying)
        theme = _commonest(spellings[path])
        groups.append(Group(site.theme_label(theme), path, len(entries)))
        feeds = [(f"{built.project.core.name}: {theme} (RSS)", site.url(built.project, site.theme_feed_path(theme)))]
        planned += _paged(
            built, path, "theme", [Part("", entries)],
            lambda n, c, theme=theme, feeds=feeds: Head(_titled(site.theme_label(theme), n, c),
                                                       f"Everything on {theme} from {built.project.core.name}, "
                                                       f"newest first.", feeds=feeds if built.has_rss else []),
            heading=site.theme_label(theme),
            intro=f"Every blog post, news item, job and event on {theme}, newest first.",
            theme_feed=site.theme_feed_path(theme) if built.has_rss else "")
    groups.sort(key=lambda g: (site.fold_theme(g.name), g.name))  # 'Ärzte' with the A's, as a reader looks for it
    planned += _index(built, site.THEMES, "themes index", "Themes", groups,
                      f"Every theme of {built.project.core.name}, with how many items carry it.")
    return planned


def _commonest(spellings: Counter) -> str:
    """The spelling of a theme most of its items give (the first in alphabetical order on a tie): its page's heading."""
    return min(spellings, key=lambda t: (-spellings[t], t))


# -- months ------------------------------------------------------------------------------------

def _months(built: Site, newest_first: list[Facts]) -> list[Planned]:
    by_month: dict[str, list[Facts]] = defaultdict(list)
    for entry in newest_first:
        by_month[entry.month].append(entry)
    planned, groups = [], []
    for month, entries in sorted(by_month.items(), reverse=True):
        name = month_name(month)
        path = site.month_path(_first_day(month))
        groups.append(Group(name, path, len(entries)))
        planned += _paged(built, path, "month", [Part("", entries)],
                          lambda n, c, name=name: Head(_titled(name, n, c),
                                                       f"Everything published in {name}, newest first."),
                          heading=name, intro=f"Everything published in {name}, newest first.", theme_feed="")
    planned += _index(built, site.MONTHS, "months index", "Months", groups,
                      "Every month, newest first, with how many items were published in it.")
    return planned


def _first_day(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def _index(built: Site, base: str, kind: str, title: str, groups: list[Group], intro: str) -> list[Planned]:
    pages = chunks(groups)
    planned = []
    for number, chunk in enumerate(pages, 1):
        path = site.page(base, number)
        made_from = key(built.version, kind, number, len(pages), *(f"{g.name}|{g.path}|{g.count}" for g in chunk))
        planned.append(Planned(path, made_from, lambda path=path, chunk=chunk, number=number, count=len(pages):
                               built.renderer.page("groups.html", path, Head(_titled(title, number, count), intro),
                                                   heading=title, intro=intro, groups=chunk,
                                                   pager=pager(number, count, lambda n: site.page(base, n)))))
    return planned


# -- jobs and events ---------------------------------------------------------------------------

def open_and_closed(built: Site) -> tuple[list[Facts], list[Facts]]:
    jobs = [entry for entry in built.facts.values() if entry.kind == "job"]
    still = [entry for entry in jobs if entry.open_at(built.moment, built.horizon)]
    closed = [entry for entry in jobs if not entry.open_at(built.moment, built.horizon)]
    still.sort(key=lambda e: soonest_first(date.fromisoformat(e.closing) if e.closing else None,
                                           datetime.fromisoformat(e.published), e.title))  # as the email has them
    closed.sort(key=lambda e: (e.closing or e.published[:10], e.title), reverse=True)
    return still, closed


def upcoming_and_past(built: Site) -> tuple[list[Facts], list[Facts]]:
    events = [entry for entry in built.facts.values() if entry.kind == "event"]
    coming = [e for e in events if e.upcoming_at(built.moment, built.horizon)]
    past = [e for e in events if not e.upcoming_at(built.moment, built.horizon)]
    coming.sort(key=lambda e: soonest_first(datetime.fromisoformat(e.start) if e.start else None,
                                            datetime.fromisoformat(e.published), e.title))  # as the email has them
    past.sort(key=lambda e: (bool(e.start), e.start, e.title), reverse=True)  # the latest first; no date last
    return coming, past


def _jobs(built: Site) -> list[Planned]:
    still, closed = open_and_closed(built)
    parts = [Part("Open jobs", still, "No job is open at the moment."), Part("Closed jobs", closed)]
    return _paged(built, site.JOBS, "jobs", parts,
                  lambda n, c: Head(_titled("Jobs", n, c), f"Jobs from {built.project.core.name}: open ones by "
                                                             f"closing date, then those that have closed."),
                  heading="Jobs", intro="Open jobs first, the soonest to close at the top; then jobs that have closed.",
                  theme_feed="")


def _events(built: Site) -> list[Planned]:
    coming, past = upcoming_and_past(built)
    parts = [Part("Upcoming events", coming, "No event is coming up at the moment."), Part("Past events", past)]
    planned = _paged(built, site.EVENTS, "events", parts,
                     lambda n, c: Head(_titled("Events", n, c), f"Events from {built.project.core.name}: upcoming "
                                                                f"ones first, then past ones."),
                     heading="Events", intro="Upcoming events first, the soonest at the top; then past events.",
                     theme_feed="", all_events=site.CALENDAR)
    events = coming + past
    planned.append(Planned(site.CALENDAR, key(built.version, "calendar", built.prints(events),
                                              *(built.revision(entry) for entry in events)),
                           lambda: _calendar_ics(built, events), listed=False))
    return planned


def _calendar_ics(built: Site, events: list[Facts]) -> bytes:
    from pipeline import calendars  # icalendar is loaded only when a calendar is made

    return calendars.calendar_ics(built.project, built.items([e.id for e in events]),
                                  {e.id: built.stored(e) for e in events})


# -- the front page ----------------------------------------------------------------------------

def _front(built: Site) -> list[Planned]:
    latest = summary(built, built.issues[0]) if built.issues else None
    still, _ = open_and_closed(built)
    coming, _ = upcoming_and_past(built)
    months = sorted({entry.month for entry in built.listed.values()}, reverse=True)[:12]
    jobs, events = still[:FRONT_SHOWN], coming[:FRONT_SHOWN]
    made_from = key(built.version, "front", built.issues[0].key if built.issues else "",
                    built.prints(latest.entries) if latest else "", built.prints(jobs), len(still),
                    built.prints(events), len(coming), *months)
    core = built.project.core
    return [Planned(site.FRONT_PAGE, made_from, lambda: built.renderer.page(
        "front.html", site.FRONT_PAGE, Head(core.name, core.description or f"News, blog posts, jobs and events "
                                                                           f"from {core.name}."),
        latest=latest, jobs=jobs, open_jobs=len(still), events=events, upcoming=len(coming),
        months=[(month_name(m), site.month_path(_first_day(m))) for m in months]))]


# -- where a list was ----------------------------------------------------------------------------

_LEFT_PAGE = re.compile(r"(?P<base>(?:.+/)?)page/\d+/|(?P<issue>archive/issue-\d+)-page-\d+\.html")


def plan_left(built: Site, known: Iterable[str], planned: list[Planned]) -> list[Planned]:
    """Where a list's page was that the site no longer makes (`known`: every file the sink wrote), a page leading on:
    a theme no item carries to the theme most of its items took instead (renamed in the taxonomy:
    `site.moved_themes`), else to the themes; a page 2, 3… a shorter list no longer needs to the list; a month left
    empty to the months. Bookmarks and the emails sent link them."""
    wanted = {page.path for page in planned}
    spellings: dict[str, Counter] = defaultdict(Counter)
    for entry in built.facts.values():
        for theme in dict.fromkeys(entry.themes):
            spellings[site.theme_path(theme)][theme] += 1
    names = {path: _commonest(spelt) for path, spelt in spellings.items()}  # each theme's page: its heading there
    # Each theme items lost too, whether or not the sink's record (a cache) still has its page.
    known = set(known) | site.themes_lost(built.store, names.values())
    left = [path for path in known if path not in wanted and (path.endswith("/") or path.endswith(".html"))]
    if not left:
        return []
    moved = site.moved_themes(built.store, names.values()) if any(path.startswith(site.THEMES) for path in left) else {}
    pages = []
    for path in sorted(left):
        target = _left_for(path, wanted, moved)
        if target is None:
            continue
        title = _title(built, target, names)
        pages.append(Planned(path, key(built.version, "list left", path, target, title),
                             lambda path=path, target=target, title=title: built.renderer.page(
                                 "moved.html", path, Head(title, f"This page has moved: {title}."), target=target),
                             listed=False))
    return pages


_LIST_TITLES = {site.THEMES: "Themes", site.MONTHS: "Months", site.JOBS: "Jobs", site.EVENTS: "Events",
                site.ARCHIVE_INDEX: "Issues"}


def _title(built: Site, target: str, names: dict[str, str]) -> str:
    """The heading of the page at `target`, a list (`names`: each theme's page -> the theme)."""
    if target in names:
        return site.theme_label(names[target])
    if target.startswith(site.MONTHS) and target != site.MONTHS:
        return month_name(target.split("/")[1])
    if target.startswith(f"{site.ARCHIVE_DIR}/issue-"):
        return f"Issue {target.removeprefix(f'{site.ARCHIVE_DIR}/issue-').removesuffix('.html')}"
    return _LIST_TITLES.get(target, built.project.core.name)


def _left_for(path: str, wanted: set[str], moved: dict[str, str]) -> str | None:
    """Where a list page no longer made leads (None: not a list's page, or nowhere to lead)."""
    if path.startswith(site.THEMES) and path != site.THEMES:
        folder = "/".join(path.split("/")[:2]) + "/"
        if folder in wanted:  # the theme is still there: its page 1
            return folder
        theme = site.theme_left_for(folder, wanted, moved)
        return site.theme_path(theme) if theme else site.THEMES
    if path.startswith(site.MONTHS) and path != site.MONTHS:
        folder = "/".join(path.split("/")[:2]) + "/"
        return folder if folder in wanted else site.MONTHS
    found = _LEFT_PAGE.fullmatch(path)
    if found is None:
        return None
    target = f"{found['issue']}.html" if found["issue"] else found["base"]
    return target if target in wanted else None
