"""The data model: one `Item` type covers blog posts, partner news, job adverts and events.

Items are plain dataclasses (cheap to build, pickle and compare); their HTML is already
sanitised and their title is plain text by the time a source hands them over.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Kind(StrEnum):
    """What an item is; the newsletter has one section per kind, in this order."""

    POST = "post"
    NEWS = "news"
    JOB = "job"
    EVENT = "event"


@dataclass(frozen=True)
class PriceTier:
    label: str
    amount: Decimal
    currency: str = "GBP"
    note: str = ""


@dataclass(frozen=True)
class ProgrammeSlot:
    """One line of an event programme: '10.30 Presentation by ...'."""

    time: str
    title: str
    speakers: tuple[str, ...] = ()


@dataclass
class JobDetails:
    organisation: str
    location: str = ""
    hours: str = ""
    contract: str = ""
    salary: str = ""
    closing_date: date | None = None
    how_to_apply: str = ""


@dataclass
class EventDetails:
    start: datetime  # timezone-aware; for an all-day event, midnight at the venue
    end: datetime | None = None  # timezone-aware
    timezone: str = ""  # the venue's IANA zone, so times are shown as the venue keeps them
    all_day: bool = False  # the notice gives dates but no times
    venue: str = ""
    speakers: list[str] = field(default_factory=list)
    programme: list[ProgrammeSlot] = field(default_factory=list)
    prices: list[PriceTier] = field(default_factory=list)
    booking_url: str = ""

    @property
    def finishes(self) -> datetime:
        """When the event is over: its end, or the end of its (last) day if it has no time (midnight at the venue, in
        its `timezone`). An end before the start (swapped, or on the wrong day) counts for none, as the calendars take
        it (pipeline/calendars.py)."""
        end = self.end if self.end is not None and self.end > self.start else None
        if end is not None and not self.all_day:
            return end
        last = end or self.start  # its last day ends at midnight at the venue: in its zone, where the clocks
        zone = zone_named(self.timezone) or last.tzinfo  # may change that day (as stored, each keeps its offset)
        return datetime.combine(last.date() + timedelta(days=1), time(0, 0), tzinfo=zone)


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name`, or None for none, or one this machine does not know: a name not in its time zone
    database, one that is no name of a file there (`../x`, `/etc/localtime`), or one that names a folder of zones
    (`Europe`, `America`), for which ZoneInfo raises IsADirectoryError, not ZoneInfoNotFoundError."""
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@dataclass
class Item:
    """One piece of content, whatever its source.

    `id` is stable: the same item seen again by the same source, in a later run, gets the same
    id (`item_id`), so the state database keeps one row for it.
    """

    id: str
    kind: Kind
    source: str  # the name of the source instance in pipeline.toml
    title: str  # plain text, never HTML
    published: datetime  # timezone-aware
    url: str = ""
    body_html: str = ""  # sanitised HTML
    summary: str = ""  # plain text, set by the summary transform
    author: str = ""
    image: str = ""  # the lead image: an absolute http(s) URL, or ""
    image_alt: str = ""  # its alt text, plain; "" when unknown (the image is then decorative)
    language: str = ""  # the language of its title and text (a BCP 47 tag: "cy"); "" when it is the site's
    themes: list[str] = field(default_factory=list)
    # Why each theme was given, set by the themes transform:
    # {theme: {"score": 4.5, "needed": 2.0, "kept": True, "why": "kept", "count": 3,
    #          "matches": [["co-design", "title", 12], ...], "more": 0}}
    theme_evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set on a job or event when an edition's or the feed's items are chosen (pipeline/duplicates.py), never
    # by a source: the news items and posts from other sources that announced it, shown here instead:
    # [{"id": ..., "source": "open-dialogue-uk", "by": "Open Dialogue UK", "title": ..., "url": ...}]
    also_announced: list[dict[str, str]] = field(default_factory=list)
    job: JobDetails | None = None
    event: EventDetails | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as JSON-ready values (what the state database stores). Nested values are copied
        one level deep only: `theme_evidence` and `also_announced` hold JSON values already."""
        data = {name: getattr(self, name) for name in _ITEM_FIELDS}
        data["kind"] = self.kind.value
        data["published"] = self.published.isoformat()
        data["themes"] = list(self.themes)
        data["theme_evidence"] = dict(self.theme_evidence)
        data["also_announced"] = [dict(entry) for entry in self.also_announced]
        data["job"] = _encode(dataclasses.asdict(self.job)) if self.job else None
        data["event"] = _encode(dataclasses.asdict(self.event)) if self.event else None
        if not self.language:  # left out when unknown, so every item stored before it is exactly as it was
            del data["language"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        data = dict(data)
        data["kind"] = Kind(data["kind"])
        data["published"] = datetime.fromisoformat(data["published"])
        if data.get("job"):
            job = dict(data["job"])
            if job.get("closing_date"):
                job["closing_date"] = date.fromisoformat(job["closing_date"])
            data["job"] = JobDetails(**job)
        if data.get("event"):
            event = dict(data["event"])
            event["start"] = datetime.fromisoformat(event["start"])
            event["end"] = datetime.fromisoformat(event["end"]) if event.get("end") else None
            event["programme"] = [
                ProgrammeSlot(s["time"], s["title"], tuple(s.get("speakers", ())))
                for s in event.get("programme", [])
            ]
            event["prices"] = [
                PriceTier(p["label"], Decimal(p["amount"]), p.get("currency", "GBP"), p.get("note", ""))
                for p in event.get("prices", [])
            ]
            data["event"] = EventDetails(**event)
        return cls(**data)


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(Item))


def check_dates(item: Item) -> None:
    """TypeError naming the item and what to do, unless its dates are what every output can use (saved as they
    came, they would stop each later run's issue): `published`, an event's `start` and `end` timezone-aware
    datetimes, a job's `closing_date` a day (a string in ISO form, as a CSV gives it, is made one here)."""
    _aware(item, "published", item.published, "self.project.tz")
    if item.event is not None:
        _aware(item, "event start", getattr(item.event, "start", None), "the venue's zone")
        if item.event.end is not None:
            _aware(item, "event end", item.event.end, "the venue's zone")
    if item.job is not None:
        item.job.closing_date = _day(item, item.job.closing_date)


def _aware(item: Item, what: str, value: object, zone: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise TypeError(f"item {item.id!r}: {what} {value!r} has no time zone; make it with "
                        f"pipeline.dates.aware(value, {zone})")
    try:
        value.astimezone(UTC)  # as the store keeps it
    except OverflowError:
        raise ValueError(f"item {item.id!r}: {what} {value!r} is past the end of time in UTC, which the state "
                         f"database keeps; give a date before the year 9999") from None


def _day(item: Item, value: object) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()) if value.strip() else None
        except ValueError:
            pass
    elif value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    raise TypeError(f"item {item.id!r}: job closing_date {value!r} is not a day; give a datetime.date, such as "
                    f"date(2016, 4, 20) (of a datetime, its .date())")


class SourceName(str):
    """A source's name (`Source.instance`) that makes its item ids under another: the name it was first stored under,
    for a source renamed with `renamed_from` (pipeline/renaming.py). Equal to its name everywhere else, and pickled
    with its namespace, so `item_id(self.instance, key)` keeps every id, in a worker process too."""

    __slots__ = ("id_namespace",)

    def __new__(cls, name: str, id_namespace: str) -> SourceName:
        made = super().__new__(cls, name)
        made.id_namespace = str(id_namespace)
        return made

    def __reduce__(self):
        return SourceName, (str(self), self.id_namespace)


def item_id(source: str, key: str) -> str:
    """A stable id from the source instance and the key the source knows the item by (a feed
    entry's guid, a post's slug, a record's id): the same item seen again keeps its id, and two
    different items never share one just because they link the same page. A renamed source's
    name (`SourceName`) makes them under the name it had."""
    return hashlib.sha256(f"{getattr(source, 'id_namespace', source)}\x1f{key}".encode()).hexdigest()[:20]


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value
