"""`pipeline preview`, `send-test` and `deliveries`: looking at an issue before and after it goes out."""

from __future__ import annotations

import logging
from datetime import date, datetime

from rich.markup import escape
from rich.table import Table

from pipeline.config import Project, load_project
from pipeline.current import horizons
from pipeline.edition import Edition, EditionError, from_record, month_after, prepare_edition
from pipeline.errors import InputError, PipelineError
from pipeline.files import write_atomic
from pipeline.mail.message import Recipient, personalize
from pipeline.mail.reach import within_reach
from pipeline.mail.transactional import deliver_now, mail_sink
from pipeline.run_context import RunContext
from pipeline.runner import edition_date, locked_store, state_path, write_within_deadline
from pipeline.state import Store, journal
from pipeline.subscribers.addresses import canonical, refusal
from pipeline.time_limits import call_within

log = logging.getLogger(__name__)
STATUSES = ("sent", "in_flight", "unknown", "failed")


def example_recipient(project: Project, email: str = "", name: str = "") -> Recipient:
    """Links that show where a subscriber's own links go, and lead nowhere (tokens that do not verify)."""
    return Recipient(email, name, "example")


def _edition(project: Project, store: Store, as_of: date | None, now: datetime | None = None) -> Edition:
    """The stored issue for `as_of`, or the one a run would make then from what is stored (nothing is stored).
    Without `as_of`: the issue of the latest newsletter day while it is not made (and holds something), and once it
    is (or when it would hold nothing), the next one, as it would be made from what is stored by now (so an
    organiser sees what is coming, before it goes out)."""
    now = now or datetime.now(project.tz)
    day = as_of or edition_date(project, now.date())
    latest = store.latest_edition() if as_of is None else None
    made = latest is not None and latest.as_of >= day  # made (on that day, or with --as-of on one after it)
    if made:
        day = month_after(day)
    moment = datetime.combine(day, datetime.min.time(), tzinfo=project.tz) if as_of else now
    edition = prepare_edition(store, day, project.tz, project.core.name, moment, record=False,
                              horizon=horizons(project))
    if edition is None and as_of is None and not made:  # not made, and empty: what was posted since is next
        day = month_after(day)
        edition = prepare_edition(store, day, project.tz, project.core.name, moment, record=False,
                                  horizon=horizons(project))
    if edition is None:
        raise PipelineError(f"nothing new for an issue dated {day}; run `pipeline refresh` to fetch the sources "
                            f"first, or pick another date with --as-of")
    return edition


def _rendered(project: Project, sink, store: Store, as_of: date | None) -> tuple[Edition, object, RunContext]:
    """The issue for `as_of`, rendered as the email sink renders it, with the (closed) context it used."""
    edition = _edition(project, store, as_of)
    ctx = RunContext(project, store, edition.as_of, datetime.now(project.tz), dry_run=True)
    try:
        return edition, sink.render(edition, ctx), ctx
    finally:
        ctx.close()


def preview(config, as_of: date | None, console) -> int:
    project = load_project(config)
    sink = mail_sink(project)
    with locked_store(project) as store:
        edition, rendered, ctx = _rendered(project, sink, store, as_of)
    folder = project.core.out_dir / "preview"
    example = example_recipient(project)
    html, text = folder / f"issue-{edition.number}.html", folder / f"issue-{edition.number}.txt"
    write_atomic(html, personalize(rendered.html, example))
    write_atomic(text, personalize(rendered.text, example))
    console.print(str(html), soft_wrap=True)
    return _problems_said(ctx)


def _problems_said(ctx: RunContext) -> int:
    """Say what a run would report of the rendering (a template's dead link): exit 3 if anything, as such a run."""
    for problem in ctx.problems:
        log.warning("%s", problem)
    return 3 if ctx.problems else 0


def send_test(config, to: str, as_of: date | None, console) -> int:
    if why := refusal(to.strip(), "you@example.org"):
        raise InputError(f"--to {why}")
    # mailed in the address's one spelling, under which the copy a delivery keeps is found (`subscribers forget`)
    to = canonical(to) or to.strip().lower()  # never None: `refusal` takes no domain IDNA refuses
    project = load_project(config)
    sink = mail_sink(project)
    with locked_store(project) as store:
        edition, rendered, ctx = _rendered(project, sink, store, as_of)
        mailing = sink.mailing(edition, rendered, ctx, test=True)
        # within the sink's deadline, as a run's send: a delivery that never returns must not hold the lock for ever
        seconds = project.sink_deadline_of(sink.instance)
        reference = call_within(seconds, f"send-test: the {sink.deliverer.name} delivery did not return within "
                                         f"{seconds:g} s; nothing was recorded (raise [sinks.{sink.instance}] "
                                         f"deadline if it needs longer)",
                                deliver_now, sink.deliverer, mailing, example_recipient(project, to))
    console.print(f"test of issue {edition.number} sent to {escape(to)} via {sink.deliverer.name} "
                  f"({escape(reference)}); nothing recorded", soft_wrap=True)
    return _problems_said(ctx)


def send_test_alert(config, console) -> int:
    """`send-test --alerts`: a test alert to each organiser, as a run's alert goes; nothing recorded."""
    from pipeline.alerts import send_test as alert_test

    project = load_project(config)
    if not project.alerts.to:
        raise InputError(f"{project.config_path.name}: [alerts] to is empty, so there is no one to send a test alert "
                         f"to; add the organisers' addresses")
    reached, missed, via = alert_test(project)
    if not reached:
        raise PipelineError(f"test alert not sent: {'; '.join(missed)} (via {via}); check that table")
    for line in missed:
        log.error("test alert not sent to %s (via %s)", line, via)
    console.print(f"test alert sent to {escape(', '.join(reached))} via {escape(via)}; nothing recorded",
                  soft_wrap=True)
    return 1 if missed else 0


def deliveries(config, issue: int | None, resend: str | None, console) -> int:
    project = load_project(config)
    if resend:  # changes the journal and sends: under the run lock
        with locked_store(project) as store:
            if issue is not None:
                _check_issue(store, issue)
            return _resend(project, store, issue, resend, console)
    path = state_path(project)
    if not path.exists():
        if issue is not None:
            raise EditionError(f"--issue {issue}: there is no issue {issue}; no issue has been made yet")
        console.print("no deliveries recorded yet")
        return 0
    from pipeline.commands.status import read_only_store

    with read_only_store(path) as store:  # reads only, as `status`: an organiser watches a send while it runs
        if issue is not None:
            _check_issue(store, issue)
        counts = journal.counts(store, issue)
        table = Table("issue", *STATUSES, box=None)
        for number in sorted(counts, reverse=True):
            table.add_row(str(number), *(str(counts[number].get(s, 0)) for s in STATUSES))
        console.print(table if counts else "no deliveries recorded yet")
        if issue is not None:
            for recipient, status, error in journal.listed(store, issue, ("unknown", "failed", "in_flight")):
                console.print(f"{status}: {escape(recipient)}: {escape(error)}", soft_wrap=True)
        stuck = sum(c.get("unknown", 0) + c.get("in_flight", 0) for c in counts.values())
        return 3 if stuck else 0


def _check_issue(store: Store, issue: int) -> None:
    """Refuse --issue N when there is no issue N (exit 2, as a refused date)."""
    numbers = [edition.number for edition in store.editions()]
    if issue not in numbers:
        latest = f"the latest is issue {numbers[0]}" if numbers else "no issue has been made yet"
        raise EditionError(f"--issue {issue}: there is no issue {issue}; {latest}")


def _resend(project: Project, store: Store, issue: int | None, which: str, console) -> int:
    """Send the latest issue again to its `which` recipients; --issue, if given, must name that issue."""
    latest = store.latest_edition()
    if latest is None:
        raise PipelineError("--resend: no issue has been made yet, so there is nothing to send again")
    if issue is not None and issue != latest.number:
        raise InputError(f"--resend needs --issue {latest.number}, or no --issue: only the latest issue is "
                         f"ever sent")
    issue = latest.number
    statuses = ("unknown", "failed") if which == "all" else (which,)
    held = journal.held_back(store, issue, statuses)
    for recipient, status, listed in held:  # no send reaches them: each said, not counted as sent again
        why = _NOT_SENT_TO.get(listed, _GONE)
        console.print(f"issue {issue}: {escape(recipient)} ({status}) is left as it is: {why}", soft_wrap=True)
    reach = within_reach(project, store, latest, statuses)  # the rule the schedule and the alerts count by
    for recipient, status in reach.nothing:  # no empty issue; cleared, as for one whose choice had nothing new
        console.print(f"issue {issue}: {escape(recipient)} ({status}) is not sent it again: the themes they follow "
                      f"now select nothing in this issue, so there is nothing to send them", soft_wrap=True)
    if reach.nothing:  # their record of it cleared: the organiser asked, and nothing is waiting for them
        journal.release_for_resend(store, edition=issue, statuses=statuses, at=datetime.now(project.tz),
                                   only=[recipient for recipient, _ in reach.nothing])
    named = {recipient for recipient, _ in reach.reached}
    released = journal.release_for_resend(store, edition=issue, statuses=statuses, at=datetime.now(project.tz),
                                          only=named) if named else 0
    if not released:  # the sink would still send to whoever has not had the issue: not what was asked
        other = "other " if held or reach.nothing else ""
        console.print(f"issue {issue}: no {other}recipient is {' or '.join(statuses)}; nothing sent")
        return 0
    console.print(f"issue {issue}: {released} recipient(s) ({'/'.join(statuses)}) will be sent again")
    sink = mail_sink(project)
    ctx = RunContext(project, store, latest.as_of, datetime.now(project.tz))
    try:  # to those alone: not to who joined since the issue went out
        result = write_within_deadline(sink, from_record(store, latest), ctx, only=frozenset(named))
    finally:
        ctx.close()
    console.print(escape(result.summary), soft_wrap=True)
    return _problems_said(ctx)  # what it reported (a bounce, a row of the list skipped): exit 3, as a run's


_GONE = "no longer on the list"
_NOT_SENT_TO = {  # why a send does not reach someone whose delivery the organiser asked to resend
    "pending": "pending, they asked to subscribe again and have not confirmed yet (once they do, --resend reaches "
               "them)",
    "unsubscribed": "they have unsubscribed since", "bounced": "marked bounced since",
    "complained": "they reported the issue as spam since",
}
