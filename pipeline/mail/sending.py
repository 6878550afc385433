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
- **A hard bounce is said once and never sent to again.** A delivery that reports the address refused
  for good (`Delivery.bounced`: smtp's "550 5.1.1 no such user" at RCPT TO, SendGrid's 400 "Does not
  contain a valid address." for that recipient) is settled as failed,
  and when the send ends the subscriber is marked bounced through the same function as a provider's
  bounce event (`subscribers.suppress`), so no later run sends to them; the report names the address
  and the server's reply. A run killed before the end leaves the delivery failed and the subscriber
  active, and the next run's attempt is refused again, and marks them. When at least `SUSPECT_BOUNCES`
  addresses and more than half of those the issue reached (sent to, by this run or an earlier one, or
  refused for good) were refused so, none is marked: that is a mail server set up wrong, not a list
  gone bad (or a delivery sending addresses wrong), and the report says so.
- **A delivery that never returns is left behind, as a killed run leaves it.** A send stopped (at the sink's
  deadline, or by a signal) hands over no further batch and waits up to `SETTLE_SECONDS` for those in
  flight. A batch whose delivery has not returned by then (a plugin stuck in C code, or reading a socket
  with no timeout) stays in flight in the journal: the report names it, and the `pipeline` command ends
  at once when it has finished, its thread with it, so the state folder's lock is let go
  (`time_limits.give_up`); the next run settles it with `settle_open_batches`, as a killed run's.
- **Unknown is never guessed.** It is named in the run report and the exit code, listed by
  `pipeline deliveries`, and sent again only when the organiser asks (`--resend unknown`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline import watchdog
from pipeline.components import Batch, Deliverer, Delivery, Resolution
from pipeline.errors import PipelineError, exception_text
from pipeline.logs import SHOWN
from pipeline.state import Store, journal
from pipeline.state.journal import FAILED, RELEASED, SENT, UNKNOWN, Outcome
from pipeline.time_limits import Interrupt, give_up

if TYPE_CHECKING:  # the messages come built: a refresh that only settles open batches never loads MIME
    from pipeline.mail.message import Mailing, Recipient

log = logging.getLogger("pipeline.send")

SUSPECT_BOUNCES = 3  # this many hard bounces, and more than half of those the issue reached: the server, not them
SETTLE_SECONDS = 30.0  # how long a stopped send waits for its batches in flight to settle; then they are given up

Clock = Callable[[], datetime]


@dataclass
class _InHand:
    """A batch one of the pool's threads is handing to the delivery: from when the thread took it up until
    it has settled."""

    edition: int
    since: float = field(default_factory=time.monotonic)
    batch: str = ""  # its id, once it has one (just before it is journalled as in flight)
    said: str = ""  # the line saying it was left in flight


# The batches in the delivery's hands, by the thread handing each over. Each change is one dict operation,
# atomic under the GIL, so the stopped thread, which an interrupt may reach at any instruction, takes no lock.
InHand = dict[threading.Thread, _InHand]


@dataclass
class SendReport:
    sent: int = 0
    already: int = 0  # sent (or in flight) before this run
    unknown_before: int = 0  # left unknown by an earlier run: never sent again blindly
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient, why)
    bounced: list[tuple[str, str]] = field(default_factory=list)  # (recipient, the server's refusal): now bounced
    refused_for_good: list[tuple[str, str]] = field(default_factory=list)  # to be marked bounced when the send ends
    unknown: list[tuple[str, str]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # what settling a killed run's batches did
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._add(outcome)

    def merge(self, other: SendReport) -> None:
        """Add a later pass's outcomes (its `already` counts this pass's own sends, so it is left out)."""
        self.sent += other.sent
        self.failed += other.failed
        self.bounced += other.bounced
        self.unknown += other.unknown
        self.resolved += other.resolved

    def bounce(self, recipient: str, why: str) -> None:
        with self._lock:
            self.bounced.append((recipient, why))

    def refused(self, recipient: str, why: str) -> None:
        with self._lock:
            self.refused_for_good.append((recipient, why))

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
            resolution = _resolve(deliverer, Batch(open_batch.id, open_batch.send_at, open_batch.edition,
                                                   open_batch.begun),
                                  interrupted, store, now)
        outcomes = [_outcome(d, resolution.get(d.recipient, Resolution.UNKNOWN), last_round=False)
                    for d in interrupted]
        journal.settle_batch(store, batch=open_batch.id, edition=open_batch.edition, outcomes=outcomes, at=now())
        tally = {status: sum(o.status == status for o in outcomes) for status in (SENT, RELEASED, UNKNOWN)}
        lines.append(f"issue {open_batch.edition}: batch {open_batch.id} left in flight by an interrupted run: "
                     f"{tally[SENT]} sent, {tally[RELEASED]} to send again, {tally[UNKNOWN]} unknown")
    if lines:  # a batch left in flight across the upgrade to one spelling per address was settled in the old one
        journal.respell_settled(store)
    return lines


def send_issue(store: Store, deliverer: Deliverer, edition: int,
               groups: Iterable[tuple[Mailing, Iterable[Recipient]]], *, now: Clock,
               max_rounds: int = 3, run=None) -> SendReport:
    """Send each group's mailing to its recipients who have not had `edition`, journalling every batch.

    Recipients are read lazily, a batch at a time, so a long list never sits in memory whole, and
    up to `deliverer.parallel_batches` batches are in flight at once.
    """
    report = SendReport(resolved=settle_open_batches(store, deliverer, now))
    skip = journal.statuses(store, edition)  # recipient -> sent, unknown or in_flight
    parallel = max(1, deliverer.parallel_batches)
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="batch")
    in_hand: InHand = {}
    takebacks = _TakeBacks(store, deliverer, now, max_rounds)
    try:
        for mailing, recipients in groups:
            todo: Iterable[Recipient] = (r for r in recipients if not _skipped(r, skip, report))
            for round_number in range(1, max_rounds + 1):
                stop = deliverer.halted() or takebacks.stop()
                if stop:  # the provider takes no more for now, or could take back no more: the next run sends them
                    _not_sent(store, deliverer, edition, list(todo), report, now, why=stop)
                    break

                def send(chunk: list[Recipient], mailing: Mailing = mailing,
                         last: bool = round_number == max_rounds) -> tuple[list[Recipient], bool]:
                    return _send_batch(store, deliverer, edition, mailing, chunk, report, now, run, in_hand,
                                       last_round=last)

                # After a round in doubt (in this send or the run before), one small batch goes first and alone:
                # if the trouble lasts, it costs one cancellation, not one per batch in flight.
                probe = deliverer.probe_size if round_number > 1 or takebacks.troubled else 0
                todo, doubt = _send_round(pool, takebacks.in_flight(parallel), deliverer.batch_size, todo, send,
                                          probe=probe, halted=deliverer.halted)
                takebacks.after_round(doubt, probed=bool(probe))
                if not todo:
                    break
                if halted := deliverer.halted():  # no batch more: the next run sends them
                    _not_sent(store, deliverer, edition, todo, report, now, why=halted)
                    break
                if round_number == max_rounds:  # never handed over: the next run sends them
                    _not_sent(store, deliverer, edition, todo, report, now)
                    break
                time.sleep(deliverer.pause_after_doubt(round_number))
    except BaseException as stop:  # stopped (its deadline, a signal) or a bug: no batch is handed over any more
        for line in _let_settle(pool, deliverer, in_hand, shown=isinstance(stop, Interrupt)):
            stop.add_note(line)  # at a deadline, the sink's failure says it too (time_limits.call_within)
        raise
    _close(pool, deliverer)
    _mark_bounced(store, deliverer, edition, report, now)
    return report


def _close(pool: ThreadPoolExecutor, deliverer: Deliverer) -> None:
    try:
        pool.shutdown()
    finally:
        deliverer.close()


def _let_settle(pool: ThreadPoolExecutor, deliverer: Deliverer, in_hand: InHand, *, shown: bool) -> list[str]:
    """Let the batches in flight settle in the journal before the delivery is closed (closed under them,
    they would end in doubt, and maybe unknown): the closing waits for them on a thread of its own (a
    daemon: closing journals nothing, so a close that never returns keeps no process alive), and this one
    waits for it up to SETTLE_SECONDS, through the interrupts of a deadline (a signal ends the wait).

    That is the hard limit: a batch still in the delivery's hands then is given up (`_give_up`), one line
    each, returned and logged (`shown`: the sink's failure says it too). Its thread goes on, holding the
    store open (`_send_batch`), and with it the state folder's lock, so that no other run settles the
    batch under it while this process lives; and the `pipeline` command, once it has finished, ends at
    once, the thread with it, leaving the batch in flight exactly as a killed process does, for the next
    run's `settle_open_batches`. Ending the process is what makes that safe: a lock let go while the
    thread lives would let the next run settle the batch while the delivery may still send it."""
    closed = threading.Event()

    def close() -> None:
        try:
            pool.shutdown(wait=False, cancel_futures=True)
            _close(pool, deliverer)
        finally:
            closed.set()

    started = False
    until = time.monotonic() + SETTLE_SECONDS
    try:
        while not closed.is_set() and (left := until - time.monotonic()) > 0:
            try:
                if not started:  # again if an interrupt cut the start short: a second closing does no harm
                    threading.Thread(target=close, name="delivery-close", daemon=True).start()
                    started = True
                closed.wait(left)  # not Thread.join: in Python 3.11 an interrupted join takes the thread for ended
            except Interrupt:
                continue
    finally:  # the wait is over, or a second signal ended it: what the delivery still has is given up
        lines: list[str] | None = None
        while lines is None:
            try:
                lines = _give_up(in_hand, deliverer, shown)
            except Interrupt:  # the deadline's, again: giving up twice does no harm, and says each line once
                continue
    return lines


def _give_up(in_hand: InHand, deliverer: Deliverer, shown: bool) -> list[str]:
    """Give up every batch still in the delivery's hands; one line each, logged once."""
    lines = []
    for thread, held in in_hand.copy().items():
        give_up(thread)
        if not held.said:
            waited = time.monotonic() - held.since
            held.said = (f"batch {held.batch} of issue {held.edition}: the {deliverer.name} delivery did not "
                         f"return within {waited:.0f} s; it is left in flight for the next run to settle"
                         if held.batch else
                         f"a batch of issue {held.edition}: the {deliverer.name} delivery did not open it within "
                         f"{waited:.0f} s; nothing of it was journalled, so the next run sends to its recipients")
            log.error(held.said, extra=SHOWN if shown else None)
        lines.append(held.said)
    return lines


def _skipped(recipient: Recipient, skip: dict[str, str], report: SendReport) -> bool:
    status = skip.get(recipient.email)
    if status is None:
        return False
    if status == UNKNOWN:
        report.unknown_before += 1
    else:
        report.already += 1
    return True


class _TakeBacks:
    """What a send may still risk when its delivery can take back only so many batches in doubt at once
    (`Deliverer.take_back_limit`: SendGrid holds 10 cancelled batches until their send time).

    Every batch in flight can end in doubt and cost one, so there are never more in flight than half of
    those left (`in_flight`). Once a batch was in doubt (in this send, or one the provider still holds from
    an earlier run), each later round, whatever its choice of themes, starts with a probe: one small batch
    alone. A probe in doubt ends the whole send, after `max_rounds - 1` probes in a run that started well,
    after one in a run that started in trouble; and a send stops when one take-back is all that is left, so
    that no outage, however long or however often the scheduler retries, uses them up and leaves readers
    unknown. What is not sent is `failed`, for the next run."""

    def __init__(self, store: Store, deliverer: Deliverer, now: Clock, max_rounds: int):
        self.store, self.limit, self.now = store, deliverer.take_back_limit, now
        held = self._held()
        self.troubled = bool(held)  # the run before ended in doubt, and what it took back is still held
        self.probes = 1 if self.troubled else max(1, max_rounds - 1)
        self.ended = False

    def _held(self) -> int:
        return 0 if self.limit is None else journal.taken_back_held(self.store, self.now())

    def left(self) -> int | None:
        return None if self.limit is None else self.limit - self._held()

    def in_flight(self, parallel: int) -> int:
        left = self.left()
        return parallel if left is None else max(1, min(parallel, (left - 1) // 2))

    def stop(self) -> str:
        """Why the send must stop now; "" when it may go on."""
        if self.ended:
            return ("not sent: the delivery was in doubt again when tried alone (an outage); the next run sends "
                    "it")
        left = self.left()
        if left is not None and left <= 1:
            return (f"not sent: the provider holds {self.limit - left} batches taken back after doubt, and takes "
                    f"back at most {self.limit} at once; the next run sends it, once their send time has passed")
        return ""

    def after_round(self, doubt: bool, *, probed: bool) -> None:
        if not doubt:
            return
        self.troubled = True
        if probed:
            self.probes -= 1
            self.ended = self.probes <= 0


def _not_sent(store: Store, deliverer: Deliverer, edition: int, recipients: list[Recipient], report: SendReport,
              now: Clock, why: str = "") -> None:
    why = why or "not sent: the delivery was in doubt for every attempt of this run; the next run sends it"
    for start in range(0, len(recipients), 5000):
        chunk = [r.email for r in recipients[start:start + 5000]]
        journal.record_failed(store, edition=edition, channel=deliverer.name, recipients=chunk, error=why, at=now())
    for r in recipients:
        report.add(Outcome(r.email, FAILED, error=why))


def _send_round(pool: ThreadPoolExecutor, parallel: int, size: int, recipients: Iterable[Recipient],
                send: Callable[[list[Recipient]], tuple[list[Recipient], bool]], *,
                probe: int = 0, halted: Callable[[], str] = lambda: "") -> tuple[list[Recipient], bool]:
    """Hand `recipients` to `send` `size` at a time, at most `parallel` batches in flight; return those
    to send again: what came back certainly undelivered, and, once a batch was in doubt (or the delivery
    `halted`), everything not yet handed over; and whether a batch was in doubt. Stopping there is what keeps
    an outage from using up the provider's few cancellations: only the batches already in flight can end in
    doubt."""
    again: list[Recipient] = []
    in_flight: deque[Future] = deque()
    iterator = iter(recipients)
    if probe:
        first = list(itertools.islice(iterator, probe))
        # in the pool too, never on this thread: a batch cut short by an interrupt here could not settle
        released, doubt = pool.submit(send, first).result() if first else ([], False)
        if doubt:  # still in trouble: the rest waits for the next round
            return released + list(iterator), True
        again.extend(released)
    chunks = _chunks(iterator, size)
    doubt = False
    stopped = False
    for chunk in chunks:
        if len(in_flight) >= parallel:
            released, in_doubt = in_flight.popleft().result()
            again.extend(released)
            doubt = doubt or in_doubt
        if doubt or halted():
            again.extend(chunk)
            stopped = True
            break
        in_flight.append(pool.submit(send, chunk))
    while in_flight:
        released, in_doubt = in_flight.popleft().result()
        again.extend(released)
        doubt = doubt or in_doubt
    if doubt or stopped:
        again.extend(r for chunk in chunks for r in chunk)
    return again, doubt


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
                report: SendReport, now: Clock, run, in_hand: InHand, *,
                last_round: bool) -> tuple[list[Recipient], bool]:
    """Send one batch; return the recipients that were certainly not delivered and may be sent again,
    and whether any outcome was in doubt. It runs on a thread of the pool, which no deadline interrupts,
    and holds the store (so the run's lock) until the batch has settled, whatever the run does meanwhile;
    it is in `in_hand` meanwhile, where a stopped send finds it to give it up (`_let_settle`)."""
    release = store.hold()
    thread = threading.current_thread()
    in_hand[thread] = held = _InHand(edition)
    try:
        return _hand_over(store, deliverer, edition, mailing, chunk, report, now, run, last_round, held)
    finally:
        in_hand.pop(thread, None)
        release()
        watchdog.beat()  # a batch settled: the send is alive


def _hand_over(store: Store, deliverer: Deliverer, edition: int, mailing: Mailing, chunk: list[Recipient],
               report: SendReport, now: Clock, run, last_round: bool, held: _InHand) -> tuple[list[Recipient], bool]:
    try:
        batch = deliverer.open_batch(edition)
    except Exception as exc:  # nothing was sent: recorded as failed, so the next run sends them
        journal.record_failed(store, edition=edition, channel=deliverer.name, recipients=[r.email for r in chunk],
                              error=f"could not start a batch: {_reason(exc)}", at=now())
        for r in chunk:
            report.add(Outcome(r.email, FAILED, error=f"could not start a batch: {_reason(exc)}"))
        return [], False
    held.batch = batch.id  # before it is journalled: given up from here on, it is said to be left in flight
    begun = now()
    claimed = set(journal.begin_batch(store, batch=batch.id, edition=edition, channel=deliverer.name,
                                      recipients=[r.email for r in chunk], send_at=batch.send_at, at=begun,
                                      choices=mailing.choices))
    batch = replace(batch, begun=begun)
    # another group of this send may hold one already; one may have left the list, or chosen other themes, since
    chunk = [r for r in chunk if r.email in claimed]
    if not chunk:
        journal.settle_batch(store, batch=batch.id, edition=edition, outcomes=[], at=now())
        return [], False
    try:
        results = deliverer.deliver(mailing, chunk, batch, run)
    except Exception as exc:  # a bug or a lost connection half-way: nothing is known for sure
        results = [Delivery(r.email, False, error=_reason(exc), certain=False) for r in chunk]
    known = outcomes_of(chunk, results)
    doubt = not all(d.certain for d in known)
    if not doubt:
        resolution = {d.recipient: Resolution.SENT if d.ok else Resolution.NOT_SENT for d in known}
    else:
        resolution = _resolve(deliverer, batch, known, store, now)
    outcomes = [_outcome(d, resolution.get(d.recipient, Resolution.UNKNOWN), last_round) for d in known]
    bounced = {d.recipient: d.error for d in known if d.bounced and d.certain and not d.ok}
    outcomes = [o._replace(error=f"bounced: {o.error}")
                if o.status == FAILED and o.recipient in bounced else o for o in outcomes]
    journal.settle_batch(store, batch=batch.id, edition=edition, outcomes=outcomes, at=now())
    for outcome in outcomes:
        if outcome.status == FAILED and outcome.recipient in bounced:
            report.refused(outcome.recipient, bounced[outcome.recipient])
        else:
            report.add(outcome)
    settled = Counter(o.status for o in outcomes)
    log.info("issue %d, batch %s via %s: %s", edition, batch.id, deliverer.name,
             ", ".join(f"{n} {status}" for status, n in sorted(settled.items())))
    released = {o.recipient for o in outcomes if o.status == RELEASED}
    return [r for r in chunk if r.email in released], doubt


def outcomes_of(chunk: list[Recipient], results: Iterable[Delivery]) -> list[Delivery]:
    """Each recipient's outcome, in `chunk`'s order and under the address it was handed over in, which is what the
    journal (or `[alerts] to`) holds: found by that address, or else by its one spelling (a delivery may report
    `cy@bücher.de` as `cy@xn--bcher-kva.de`, or in capitals); one it reported nothing for is in doubt."""
    reported = {d.recipient: d for d in results}
    missing = [r.email for r in chunk if r.email not in reported]
    if missing:
        reported.update(_by_spelling(missing, list(reported.values())))
    return [reported.get(r.email) or Delivery(r.email, False, error="the delivery reported nothing for it",
                                              certain=False) for r in chunk]


def _by_spelling(addresses: list[str], reported: list[Delivery]) -> dict[str, Delivery]:
    """The outcomes in `reported` of `addresses`, found by their one spelling, each under its address as given."""
    from pipeline.subscribers.addresses import canonical  # only when a delivery spells an address its own way

    spelt = {key: d for d in reported if isinstance(d.recipient, str) and (key := canonical(d.recipient)) is not None}
    found = {address: spelt.get(canonical(address) or "") for address in addresses}
    return {address: replace(d, recipient=address) for address, d in found.items() if d is not None}


def _mark_bounced(store: Store, deliverer: Deliverer, edition: int, report: SendReport, now: Clock) -> None:
    """Mark each address the send found refused for good as bounced, as a provider's bounce event does;
    unless so many were that the server's setup is the likelier cause (a relay that takes itself for the
    final destination answers "550 5.1.1 user unknown" for everyone): then none is, and each is a failure
    the next run tries again. The addresses reached are those the issue was sent to, by this run or an
    earlier one (a run killed half-way, a retry of a few), and those refused: not a failure that never
    reached the server (a lost connection, a round given up), which would hide a server refusing them all."""
    from pipeline.state import subscribers  # only when something bounced

    refused, report.refused_for_good = report.refused_for_good, []
    if not refused:
        return
    reached = journal.counts(store, edition).get(edition, Counter())[SENT] + len(refused)
    if len(refused) >= SUSPECT_BOUNCES and 2 * len(refused) > reached:
        doubt = (f"not marked bounced: {len(refused)} of the {reached} addresses this issue reached were refused "
                 f"for good, which says more about the mail server's or the delivery's setup than about the "
                 f"addresses; check it, and the next run tries them again")
        log.warning("%s delivery: %s", deliverer.name, doubt)
        report.failed += [(recipient, f"{why} ({doubt})") for recipient, why in refused]
        return
    # One transaction (and one emptying of the -wal of the names they blank: `Store.scrub_after`) for them all
    subscribers.suppress_all(store, [(recipient, "bounced", f"{deliverer.name} delivery: bounce", why, None)
                                     for recipient, why in refused], at=now())
    for recipient, why in refused:
        log.warning("%s bounced via %s: %s; marked bounced", recipient, deliverer.name, why)
        report.bounce(recipient, why)


def _resolve(deliverer: Deliverer, batch: Batch, known: list[Delivery], store: Store,
             now: Clock) -> dict[str, Resolution]:
    """The delivery's `resolve`; then a batch it may have taken back is counted until its send time, by this
    machine's clock (`Deliverer.local_time`: the delivery has just talked to the provider, so it knows how far their
    clocks are apart)."""
    try:
        return deliverer.resolve(batch, known)
    except Exception:  # the delivery's own resolve failed: keep only what is certain
        return Deliverer.resolve(deliverer, batch, known)
    finally:
        if deliverer.take_back_limit is not None and batch.send_at is not None:
            until = deliverer.local_time(batch.send_at)
            if until > now():
                journal.record_taken_back(store, batch=batch.id, send_at=until)


def _outcome(delivery: Delivery, resolution: Resolution, last_round: bool) -> Outcome:
    if resolution is Resolution.SENT:
        return Outcome(delivery.recipient, SENT, reference=delivery.reference)
    if resolution is Resolution.UNKNOWN:
        return Outcome(delivery.recipient, UNKNOWN, error=delivery.error or "the outcome could not be settled")
    if delivery.certain and not delivery.ok or last_round:  # refused: the next run (or the organiser) retries
        return Outcome(delivery.recipient, FAILED, error=delivery.error or "not delivered")
    return Outcome(delivery.recipient, RELEASED)  # in doubt, then taken back: send again now


def _reason(exc: Exception) -> str:
    text = exception_text(exc).strip()
    text = text.splitlines()[0] if text else ""
    return text if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {text}".rstrip(": ")
