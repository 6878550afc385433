"""What the mail provider reports, read back for the organiser (`pipeline status`, the alerts): when SendGrid's Event
Webhook was last heard, whether a `pipeline serve` listens for it, who left the list how since a moment, and the
spam complaints of an issue.

No table of its own: the two moments are rows of `counters` (name -> Unix seconds, `schema.ITEM_CHANGES`):

    'sendgrid webhook: heard'       the latest post of SendGrid's Event Webhook that verified (`heard`), whatever
                                    it held (delivered, open...: the webhook reaches serve)
    'sendgrid webhook: listening'   when a `pipeline serve` with a usable verification key began listening
                                    (`listening`): its first start since, kept across restarts (a serve
                                    restarted daily is the same listener); the row goes when one starts
                                    without one

Departures are read from the consent record (`subscriber_events`): each change to unsubscribed, bounced or
complained, however it came (a link, the one-click header, the webhook, the organiser).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.state.store import Store

HEARD = "sendgrid webhook: heard"
LISTENING = "sendgrid webhook: listening"
LEFT = ("bounced", "complained", "unsubscribed")

Read = Callable[[str, tuple], list[tuple]]


def heard(store: Store, at: datetime) -> None:
    """A post of SendGrid's Event Webhook verified at `at`."""
    _set(store, HEARD, at)


def listening(store: Store, at: datetime | None) -> None:
    """A `pipeline serve` started at `at` with a usable verification key (kept only if none listened already: a
    restart listens on); None: one started without one."""
    with store.transaction() as db:
        if at is None:
            db.execute("DELETE FROM counters WHERE name = ?", (LISTENING,))
        else:
            db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                        (LISTENING, int(at.timestamp())))


def last_heard(read: Read) -> datetime | None:
    return _moment(read, HEARD)


def listening_since(read: Read) -> datetime | None:
    return _moment(read, LISTENING)


def departures(read: Read, since: datetime) -> dict[str, int]:
    """How many addresses left since `since`, by how: {'bounced': n, 'complained': n, 'unsubscribed': n}."""
    found = dict.fromkeys(LEFT, 0)
    for status, count in read("SELECT status, COUNT(DISTINCT subscriber) FROM subscriber_events WHERE at >= ? AND "
                              "status IN ('bounced', 'complained', 'unsubscribed') GROUP BY status",
                              (_iso(since),)):
        found[status] = count
    return found


def complaints(read: Read, edition: int, since: datetime) -> int:
    """How many of those issue `edition` was sent to complained (reported it as spam) since `since`."""
    return read("SELECT COUNT(DISTINCT e.subscriber) FROM subscriber_events e JOIN subscribers s ON s.id = "
                "e.subscriber WHERE e.status = 'complained' AND e.at >= ? AND EXISTS (SELECT 1 FROM deliveries d "
                "WHERE d.edition = ? AND lower(d.recipient) = s.email AND d.status = 'sent')",
                (_iso(since), edition))[0][0]


def first_sent(read: Read, edition: int, channel: str) -> datetime | None:
    """When the first recipient of issue `edition` was recorded sent through the delivery `channel`; None if none."""
    at = read("SELECT MIN(updated_at) FROM deliveries WHERE edition = ? AND channel = ? AND status = 'sent'",
              (edition, channel))[0][0]
    return datetime.fromisoformat(at) if at else None


def _set(store: Store, name: str, at: datetime) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = "
                   "excluded.value", (name, int(at.timestamp())))


def _moment(read: Read, name: str) -> datetime | None:
    if not read("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'counters')", ())[0][0]:
        return None  # a database no version with the table has opened yet, read without writing
    rows = read("SELECT value FROM counters WHERE name = ?", (name,))
    return datetime.fromtimestamp(rows[0][0], UTC) if rows else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")  # as the consent record writes it
