"""What the site's lists show of each item (`Facts`), made once per item fingerprint and kept in the
state database, so a refresh reads small rows instead of every item's body.

`load_facts` reconciles the cache with the items table: an item whose fingerprint is unchanged is
not read at all; a new or changed one is read whole, its facts made again, and it is handed back
(its page must be rendered anyway). An item with no fingerprint (a transform failed on it) is read
every time and stamped with a hash of what it holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import astuple, dataclass, replace
from datetime import UTC, date, datetime

from pipeline import current, item_view, site
from pipeline.config import Project
from pipeline.duplicates import announced_page
from pipeline.models import Item
from pipeline.state import Store
from pipeline.state import site as site_state

FACTS_VERSION = "11"  # change when what Facts holds, or how it is made, changes


@dataclass(frozen=True)
class Facts:  # cached as a JSON list of its fields in this order: `path` stays the fifth (`cached_path`)
    id: str
    fp: str  # the item's fingerprint (or a hash of it, when it has none): what its page is made from
    kind: str
    title: str
    path: str  # its page (site path)
    published: str  # ISO 8601 in UTC: sorts as time does
    day: str  # "18 April 2016", in the project's zone
    month: str  # "2016-04", in the project's zone
    themes: list[str]
    summary: str
    byline: str
    organisation: str = ""  # a job's
    closing: str = ""  # a job's closing date, ISO
    closing_day: str = ""  # "Sunday 14 February 2016"
    start: str = ""  # an event's start, ISO in UTC
    finishes: str = ""  # when it is over, ISO in UTC
    when: str = ""  # "Tuesday 2 February 2016, 09:30–17:00 GMT", in the venue's zone
    venue: str = ""
    home: str = ""  # its page when an older item has the page its own URL names (`site.kind_path`)
    speakers: str = ""  # an event's, as its page gives them: search finds an event by them
    language: str = ""  # the item's when another than the site's (`site.other_language`): its `lang` in the lists
    page: str = ""  # the page a news item or post links (`duplicates.announced_page`): two sources' copies listed once
    source: str = ""
    location: str = ""  # a job's: with its organisation, what its title's words that say which job it is leave out

    def open_at(self, moment: datetime, horizon: current.Horizons) -> bool:
        """A job still open at `moment` (its closing day included; one with no closing date for a while after it was
        posted): `pipeline/current.py`, the rule the email and the feeds keep too."""
        posted = datetime.fromisoformat(self.published).astimezone(moment.tzinfo).date()
        return not current.job_closed(date.fromisoformat(self.closing) if self.closing else None, posted,
                                      moment.date(), horizon)

    def upcoming_at(self, moment: datetime, horizon: current.Horizons) -> bool:
        """An event not over at `moment` (one with no date for a while after it was posted): `pipeline/current.py`,
        as `open_at`."""
        return not current.event_over(datetime.fromisoformat(self.finishes) if self.finishes else None,
                                      datetime.fromisoformat(self.published), moment, horizon)


def facts_of(project: Project, item: Item, fingerprint: str) -> Facts:
    tz = project.tz
    local = item.published.astimezone(tz)
    view = item_view.item_view(item, tz, whole=True)
    job, event = item.job, item.event
    return Facts(
        id=item.id, fp=fingerprint, kind=item.kind.value, title=view.title or "(untitled)",
        path=site.item_path(project, item), published=item.published.astimezone(UTC).isoformat(),
        day=local.strftime("%-d %B %Y"), month=local.strftime("%Y-%m"), themes=view.themes,
        summary=view.excerpt, byline=view.byline,
        organisation=view.job.organisation if view.job else "",
        closing=job.closing_date.isoformat() if job and job.closing_date else "",
        closing_day=view.job.closing if view.job else "",
        start=event.start.astimezone(UTC).isoformat() if event else "",
        finishes=event.finishes.astimezone(UTC).isoformat() if event else "",
        when=view.event.when if view.event else "", venue=view.event.venue if view.event else "",
        home=site.kind_path(item), speakers=view.event.speakers if view.event else "",
        language=site.other_language(project, item), page=announced_page(item), source=item.source,
        location=job.location if job else "")


def cached_path(cached: str) -> str:
    """The page address in facts cached by any version, this one's or another's (an earlier one's before an
    upgrade, a later one's after going back): the fifth field in each, whatever fields were added after it."""
    fields = json.loads(cached)
    return fields[4] if isinstance(fields, list) and len(fields) > 4 and isinstance(fields[4], str) else ""


def cached_facts(cached: str) -> Facts | None:
    """Facts as this version cached them; None for those another version cached with other fields (a later one's,
    after going back), which are to be made again from the item (`cached_path` still reads their address)."""
    fields = json.loads(cached)
    try:
        return Facts(*fields) if isinstance(fields, list) else None
    except TypeError:
        return None


def remade_facts(project: Project, store: Store, cached: dict[str, str]) -> dict[str, Facts]:
    """Facts made again from each stored item of `cached` (id -> facts another version cached), at the page address
    those name: where the site had its page, which the emails sent link to."""
    prints, remade = store.fingerprints(cached), {}
    for item in store.get_items(list(cached)):
        made = facts_of(project, item, prints.get(item.id) or content_print(item))
        remade[item.id] = replace(made, path=cached_path(cached[item.id]) or made.path)
    return remade


def content_print(item: Item) -> str:
    """A fingerprint for an item stored without one."""
    return "h" + hashlib.sha256(json.dumps(item.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:23]


def load_facts(project: Project, store: Store, until: datetime) -> tuple[dict[str, Facts], dict[str, Item]]:
    """Facts of every item published before `until` (oldest first), and the items read to make them. Each page an
    item's own URL no longer names (its facts' path changed) is kept as moved (`site_state.record_moved`)."""
    made_with = f"{FACTS_VERSION}|{project.core.site_url}|{project.core.timezone}"
    context = "/" + hashlib.sha256(made_with.encode()).hexdigest()[:8]
    rows = site_state.items_and_facts(store, until)
    stale = [item_id for item_id, fingerprint, stamp, _ in rows if not fingerprint or stamp != fingerprint + context]
    read = {item.id: item for item in store.get_items(stale)}
    facts: dict[str, Facts] = {}
    fresh: list[tuple[str, str, str]] = []
    moved: dict[str, str] = {}
    for item_id, fingerprint, stamp, cached in rows:
        item = read.get(item_id)
        if item is not None:
            made = facts_of(project, item, fingerprint or content_print(item))
            facts[item_id] = made
            if cached and (before := cached_path(cached)) and before != made.path:
                moved[before] = item_id
            if fingerprint:
                fresh.append((item_id, fingerprint + context, json.dumps(astuple(made))))
        elif fingerprint and stamp == fingerprint + context:
            facts[item_id] = Facts(*json.loads(cached))
    site_state.cache_facts(store, fresh, until, matched=sum(1 for row in rows if row[2] is not None))
    site_state.record_moved(store, moved)
    return facts, read
