"""Each issue's web version (archive/issue-N.html, the page sent emails link to) and the archive's
index of every issue with its titles.

The web version is a page of the site, not the email: the site's header and navigation, one h1,
every item of the issue (PAGE_SIZE a page, in newsletter order) with its details whole, and none of
the email's own words (no "view in browser", no unsubscribe).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pipeline import item_view, site
from pipeline.changes import stored_changes
from pipeline.edition import SECTION_TITLES
from pipeline.models import Kind
from plugins.sinks.archive.builder import Issue, Site
from plugins.sinks.archive.facts import Facts
from plugins.sinks.archive.items import calendar_path
from plugins.sinks.archive.paging import chunks, pager
from plugins.sinks.archive.render import Head
from plugins.sinks.archive.writer import Planned, key

NOUNS = {
    "post": ("blog post", "blog posts"),
    "news": ("news item", "news items"),
    "job": ("job", "jobs"),
    "event": ("event", "events"),
}


@dataclass
class Section:
    kind: str
    title: str
    count: int  # in the whole issue
    page: int  # the page it starts on
    entries: list  # (ItemView, Facts) on this page


@dataclass
class IssueSummary:
    """One issue as the archive's index (and the front page) show it."""

    number: int
    title: str
    as_of: str  # ISO date
    day: str
    path: str
    counts: list[tuple[str, str]]  # (kind, "3 jobs")
    themes: list[str]  # most frequent first
    entries: list[Facts]  # the first PAGE_SIZE items
    more: int  # items beyond those


def plan_issues(built: Site) -> list[Planned]:
    """Each page of each issue, made from the entries it shows (and what was merged into them), where the
    issue's sections start, and the issue's own number, date and title: a change to one item makes
    again only the page that shows it."""
    planned = []
    for issue in built.issues:
        record = issue.record
        entries = in_sections(built.shown(issue.shown))
        pages = chunks(entries)
        starts = [f"{e.kind}:{n}" for n, e in enumerate(entries) if n == 0 or e.kind != entries[n - 1].kind]
        changes = _changes(built, record.number)
        for number, on_page in enumerate(pages, 1):
            merges = [f"{e.id}<{built.prints(built.shown(built.announcements[e.id]))}"
                      for e in on_page if e.id in built.announcements]
            told = [f"{view.title}|{view.url}|{view.what}" for view in changes] if number == 1 else []
            made_from = key(built.version, "issue", record.number, record.as_of, record.title, number, len(pages),
                            len(entries), *starts, built.prints(list(on_page)), *merges, *told)
            planned.append(Planned(site.edition_page_path(record.number, number), made_from,
                                   lambda issue=issue, n=number, count=len(pages): _issue_page(built, issue, n, count)))
    return planned


def plan_archive_index(built: Site) -> list[Planned]:
    title = built.settings.title or f"{built.project.core.name} newsletter archive"
    pages = chunks(built.issues)
    planned = []
    for number, issues in enumerate(pages, 1):
        path = site.page(site.ARCHIVE_INDEX, number)
        summaries = [summary(built, issue) for issue in issues]
        made_from = key(built.version, "archive", number, len(pages), title,
                        *(f"{issue.key}|{built.prints(s.entries)}" for issue, s in zip(issues, summaries, strict=True)))
        planned.append(Planned(path, made_from, lambda path=path, summaries=summaries, number=number, count=len(pages):
                               built.renderer.page(
                                   "archive.html", path,
                                   Head(title, f"Every issue of the {built.project.core.name} newsletter, "
                                               f"newest first, with what each one held."),
                                   title=title, issues=summaries,
                                   pager=pager(number, count, lambda n: site.page(site.ARCHIVE_INDEX, n)))))
    return planned


def summary(built: Site, issue: Issue) -> IssueSummary:
    entries = in_sections(built.shown(issue.shown))
    kinds = Counter(entry.kind for entry in entries)
    counts = [(kind.value, plural(kinds[kind.value], *NOUNS[kind.value])) for kind in Kind if kinds[kind.value]]
    themes = Counter(theme for entry in entries for theme in entry.themes)
    record = issue.record
    return IssueSummary(record.number, record.title, record.as_of.isoformat(), record.as_of.strftime("%-d %B %Y"),
                        site.edition_path(record.number), counts, sorted(themes, key=lambda t: (-themes[t], t)),
                        entries[:site.PAGE_SIZE], max(0, len(entries) - site.PAGE_SIZE))


def in_sections(entries: list[Facts]) -> list[Facts]:
    """An issue's entries in the email's order of sections (blog, news, jobs, events: `SECTION_TITLES`), each kind's in
    the order the issue had them. The issue keeps the order it was sent in; an item whose kind changed since (an
    event its organisers made news) goes among its kind's, not into a second section of that kind after the others."""
    order = {kind.value: n for n, kind in enumerate(SECTION_TITLES)}
    return sorted(entries, key=lambda entry: order[entry.kind])


def _changes(built: Site, number: int) -> list[item_view.ChangeView]:
    """What issue `number` told of the jobs and events earlier issues sent that changed since (`pipeline/changes.py`),
    as its first page shows it: each linking its page here (none for one withdrawn, which has none)."""
    views = []
    for change in stored_changes(built.store, number):
        view = item_view.change_view(change, built.project.tz, whole=True, url="",
                                     language=site.other_language(built.project, change.item))
        entry = built.facts.get(change.item.id)
        view.url = entry.path if entry is not None else ""  # a path of the site, which the page links relatively
        if view.what:
            views.append(view)
    return views


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _issue_page(built: Site, issue: Issue, number: int, count: int) -> str:
    """One page of an issue: its items read whole (with what was merged into them), the rest from Facts."""
    entries = in_sections(built.shown(issue.shown))
    sections: dict[str, Section] = {}
    for position, entry in enumerate(entries):
        if entry.kind not in sections:
            kind = Kind(entry.kind)
            sections[entry.kind] = Section(entry.kind, SECTION_TITLES[kind], 0, position // site.PAGE_SIZE + 1, [])
        sections[entry.kind].count += 1
    start = (number - 1) * site.PAGE_SIZE
    on_page = entries[start:start + site.PAGE_SIZE]
    built.items([entry.id for entry in on_page])  # read together
    shown: list[Section] = []
    for entry in on_page:
        section = sections[entry.kind]
        if not section.entries:
            shown.append(section)
        item = built.item(entry.id)
        view = item_view.item_view(item, built.project.tz, whole=True, also_url=built.also_url,
                                   language=site.other_language(built.project, item))
        section.entries.append((view, entry))
    record = issue.record
    changes = _changes(built, record.number) if number == 1 else []
    day = record.as_of.strftime("%-d %B %Y")
    intro = item_view.intro_of({Kind(kind): section.count for kind, section in sections.items()})
    path = site.edition_page_path(record.number, number)
    title = f"Issue {record.number}, {day}" + (f" (page {number} of {count})" if count > 1 else "")
    return built.renderer.page(
        "issue.html", path, Head(title, f"{record.title}. {intro}"),
        issue=record, day=day, intro=intro, contents=list(sections.values()) if number == 1 and count > 1 else [],
        sections=shown, number=number, calendar_path=calendar_path, changes=changes,
        changes_title=item_view.changes_title(stored_changes(built.store, record.number)) if changes else "",
        pager=pager(number, count, lambda n: site.edition_page_path(record.number, n)))
