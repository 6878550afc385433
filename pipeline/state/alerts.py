"""Alerts to the organisers: one row per problem, so each problem is told once, not once per run.

A problem's row changes at most three times, one transaction each:

    (none) --open_alert--> open                 a run finds the problem for the first time
    open --mark_told--> open, told to some      an email about it reached these addresses (the rest: next run)
    open --mark_told--> open, told              ... and now every address (until then, each run tries again)
    open --retell--> open, told to none         a run finds more of it (a source skipping a record it did not):
                                                told again, all of it, as if new
    open --resolve_alerts--> resolved           a later run no longer finds it

A resolved problem that comes back is a new problem: `open_alert` opens its row again, untold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.redact import redact_text
from pipeline.state.store import Store


@dataclass(frozen=True)
class Alert:
    key: str
    subject: str
    detail: str
    opened_at: datetime
    notified_at: datetime | None  # when the last address to be told was told
    told_to: frozenset[str] = frozenset()


def open_alert(store: Store, *, key: str, subject: str, detail: str, at: datetime) -> None:
    """Record problem `key` as open; an open one keeps its row (and whether it was told), a resolved one reopens.
    A credential in an address the problem names is masked (`pipeline/redact.py`)."""
    subject, detail = redact_text(subject), redact_text(detail)
    with store.transaction() as db:
        db.execute("""INSERT INTO alerts (key, subject, detail, opened_at) VALUES (?, ?, ?, ?)
                      ON CONFLICT (key) DO UPDATE SET subject = excluded.subject, detail = excluded.detail,
                          opened_at = excluded.opened_at, told_to = '[]', notified_at = NULL, resolved_at = NULL
                      WHERE alerts.resolved_at IS NOT NULL""", (key, subject, detail, _iso(at)))


def mark_told(store: Store, told: dict[str, Iterable[str]], everyone: Iterable[str], *, at: datetime) -> None:
    """`told`: {key: the addresses just reached}; an alert every one of `everyone` has had is told."""
    everyone = set(everyone)
    with store.transaction() as db:
        for key, addresses in told.items():
            row = db.execute("SELECT told_to FROM alerts WHERE key = ? AND resolved_at IS NULL", (key,)).fetchone()
            if row is None:
                continue
            reached = sorted(set(json.loads(row[0])) | set(addresses))
            db.execute("UPDATE alerts SET told_to = ?, notified_at = ? WHERE key = ?",
                       (json.dumps(reached), _iso(at) if everyone <= set(reached) else None, key))


def retell(store: Store, *, key: str, subject: str, detail: str, at: datetime) -> None:
    """Problem `key`, open, has grown: its subject and detail replaced, and told to nobody yet, so every address hears
    of it again (masked as by `open_alert`)."""
    subject, detail = redact_text(subject), redact_text(detail)
    with store.transaction() as db:
        db.execute("UPDATE alerts SET subject = ?, detail = ?, told_to = '[]', notified_at = NULL WHERE key = ? AND "
                   "resolved_at IS NULL", (subject, detail, key))


def resolve_alerts(store: Store, keys: Iterable[str], *, at: datetime) -> None:
    with store.transaction() as db:
        db.executemany("UPDATE alerts SET resolved_at = ? WHERE key = ? AND resolved_at IS NULL",
                       [(_iso(at), key) for key in keys])


def open_alerts(store: Store) -> list[Alert]:
    """Every open problem, oldest first."""
    return [Alert(key, subject, detail, datetime.fromisoformat(opened), _moment(told), frozenset(json.loads(to)))
            for key, subject, detail, opened, told, to in store._rows(
                "SELECT key, subject, detail, opened_at, notified_at, told_to FROM alerts WHERE resolved_at IS NULL "
                "ORDER BY opened_at, key")]


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
