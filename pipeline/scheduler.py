"""What `pipeline schedule` has to do now, worked out from the state database and the calendar.

Nothing here remembers anything: `due()` reads the stored issues and the delivery journal and
compares them with the `[schedule]` settings, so a scheduler that was restarted, asleep, or kept
off its slot by a busy lock finds the same work still due.

- **The monthly edition** is due once the latest newsletter slot (`newsletter_day` at
  `newsletter_time`, in the project's zone) has come, while no issue exists for that date, until
  `catch_up_hours` (48) after the slot: across month and year ends, so waking on 1 March makes
  the issue of 28 February. A slot missed by more is not made (`missed()` says so and how to make it).
- **A resume** is due when the latest issue exists but its send did not reach everyone: recipients
  in flight or failed in the journal, or active subscribers with no delivery of it (a run killed
  between batches); within the same window after that issue's date. Running the issue's date again
  (`run(as_of=...)`) re-renders it and sends only to those not yet reached.
- **The refresh** is due every `refresh_minutes` since the last one; the first is due at once.

Hours and minutes are real ones, also across a change of the clocks: two times in the project's zone are
compared and subtracted in UTC (Python compares those that share a zone by their wall-clock reading,
which makes the window an hour short in spring, and loses an hour in the autumn's hour that comes twice).

The loop that acts on this is `pipeline/commands/schedule.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pipeline.config import Project
from pipeline.state import Store, journal
from pipeline.state.store import EditionRecord

Job = Callable[[], None]
EDITION, RESUME, REFRESH = "edition", "resume", "refresh"


@dataclass(frozen=True)
class Due:
    kind: str  # EDITION, RESUME or REFRESH
    as_of: date | None = None  # the issue's date (EDITION, RESUME)
    until: datetime | None = None  # the catch-up window closes then: no retry after it
    why: str = ""

    @property
    def key(self) -> tuple[str, date | None]:
        return self.kind, self.as_of


def slot_in(project: Project, year: int, month: int) -> datetime:
    """The newsletter slot of a month: its day and time in the project's zone."""
    hour, minute = map(int, project.schedule.newsletter_time.split(":"))
    return datetime.combine(date(year, month, project.schedule.newsletter_day), time(hour, minute),
                            tzinfo=project.tz)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC: what times are compared and subtracted in, so an hour is a real hour."""
    return moment.astimezone(UTC)


def after(moment: datetime, delta: timedelta) -> datetime:
    """`delta` of real time after `moment`, in `moment`'s zone."""
    return (utc(moment) + delta).astimezone(moment.tzinfo)


def latest_slot(project: Project, now: datetime) -> datetime:
    """The latest newsletter slot at or before `now` (last month's, or last December's, before this month's)."""
    local = now.astimezone(project.tz)
    this_month = slot_in(project, local.year, local.month)
    if utc(this_month) <= utc(now):
        return this_month
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return slot_in(project, year, month)


def next_slot(project: Project, now: datetime) -> datetime:
    """The first newsletter slot after `now`."""
    local = now.astimezone(project.tz)
    this_month = slot_in(project, local.year, local.month)
    if utc(this_month) > utc(now):
        return this_month
    year, month = (local.year, local.month + 1) if local.month < 12 else (local.year + 1, 1)
    return slot_in(project, year, month)


def window(project: Project) -> timedelta:
    return timedelta(hours=project.schedule.catch_up_hours)


def due(store: Store, project: Project, now: datetime, *, last_refresh: datetime | None = None) -> list[Due]:
    """What is to be run at `now`, the edition or resume first; `last_refresh`: when the last
    refresh (or run) finished, None if there was none (so a refresh is due)."""
    found = []
    slot = latest_slot(project, now)
    until = after(slot, window(project))
    latest = store.latest_edition()
    if store.edition_on(slot.date()) is None and not nothing_new(store, slot.date()):
        if utc(now) <= utc(until) and (latest is None or latest.as_of < slot.date()):
            found.append(Due(EDITION, slot.date(), until, f"the issue of {slot:%Y-%m-%d %H:%M} is not made yet"))
    if latest is not None and not found:
        issue_slot = datetime.combine(latest.as_of, slot.timetz())
        closes = after(issue_slot, window(project))
        left = _not_reached(store, project, latest)
        if left and utc(issue_slot) <= utc(now) <= utc(closes):
            found.append(Due(RESUME, latest.as_of, closes,
                             f"issue {latest.number} has not reached {left}"))
    every = timedelta(minutes=project.schedule.refresh_minutes)
    if last_refresh is None or utc(now) - utc(last_refresh) >= every:
        found.append(Due(REFRESH, why="the first refresh" if last_refresh is None else f"every {every}"))
    return found


def missed(store: Store, project: Project, now: datetime) -> str | None:
    """A sentence when the latest slot passed more than the catch-up window ago with no issue made, in a project
    that had it to make: one that made an issue before, or ran before that window closed (not one set up since)."""
    slot = latest_slot(project, now)
    latest = store.latest_edition()
    closed = after(slot, window(project))
    if utc(now) <= utc(closed) or store.edition_on(slot.date()) is not None:
        return None
    if latest is None and not _ran_by(store, closed):  # a new project: it never had that slot to make
        return None
    if nothing_new(store, slot.date()):  # its run went well, and had nothing to send: no issue was missed
        return None
    if latest is not None and latest.as_of > slot.date():
        return None
    return (f"the issue of {slot:%Y-%m-%d %H:%M %Z} was not made within {project.schedule.catch_up_hours} hours "
            f"([schedule] catch_up_hours), so it is not made now; make it with `pipeline run --as-of "
            f"{slot.date()}`, or wait for {next_slot(project, now):%Y-%m-%d %H:%M}")


def _ran_by(store: Store, moment: datetime) -> bool:
    """Whether the first run this database records started by `moment`."""
    from pipeline.state import history

    first = history.first_run_started(store)
    return first is not None and utc(first) <= utc(moment)


def never_sent(store: Store, project: Project, record: EditionRecord) -> list[tuple[int, str, str, frozenset[str]]]:
    """The active subscribers, on the list when the send of the issue `record` began, that it has not reached (no
    delivery of it at all: a run cut short), leaving out those whose choice of themes had nothing in it (sent
    nothing on purpose). Who joined later is not one (a resume would send them last month's issue)."""
    began = journal.send_began(store, record.number) or record.created_at  # (a send to nobody began no batch)
    passed_over = journal.active_without_delivery(store, record.number, joined_by=began)
    if passed_over:
        from pipeline.mail.reach import gets_something

        chosen = gets_something(project, store, record)
        passed_over = [row for row in passed_over if chosen(row[3])]
    return passed_over


def nothing_new(store: Store, as_of: date) -> bool:
    """Whether the latest run for the issue of `as_of` finished well and made none: nothing was new that month. Well:
    exit 0, or 3 for a record skipped, but no source failed (one that did may hide something new). A run for another
    date since (the latest issue re-rendered, a date refused) says nothing of this one."""
    from pipeline.state import history

    latest = history.latest_run_of_mode(store, "run", as_of=as_of)
    return latest is not None and quiet_run(
        latest.edition, latest.exit_code, history.run_results(store, latest.id))


def quiet_run(edition: int | None, exit_code: int | None, results) -> bool:
    """Whether a run that ended so (its issue, exit code, what each component did) found nothing new: no issue, and
    went well (exit 0, or 3 for a record skipped) with no source failing (one that did may hide something new)."""
    return edition is None and exit_code in (0, 3) and all(r.ok for r in results if r.stage == "source")


def _not_reached(store: Store, project: Project, record: EditionRecord) -> str:
    """Who the send of the issue `record` has not reached yet, in words ('' when nobody). An active subscriber with
    no delivery of it whose choice of themes has nothing in it was sent nothing on purpose: not one to reach."""
    from pipeline.mail.reach import within_reach

    edition = record.number
    counted = journal.counts(store, edition).get(edition, {})
    failed = within_reach(project, store, record, (journal.FAILED,)).counts()[journal.FAILED]  # as --resend reaches
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in ((journal.IN_FLIGHT, counted.get(journal.IN_FLIGHT, 0)),
                                                       (journal.FAILED, failed)) if n]
    never = len(never_sent(store, project, record))
    if never:
        parts.append(f"{never} active subscriber{'s' if never != 1 else ''} not yet sent")
    return ", ".join(parts)
