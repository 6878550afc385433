"""The site as a whole: what every page is made from, read once per run and shared by the planners
(items.py, issues.py, lists.py, search.py), which turn it into `Planned` files.

Nothing here reads an item's body unless a page that shows it must be made again: `Facts` (what
lists show, cached per fingerprint) and each issue's key, order and merges (cached per issue) are
enough to decide; but for the few news items or posts in no issue whose titles and dates may pair
them with a job or event, and those jobs and events, read to see whether they announce it
(`Site._announced_elsewhere`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from pipeline import current, site
from pipeline.components import Sink
from pipeline.duplicates import (
    also_entry,
    announces_elsewhere,
    copies_of_one_page,
    copies_of_stored,
    may_announce,
    merge_duplicates,
)
from pipeline.models import Item, Kind
from pipeline.run_context import RunContext
from pipeline.state import EditionRecord, Revision
from pipeline.state import site as site_state
from pipeline.state.successors import first_stored, successors, taken_by_withdrawn
from plugins.sinks.archive.facts import Facts, load_facts
from plugins.sinks.archive.render import Renderer, libraries
from plugins.sinks.archive.writer import key

SITE_VERSION = "13"  # change when the code changes what any page holds: every page is made again
ISSUE_RULE = "copy stored first"  # change when what an issue shows is worked out otherwise: each is read again
RECORDS = frozenset({Kind.JOB.value, Kind.EVENT.value})  # what announcements are merged into


@dataclass
class Issue:
    record: EditionRecord
    key: str  # a hash of the issue and its items' fingerprints
    shown: list[str]  # ids shown, in order (announcements merged into a job or event are not)
    merged: dict[str, str]  # merged-away id -> the job or event that shows it

    @property
    def number(self) -> int:
        return self.record.number

    @cached_property
    def shown_ids(self) -> frozenset[str]:
        return frozenset(self.shown)


class Site:
    """Everything a run of the `archive` sink knows about the site before it writes a page."""

    def __init__(self, sink: Sink, run: RunContext):
        self.project = project = run.project
        self.run = run
        self.store = run.store
        self.sink = sink.instance
        self.settings = sink.settings
        self.moment: datetime = run.moment
        self.horizon = current.horizons(project)
        self.has_rss = site.publishes(project, "rss")
        self.renderer = Renderer(project, run.templates, main_feed=self.has_rss)
        core = project.core
        self.version = key(SITE_VERSION, self.renderer.sources(), json.dumps(self.settings.model_dump(mode="json")),
                           core.name, core.description, core.site_url, core.language, core.timezone,
                           self.has_rss, self.renderer.subscribe_url, site.organizer(project), libraries())
        records = self.store.editions()  # newest first
        # Every issue is on the site (sent emails link to it), even when --as-of is earlier than the latest, and so is
        # every item a later run published (`site_horizon`).
        horizon = self.store.site_horizon(self.moment, keep=not run.dry_run)
        until = max([horizon, *(record.period_end for record in records)])
        facts, self._read = load_facts(project, self.store, until)
        self.facts = _own_pages(facts)
        # Each event's revision, for its calendar's SEQUENCE, DTSTAMP and LAST-MODIFIED (pipeline/calendars.py).
        self.revisions = self.store.revisions(i for i, entry in self.facts.items() if entry.kind == Kind.EVENT.value)
        # An item on the site under a new id (a post whose slug changed: pipeline/state/successors.py) in place of one
        # withdrawn: the issues that sent it under its old id show it so.
        self.successors = {old: new for old, new in successors(self.store).items() if new in self.facts}
        self.uid_of = self._uids()
        self.issues = self._read_issues(records)
        self.issue_of: dict[str, Issue] = {}
        self.merged_into: dict[str, str] = {}
        self.announcements: dict[str, list[str]] = {}
        for issue in reversed(self.issues):  # oldest first: an item's first issue wins
            for item_id in self.issue_items(issue.record):
                if item_id in issue.merged or item_id in issue.shown_ids:  # not a copy left out (`copies`)
                    self.issue_of.setdefault(item_id, issue)
            for merged, into in issue.merged.items():
                self.merged_into[merged] = into
                self.announcements.setdefault(into, []).append(merged)
        # What the lists show (oldest first): the same news passed on by two partner feeds once (`one_per_page`)
        self.listed = {entry.id: entry for entry in self.one_per_page(list(self.facts.values()))}
        # A news item or post in no issue that announces a job or event an earlier issue sent (or one closed or over),
        # which the issues leave out and the feed shows on it: its page says what it announces, the job's or event's
        # page has it (not the issue's web version, which shows the job as the issue sent it)
        self.announced_later: dict[str, list[str]] = {}
        for announcement, into in self._announced_elsewhere().items():
            self.merged_into[announcement] = into
            self.announced_later.setdefault(into, []).append(announcement)

    # -- reading -------------------------------------------------------------------------------

    def items(self, ids: list[str]) -> list[Item]:
        """Items by id (those still stored), read from the state database at most once a run."""
        missing = [item_id for item_id in ids if item_id not in self._read]
        if missing:
            self._read.update((item.id, item) for item in self.store.get_items(missing))
        return [self._read[item_id] for item_id in ids if item_id in self._read]

    def item(self, item_id: str, *, later: bool = False) -> Item:
        """An item as its issue shows it: a job or event with the announcements merged into it, oldest first, as
        `merge_duplicates` lists them; as its page shows it (`later`), with those no issue sent too
        (`announced_later`)."""
        (item,) = self.items([item_id])
        announced = [*self.announcements.get(item_id, ()), *(self.announced_later.get(item_id, ()) if later else ())]
        if announced:
            found = sorted(self.items(announced), key=lambda a: (a.published, a.id))
            item = dataclasses.replace(item, also_announced=[*item.also_announced, *map(also_entry, found)])
        return item

    def _announced_elsewhere(self) -> dict[str, str]:
        """announcement id -> the job or event it announces, of each news item or post the lists show that no issue
        sent and that the rule of the issues leaves out (`duplicates.announces_elsewhere`), matched against every job
        and event on the site; read whole only for the few whose titles and dates may match (`may_announce`)."""
        waiting = [e for e in self.listed.values() if e.kind not in RECORDS and e.id not in self.issue_of]
        if not waiting:
            return {}
        records = [e for e in self.facts.values() if e.kind in RECORDS]

        def last_day(entry: Facts):
            found = entry.closing or (entry.finishes[:10] if entry.kind == Kind.EVENT.value else "")
            return date.fromisoformat(found) if found else None

        record_ids, announcement_ids = may_announce(
            [(e.id, e.title, e.organisation, e.location, e.source, last_day(e)) for e in records],
            [(e.id, e.title, e.source, date.fromisoformat(e.published[:10])) for e in waiting])
        if not announcement_ids:
            return {}
        ordered = [e.id for e in waiting if e.id in announcement_ids]
        return announces_elsewhere(self.items(ordered), self.items([e.id for e in records if e.id in record_ids]))

    def also_url(self, entry: dict[str, str]) -> str:
        """Where "Also announced by" links an announcement merged into a job or event (`site.also_link`): its own
        URL, or its page here when that URL is an address on this site."""
        facts = self.facts
        return site.also_link(self.project, entry, lambda item_id: facts[item_id].path if item_id in facts else None)

    def issue_items(self, record: EditionRecord) -> list[str]:
        """The ids of an issue's items as the site has them: one withdrawn that another took the place of, as that
        one (once)."""
        return list(dict.fromkeys(i if i in self.facts else self.successors.get(i, i) for i in record.item_ids))

    def _read_issues(self, records: list[EditionRecord]) -> list[Issue]:
        seen = site_state.editions_seen(self.store, self.sink)
        issues, fresh = [], {}
        for record in records:
            ids = self.issue_items(record)
            prints = {i: self.facts[i].fp for i in ids if i in self.facts}
            made_from = key(ISSUE_RULE, record.number, record.as_of, record.title, record.period_start,
                            record.period_end, *(f"{i}:{prints.get(i, '-')}" for i in ids))
            before = seen.get(record.number)
            if before is not None and before.key == made_from:
                issues.append(Issue(record, made_from, before.shown, before.merged))
                continue
            # A copy of one page of another source (the same news from two partner feeds) is stored with the issue
            # for its themes, and shown nowhere: the email re-made leaves it out too (`edition.from_record`)
            copies = self.copies(ids)
            split: dict[str, dict[str, str]] = {"records": {}, "announcements": {}}
            for item_id, fp in prints.items():
                if item_id not in copies:
                    split["records" if self.facts[item_id].kind in RECORDS else "announcements"][item_id] = fp
            merged = self._merges(record, [i for i in ids if i not in copies], split, before)
            shown = [i for i in ids if i in prints and i not in merged and i not in copies]
            issues.append(Issue(record, made_from, shown, merged))
            fresh[record.number] = site_state.EditionSeen(made_from, shown, merged, split)
        site_state.record_editions(self.store, self.sink, fresh, drop=seen.keys() - {r.number for r in records})
        return issues

    def one_per_page(self, entries: list[Facts]) -> list[Facts]:
        """`entries` as a list shows them: of two news items or posts of two sources linking one page (the same news
        passed on by two partner feeds), the one an issue sent, else the first published, as the issues and the feeds
        have it once (`duplicates.one_per_page`); the other keeps its own page. A theme's list is made so from the
        items carrying the theme, as its feed is."""
        out = copies_of_one_page((e.id, e.page, e.source, (e.id not in self.issue_of, e.published, e.id))
                                 for e in entries)
        return [entry for entry in entries if entry.id not in out]

    @cached_property
    def kept_for(self) -> dict[str, Facts]:
        """Of each news item or post the lists leave out for a copy of another source linking the same page
        (`one_per_page` over the whole site), that copy: its page names it, and the search finds it by both."""
        first: dict[str, tuple[tuple, Facts]] = {}
        for e in self.facts.values():
            rank = (e.id not in self.issue_of, e.published, e.id)
            if e.page and (e.page not in first or rank < first[e.page][0]):
                first[e.page] = (rank, e)
        return {e.id: first[e.page][1] for e in self.facts.values()
                if e.page and first[e.page][1].source != e.source}

    def copies(self, ids: list[str]) -> set[str]:
        """Those of an issue's `ids` (in the order stored) it left out for a news item or post of another source
        linking the same page, as the issue re-made leaves them out (`duplicates.copies_of_stored`: the one stored
        first was shown, whatever the dates say since)."""
        return copies_of_stored((i, self.facts[i].page, self.facts[i].source) for i in ids if i in self.facts)

    def _merges(self, record: EditionRecord, ids: list[str], prints: dict[str, dict[str, str]],
                before: site_state.EditionSeen | None) -> dict[str, str]:
        """What `merge_duplicates` merges in the issue (as the email re-renders it): merged-away id -> the
        job or event showing it.

        An announcement goes to its best match among the issue's jobs and events, whatever the other
        announcements are (pipeline/duplicates.py); so while the jobs and events are as they were,
        only new or changed announcements are matched again. Otherwise the whole issue is."""
        if before is not None:
            old = site_state.edition_prints(self.store, self.sink, record.number)
            if old.get("records") == prints["records"]:
                announcements = prints["announcements"]
                changed = [i for i, fp in announcements.items() if old.get("announcements", {}).get(i) != fp]
                merged = {a: r for a, r in before.merged.items() if a in announcements and a not in changed}
                if changed and prints["records"]:
                    merged.update(merge_duplicates(self.items([*prints["records"], *changed])).into)
                return merged
        # Only what the site shows: an announcement of a job or event withdrawn since is shown on its own.
        return merge_duplicates(self.items([i for i in ids if i in self.facts])).into

    # -- what pages show -----------------------------------------------------------------------

    def shown(self, ids: list[str]) -> list[Facts]:
        return [self.facts[item_id] for item_id in ids if item_id in self.facts]

    def prints(self, entries: list[Facts]) -> str:
        """What a list of entries is made from (their page too: two items claiming one page move one)."""
        return ",".join([f"{entry.id}:{entry.fp}:{entry.path}" for entry in entries])

    def revision(self, entry: Facts) -> str:
        """What an event's calendar takes from its revision, for the keys of the files that hold it."""
        revision = self.revisions.get(entry.id)
        made = f"{revision.number}@{revision.updated.isoformat()}" if revision else "-"
        return made + (f" as {self.uid_of[entry.id]}" if entry.id in self.uid_of else "")

    def stored(self, entry: Facts):
        """An event's page and revision, as its calendar entry gives them (`calendars.Stored`), and the id whose UID
        it keeps (see `_uids`)."""
        from pipeline.calendars import Stored  # icalendar is loaded only when a calendar is made

        return Stored(entry.path, self.revisions.get(entry.id), self.uid_of.get(entry.id, ""))

    def _uids(self) -> dict[str, str]:
        """Of each event on the site in place of one or more withdrawn (its id corrected: successors), the id whose
        calendar UID it keeps, the first of them stored (`first_stored`), as a post keeps its guid in the feeds, so
        that an app that imported it under its old id updates that copy rather than adding a second (put back under
        that id, it has its own again). Its revision is then theirs and its own together (each counts up, a
        withdrawal and a return too), so its SEQUENCE is above any an app holds of it under that UID."""
        groups: dict[str, set[str]] = {}
        for old, new in self.successors.items():
            if self.facts[new].kind == Kind.EVENT.value:
                groups.setdefault(new, {new}).add(old)
        before = self.store.revisions({old for group in groups.values() for old in group} - groups.keys())
        for new, group in groups.items():
            held = [r for r in (self.revisions.get(new), *(before.get(old) for old in group - {new})) if r]
            if held:
                self.revisions[new] = Revision(sum(r.number for r in held), max(r.updated for r in held))
        return {new: first for new, first in first_stored(self.store, groups).items() if first != new}

    def cancelled(self, ids: set[str], revisions: dict[str, Revision]) -> dict[str, tuple[Revision, str]]:
        """Of each withdrawn event in `ids`, none in its place on the site, that had the place of others while it was
        listed (its id corrected, then cancelled: `taken_by_withdrawn`): the revision and the id of the UID its
        cancellation gives, as it gave them (see `_uids`), so that an app that holds it marks that copy cancelled."""
        kin = taken_by_withdrawn(self.store, ids)
        before = self.store.revisions({old for olds in kin.values() for old in olds})
        firsts = first_stored(self.store, {item_id: {item_id, *olds} for item_id, olds in kin.items()})
        found = {}
        for item_id, olds in kin.items():
            held = [r for r in (revisions.get(item_id), *(before.get(old) for old in olds)) if r]
            if held:
                found[item_id] = (Revision(sum(r.number for r in held), max(r.updated for r in held)),
                                  "" if firsts[item_id] == item_id else firsts[item_id])
        return found

    def state_of(self, entry: Facts) -> str:
        """'closed' for a job past its closing date, 'over' for a past event, else ''."""
        return state_at(entry, self.moment, self.horizon)


def state_at(entry: Facts, moment: datetime, horizon: current.Horizons) -> str:
    """'closed' for a job past its closing date at `moment`, 'over' for a past event, else '': all a page or a list
    takes from the moment of the run (plugins/sinks/archive/unchanged.py keeps it so)."""
    if entry.kind == "job" and not entry.open_at(moment, horizon):
        return "closed"
    if entry.kind == "event" and not entry.upcoming_at(moment, horizon):
        return "over"
    return ""


def _own_pages(facts: dict[str, Facts]) -> dict[str, Facts]:
    """Two items claiming one page (the same own URL): the older keeps it, the other gets its kind's folder
    (`site.kind_path`, as `site.item_path` gives it with `site.own_pages`, so the email, the feeds and the
    calendars link it there too). Should that be taken as well, the folder and the whole id (`site.assign_pages`,
    oldest first)."""
    pages = site.assign_pages((item_id, Kind(entry.kind), entry.path, entry.home) for item_id, entry in facts.items())
    return {item_id: entry if pages[item_id] == entry.path else dataclasses.replace(entry, path=pages[item_id])
            for item_id, entry in facts.items()}
