"""What changed of the jobs and events earlier issues sent: the next issue's "Changed since issue N".

An issue records what it told of each job and event (`pipeline/state/told.py`: a job's closing date, an event's time
and place). When the next issue is made, each one recorded is compared with what it is now: moved (another day, time,
or venue), its closing date changed, or taken out of its file (an event cancelled, a job withdrawn; one back under a
new id, `pipeline/state/successors.py`, is the same item, compared as it is now). What differs is told in that issue,
and becomes what was told (one that shows nothing, the zone named another way, is left out by `edition.py`): a
change is told once, and one changed back to what was told before has nothing to tell.
Nothing is told of an event that was over, or a job that had closed, by what was told (a cancelled seminar that had
already taken place is tidying up), unless what it is now makes it current again (a job's closing date extended).
Posts and news are not followed: an edit of one is nothing to tell.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pipeline.current import Horizons, is_current
from pipeline.models import EventDetails, Item, JobDetails, Kind
from pipeline.state import Store
from pipeline.state import told as told_state
from pipeline.state.successors import successors


@dataclass(frozen=True)
class Change:
    item: Item  # the job or event as it is now (the one in its place, under a new id); withdrawn: as last stored
    key: str  # the id what was told is kept under
    since: int  # the issue that told `was`
    was: dict[str, Any]  # facts (`told.facts_of`), or `told.CANCELLED`
    now: dict[str, Any]

    @property
    def cancelled(self) -> bool:
        return self.now == told_state.CANCELLED

    @property
    def back(self) -> bool:
        """On again, or open again, after an issue said it was cancelled or withdrawn."""
        return self.was == told_state.CANCELLED


def changes_since(store: Store, judged_at: datetime, horizon: Horizons) -> list[Change]:
    """Each job and event an earlier issue told of that differs now from what it told, as the issue made at
    `judged_at` would tell it (see the module's docstring)."""
    told = told_state.told(store)
    if not told:
        return []
    withdrawn = told_state.withdrawn_among(store, told)
    taken_by = {old: new for old, new in successors(store).items() if old in withdrawn}
    items = {item.id: item for item in store.get_items([*told, *taken_by.values()])}
    found = []
    for key, (since, was) in told.items():
        item = items.get(key)
        if item is None:
            continue
        if key in withdrawn:
            item = items.get(taken_by.get(key, ""), item)
            now = told_state.CANCELLED if item.id == key else told_state.facts_of(item.to_dict())
        else:
            now = told_state.facts_of(item.to_dict())
        if now is None or told_state.same(was, now):
            continue  # no longer a job or event (made news), or nothing to tell
        if _current(item, now, judged_at, horizon) or _current(item, was, judged_at, horizon):
            found.append(Change(item, key, since, was, now))
    return found


def as_told(item: Item, facts: dict[str, Any]) -> Item:
    """`item` with the closing date, or the time and place, `facts` gives (what an issue told)."""
    if facts == told_state.CANCELLED or "kind" not in facts:
        return item
    if facts["kind"] == "job":
        closing = date.fromisoformat(facts["closing_date"]) if facts.get("closing_date") else None
        job = dataclasses.replace(item.job, closing_date=closing) if item.job else JobDetails("", closing_date=closing)
        return dataclasses.replace(item, kind=Kind.JOB, job=job)
    if "start" not in facts:
        return dataclasses.replace(item, kind=Kind.EVENT, event=None)
    when = {"start": datetime.fromisoformat(facts["start"]),
            "end": datetime.fromisoformat(facts["end"]) if facts.get("end") else None,
            "all_day": facts["all_day"], "timezone": facts["timezone"], "venue": facts["venue"]}
    event = dataclasses.replace(item.event, **when) if item.event else EventDetails(**when)
    return dataclasses.replace(item, kind=Kind.EVENT, event=event)


def _current(item: Item, facts: dict[str, Any], moment: datetime, horizon: Horizons) -> bool:
    """Whether the item, as `facts` has it, is still open or to come at `moment` (never, cancelled)."""
    return facts != told_state.CANCELLED and is_current(as_told(item, facts), moment, horizon)


def stored_changes(store: Store, edition: int) -> list[Change]:
    """What issue `edition` told of the changes, as it told them (its items as they are now, for their titles)."""
    rows = told_state.changes_of(store, edition)
    items = {item.id: item for item in store.get_items([shown for _, shown, _, _, _ in rows])}
    return [Change(items[shown], key, since, was, now) for key, shown, since, was, now in rows if shown in items]


def recorded(changes: list[Change]) -> list[tuple[str, str, int, dict, dict]]:
    """`changes` as `Store.create_edition` records them."""
    return [(change.key, change.item.id, change.since, change.was, change.now) for change in changes]
