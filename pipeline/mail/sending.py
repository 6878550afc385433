"""Sending an issue to its recipients through the delivery journal.

What is promised, per issue and recipient:

- **Never twice, never silently skipped.** Before a batch is handed to the delivery its
  recipients are journalled as in flight (one transaction); afterwards each is settled (one
  transaction) as sent, failed (certainly not accepted), unknown, or released (certainly never
  delivered, so sent again). A run first settles the batches a killed run left open, asks the
  delivery what became of them (`Deliverer.resolve`), and only then sends anything else.
  Recipients that are sent, unknown or in flight are never sent to again by a run.
- **Exactly once where the delivery can tell.** `sendgrid` sends each batch as a scheduled send
  held for a while, and cancels a batch whose outcome is in doubt while it still can, then sends
  those recipients again; `outbox` writes each file atomically and finds it again. `smtp` cannot
  take a message back: a connection lost after the message's final dot leaves that one recipient
  unknown. A third-party delivery that implements only `send` gets at most once: what it does
  not report as sent or certainly failed becomes unknown.
- **Unknown is never guessed.** It is named in the run report and the exit code, listed by
  `pipeline deliveries`, and sent again only when the organiser asks (`--resend unknown`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.components import Batch, Deliverer, Delivery, Resolution
from pipeline.errors import PipelineError
from pipeline.mail.message import Mailing, Recipient
from pipeline.state import Store, journal
from pipeline.state.journal import FAILED, RELEASED, SENT, UNKNOWN, Outcome

Clock = Callable[[], datetime]


@dataclass
class SendReport:
    sent: int = 0
    already: int = 0  # sent, unknown or in flight before this run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient, why)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # what settling a killed run's batches did
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._add(outcome)

    def _add(self, outcome: Outcome) -> None:
        if outcome.status == SENT:
            self.sent += 1
        elif outcome.status == FAILED:
            self.failed.append((outcome.recipient, outcome.error))
        elif outcome.status == UNKNOWN:
            self.unknown.append((outcome.recipient, outcome.error))


def settle_open_batches(store: Store, deliverer: Deliverer, now: Clock) -> list[str]:
    """Settle every batch a killed or cut-off run left in flight; one line of report per batch."""
    lines = []
    for open_batch in journal.open_batches(store):
        interrupted = [Delivery(r, False, error="the run sending it stopped before the outcome was known",
                                certain=False) for r in open_batch.recipients]
        if open_batch.channel != deliverer.name:
            resolution = {d.recipient: Resolution.UNKNOWN for d in interrupted}
            why = f"left in flight by the {open_batch.channel} delivery, which is no longer configured"
            interrupted = [Delivery(d.recipient, False, error=why, certain=False) for d in interrupted]
        else:
            resolution = _resolve(deliverer, Batch(open_batch.id, open_batch.send_at, open_batch.edition),
                                  interrupted)
        outcomes = [_outcome(d, resolution.get(d.recipient, Resolution.UNKNOWN), last_round=False)
                    for d in interrupted]
        journal.settle_batch(store, batch=open_batch.id, edition=open_batch.edition, outcomes=outcomes, at=now())
        tally = {status: sum(o.status == status for o in outcomes) for status in (SENT, RELEASED, UNKNOWN)}
        lines.append(f"issue {open_batch.edition}: batch {open_batch.id} left in flight by an interrupted run: "
                     f"{tally[SENT]} sent, {tally[RELEASED]} to send again, {tally[UNKNOWN]} unknown")
    return lines


def send_issue(store: Store, deliverer: Deliverer, edition: int,
               groups: Iterable[tuple[Mailing, Iterable[Recipient]]], *, now: Clock,
               max_rounds: int = 3, run=None) -> SendReport:
    """Send each group's mailing to its recipients who have not had `edition`, journalling every batch.

    Recipients are read lazily, a batch at a time, so a long list never sits in memory whole, and
    up to `deliverer.parallel_batches` batches are in flight at once.
    """
    report = SendReport(resolved=settle_open_batches(store, deliverer, now))
    skip = journal.not_to_send(store, edition)
    parallel = max(1, deliverer.parallel_batches)
    try:
        with ThreadPoolExecutor(parallel) as pool:
            for mailing, recipients in groups:
                todo: Iterable[Recipient] = (r for r in recipients if not _skipped(r, skip, report))
                for round_number in range(1, max_rounds + 1):
                    def send(chunk: list[Recipient], mailing: Mailing = mailing,
                             last: bool = round_number == max_rounds) -> list[Recipient]:
                        return _send_batch(store, deliverer, edition, mailing, chunk, report, now, run,
                                           last_round=last)

                    todo = _send_round(pool, parallel, deliverer.batch_size, todo, send)
                    if not todo:
                        break
    finally:
        deliverer.close()
    return report


def _skipped(recipient: Recipient, skip: set[str], report: SendReport) -> bool:
    if recipient.email in skip:
        report.already += 1
        return True
    return False


def _send_round(pool: ThreadPoolExecutor, parallel: int, size: int, recipients: Iterable[Recipient],
                send: Callable[[list[Recipient]], list[Recipient]]) -> list[Recipient]:
    """Hand `recipients` to `send` `size` at a time, at most `parallel` batches in flight; what comes back
    (certainly not delivered) is returned, to be sent again."""
    again: list[Recipient] = []
    in_flight: deque[Future] = deque()
    for chunk in _chunks(recipients, size):
        if len(in_flight) >= parallel:
            again.extend(in_flight.popleft().result())
        in_flight.append(pool.submit(send, chunk))
    while in_flight:
        again.extend(in_flight.popleft().result())
    return again


def _chunks(items: Iterable[Recipient], size: int) -> Iterator[list[Recipient]]:
    chunk: list[Recipient] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _send_batch(store: Store, deliverer: Deliverer, edition: int, mailing: Mailing, chunk: list[Recipient],
                report: SendReport, now: Clock, run, *, last_round: bool) -> list[Recipient]:
    """Send one batch; return the recipients that were certainly not delivered and may be sent again."""
    try:
        batch = deliverer.open_batch(edition)
    except Exception as exc:  # nothing was sent: they stay without a journal row, so the next run sends them
        for r in chunk:
            report.add(Outcome(r.email, FAILED, error=f"could not start a batch: {_reason(exc)}"))
        return []
    journal.begin_batch(store, batch=batch.id, edition=edition, channel=deliverer.name,
                        recipients=[r.email for r in chunk], send_at=batch.send_at, at=now())
    try:
        results = deliverer.deliver(mailing, chunk, batch, run)
    except Exception as exc:  # a bug or a lost connection half-way: nothing is known for sure
        results = [Delivery(r.email, False, error=_reason(exc), certain=False) for r in chunk]
    reported = {d.recipient: d for d in results}
    known = [reported.get(r.email) or Delivery(r.email, False, error="the delivery reported nothing for it",
                                                certain=False) for r in chunk]
    if all(d.certain for d in known):
        resolution = {d.recipient: Resolution.SENT if d.ok else Resolution.NOT_SENT for d in known}
    else:
        resolution = _resolve(deliverer, batch, known)
    outcomes = [_outcome(d, resolution.get(d.recipient, Resolution.UNKNOWN), last_round) for d in known]
    journal.settle_batch(store, batch=batch.id, edition=edition, outcomes=outcomes, at=now())
    for outcome in outcomes:
        report.add(outcome)
    released = {o.recipient for o in outcomes if o.status == RELEASED}
    return [r for r in chunk if r.email in released]


def _resolve(deliverer: Deliverer, batch: Batch, known: list[Delivery]) -> dict[str, Resolution]:
    try:
        return deliverer.resolve(batch, known)
    except Exception:  # the delivery's own resolve failed: keep only what is certain
        return Deliverer.resolve(deliverer, batch, known)


def _outcome(delivery: Delivery, resolution: Resolution, last_round: bool) -> Outcome:
    if resolution is Resolution.SENT:
        return Outcome(delivery.recipient, SENT, reference=delivery.reference)
    if resolution is Resolution.UNKNOWN:
        return Outcome(delivery.recipient, UNKNOWN, error=delivery.error or "the outcome could not be settled")
    if delivery.certain and not delivery.ok or last_round:  # refused: the next run (or the organiser) retries
        return Outcome(delivery.recipient, FAILED, error=delivery.error or "not delivered")
    return Outcome(delivery.recipient, RELEASED)  # in doubt, then taken back: send again now


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {text}".rstrip(": ")
