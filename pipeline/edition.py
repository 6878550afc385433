"""Choosing what goes into a newsletter edition (an issue) for a given date.

An edition dated D holds what is new since the previous edition: the items published since it (for the first
edition, in the month before D) and before D, plus late arrivals, items that belonged to the previous edition's
period but were first seen only after it was made (a source that was down that day), and (after the first edition)
every job still open and event still to come that no edition sent, whatever its posted date (put in the files late,
with the day its advert first appeared; or closed by its edition and its closing date extended since), but for the
backlog the first edition left out (posted before its period, and stored when it was made). Nothing is in
two editions, nor is a page (URL) that an earlier edition linked (for a news item or post, however spelt: http or
https, "www.", a slash, a fragment, tracking tags: `page_key`), nor two news items or posts of two sources linking
one page (the same news from two partner feeds: the first published goes); jobs already closed and events already
over, by D or by the time the edition is made if that is later, are left out; so is an item that took the place of
one sent under another id (a post whose slug changed: `pipeline/state/successors.py`). The same date always gives
the same edition: it is stored on first use, and a re-run re-renders it rather than making a second one. A date
before the latest edition is refused, since its period would overlap.

A news item or blog post announcing a job or event of the same edition from another source is
shown once, on that job or event ("Also announced by …"; the rule is in `pipeline/duplicates.py`); one announcing a job
or event not in the edition (an earlier one sent it, or it has closed or is over) is left out, unless it is a
roundup naming it among other news (`duplicates.about_alone`); the site and the feed show it on that job or event.
The stored edition lists the items shown, in newsletter order, then the ones merged away, then the copies of one
page left out (`one_per_page`, kept for their themes: `Edition.copies`), so neither is ever in a later edition; the
merge and the copies are made again from the stored items whenever the edition is re-rendered.

An edition also tells what changed of the jobs and events earlier editions sent (moved, cancelled, a closing date
changed: `pipeline/changes.py`), and records what it tells of its own jobs and events, so the next one can compare.
An edition is made for new items only: with nothing new, the changes wait for the next one that is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pipeline.changes import Change, changes_since, recorded, stored_changes
from pipeline.current import Horizons, is_current
from pipeline.duplicates import (
    ANNOUNCEMENT_KINDS,
    RECORD_KINDS,
    announced_elsewhere,
    announced_page,
    copies_of_stored,
    merge_duplicates,
    one_per_page,
    page_key,
)
from pipeline.errors import PipelineError
from pipeline.models import Item, Kind
from pipeline.ordering import soonest_first
from pipeline.state import EditionRecord, Store
from pipeline.state.successors import successors
from pipeline.state.told import facts_of

SECTION_TITLES = {
    Kind.POST: "From the blog",
    Kind.NEWS: "Partner news",
    Kind.JOB: "Jobs",
    Kind.EVENT: "Events",
}


@dataclass
class Edition:
    number: int
    as_of: date
    period_start: datetime
    period_end: datetime
    title: str
    items: list[Item]
    sections: dict[Kind, list[Item]] = field(default_factory=dict)
    # The ids of the whole issue's items in newsletter order, as its web version lists them (the archive's pages of
    # `site.PAGE_SIZE`): kept in a subscriber's version, which has only the items of their themes
    whole: list[str] = field(default_factory=list)
    # Of a news item or post that copies of its page from other sources were left out for (the same news from two
    # partner feeds: `one_per_page`), their themes, which send it to whoever follows one of them too
    copies: dict[str, list[str]] = field(default_factory=dict)
    # What changed of the jobs and events earlier editions sent ("Changed since issue N"), in newsletter order; in a
    # subscriber's version, those of their themes
    changes: list[Change] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sections:
            self.sections = {kind: [i for i in self.items if i.kind is kind] for kind in Kind}
        if not self.whole:
            self.whole = [item.id for item in self.items]

    @property
    def themes(self) -> list[str]:
        """Every theme in this edition, most frequent first."""
        counts: dict[str, int] = {}
        for item in self.items:
            for theme in item.themes:
                counts[theme] = counts.get(theme, 0) + 1
        return sorted(counts, key=lambda t: (-counts[t], t))


def start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def month_before(day: date) -> date:
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(day.day, 28))


def month_after(day: date) -> date:
    year, month = (day.year, day.month + 1) if day.month < 12 else (day.year + 1, 1)
    return date(year, month, min(day.day, 28))


def edition_title(network: str, number: int, as_of: date) -> str:
    return f"{network}: issue {number}, {as_of.strftime('%B %Y')}"


def still_relevant(item: Item, at: datetime, horizon: Horizons) -> bool:
    """False for a job that has closed, or an event that is over, at `at` (the rule of `pipeline/current.py`, which
    the feeds and the site keep too)."""
    return is_current(item, at, horizon)


def order(items: list[Item]) -> list[Item]:
    """Newsletter order: by section; posts and news newest first; jobs and events in the one order the site's lists
    have too (`pipeline/ordering.py`): the soonest first, then those with no date, newest first."""

    def key(item: Item):
        rank = list(Kind).index(item.kind)
        if item.kind is Kind.JOB:
            return (rank, soonest_first(item.job.closing_date if item.job else None, item.published, item.title))
        if item.kind is Kind.EVENT:
            return (rank, soonest_first(item.event.start if item.event else None, item.published, item.title))
        return (rank, (-item.published.timestamp(), item.title))

    return sorted(items, key=key)


class EditionError(PipelineError):
    exit_code = 2


def select_items(store: Store, as_of: date, tz: ZoneInfo, moment: datetime,
                 horizon: Horizons = Horizons()) -> tuple[datetime, datetime, list[Item], list[Item]]:
    """(period start, period end, the items chosen in newsletter order, the copies left out of them: news items or
    posts of another source linking the page one chosen links, `one_per_page`)."""
    period_end = start_of(as_of, tz)
    previous = store.last_edition_before(as_of)
    period_start = previous.period_end if previous else start_of(month_before(as_of), tz)
    late_start = previous.period_start if previous else period_start
    sent_ids, sent_urls = store.sent_before(as_of)
    # The same item under a new id (a post whose slug or file name changed) was sent under its old one: first seen
    # after the last issue, it would otherwise go out again as one published late
    sent_ids |= {new for old, new in successors(store).items() if old in sent_ids}
    # A news item or post linking a page an earlier issue linked, however spelt (http or https, "www.", a slash at
    # the end: another partner passing on news already sent)
    sent_pages = {page_key(url) for url in sent_urls} - {""}
    judged_at = max(period_end, moment)
    found = store.items_published(late_start, period_end)
    if previous is not None:
        # A job still open or an event still to come that no issue sent, whatever its posted date: put in late with
        # the day its advert first appeared, or closed by its issue and its closing date extended since. Not the
        # backlog the first issue left out, posted before its month and there when it was made: what the first
        # issue holds is what was posted in the month before it, and the next issue does not send the rest
        first = store.first_edition() or previous
        found += [(item, seen) for item, seen in store.records_before(late_start, previous.created_at,
                                                                      period_end.date() - timedelta(days=1))
                  if item.published >= first.period_start or seen > first.created_at]
    chosen = [
        item for item, first_seen in found
        if item.id not in sent_ids and item.url not in sent_urls
        and not (item.kind in ANNOUNCEMENT_KINDS and page_key(item.url) in sent_pages)
        and (item.published >= period_start
             or (previous is not None and (first_seen > previous.created_at or item.kind in RECORD_KINDS)))
        and still_relevant(item, judged_at, horizon)
    ]
    # Two news items linking one page (the same news from two partner feeds) go out once; the other is stored with
    # the issue after the items shown (so it is in no later one, nor is its page: `sent_pages`) and is shown nowhere,
    # but its themes send the one kept to whoever follows them (`Edition.copies`)
    chosen, copies = one_per_page(chosen)
    # A partner's news of a job or event an earlier issue sent, or one closed or over by now, goes out no more than
    # the news would in the issue with it (merged onto it, `merge_duplicates`): the same thing once, across issues too
    announcements = [item for item in chosen if item.kind in ANNOUNCEMENT_KINDS]
    if announcements:
        earliest = min(item.published for item in announcements).astimezone(tz).date() - timedelta(days=1)
        elsewhere = announced_elsewhere(chosen, store.records_dated_from(earliest, period_end))
        chosen = [item for item in chosen if item.id not in elsewhere]
    pages = {announced_page(item) for item in chosen}
    return period_start, period_end, order(chosen), [item for item in copies if announced_page(item) in pages]


def check_date(store: Store, as_of: date, today: date, *, future: bool = False) -> None:
    """Refuse an edition date that would overlap a later edition, or (unless `future`) that has not come yet."""
    if store.edition_on(as_of) is not None:
        return
    if as_of > today and not future:
        raise EditionError(f"{as_of} is in the future; an issue is made on or after its date")
    latest = store.latest_edition()
    if latest is not None and latest.as_of > as_of:
        raise EditionError(f"issue {latest.number} is dated {latest.as_of}, after {as_of}: an issue for {as_of} "
                           f"would overlap it; use a later date, or --as-of {latest.as_of} to re-make that issue")


def prepare_edition(store: Store, as_of: date, tz: ZoneInfo, network: str, moment: datetime, *,
                    record: bool = True, horizon: Horizons = Horizons()) -> Edition | None:
    """The edition for `as_of`: the stored one if it exists, else a new one; None if nothing is new.

    `moment` is the run's "now" (midnight of `as_of` with --as-of): jobs and events past by then
    are left out (`horizon`: the project's, `current.horizons`, for those with no date). The edition itself is
    stamped with the clock. With `record=False` (a preview, a
    dry run) a new edition gets the number it would have, and nothing is stored; its date may then be one that has
    not come yet (a preview of the next issue, from what is stored so far).
    """
    stored = store.edition_on(as_of)
    if stored is not None:
        return from_record(store, stored)
    now = datetime.now(tz)
    check_date(store, as_of, now.date(), future=not record)  # a preview may look ahead: nothing is stored
    start, end, chosen, copies = select_items(store, as_of, tz, moment, horizon)
    if not chosen:
        return None
    merged = merge_duplicates(chosen)
    items = merged.items
    from pipeline.item_view import change_what  # (item_view imports this module)

    # A change that shows nothing (the zone named another way, the same times) is neither told nor recorded: it would
    # send a subscriber whose themes choose nothing new an issue with nothing in it (the email sink's `groups`)
    by_item = {change.item.id: change for change in changes_since(store, max(end, moment), horizon)
               if change_what(change, tz)}
    changes = [by_item[item.id] for item in order([change.item for change in by_item.values()])]
    if not record:
        latest = store.latest_edition()
        number = latest.number + 1 if latest else 1
        return Edition(number, as_of, start, end, edition_title(network, number, as_of), items,
                       copies=copy_themes(items, copies), changes=changes)
    told = [(item.id, facts) for item in items if (facts := facts_of(item.to_dict())) is not None]
    made = store.create_edition(as_of, start, end, lambda n: edition_title(network, n, as_of),
                                [i.id for i in items] + [i.id for i in merged.merged] + [i.id for i in copies], now,
                                told=told, changes=recorded(changes))
    return Edition(made.number, as_of, start, end, made.title, items, copies=copy_themes(items, copies),
                   changes=changes)


def from_record(store: Store, record: EditionRecord) -> Edition:
    """A stored edition, its items read again, with announcements merged onto their job or event, the copies of
    one page of another source left out (their themes kept: `Edition.copies`), and what it told had changed."""
    stored = store.get_items(record.item_ids)
    # The copy of a page it showed is the one it stored first, whatever an edit did to the dates since
    out = copies_of_stored((item.id, announced_page(item), item.source) for item in stored)
    kept, copies = [i for i in stored if i.id not in out], [i for i in stored if i.id in out]
    items = merge_duplicates(kept).items
    return Edition(record.number, record.as_of, record.period_start, record.period_end, record.title, items,
                   copies=copy_themes(items, copies), changes=stored_changes(store, record.number))


def copy_themes(items: list[Item], copies: list[Item]) -> dict[str, list[str]]:
    """Of each news item or post of `items` that copies of its page from other sources were left out for
    (`one_per_page`), their themes: a subscriber following one of them gets the item kept."""
    kept: dict[str, str] = {}
    for item in items:
        kept.setdefault(announced_page(item), item.id)
    found: dict[str, list[str]] = {}
    for copy in copies:
        if (page := announced_page(copy)) in kept:
            found.setdefault(kept[page], []).extend(copy.themes)
    return found
