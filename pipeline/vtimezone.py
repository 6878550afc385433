"""A zone's VTIMEZONE (RFC 5545 3.6.5) from the zone database, in the form every calendar app reads.

Every change of the zone's offset over the years asked for (and the year before, so the first day is covered) is
found in zoneinfo. The changes of one kind (the same offsets and abbreviation) that come once a year on the same
weekday of the same month at the same local time ("the last Sunday of March, 01:00") are one observance with a
yearly RRULE, as calendar servers (Google's, tzurl.org's) write them: Outlook's desktop app reads a VTIMEZONE
rightly only in that form (it misreads the RDATE lists icalendar's `Timezone.from_tzid` writes, which also leave
out Morocco's extra changes in Ramadan). A rule the zone stopped keeping, within those years or after them, ends
with an UNTIL (Moscow's summer time in 2010): a calendar app repeats a rule without one for ever. Any other change
is an observance of its own, so every offset is right whatever the zone did. Each onset is in the local time
before it, that is in TZOFFSETFROM (RFC 5545 3.8.3.3): British Summer Time began at 01:00 on 27 March 2016. A
change forward is DAYLIGHT, one back STANDARD.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

DAY = 86_400
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
LISTED_UNTIL = 2037  # the zone database lists changes to this year and repeats its rules after it


class Change(NamedTuple):
    at: datetime  # the first instant of the new offset, in UTC
    before: timedelta
    after: timedelta
    name: str  # the abbreviation after it ("BST")

    @property
    def onset(self) -> datetime:
        """The change in the local time before it, without a zone (as DTSTART and RDATE give it)."""
        return (self.at + self.before).replace(tzinfo=None)


def changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[Change]:
    """Every change of `zone`'s offset from `start` to `end` (aware datetimes), found a day at a time and then to
    the second."""
    found = []
    low, high = int(start.timestamp()), int(end.timestamp())
    offset = _offset(zone, low)
    for day in range(low, high, DAY):
        following = _offset(zone, min(day + DAY, high))
        if following == offset:
            continue
        before, after = day, min(day + DAY, high)  # the offset is `offset` at `before`, another at `after`
        while after - before > 1:
            middle = (before + after) // 2
            before, after = (middle, after) if _offset(zone, middle) == offset else (before, middle)
        moment = datetime.fromtimestamp(after, UTC)
        found.append(Change(moment, offset, _offset(zone, after), moment.astimezone(zone).tzname() or ""))
        offset = following
    return [change for change in found if change.before != change.after]


def vtimezone(tzid: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE of `tzid` for times from `first` to `last`."""
    zone = ZoneInfo(tzid)
    start = datetime(first.year - 1, 1, 1, tzinfo=UTC)
    end = datetime.combine(last, datetime.min.time(), UTC)
    found = changes(zone, start, end)
    made = Timezone()
    made.add("TZID", tzid)
    observances = []
    if not found or found[0].at > datetime.combine(first, datetime.min.time(), UTC):
        # no change before the first day: the offset then holds from before it
        offset = _offset(zone, int(start.timestamp()))
        observances.append(_observance(TimezoneStandard, start.astimezone(zone).tzname() or "", offset, offset,
                                       (start + offset).replace(tzinfo=None)))
    kinds: dict[tuple, list[Change]] = defaultdict(list)
    for change in found:
        kinds[change.before, change.after, change.name].append(change)
    for (before, after, name), same in kinds.items():
        kind = TimezoneDaylight if after > before else TimezoneStandard
        for run in _runs(same):
            rule = _yearly_rule(run, zone, end)
            if rule is not None:
                observances.append(_observance(kind, name, before, after, run[0].onset, rule))
            else:
                observances += [_observance(kind, name, before, after, change.onset) for change in run]
    for observance in sorted(observances, key=lambda o: o.decoded("DTSTART")):
        made.add_component(observance)
    return made


def _offset(zone: ZoneInfo, timestamp: int) -> timedelta:
    return datetime.fromtimestamp(timestamp, zone).utcoffset() or timedelta(0)


def _runs(same: list[Change]) -> list[list[Change]]:
    """Changes of one kind, in runs that keep one yearly rule (`_rule_of`) year after year: a zone that changed its
    rule (the US in 2007) has a run for each."""
    runs: list[list[Change]] = []
    for change in same:
        previous = runs[-1][-1] if runs else None
        if (previous is not None and change.onset.year == previous.onset.year + 1
                and _rule_of(change.onset) == _rule_of(previous.onset) is not None):
            runs[-1].append(change)
        else:
            runs.append([change])
    return runs


def _rule_of(onset: datetime) -> tuple | None:
    """(month, BYDAY, local time) of a yearly rule that gives `onset`: its weekday in the month's first four weeks
    (`2SU`) or its last (`-1SU`); None for a day in the fifth week that is not the month's last of its weekday."""
    last = onset.day + 7 > calendar.monthrange(onset.year, onset.month)[1]
    week = -1 if last else (onset.day - 1) // 7 + 1
    if week > 4:
        return None
    return onset.month, f"{week}{WEEKDAYS[onset.weekday()]}", onset.time()


def _yearly_rule(run: list[Change], zone: ZoneInfo, end: datetime) -> dict | None:
    """The RRULE of a run of two changes or more (`_runs`), None for a single change. A rule the zone stops keeping,
    before `end` or after it, ends with an UNTIL in UTC (RFC 5545 3.6.5) a day after its last change (a day: an app
    reading UNTIL against an onset in local time keeps the last change); without one an app repeats it for ever."""
    if len(run) < 2:
        return None
    month, byday, _ = _rule_of(run[0].onset)
    rule: dict = {"FREQ": "YEARLY", "BYMONTH": month, "BYDAY": byday}
    final = _last_kept(run[-1], month, byday, zone, end)
    if final is not None:
        rule["UNTIL"] = final.at + timedelta(days=1)
    return rule


def _last_kept(change: Change, month: int, byday: str, zone: ZoneInfo, end: datetime) -> Change | None:
    """The last change, `change` or after it, that the yearly rule (`month`, `byday`) gives and the zone makes;
    None if the zone keeps the rule for ever. Before `end`, `changes` found them all, so the run ended at `change`;
    after it each year's is looked up in zoneinfo, up to a year past the last year the zone database lists changes
    for: from then on it repeats its rules."""
    for year in range(change.onset.year + 1, max(end.year, LISTED_UNTIL) + 2):
        onset = datetime.combine(_day_by_rule(year, month, byday), change.onset.time())
        following = Change((onset - change.before).replace(tzinfo=UTC), change.before, change.after, change.name)
        if following.at < end or not _made(zone, following):
            return change
        change = following
    return None


def _day_by_rule(year: int, month: int, byday: str) -> date:
    """The day of `month` in `year` that a BYDAY of `_rule_of` (`2SU`, `-1SU`) gives."""
    week, weekday = int(byday[:-2]), WEEKDAYS.index(byday[-2:])
    if week > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (week - 1))
    final = date(year, month, calendar.monthrange(year, month)[1])
    return final - timedelta(days=(final.weekday() - weekday) % 7)


def _made(zone: ZoneInfo, change: Change) -> bool:
    """Whether the zone makes `change`: the offset before it up to its instant, then the one after, by its name."""
    at = int(change.at.timestamp())
    return (_offset(zone, at - 1), _offset(zone, at)) == (change.before, change.after) and (
        change.at.astimezone(zone).tzname() or "") == change.name


def _observance(kind: type, name: str, before: timedelta, after: timedelta, onset: datetime,
                rule: dict | None = None):
    observance = kind()
    if name:
        observance.add("TZNAME", name)
    observance.add("DTSTART", onset)
    observance.add("TZOFFSETFROM", before)
    observance.add("TZOFFSETTO", after)
    if rule is not None:
        observance.add("RRULE", rule)
    return observance
