"""`events`: conference and seminar notices from a TOML file of `[[event]]` records.

Times in the file are local to the event's `timezone` (default: the project's), so
`start = 2016-02-02T09:30:00` with `timezone = "Europe/London"` is 09:30 in London. A notice that
gives a date but no time (`start = 2016-02-02`) is an all-day event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline import hookimpl
from pipeline.components import Settings, Source
from pipeline.config import NOT_ZONES
from pipeline.dates import aware
from pipeline.models import EventDetails, Item, Kind, PriceTier, ProgrammeSlot, item_id, zone_named
from pipeline.run_context import RunContext
from pipeline.sanitize import plain_text, safe_url
from pipeline.settings_types import ExistingFile
from plugins.sources.records import DayOrTime, read_records
from plugins.sources.text import markdown_to_html


class SlotRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when a file is first read
    time: str
    title: str
    speakers: list[str] = []


class PriceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when a file is first read
    label: str
    amount: Decimal = Field(ge=0)
    currency: str = "GBP"
    note: str = ""


class EventRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when a file is first read

    id: str
    title: str
    posted: DayOrTime
    start: DayOrTime
    end: DayOrTime | None = None
    timezone: str | None = None
    venue: str = ""
    description: str = ""  # Markdown
    speakers: list[str] = []
    booking_url: str = ""
    url: str = ""
    themes: list[str] = []
    programme: list[SlotRecord] = []
    prices: list[PriceRecord] = []

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value.strip() in NOT_ZONES:  # as [pipeline] timezone refuses them (config.py)
            raise ValueError(f"{value!r} is no place's zone (it is whatever machine runs the project): use an IANA "
                             f"name such as 'Europe/London'")
        if value is not None and zone_named(value) is None:
            raise ValueError(f"{value!r} is not a time zone: use an IANA name such as 'Europe/London'")
        return value

    @model_validator(mode="after")
    def _ends_after_start(self):
        if self.end is not None:
            if isinstance(self.start, datetime) != isinstance(self.end, datetime):
                raise ValueError("start and end must both be dates or both be date-times")
            if _comparable(self.end, self.start) < _comparable(self.start, self.end):
                raise ValueError("end is before start")
        return self


def _skipped_by_clocks(moment: date | datetime | None, tz: ZoneInfo) -> datetime | None:
    """The time a clock time without an offset is taken as when the clocks skip it in `tz` (01:30 when they go from
    01:00 to 02:00 is 02:30), None for one that happens."""
    if not isinstance(moment, datetime) or moment.tzinfo is not None:
        return None
    taken = moment.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    return taken if taken.replace(tzinfo=None) != moment else None


def _comparable(value: date | datetime, other: date | datetime) -> date | datetime:
    """`value` as it compares with `other`: the moment it names when both give an offset, else its clock time (one
    without an offset is in the event's zone, which the record may not name)."""
    if not isinstance(value, datetime):
        return value
    both_aware = isinstance(other, datetime) and None not in (value.tzinfo, other.tzinfo)
    return value if both_aware else value.replace(tzinfo=None)


class EventsSource(Source):
    name = "events"
    complete = True  # the whole list: what it no longer has was taken out (the run withdraws it)
    description = "Conference and seminar notices from a TOML file of [[event]] records"

    class Settings(Settings):
        path: ExistingFile

    def uses_http(self) -> bool:
        return False  # a local file

    def fetch(self, run: RunContext):
        for event in read_records(self.settings.path, "event", EventRecord, run):
            zone = event.timezone or self.project.core.timezone
            tz = ZoneInfo(zone)
            for name, moment in (("start", event.start), ("end", event.end)):
                if (taken := _skipped_by_clocks(moment, tz)) is not None:
                    run.problem(f"{self.settings.path} [[event]] {event.id!r} {event.title!r}",
                                f"{name} {moment:%Y-%m-%d %H:%M} does not happen in {zone} (the clocks go forward "
                                f"then), so it is taken as {taken:%H:%M}; write the time meant", skipped=False)
            url = safe_url(event.url or event.booking_url)
            yield Item(
                id=item_id(self.instance, event.id),
                kind=Kind.EVENT,
                source=self.instance,
                title=plain_text(event.title),
                published=aware(event.posted, self.project.tz),
                url=url,
                body_html=markdown_to_html(event.description, url),
                themes=list(event.themes),
                event=EventDetails(
                    start=aware(event.start, tz),
                    end=aware(event.end, tz) if event.end else None,
                    timezone=zone,
                    all_day=not isinstance(event.start, datetime),
                    venue=plain_text(event.venue),
                    speakers=[plain_text(s) for s in event.speakers],
                    programme=[ProgrammeSlot(plain_text(s.time), plain_text(s.title),
                                             tuple(plain_text(p) for p in s.speakers)) for s in event.programme],
                    prices=[PriceTier(plain_text(p.label), p.amount, p.currency.upper(), plain_text(p.note))
                            for p in event.prices],
                    booking_url=safe_url(event.booking_url),
                ),
            )


@hookimpl
def register_sources(register):
    register(EventsSource)
