"""Alerts: after each run, what the organisers should hear about, told once per problem.

Three kinds of problem, each with a key of its own in the state database (`state/alerts.py`):

- `source:NAME`: a source has failed `[alerts] source_failures` runs in a row (3 by default);
- `run:…`: the run failed: a sink or transform failed, or an error ended it;
- `deliveries:N`: issue N has recipients whose delivery failed, or whose outcome is unknown.

After every run that gets as far as the state database (not a dry run, not one stopped by a
signal), the problems it finds are compared with those already open. New ones are opened and
told, all in one email per run, to each address in `[alerts] to`, through the project's own mail
delivery (as a subscription's confirmation is). Problems no longer found are resolved; one that
comes back later is told again. An email that could not be sent is tried again after the next
run. Alerting never changes what the run did: a failure to alert is one more of the run's problems.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.config import Project
from pipeline.errors import PipelineError
from pipeline.run_report import RunReport, failure_reason
from pipeline.state import Store, alerts, history, journal

log = logging.getLogger("pipeline.alerts")


@dataclass(frozen=True)
class Problem:
    key: str
    subject: str  # one line, for the email's subject and its list
    detail: str  # what happened and what to do


def after_run(project: Project, store: Store, report: RunReport, error: Exception | None = None,
              *, now: datetime | None = None) -> list[str]:
    """Open, tell and resolve alerts for the run just finished; return lines for the run's problems."""
    if not project.alerts.to:
        return []
    now = now or datetime.now(UTC)
    try:
        found, fine = assess(project, store, report, error)
        for problem in found:
            alerts.open_alert(store, key=problem.key, subject=problem.subject, detail=problem.detail, at=now)
        alerts.resolve_alerts(store, [alert.key for alert in alerts.open_alerts(store) if fine(alert.key)], at=now)
        untold = [alert for alert in alerts.open_alerts(store) if alert.notified_at is None]
        if not untold:
            return []
        told_to = _send(project, untold)
        alerts.mark_notified(store, [alert.key for alert in untold], at=now)
        log.info("alert about %s sent to %s", "; ".join(alert.subject for alert in untold), ", ".join(told_to))
        return []
    except Exception as exc:  # the run's own outcome stands; the alert is tried again after the next run
        line = f"alerts: the organisers could not be told ({failure_reason(exc)}); tried again after the next run"
        log.warning(line)
        return [line]


def assess(project: Project, store: Store, report: RunReport, error: Exception | None):
    """(the problems this run finds, fine(key): whether this run shows an open problem `key` has gone).

    Only what the run looked at can be judged gone: a source it did not fetch stays as it was.
    """
    found: list[Problem] = []
    fetched = {result.name for result in report.results if result.stage == "source"}
    health = history.source_health(store)
    failing = set()
    for name in sorted(fetched):
        record = health.get(name)
        if record and record.failures_in_a_row >= project.alerts.source_failures:
            failing.add(name)
            found.append(_source_problem(project, record))
    run_failed = error is not None or report.exit_code == 1
    if run_failed:
        found.append(_run_problem(report, error))
    latest = store.latest_edition()
    if latest is not None and (problem := _undelivered(store, latest)):
        found.append(problem)

    def fine(key: str) -> bool:
        kind, _, what = key.partition(":")
        if kind == "source":
            return what in fetched and what not in failing
        if kind == "run":
            return not run_failed
        if kind == "deliveries" and what.isdigit():
            counts = journal.counts(store, int(what)).get(int(what)) or {}
            return not counts.get("failed") and not counts.get("unknown")
        return False

    return found, fine


def _source_problem(project: Project, record: history.SourceHealth) -> Problem:
    name = record.name
    runs = f"{record.failures_in_a_row} run{'s' if record.failures_in_a_row != 1 else ''}"
    since = f"it last worked on {record.last_success:%Y-%m-%d}" if record.last_success else "it has never worked"
    where = (f"[sources.{name}] in {project.config_path.name}" if any(s.instance == name for s in project.sources)
             else f"its entry in {project.config_path.name} (or in the OPML file that lists it)")
    return Problem(
        f"source:{name}", f"the source {name!r} has failed {runs} in a row",
        f"The source {name!r} has failed the last {runs}; {since}. Its latest error: "
        f"{record.last_error}\nWhat to do: check {where}. If its address has moved, put the new one there; if it "
        f"has gone for good, remove it. `pipeline refresh` tries it again at once, and `pipeline status` shows its "
        f"history. The other sources carry on without it.")


def _run_problem(report: RunReport, error: Exception | None) -> Problem:
    if error is not None:
        what = failure_reason(error)
        key, why = f"run:error {type(error).__name__}", f"it ended with an error: {what}"
    else:
        failed = report.failed("transform") + report.failed("sink")
        key = "run:" + ", ".join(f"{r.stage} {r.name}" for r in failed)
        why = "; ".join(f"the {r.stage} {r.name!r} failed: {r.summary}" for r in failed)
    return Problem(
        key, f"a {report.mode} failed ({key.removeprefix('run:')})",
        f"The {report.mode} as of {report.as_of} failed: {why}.\nWhat was fetched is saved. What to do: fix "
        f"the cause above, then run `pipeline {report.mode.split()[0]}` again, or let `pipeline schedule` retry "
        f"it by itself (until its catch-up window closes). `pipeline status` shows every run.")


def _undelivered(store: Store, latest) -> Problem | None:
    """The issue's recipients that failed or whose delivery is unknown, as one problem (None: there are none)."""
    counts = journal.counts(store, latest.number).get(latest.number) or {}
    failed, unknown = counts.get("failed", 0), counts.get("unknown", 0)
    if not failed and not unknown:
        return None
    n = latest.number
    said = " and ".join(part for part in (f"{failed} failed" if failed else "",
                                          f"{unknown} with an unknown outcome" if unknown else "") if part)
    todo = [f"`pipeline deliveries --issue {n}` lists each with its reason."]
    if failed:
        todo.append(f"Once the cause is fixed, `pipeline deliveries --issue {n} --resend failed` sends to the "
                    f"failed ones again.")
    if unknown:
        todo.append(f"The unknown ones may already have it: check your provider's activity log first, then "
                    f"`pipeline deliveries --issue {n} --resend unknown` if they did not (they may get two copies).")
    return Problem(f"deliveries:{n}", f"issue {n}: {said}",
                   f"Issue {n} ({latest.title}): {said} of its recipients.\nWhat to do: " + " ".join(todo))


def _send(project: Project, untold: list[alerts.Alert]) -> list[str]:
    """Email the problems to every address in [alerts] to; the addresses reached (raises if none was)."""
    from pipeline.mail.transactional import send_now

    name = project.core.name
    subject = f"[{name}] {untold[0].subject}" + (f" (and {len(untold) - 1} more)" if len(untold) > 1 else "")
    parts = [f"{name}: the newsletter pipeline needs attention.", ""]
    for number, alert in enumerate(untold, 1):
        parts += [f"{number}. {alert.subject[0].upper()}{alert.subject[1:]}", "", alert.detail, ""]
    parts += ["You get one email per problem, when a run first finds it; if it clears and comes back, you hear "
              "again. These emails go to the addresses in [alerts] to of pipeline.toml."]
    text = "\n".join(parts)
    reached, failures = [], []
    for address in project.alerts.to:
        try:
            send_now(project, to_email=address, to_name="", subject=subject, text=text)
            reached.append(address)
        except Exception as exc:
            failures.append(failure_reason(exc))  # says the address and why
    if not reached:
        raise PipelineError("; ".join(failures))
    for failure in failures:
        log.warning("alert: %s", failure)
    return reached
