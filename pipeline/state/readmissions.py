"""Who came back to the list and must be taken off the delivery's own suppression lists first.

A provider keeps lists of its own: SendGrid drops, without a word, mail to an address on its bounce list, its global
unsubscribes or its invalid emails. Someone who left that way (unsubscribed, bounced) and confirmed through the form
again would get nothing. `subscribers.confirm` records each such return here, in its own transaction (`queue`); before a
send, the delivery is asked to take each of them off its lists (`Deliverer.readmit`), and each answer is one
transaction:

    (none)  --queue-->          waiting     a confirmation of someone who had unsubscribed or bounced
    waiting --done-->           (none)      the delivery has taken them off (or had nothing to take off)
    waiting --failed-->         waiting     tries + 1, with the reason: said by the run, tried again by the next
    waiting --(forget)-->       (none)      the person erased (`subscribers._erase`)

Only active subscribers are asked about (`due`): one who left again waits until they come back. The table is
`readmissions` (`schema.READMISSIONS`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import NamedTuple

from pipeline.state.store import Store


class Waiting(NamedTuple):
    subscriber: int
    email: str
    tries: int
    error: str


def queue(db: sqlite3.Connection, subscriber_id: int, at: datetime) -> None:
    """Inside `subscribers.confirm`'s transaction: when the subscriber ever unsubscribed or bounced (the provider may
    hold them on a list of its own), they wait to be taken off it."""
    left = db.execute("SELECT 1 FROM subscriber_events WHERE subscriber = ? AND status IN ('unsubscribed', "
                      "'bounced') LIMIT 1", (subscriber_id,)).fetchone()
    if left:
        db.execute("INSERT INTO readmissions (subscriber, asked_at) VALUES (?, ?) ON CONFLICT (subscriber) DO UPDATE "
                   "SET asked_at = excluded.asked_at", (subscriber_id, _iso(at)))


def due(store: Store) -> list[Waiting]:
    """The active subscribers waiting to be taken off the delivery's lists, first come first."""
    return [Waiting(*row) for row in store._rows(
        "SELECT r.subscriber, s.email, r.tries, r.error FROM readmissions r JOIN subscribers s ON s.id = r.subscriber "
        "WHERE s.status = 'active' ORDER BY r.asked_at, r.subscriber")]


def waiting(store: Store) -> set[str]:
    """The addresses (lower case) of everyone whose return still waits to be taken off the delivery's lists: one
    who confirmed after `due` was read (while a send ran) too. A send hands none of them over."""
    return {email.lower() for (email,) in store._rows(
        "SELECT s.email FROM readmissions r JOIN subscribers s ON s.id = r.subscriber")}


def done(store: Store, subscriber_id: int) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM readmissions WHERE subscriber = ?", (subscriber_id,))


def failed(store: Store, subscriber_id: int, error: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE readmissions SET tries = tries + 1, error = ? WHERE subscriber = ?", (error, subscriber_id))


def forget(db: sqlite3.Connection, subscriber_id: int) -> None:
    """Inside an erasure's transaction: nothing is kept of them here."""
    db.execute("DELETE FROM readmissions WHERE subscriber = ?", (subscriber_id,))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
