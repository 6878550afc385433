"""Which items a feed lists: the main feed and every theme's feed choose theirs the same way.

A news item or blog post announcing a job or event that is also among the candidates is shown once,
on that job or event (`pipeline/duplicates.py`). Then what is over leaves: a job whose closing date is
before the run's date, an event that finished before the run's moment (and, with it, whatever announced
it). Of the rest, the `limit` most recently active (a job or event as recent as the newest item merged
onto it) are listed newest first by their own dates.

Candidates are read newest first from the newest 2 × `limit`; when closed jobs and past events leave
fewer than `limit`, from four times as many, and so on until there are enough or none are left. Only
the candidates looked at are loaded from the state database (`load`), never every item.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime

from pipeline import current
from pipeline.duplicates import merge_duplicates, one_per_page
from pipeline.models import Item


def choose(candidates: list[str], load: Callable[[list[str]], list[Item]], limit: int, moment: datetime,
           today: date, horizon: current.Horizons, sent: Collection[str] = frozenset()) -> list[Item]:
    """The feed's items out of `candidates` (ids, newest first), loaded with `load(ids)`; `sent`: the ids of the items
    issues sent."""
    window = 2 * limit
    while True:
        chosen = feed_items(load(candidates[:window]), limit, moment, today, horizon, sent)
        if len(chosen) >= limit or window >= len(candidates):
            return chosen
        window *= 4


def feed_items(recent: list[Item], limit: int, moment: datetime | None = None, today: date | None = None,
               horizon: current.Horizons = current.Horizons(), sent: Collection[str] = frozenset()) -> list[Item]:
    """The feed's `limit` items out of `recent` (newest first): duplicates merged, what is over left out
    (when `moment` and `today` are given), the most recently active first, then newest first by date; of two news
    items or posts of two sources linking one page (the same news from two partner feeds), the one an issue sent
    (`sent`), else the first published, only."""
    merged = merge_duplicates(one_per_page(recent, sent)[0])
    latest = {item.id: item.published for item in merged.items}
    for item in merged.merged:
        into = merged.into[item.id]
        latest[into] = max(latest[into], item.published)
    current = [i for i in merged.items if moment is None or today is None or is_current(i, moment, today, horizon)]
    chosen = sorted(current, key=lambda i: latest[i.id], reverse=True)[:limit]
    return sorted(chosen, key=lambda i: i.published, reverse=True)


def is_current(item: Item, moment: datetime, today: date, horizon: current.Horizons) -> bool:
    """False for a job that closed before `today` and an event that finished by `moment` (`pipeline/current.py`: the
    rule the email and the site keep too)."""
    return current.is_current(item, moment, horizon, today)
