"""The delivery journal: every change of a delivery, one transaction each.

A delivery is one issue to one recipient. Its states, and every way between them:

    (none) --begin_batch--> in_flight          before anything is handed to the provider (not to one who has
                                               left the list, or chosen other themes, since the send read it)
    (none) --record_failed--> failed           no batch could even be started
    in_flight --settle_batch--> sent            the provider accepted it (the issue is then `mailed` for good,
                                               whatever `forget` erases later; unknown too)
    in_flight --settle_batch--> failed          certainly not accepted (retried by the next run)
    in_flight --settle_batch--> (none)          certainly never delivered (a cancelled batch): sent again
    in_flight --settle_batch--> unknown         may or may not be delivered: never retried blindly
    failed --begin_batch--> in_flight           a retry
    unknown | failed --release_for_resend--> (none)   only when the organiser asks, and only of an active subscriber

A batch is `open` from `begin_batch` until `settle_batch` closes it; a run that finds an open
batch (a killed run's) settles it before it sends anything else. One left open across the upgrade
that gave every address one spelling is settled in the spelling it was handed over in, and its
recipients then take theirs (`respell_settled`; where both spellings have a row, the surer stays).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from pipeline.state.store import Store

SENT, FAILED, UNKNOWN, IN_FLIGHT = "sent", "failed", "unknown", "in_flight"
RELEASED = "released"  # settle_batch's word for "back to no row": certainly not delivered
FINAL = (SENT, UNKNOWN, IN_FLIGHT)  # a recipient in one of these is never sent the issue again by a run


@dataclass(frozen=True)
class OpenBatch:
    id: str
    edition: int
    channel: str
    send_at: datetime | None
    recipients: list[str]
    begun: datetime | None = None  # when it was journalled


class Outcome(NamedTuple):
    recipient: str
    status: str  # SENT, FAILED, UNKNOWN or RELEASED
    reference: str = ""
    error: str = ""


def begin_batch(store: Store, *, batch: str, edition: int, channel: str, recipients: list[str],
                send_at: datetime | None, at: datetime, choices: Iterable[str] = ()) -> list[str]:
    """Record `recipients` as in flight in `batch`, before the batch is handed to the provider; return
    those it claimed (a recipient already sent, unknown or in another batch is left alone). So is one the list
    holds as no longer active (they left, or were marked bounced, after the send read them), and, with `choices`
    (the choices of themes, as `subscribers.themes` stores them, that the batch's version of the issue is for),
    one who has chosen another since: neither gets a row (the send finds the second again, with their new choice,
    `active_without_delivery`). Durable: a record a power cut took back would let the next run send the batch a
    second time."""
    stamp = _iso(at)
    chosen = list(choices)
    # Each recipient looked up by the list's unique address: a batch of one (smtp) reads one row of the list
    moved = " OR s.themes NOT IN (SELECT value FROM json_each(?))" if chosen else ""
    with store.transaction(durable=True) as db:
        db.execute("INSERT INTO batches (id, edition, channel, state, send_at, created_at) "
                   "VALUES (?, ?, ?, 'open', ?, ?)",
                   (batch, edition, channel, _iso(send_at) if send_at else None, stamp))
        db.execute(  # one statement for the whole batch: json_each walks the list inside SQLite
            f"""INSERT INTO deliveries (edition, recipient, channel, status, batch, updated_at)
               SELECT ?, r.value, ?, 'in_flight', ?, ? FROM json_each(?) r WHERE NOT EXISTS (SELECT 1 FROM
                 subscribers s WHERE s.email = r.value AND (s.status != 'active'{moved}))
               ON CONFLICT (edition, recipient) DO UPDATE SET channel = excluded.channel, status = 'in_flight',
                 batch = excluded.batch, reference = '', error = '', updated_at = excluded.updated_at
               WHERE deliveries.status = 'failed'""",
            (edition, channel, batch, stamp, json.dumps(recipients), *([json.dumps(chosen)] if chosen else ())))
        return [r for (r,) in db.execute("SELECT recipient FROM deliveries WHERE batch = ? AND status = 'in_flight'",
                                         (batch,))]


def record_failed(store: Store, *, edition: int, channel: str, recipients: list[str], error: str,
                  at: datetime) -> None:
    """Record `recipients` as failed before anything was handed over (no batch could be started)."""
    with store.transaction() as db:
        db.execute("""INSERT INTO deliveries (edition, recipient, channel, status, error, updated_at)
                      SELECT ?, value, ?, 'failed', ?, ? FROM json_each(?) WHERE true
                      ON CONFLICT (edition, recipient) DO UPDATE SET error = excluded.error,
                        updated_at = excluded.updated_at WHERE deliveries.status = 'failed'""",
                   (edition, channel, error, _iso(at), json.dumps(recipients)))


def settle_batch(store: Store, *, batch: str, edition: int, outcomes: Iterable[Outcome], at: datetime) -> None:
    """Record each in-flight recipient's outcome and close the batch."""
    alike: dict[tuple[str, str, str], list[str]] = {}  # a request's recipients share one outcome
    for o in outcomes:
        alike.setdefault((o.status, o.reference, o.error), []).append(o.recipient)
    stamp = _iso(at)
    with store.transaction() as db:
        for (status, reference, error), recipients in alike.items():
            chosen = "SELECT value FROM json_each(?)"
            if status == RELEASED:
                db.execute(f"DELETE FROM deliveries WHERE edition = ? AND batch = ? AND status = 'in_flight' "
                           f"AND recipient IN ({chosen})", (edition, batch, json.dumps(recipients)))
            elif status in (SENT, FAILED, UNKNOWN):
                db.execute(f"""UPDATE deliveries SET status = ?, reference = ?, error = ?, updated_at = ?
                               WHERE edition = ? AND batch = ? AND status = 'in_flight' AND recipient IN ({chosen})""",
                           (status, reference, error, stamp, edition, batch, json.dumps(recipients)))
        left = db.execute("SELECT COUNT(*) FROM deliveries WHERE batch = ? AND status = 'in_flight'",
                          (batch,)).fetchone()[0]
        if left:  # an outcome was missing: never pretend it was sent
            db.execute("""UPDATE deliveries SET status = 'unknown', error = 'no outcome was reported', updated_at = ?
                          WHERE batch = ? AND status = 'in_flight'""", (stamp, batch))
        # the issue may be in an inbox now: said apart from whose, so that `forget` leaves it (`mailed_editions`)
        db.execute("INSERT OR IGNORE INTO mailed (edition, at) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM deliveries "
                   "WHERE batch = ? AND status IN ('sent', 'unknown'))", (edition, stamp, batch))
        db.execute("UPDATE batches SET state = 'closed' WHERE id = ?", (batch,))


def record_taken_back(store: Store, *, batch: str, send_at: datetime) -> None:
    """The delivery was asked to take `batch` back (it ended in doubt); the provider holds it until `send_at` (by
    this machine's clock)."""
    with store.transaction() as db:
        db.execute("INSERT OR IGNORE INTO taken_back (batch, send_at) VALUES (?, ?)", (batch, _iso(send_at)))


def taken_back_held(store: Store, now: datetime) -> int:
    """How many batches taken back the provider still holds at `now` (their send time is ahead)."""
    return store._rows("SELECT COUNT(*) FROM taken_back WHERE send_at > ?", (_iso(now),))[0][0]


def respell_settled(store: Store) -> None:
    """Bring recipients settled in a spelling from before addresses took one to theirs (`respelling`): those a
    killed run left in flight across the upgrade, settled by the spelling they were handed over in."""
    from pipeline.state.respelling import respell_deliveries

    with store.transaction() as db:
        respell_deliveries(db)


def release_for_resend(store: Store, *, edition: int, statuses: Iterable[str], at: datetime,
                       only: Iterable[str] | None = None) -> int:
    """The organiser asks to send again to those in `statuses` (unknown, failed); returns how many. Only those a
    send reaches, the active subscribers (`resendable`), and with `only`, those of these alone (`mail.reach`: whose
    themes select something in the issue): the record of anyone else (who left since, or asked to come back and has
    not confirmed yet: `held_back` names them) stays as it is."""
    wanted = [s for s in statuses if s in (UNKNOWN, FAILED)]
    if not wanted:
        return 0
    marks = ",".join("?" * len(wanted))
    chosen = " AND recipient IN (SELECT value FROM json_each(?))" if only is not None else ""
    with store.transaction() as db:
        return db.execute(f"DELETE FROM deliveries WHERE edition = ? AND status IN ({marks}) AND {_ACTIVE}{chosen}",
                          (edition, *wanted, *((json.dumps(list(only)),) if only is not None else ()))).rowcount


# The one rule of whom a send can still reach: the active subscribers. Who has left since (unsubscribed, bounced,
# complained), or asked on the form to come back and not confirmed yet (pending), is sent nothing, so their failed or
# unknown delivery waits for nothing: not released, not outstanding.
_ACTIVE = "lower(recipient) IN (SELECT email FROM subscribers WHERE status = 'active')"


def resendable(store: Store, edition: int, statuses: Iterable[str]) -> list[tuple[str, str, frozenset[str]]]:
    """(recipient, delivery status, the themes they follow as stored) of `edition`'s deliveries in `statuses` to
    those a send reaches (the active subscribers): what `release_for_resend` releases, and what the organisers are
    told is outstanding (`mail.reach` leaves out, of these, those whose themes now select nothing in the issue)."""
    wanted = list(statuses)
    marks = ",".join("?" * len(wanted))
    return [(recipient, status, frozenset(json.loads(themes))) for recipient, status, themes in store._rows(
        f"SELECT d.recipient, d.status, s.themes FROM deliveries d JOIN subscribers s ON s.email = lower(d.recipient) "
        f"WHERE d.edition = ? AND d.status IN ({marks}) AND {_ACTIVE.replace('recipient', 'd.recipient')} "
        f"ORDER BY d.status, d.recipient", (edition, *wanted))]


def held_back(store: Store, edition: int, statuses: Iterable[str]) -> list[tuple[str, str, str]]:
    """(recipient, delivery status, their status on the list, "" when not on it) of `edition`'s deliveries in
    `statuses` that `release_for_resend` leaves as they are: to someone no send reaches (not active)."""
    wanted = list(statuses)
    marks = ",".join("?" * len(wanted))
    return store._rows(f"SELECT d.recipient, d.status, COALESCE(s.status, '') FROM deliveries d LEFT JOIN subscribers "
                       f"s ON s.email = lower(d.recipient) WHERE d.edition = ? AND d.status IN ({marks}) AND NOT "
                       f"{_ACTIVE.replace('recipient', 'd.recipient')} ORDER BY d.recipient", (edition, *wanted))


# -- reading -----------------------------------------------------------------------------------

def open_batches(store: Store) -> list[OpenBatch]:
    """Batches a run began and did not settle (it was killed, or lost its connection), oldest first."""
    found = []
    for batch, edition, channel, send_at, begun in store._rows(
            "SELECT id, edition, channel, send_at, created_at FROM batches WHERE state = 'open' "
            "ORDER BY created_at, id"):
        recipients = [r for (r,) in store._rows(
            "SELECT recipient FROM deliveries WHERE batch = ? AND status = 'in_flight' ORDER BY recipient", (batch,))]
        found.append(OpenBatch(batch, edition, channel, datetime.fromisoformat(send_at) if send_at else None,
                               recipients, datetime.fromisoformat(begun)))
    return found


def statuses(store: Store, edition: int) -> dict[str, str]:
    """{recipient: status} of those a run must not send `edition` to: sent, unknown or in flight."""
    return dict(store._rows("SELECT recipient, status FROM deliveries WHERE edition = ? "
                            "AND status IN ('sent', 'unknown', 'in_flight')", (edition,)))


def active_without_delivery(store: Store, edition: int, *, joined_by: datetime | None = None,
                            ) -> list[tuple[int, str, str, frozenset[str]]]:
    """(id, email, name, themes) of active subscribers with no journal row for `edition`: those a send
    passed over because they changed their choice of themes while it ran, or joined while it ran with an id below
    the one it had reached (ids are drawn at random, `subscribers.ID_RANGE`), or that a run cut short never reached.
    With `joined_by`, only those active by then (their latest activation, in the consent record)."""
    from pipeline.state.subscribers import ACTIVE_BY

    joined = f" AND {ACTIVE_BY.format(s='s')}" if joined_by is not None else ""
    rows = store._rows("SELECT s.id, s.email, s.name, s.themes FROM subscribers s WHERE s.status = 'active' "
                       "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.edition = ? AND d.recipient = s.email)"
                       f"{joined} ORDER BY s.id", (edition, *((_iso(joined_by),) if joined_by is not None else ())))
    return [(sid, email, name, frozenset(json.loads(themes))) for sid, email, name, themes in rows]


def deliveries_to(store: Store, recipient: str) -> list[tuple[int, str, str, str, datetime]]:
    """(issue, status, reference, error, when) of every delivery to `recipient`, by issue."""
    return [(edition, status, reference, error, datetime.fromisoformat(at)) for edition, status, reference, error, at
            in store._rows("SELECT edition, status, reference, error, updated_at FROM deliveries WHERE recipient = ? "
                           "ORDER BY edition", (recipient,))]


def delivered_before(store: Store) -> bool:
    """Whether any issue was ever sent to anyone (its links are in inboxes): `mailed` too, which keeps an issue sent
    only to people `forget` erased since."""
    return bool(store._rows("SELECT 1 FROM mailed UNION ALL SELECT 1 FROM deliveries WHERE status = 'sent' LIMIT 1"))


def send_began(store: Store, edition: int) -> datetime | None:
    """When the first batch of `edition` was begun (None: none was)."""
    (first,), = store._rows("SELECT MIN(created_at) FROM batches WHERE edition = ?", (edition,))
    return datetime.fromisoformat(first) if first else None


def mailed_editions(store: Store) -> set[int]:
    """The issues that may be in someone's inbox: sent, unknown or in flight to at least one recipient, then or since
    (`mailed`, which `subscribers.forget` leaves: the mail of a person forgotten is still in their inbox)."""
    return {n for (n,) in store._rows("SELECT edition FROM mailed UNION SELECT edition FROM deliveries WHERE status "
                                      "IN ('sent', 'unknown', 'in_flight')")}


def delivered_to(store: Store, edition: int) -> set[str]:
    return {r for (r,) in store._rows(
        "SELECT recipient FROM deliveries WHERE edition = ? AND status = 'sent'", (edition,))}


def counts(store: Store, edition: int | None = None) -> dict[int, Counter]:
    """{edition: Counter(status -> recipients)}, every edition or one."""
    sql = "SELECT edition, status, COUNT(*) FROM deliveries"
    params: tuple = ()
    if edition is not None:
        sql, params = sql + " WHERE edition = ?", (edition,)
    found: dict[int, Counter] = {}
    for number, status, count in store._rows(sql + " GROUP BY edition, status", params):
        found.setdefault(number, Counter())[status] = count
    return found


def listed(store: Store, edition: int, statuses: Iterable[str]) -> list[tuple[str, str, str]]:
    """(recipient, status, error) for the recipients of `edition` in `statuses`."""
    wanted = list(statuses)
    marks = ",".join("?" * len(wanted))
    return store._rows(f"SELECT recipient, status, error FROM deliveries WHERE edition = ? AND status IN ({marks}) "
                       f"ORDER BY status, recipient", (edition, *wanted))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
