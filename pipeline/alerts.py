"""Alerts: after each run, what the organisers should hear about, told once per problem.

Six kinds of problem, each with a key of its own in the state database (`state/alerts.py`):

- `source:NAME`: a source has failed `[alerts] source_failures` runs in a row (3 by default);
- `records:NAME`: a source skipped records for a problem with each (a post without a date, a job without a
  closing date): they reach no reader until put right;
- `run:MODE`: a `run` (or a `refresh`) failed: a sink or transform failed, or an error ended it;
- `deliveries:N`: the latest issue, N, has recipients whose delivery failed, or whose outcome is unknown, or
  subscribers a send cut short never reached;
- `complaints:N`: more than `SPAM_ALERT_RATE` (0.3%, Gmail's limit for senders) of those the latest issue, N,
  reached reported it as spam (SendGrid's Event Webhook: `spamreport`), however small the list;
- `webhook:silent`: the latest issue went out through the `sendgrid` delivery more than `SILENT_AFTER` (a day)
  ago, a `pipeline serve` listens for SendGrid's Event Webhook (it began listening with a usable key more than a
  day ago too, restarts not counting: one started after the issue went is given a day of its own), and no event
  of SendGrid's has ever arrived: its Post URL, or the proxy before serve, is wrong, and every bounce, spam report
  and unsubscribe SendGrid sees is lost.

A damaged state database stops a run before anything else (`database_damaged`): the organisers
hear of it once, remembered by a file beside the database, until a run finds it sound again. A state folder or
database `pipeline schedule` cannot use ends it (`state_unusable`): told once too, remembered by a file in the state
folder or, where that cannot be written, in the temporary folder, until a run opens the database again.

At the end of every run that gets as far as the state database (not a dry run, not one stopped by
a signal), before it is recorded as finished, the problems it finds are compared with those
already open. New ones are opened and told, in one email per address and run, to each address in
`[alerts] to`, through `[alerts.delivery]`, or without one the project's own mail delivery (as a subscription's
confirmation is): so that they hear when that delivery is what fails, the alerts can have their own. A
problem is resolved when a run shows it gone: the source worked (or skipped nothing; or is no longer configured), a
run of the same mode succeeded, everyone of the latest issue was reached (or a newer issue came).
One that comes back later is told again. An address an email could not reach is tried again after
the next run, with what it has not had. Alerting never changes what the run did: a failure to alert
is one more of the run's problems.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipeline.config import Project
from pipeline.errors import PipelineError
from pipeline.run_report import RunReport, failure_reason
from pipeline.state import Store, alerts, history, journal, provider_reports

log = logging.getLogger("pipeline.alerts")
KILLED, KILLED_RUNS = "killed:runs", 3  # runs in a row that never recorded their end: the organisers hear of it
MISSED, CONFIG = "missed", "config:pipeline.toml"  # keys of what `pipeline schedule` finds between runs
MAX_RECORDS_TOLD = 10  # a source's skipped records listed in its alert
AFTER_GIVING_UP = 30.0  # seconds an alert may take when this process gave up on a batch of the same delivery
# Spam reports of the latest issue, of those it reached, above which the organisers are told: Gmail's sender
# guidelines ask to stay below 0.1% and never reach 0.3%, past which it filters or refuses the sender's mail.
SPAM_ALERT_RATE = 0.003
SILENT_AFTER = timedelta(days=1)  # an issue sent this long ago with no event of SendGrid's ever heard: an alert


@dataclass(frozen=True)
class Problem:
    key: str
    subject: str  # one line, for the email's subject and its list
    detail: str  # what happened and what to do
    grown: bool = False  # more of it than its open alert told (a record skipped that was not): told again


def after_run(project: Project, store: Store, report: RunReport, error: Exception | None = None,
              *, now: datetime | None = None) -> list[str]:
    """Open, tell and resolve alerts for the run that is ending (called before it is recorded as finished);
    return lines for the run's problems (an alert that could not be sent)."""
    if not project.alerts.to:
        return []
    now = now or datetime.now(UTC)
    try:
        found, fine = assess(project, store, report, error, now=now)
        for problem in found:
            alerts.open_alert(store, key=problem.key, subject=problem.subject, detail=problem.detail, at=now)
            if problem.grown:
                alerts.retell(store, key=problem.key, subject=problem.subject, detail=problem.detail, at=now)
        alerts.resolve_alerts(store, [alert.key for alert in alerts.open_alerts(store) if fine(alert.key)], at=now)
        untold = [alert for alert in alerts.open_alerts(store) if alert.notified_at is None]
        if not untold:
            return []
        told, failures = _send_unless_stuck(project, untold)
        alerts.mark_told(store, told, project.alerts.to, at=now)
        for key, addresses in told.items():
            log.info("alert %r sent to %s", key, ", ".join(addresses))
        return [f"alerts: not sent to {failure}{_through(project)}; tried again after the next run"
                for failure in failures]
    except Exception as exc:  # the run's own outcome stands; the alert is tried again after the next run
        return [f"alerts: the organisers could not be told ({failure_reason(exc)}){_through(project)}; tried again "
                f"after the next run{_advice(project)}"]


def assess(project: Project, store: Store, report: RunReport, error: Exception | None, *,
           now: datetime | None = None):
    """(the problems this run finds, fine(key): whether this run shows an open problem `key` has gone).

    The run is not yet in the history: its own source results are counted here. Only what the run
    looked at can be judged gone: a source still configured but not fetched stays as it was, and a
    failed `run` is cleared only by a `run` that succeeds (a refresh sends nothing).
    """
    found: list[Problem] = []
    configured = {source.instance for source in project.sources}
    results = {r.name: r for r in report.results if r.stage == "source"}
    health = history.source_health(store)
    failing = set()
    for name, result in sorted(results.items()):
        if result.ok:
            continue
        before = health.get(name)
        record = history.SourceHealth(name, before.last_success if before else None,
                                      (before.failures_in_a_row if before else 0) + 1, result.summary, None)
        if record.failures_in_a_row >= project.alerts.source_failures:
            failing.add(name)
            found.append(_source_problem(project, record))
    told = {alert.key: alert.detail for alert in alerts.open_alerts(store)}
    before = history.skipped_records(store)  # by each source's previous run: this one is not recorded yet
    for name, lines in sorted(report.skipped.items()):
        from pipeline.subscribers.addresses import without_addresses

        # A record neither its previous run skipped nor its open alert names: the alert grew (told again, once)
        new = [line for line in lines if without_addresses(line) not in before.get(name, ())
               and without_addresses(line) not in told.get(f"records:{name}", "")]
        found.append(_records_problem(name, lines, report, new if f"records:{name}" in told else []))
    mode = report.mode.split(" ")[0]  # "run (dry run)" never gets here
    run_failed = error is not None or report.exit_code == 1
    if run_failed:
        found.append(_run_problem(report, error))
    latest = store.latest_edition()
    undelivered = _undelivered(project, store, latest) if latest is not None else None
    if undelivered is not None:
        found.append(undelivered)
    reported = _provider_problems(project, store, latest, now or datetime.now(UTC)) if latest is not None else []
    found += reported
    killed = history.last_runs(store, KILLED_RUNS + 1)[1:]  # those before this one, which is unfinished
    if len(killed) == KILLED_RUNS and all(run.finished is None for run in killed):
        found.append(Problem(
            KILLED, f"the last {KILLED_RUNS} runs were killed before they could finish",
            f"The last {KILLED_RUNS} runs ({', '.join(f'{r.mode} of {r.started:%Y-%m-%d %H:%M} UTC' for r in killed)})"
            f" ended without recording their end: the process was killed outright (out of memory, a power cut, a "
            f"service stopped past its timeout). What to do: look at the system's log for those times (`journalctl "
            f"-u newsletter-pipeline`, `dmesg` for the out-of-memory killer) and give the machine more memory or "
            f"the service more time to stop. `pipeline status` lists them as unfinished; a send they were making "
            f"is settled by the next run (README, \"Delivery guarantees\")."))
    found_keys = {problem.key for problem in found}

    def fine(key: str) -> bool:
        if key == KILLED:  # a run that got this far, not killed: gone, unless this very run found it
            return key not in found_keys
        if key.startswith(f"{MISSED}:"):  # an issue made for that date, a newer one, or a run that found nothing new
            from pipeline.scheduler import nothing_new, quiet_run

            when = date.fromisoformat(key.partition(":")[2])
            quiet = mode == "run" and report.as_of == when.isoformat() and quiet_run(  # this very run (not yet kept)
                report.edition, report.exit_code, report.results)
            return (store.edition_on(when) is not None or (latest is not None and latest.as_of > when)
                    or quiet or nothing_new(store, when))
        kind, _, what = key.partition(":")
        if kind == "source":
            return what not in configured or (what in results and what not in failing)
        if kind == "records":  # the source ran, and skipped nothing
            return what not in configured or (what in results and results[what].ok and what not in report.skipped)
        if kind == "run":
            return what == mode and not run_failed
        if kind in ("complaints", "webhook"):  # an older issue's complaints are told; the webhook heard at last
            return key not in {problem.key for problem in reported}
        if kind == "deliveries" and what.isdigit():
            if latest is None or int(what) != latest.number:  # an older issue can no longer be sent again
                return True
            return undelivered is None
        return False

    return found, fine


def between_runs(project: Project, problem: Problem | None, *, key: str | None = None,
                 now: datetime | None = None) -> None:
    """What `pipeline schedule` finds between runs (a slot missed for good, a pipeline.toml that no longer loads):
    `problem` opened and told at once, once; or, with `problem` None, the open one of `key` resolved. Alerting never
    stops the scheduler: a failure is logged, and tried again at its next check."""
    if not project.alerts.to:
        return
    from pipeline.runner import state_path

    now = now or datetime.now(UTC)
    try:
        store = Store(state_path(project), check=True)  # a damaged file is never written to (and told otherwise)
        try:
            if problem is None:
                alerts.resolve_alerts(store, [a.key for a in alerts.open_alerts(store) if a.key == key], at=now)
                return
            alerts.open_alert(store, key=problem.key, subject=problem.subject, detail=problem.detail, at=now)
            untold = [a for a in alerts.open_alerts(store) if a.key == problem.key and a.notified_at is None]
            if untold:
                told, failures = _send(project, untold)
                alerts.mark_told(store, told, project.alerts.to, at=now)
                for line in failures:
                    log.warning("alerts: not sent to %s%s", line, _through(project))
        finally:
            store.close()
    except Exception as exc:
        log.warning("alerts: the organisers could not be told %s (%s)%s%s", problem.subject if problem else key,
                    failure_reason(exc), _through(project), _advice(project))


def missed_issue(when: date, note: str) -> Problem:
    return Problem(f"{MISSED}:{when.isoformat()}", f"the issue of {when:%Y-%m-%d} was not made",
                   f"{note[0].upper()}{note[1:]}.")


def broken_config(project: Project, error: str) -> Problem:
    return Problem(CONFIG, f"{project.config_path.name} no longer loads, so nothing runs",
                   f"`pipeline schedule` reads {project.config_path} afresh at every check, and it no longer loads: "
                   f"{error}\nWhat to do: correct it (`pipeline check` says what is wrong, a line each); the next "
                   f"check, within a minute, finds it right and goes on. Until then no issue is made or sent, and no "
                   f"source is refreshed.")


def _source_problem(project: Project, record: history.SourceHealth) -> Problem:
    name = record.name
    runs = f"{record.failures_in_a_row} run{'s' if record.failures_in_a_row != 1 else ''}"
    since = f"it last worked on {record.last_success:%Y-%m-%d}" if record.last_success else "it has never worked"
    listed_in = project.listed_in.get(name)  # not any name with a "/": a table may be named so
    where = (f"the feed's entry in the OPML file that [sources.{listed_in}] of {project.config_path.name} reads"
             if listed_in else f"[sources.{name}] in {project.config_path.name}")
    return Problem(
        f"source:{name}", f"the source {name!r} has failed {runs} in a row",
        f"The source {name!r} has failed the last {runs}; {since}. Its latest error: "
        f"{record.last_error}\nWhat to do: check {where}. If its address has moved, put the new one there; if it "
        f"has gone for good, remove it. `pipeline refresh` tries it again at once, and `pipeline status` shows its "
        f"history. The other sources carry on without it.")


def _records_problem(name: str, lines: list[str], report: RunReport, new: list[str]) -> Problem:
    """The records a source skipped; `new`: those of them its open alert did not tell (listed first; told again)."""
    from pipeline.subscribers.addresses import without_addresses

    count, them = f"{len(lines)} record{'s' if len(lines) != 1 else ''}", "it" if len(lines) == 1 else "them"
    lines = new + [line for line in lines if line not in new]
    listed = "\n".join(f"- {without_addresses(line)}" for line in lines[:MAX_RECORDS_TOLD])
    more = f"\n- and {len(lines) - MAX_RECORDS_TOLD} more" if len(lines) > MAX_RECORDS_TOLD else ""
    since = (f" {len(new)} of them not skipped before, since you were told of the others (listed first)."
             if new else "")
    return Problem(
        f"records:{name}", f"the source {name!r} skipped {count}",
        f"The {report.mode.split(' ')[0]} as of {report.as_of} found a problem with {count} of the source {name!r}, "
        f"and left {them} out: not in the newsletter, the feed or the site until put right. The rest of the source "
        f"was taken.{since}\n{listed}{more}\nWhat to do: correct each where it says; the next refresh takes {them} "
        f"(`pipeline refresh` at once). You are told again once the source has run without skipping anything, or "
        f"when it skips a record it did not.", grown=bool(new))


def _run_problem(report: RunReport, error: Exception | None) -> Problem:
    """One problem per mode: `run` (the monthly edition) and `refresh` fail and recover apart."""
    if error is not None:
        what = f"an error: {type(error).__name__}"
        why = f"it ended with an error: {failure_reason(error)}"
    else:
        failed = report.failed("transform") + report.failed("sink")
        what = ", ".join(f"{r.stage} {r.name}" for r in failed)
        why = "; ".join(f"the {r.stage} {r.name!r} failed: {r.summary}" for r in failed)
    mode = report.mode.split(" ")[0]
    return Problem(
        f"run:{mode}", f"a {mode} failed ({what})",
        f"The {report.mode} as of {report.as_of} failed: {why}.\nWhat was fetched is saved. What to do: fix "
        f"the cause above, then run `pipeline {report.mode.split()[0]}` again, or let `pipeline schedule` retry "
        f"it by itself (until its catch-up window closes). `pipeline status` shows every run.")


def _provider_problems(project: Project, store: Store, latest, now: datetime) -> list[Problem]:
    """What SendGrid reports, or does not, of the latest issue: its spam-report rate above `SPAM_ALERT_RATE`
    (`complaints:N`), and an Event Webhook never heard by a serve listening for it (`webhook:silent`)."""
    found = []
    read = store._rows
    sent = journal.counts(store, latest.number).get(latest.number, {}).get(journal.SENT, 0)
    spam = provider_reports.complaints(read, latest.number, latest.created_at)
    if sent and spam / sent > SPAM_ALERT_RATE:
        found.append(Problem(
            f"complaints:{latest.number}", f"issue {latest.number}: {spam} of the {sent} it reached reported it as "
            f"spam ({spam / sent:.2%}, above {SPAM_ALERT_RATE:.1%})",
            f"{spam} of the {sent} subscribers issue {latest.number} reached reported it as spam ({spam / sent:.2%}); "
            f"Gmail asks senders to stay below 0.1% and filters or refuses their mail from 0.3%, and SendGrid may "
            f"review an account whose rate stays high. They are off the list already (complained). What to do: make "
            f"sure everyone on the list asked for it (imported lists, old addresses), that the sender's name and the "
            f"subject say who it is from, and that the unsubscribe link is plain to see; `pipeline subscribers list "
            f"--status complained` shows who, and `pipeline status` the rate."))
    heard = provider_reports.last_heard(read)
    listening = provider_reports.listening_since(read)
    went = provider_reports.first_sent(read, latest.number, "sendgrid")
    if heard is None and listening is not None and went is not None and now - max(went, listening) >= SILENT_AFTER:
        url = project.core.site_url.rstrip("/") + "/webhooks/sendgrid"
        found.append(Problem(
            "webhook:silent", "SendGrid's Event Webhook has never reached pipeline serve",
            f"Issue {latest.number} went out through SendGrid on {went:%Y-%m-%d %H:%M} UTC, `pipeline serve` listens "
            f"for SendGrid's Event Webhook (it has listened since {listening:%Y-%m-%d %H:%M} UTC, with the "
            f"verification key), and no event of SendGrid's has ever arrived: every bounce, spam report and "
            f"unsubscribe SendGrid sees is lost. What to do: in SendGrid (Settings, Mail Settings, Event Webhook) "
            f"check the Post URL is {url}, that the webhook is enabled with the bounce, dropped, spam report and "
            f"unsubscribe events and signed, and that the proxy before serve passes /webhooks/ to it (README, "
            f"\"Subscribers and `pipeline serve`\"); SendGrid's \"Test Your Integration\" posts a sample, and "
            f"`pipeline status` then shows when it arrived."))
    return found


def _undelivered(project: Project, store: Store, latest) -> Problem | None:
    """The issue's recipients that failed or whose delivery is unknown, and the subscribers a send cut short never
    reached, as one problem (None: there are none)."""
    from pipeline.mail.reach import within_reach
    from pipeline.scheduler import never_sent

    counts = within_reach(project, store, latest).counts()  # those `--resend` reaches: no one else can be sent it
    failed, unknown = counts.get("failed", 0), counts.get("unknown", 0)
    never = len(never_sent(store, project, latest))
    if not failed and not unknown and not never:
        return None
    n = latest.number
    said = " and ".join(part for part in (f"{failed} failed" if failed else "",
                                          f"{unknown} with an unknown outcome" if unknown else "",
                                          f"{never} never sent it (a send cut short)" if never else "") if part)
    todo = [f"`pipeline deliveries --issue {n}` lists each with its reason."]
    if never:
        todo.append(f"`pipeline schedule` resumes the send within its catch-up window; after it, `pipeline run "
                    f"--as-of {latest.as_of}` sends to those never sent it, and to anyone who joined since (to no one "
                    f"it reached).")
    if failed:
        todo.append(f"Once the cause is fixed, `pipeline deliveries --issue {n} --resend failed` sends to the "
                    f"failed ones again.")
    if unknown:
        todo.append(f"The unknown ones may already have it: check your provider's activity log first, then "
                    f"`pipeline deliveries --issue {n} --resend unknown` if they did not (they may get two copies).")
    return Problem(f"deliveries:{n}", f"issue {n}: {said}",
                   f"Issue {n} ({latest.title}): {said} of its recipients.\nWhat to do: " + " ".join(todo))


def _send_unless_stuck(project: Project, untold: list[alerts.Alert]) -> tuple[dict[str, list[str]], list[str]]:
    """`_send`; but after a send of this process gave up on a batch whose delivery never returned
    (`time_limits.given_up`), on a daemon thread waited for `AFTER_GIVING_UP` seconds at most. The alert goes
    through that same delivery, which would most likely not return either: on the main thread, with no limit,
    it would keep the `pipeline` command (and the state folder's lock) alive for ever, which is what giving up
    the batch is for. Not returned in time: an error, so the alert is tried again after the next run."""
    from pipeline.time_limits import given_up

    if not given_up():
        return _send(project, untold)
    done = threading.Event()
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            outcome["told"] = _send(project, untold)
        except BaseException as exc:  # handed to the run, as if raised there
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=send, name="alert", daemon=True).start()  # a daemon: it holds no state, only mail
    if not done.wait(AFTER_GIVING_UP):
        raise PipelineError(f"its delivery did not return within {AFTER_GIVING_UP:g} s, as a batch of this run's "
                            f"send did not")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["told"]  # type: ignore[return-value]


def _send(project: Project, untold: list[alerts.Alert]) -> tuple[dict[str, list[str]], list[str]]:
    """Email each address in [alerts] to the problems it has not had, in one message; ({key: addresses
    reached}, a line per address not reached). One delivery serves them all, so a server that does not
    answer costs one timeout, not one per address."""
    from pipeline.mail.transactional import AlertMail

    sink = AlertMail(project)
    by_message: dict[tuple[str, ...], list[str]] = {}  # the alerts an address has not had -> those addresses
    for address in project.alerts.to:
        keys = tuple(alert.key for alert in untold if address not in alert.told_to)
        if keys:
            by_message.setdefault(keys, []).append(address)
    told: dict[str, list[str]] = {}
    failures: list[str] = []
    try:
        for keys, addresses in by_message.items():
            reached, missed = _mail(sink, *_message(project, [a for a in untold if a.key in keys]), addresses)
            for key in keys:
                told.setdefault(key, []).extend(reached)
            failures += missed
    finally:
        sink.deliverer.close()
    if failures and not any(told.values()):
        raise PipelineError("; ".join(failures))
    return {key: reached for key, reached in told.items() if reached}, failures


def _mail(sink, subject: str, text: str, addresses: list[str]) -> tuple[list[str], list[str]]:
    """One plain-text message to `addresses` through the alerts' delivery: (reached, a line per other). Each
    is reached as `[alerts] to` spells it, whatever spelling the delivery reports it in (`sending.outcomes_of`),
    since that spelling is what `mark_told` and the next run look for."""
    from pipeline.mail.message import Mailing, Recipient
    from pipeline.mail.sending import outcomes_of

    sender_email, sender_name, reply_to = sink.sender()
    mailing = Mailing(subject, sender_email, sender_name, text, None, datetime.now(UTC), reply_to=reply_to)
    spelt: dict[str, list[str]] = {}  # one message per mailbox, however many ways `[alerts] to` spells it
    for address in addresses:
        spelt.setdefault(address.lower(), []).append(address)
    recipients = [Recipient(a, "") for a in spelt]
    reached, missed = [], []
    outcomes = outcomes_of(recipients, sink.deliverer.deliver(mailing, recipients, None, None))
    for recipient, delivery in zip(recipients, outcomes, strict=True):
        if delivery.ok:
            reached += spelt[recipient.email]
        else:
            missed += [f"{address} ({delivery.error})" for address in spelt[recipient.email]]
    return reached, missed


def send_test(project: Project) -> tuple[list[str], list[str], str]:
    """`pipeline send-test --alerts`: a message marked [TEST] to each address in [alerts] to, as an alert goes;
    (reached, a line per other, the delivery and its table). Nothing is recorded."""
    from pipeline.mail.transactional import AlertMail

    sink = AlertMail(project)
    subject = f"[TEST] [{project.core.name}] a test of the organisers' alerts"
    text = (f"{project.core.name}: this is a test of the alerts the newsletter pipeline sends when something needs "
            f"attention (`pipeline send-test --alerts`). Nothing is wrong. They go to the addresses in [alerts] to "
            f"of {project.config_path.name}.")
    try:
        reached, missed = _mail(sink, subject, text, list(project.alerts.to))
    finally:
        sink.deliverer.close()
    return reached, missed, f"{sink.deliverer.name}{_through(project)}"


DAMAGED_MARK = "damaged-database-told"  # in state_dir: the organisers were told (the database cannot remember)
_TOLD_HERE: set[Path] = set()  # marks this process could not write (a full disk): it remembers them itself


def database_damaged(project: Project, problem: str) -> None:
    """The state database failed its check, so the run stops: tell the organisers once. A file beside the
    database remembers that they were told, until a run finds it sound again (`database_sound`); where it cannot be
    written (a full disk), this process remembers, so `pipeline schedule` tells them once, not every minute."""
    mark = project.core.state_dir / DAMAGED_MARK
    if not project.alerts.to or mark in _TOLD_HERE or mark.exists():
        return
    subject = f"[{project.core.name}] the state database is damaged: nothing runs until it is restored"
    text = "\n".join([
        f"{project.core.name}: the newsletter pipeline needs attention.", "", problem, "",
        "Until then no run fetches, sends or records anything, and `pipeline schedule` tries again every few "
        "minutes. README.md, \"Operations\", says how to restore the latest `pipeline backup`. You hear of this "
        "once; if it happens again after a sound run, you hear again."])
    reached = _tell(project, subject, text, "the state database is damaged")
    if reached:
        _TOLD_HERE.add(mark)
        try:
            mark.write_text(f"{datetime.now(UTC).isoformat()} {' '.join(reached)}\n", encoding="utf-8")
        except OSError as exc:  # the damage is what the run says; this is one more thing wrong with the disk
            log.warning("alerts: %s cannot be written (%s), so a later command may tell the organisers again",
                        mark, exc.strerror)


def database_sound(project: Project) -> None:
    """The state database passed its check: a later damage is a new problem."""
    mark = project.core.state_dir / DAMAGED_MARK
    _TOLD_HERE.discard(mark)
    mark.unlink(missing_ok=True)


UNUSABLE_MARK = "unusable-state-told"  # the organisers were told `pipeline schedule` ended on a state it cannot use


def state_unusable(project: Project, problem: str, command: str = "schedule") -> None:
    """`pipeline schedule` ends (exit 2) on a state folder or database its user cannot use (`errors.StateAccessError`:
    its rights, a read-only mount, a folder where the file should be), or `pipeline run` or `refresh` (`command`), as
    cron starts them, fails so: tell the organisers once. The alerts are kept in that database, so a file remembers
    that they were told: in the state folder, or where that cannot be written (the usual cause), in the temporary
    folder (`_unusable_marks`), until a run opens the database again (`state_usable`). So a restart with nothing put
    right (Docker's restart policy, a person), or cron's next run, does not tell them again; the systemd unit does
    not restart the scheduler after exit 2."""
    if not project.alerts.to or any(_ours(mark) for mark in _unusable_marks(project)):
        return
    if command == "schedule":
        subject = f"[{project.core.name}] `pipeline schedule` has stopped: its state database cannot be used"
        what = ("`pipeline schedule` has ended (exit 2), since no wait puts this right, and under systemd the unit is "
                "left stopped. Until it is put right as said above and the service is started again (`systemctl "
                "restart newsletter-pipeline`, or the container), no issue is made or sent and no source is refreshed.")
    else:
        subject = f"[{project.core.name}] `pipeline {command}` failed: its state database cannot be used"
        what = (f"`pipeline {command}` ended (exit 2), since no wait puts this right: every run fails the same way "
                f"until it is put right as said above, so no issue is made or sent and no source is refreshed.")
    text = "\n".join([
        f"{project.core.name}: the newsletter pipeline needs attention.", "", problem, "",
        f"{what} The database itself is sound: do not restore a backup for this. You hear of this once; if it happens "
        f"again after a run has used the database, you hear again."])
    reached = _tell(project, subject, text, "the state database cannot be used")
    if not reached:
        return
    said = f"{datetime.now(UTC).isoformat()} {' '.join(reached)}\n".encode()
    for mark in _unusable_marks(project):
        try:  # (never through a link someone else put there, in a folder others may write in)
            descriptor = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(said)
        return
    log.warning("alerts: nowhere to remember that the organisers were told the state database cannot be used (%s "
                "and %s cannot be written), so a restart tells them again", *_unusable_marks(project))


def state_usable(project: Project) -> None:
    """A run opened the state database to write (`runner._open_store`; not the scheduler's check, which only reads
    it, as it reads a folder mounted read-only): a later failure to use it is a new problem, told again."""
    for mark in _unusable_marks(project):
        if _ours(mark):
            try:
                mark.unlink()
            except OSError:  # a state folder mounted read-only, say: it stays told until the folder can be written
                pass


def _unusable_marks(project: Project) -> tuple[Path, Path]:
    """Where `state_unusable` remembers that it told the organisers: in the state folder, else in the temporary
    folder under a name of this user's and this database's own."""
    import hashlib
    import tempfile

    from pipeline.runner import state_path

    key = hashlib.sha256(str(state_path(project).resolve()).encode()).hexdigest()[:16]
    return (project.core.state_dir / UNUSABLE_MARK,
            Path(tempfile.gettempdir()) / f"pipeline-{os.geteuid()}-{key}-{UNUSABLE_MARK}")


def _ours(mark: Path) -> bool:
    """Whether `mark` is a file this user made (not a link, nor another user's file in the temporary folder)."""
    try:
        st = os.lstat(mark)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


def _tell(project: Project, subject: str, text: str, about: str) -> list[str]:
    """One message to each address in [alerts] to, outside the state database (which is what is wrong): the
    addresses reached; one that was not, or a delivery that failed, is logged (as `about`)."""
    from pipeline.mail.transactional import AlertMail

    try:
        sink = AlertMail(project)
        try:
            reached, missed = _mail(sink, subject, text, list(project.alerts.to))
        finally:
            sink.deliverer.close()
    except Exception as exc:
        log.warning("alerts: the organisers could not be told %s (%s)%s%s", about, failure_reason(exc),
                    _through(project), _advice(project))
        return []
    for line in missed:
        log.warning("alerts: not sent to %s%s", line, _through(project))
    if reached:
        log.info("alert that %s sent to %s", about, ", ".join(reached))
    return reached


def _through(project: Project) -> str:
    """Which table's delivery the alerts go through, as the lines saying one could not be sent put it."""
    from pipeline.mail.transactional import find_mail_sink

    if project.alert_delivery is not None:
        return f" through [alerts.delivery] of {project.config_path.name}"
    sink = find_mail_sink(project)
    return f" through [sinks.{sink.instance}.delivery] of {project.config_path.name}" if sink is not None else ""


def _advice(project: Project) -> str:
    """What to do when no alert got through: check their own delivery, or give them one (the newsletter's is down)."""
    if project.alert_delivery is not None:
        return "; check that table, and `pipeline send-test --alerts` tries it"
    return ("; so that they hear even when the newsletter's delivery is what fails, give the alerts a delivery of "
            "their own, [alerts.delivery] (README, \"[alerts]\")")


def _message(project: Project, untold: list[alerts.Alert]) -> tuple[str, str]:
    name = project.core.name
    subject = f"[{name}] {untold[0].subject}" + (f" (and {len(untold) - 1} more)" if len(untold) > 1 else "")
    parts = [f"{name}: the newsletter pipeline needs attention.", ""]
    for number, alert in enumerate(untold, 1):
        parts += [f"{number}. {alert.subject[0].upper()}{alert.subject[1:]}", "", alert.detail, ""]
    parts += ["You get one email per problem, when a run first finds it; if it clears and comes back, you hear "
              "again. These emails go to the addresses in [alerts] to of pipeline.toml."]
    return subject, "\n".join(parts)
