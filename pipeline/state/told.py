"""What the issues told subscribers of each job and event, and what each issue told of those that changed since.

When an issue is made, each job and event it sends is recorded with its `facts` (a job's closing date; an event's
start, end, all-day or not, zone and venue: what someone acts on), and with it the changes the issue tells (the
`told` and `edition_changes` tables, schema.py). A later issue compares each recorded job and event with what it is
now (`pipeline/changes.py`); once it has told a change, what it told is the record, so a change is told once, and an
item changed back to what was told has nothing to tell. Nothing is recorded of posts and news: an edit of one is
nothing to tell.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pipeline.state.store import Store

CANCELLED: dict[str, Any] = {"cancelled": True}  # an issue said it was cancelled (an event) or withdrawn (a job)


def facts_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """What an issue tells of a job or event that may change (`data`: `Item.to_dict()`, as stored); None for a post or
    news item, of which nothing is told again."""
    if data.get("kind") == "job":
        job = data.get("job") or {}
        return {"kind": "job", "closing_date": job.get("closing_date") or None}
    if data.get("kind") == "event":
        event = data.get("event")
        if not event:
            return {"kind": "event"}
        return {"kind": "event", "start": event.get("start"), "end": event.get("end") or None,
                "all_day": bool(event.get("all_day")), "timezone": event.get("timezone") or "",
                "venue": " ".join((event.get("venue") or "").split())}
    return None


def same(was: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether two `facts` say the same: moments compared as moments (one written with another offset is the same),
    venues regardless of case (the same place typed again in capitals)."""
    if was.keys() != now.keys():
        return False
    for key, value in was.items():
        other = now[key]
        if key in ("start", "end") and value and other:
            if datetime.fromisoformat(value) != datetime.fromisoformat(other):
                return False
        elif key == "venue" and isinstance(value, str) and isinstance(other, str):
            if value.casefold() != other.casefold():
                return False
        elif value != other:
            return False
    return True


def told(store: Store) -> dict[str, tuple[int, dict[str, Any]]]:
    """item id -> (the issue that last told of it, what it told)."""
    return {item: (edition, json.loads(facts)) for item, edition, facts in
            store._rows("SELECT item, edition, facts FROM told ORDER BY item")}


def withdrawn_among(store: Store, ids: Iterable[str]) -> set[str]:
    """Those of `ids` the organiser took out (`Store.withdraw_missing`)."""
    return {item for (item,) in store._rows_for("SELECT item FROM withdrawn WHERE item IN ({marks})", list(ids))}


def changes_of(store: Store, edition: int) -> list[tuple[str, str, int, dict[str, Any], dict[str, Any]]]:
    """What issue `edition` told of jobs and events that changed, in its order: (the id the record is kept under, the
    item shown, the issue that had told `was`, was, now)."""
    return [(key, item, since, json.loads(was), json.loads(now)) for key, item, since, was, now in
            store._rows("SELECT item, shown, since, was, now FROM edition_changes WHERE edition = ? ORDER BY position",
                        (edition,))]
