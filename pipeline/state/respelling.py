"""Schema step 14: every stored address in its one spelling (`addresses.canonical`), the rows of one mailbox made one.

Addresses were kept as they were given (trimmed, lower case), so ann@exam\\u00adple.org (a soft hyphen),
ann@\\uff45xample.org (a full-width e) and ann@example.org, which all reach one mailbox, could be three
subscribers: the mailbox got each issue twice, or stayed active under one spelling after it unsubscribed under
another. Now:

- a row whose spelling is free takes it in place: its id (so every link mailed to it), requests and record are
  kept, and its record says what it was;
- rows of one mailbox become one (`_merge`), the row already in that spelling, else the oldest, kept. The others'
  ids become aliases of it (`subscriber_aliases`), through which `state.subscribers` reads every id a link names:
  an unsubscribe, one-click, preferences or confirm link mailed to a merged-away row acts on the one kept. Their
  records join its record, each change marked with the spelling it was made under; its status is the most
  restrictive of theirs (`RESTRICTIVE`); its themes those of the rows in that status together (`_themes`); its
  name its own, else the first other's; its requests theirs too while it stays pending, else they end (as every
  change out of pending ends them);
- the delivery journal's recipients are re-spelled too, so an issue a mailbox had under its old spelling is not
  sent to it again: where both spellings have a row for one issue, the one that says most surely that the issue
  went (sent, then unknown, then failed) is kept. A row still in flight (a batch a killed run left open) keeps
  the spelling it was handed over in until its batch is settled by it (the outbox looks for the file written
  under that name), and is re-spelled then (`respell_deliveries`, from `mail.sending.settle_open_batches`);
- a domain IDNA refuses (a direction mark, a control character) is left as it was: no mail reaches it, no new
  row can be spelt so (it is no valid address), and a lookup in that spelling still finds it.

It runs inside the step's transaction, and a second run changes nothing: every row is in its spelling already.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.state.subscribers import UPGRADE
from pipeline.subscribers.addresses import canonical

# Most restrictive first. A complaint is the strongest word (the form cannot bring such an address back); an
# unsubscribe is the owner's own wish. Either means mail to the mailbox must stop, so each beats active: sending on
# under another spelling is the harm this step undoes (an owner who did come back can ask again through the form).
# A bounce is what a server said about one spelling, not about the owner's wishes, and may be that spelling's own
# fault (a server refusing a full-width letter sent as it was typed): an active spelling beats it, since a mailbox
# that is really gone bounces the next issue too and is suppressed then, while a wrong bounce would stop the mail
# for good. Active beats pending: the mailbox is on the list, and the form gives an active address no new request.
RESTRICTIVE = ("complained", "unsubscribed", "active", "bounced", "pending")
# Values that `canonical` may change: anything outside printable ASCII, an IDNA label, capitals or spaces.
_ODD = "{0} GLOB '*[^ -~]*' OR {0} GLOB '*xn--*' OR {0} != lower(trim({0}))"
# How surely a journal row says the issue went to its recipient.
_SURELY_WENT = "CASE status WHEN 'sent' THEN 2 WHEN 'unknown' THEN 1 ELSE 0 END"


@dataclass(frozen=True)
class _Row:
    id: int
    email: str
    name: str
    status: str
    themes: tuple[str, ...]  # empty: every theme
    requested_at: str | None
    created_at: str


def respell(db: sqlite3.Connection, at: datetime | None = None) -> None:
    """Bring every stored address to its one spelling, in the transaction `db` is in."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    if _has(db, "subscribers"):
        groups: dict[str, list[str]] = {}
        for (email,) in db.execute(f"SELECT email FROM subscribers WHERE {_ODD.format('email')}").fetchall():
            spelt = _spelt(email)
            if spelt is not None:
                groups.setdefault(spelt, []).append(email)
        for spelt, emails in groups.items():  # with the row in that spelling already, if there is one
            _one_row(db, spelt, [row for email in (spelt, *emails) if (row := _read(db, email))], stamp)
    if _has(db, "deliveries"):
        respell_deliveries(db)


def _spelt(email: str) -> str | None:
    """The spelling `email` takes, or None to leave it: it has it already, or IDNA refuses its domain. (A spelling
    that `canonical` would change again is never taken: a row of another mailbox might hold it.)"""
    spelt = canonical(email)
    return spelt if spelt is not None and spelt != email and canonical(spelt) == spelt else None


def _one_row(db: sqlite3.Connection, spelt: str, rows: list[_Row], at: str) -> None:
    kept = next((row for row in rows if row.email == spelt), min(rows, key=lambda row: row.id))
    others = sorted((row for row in rows if row is not kept), key=lambda row: row.id)
    status = min((row.status for row in rows), key=RESTRICTIVE.index)
    for other in others:
        _merge(db, other, kept, at)
    requested = None  # pending: every row is, and the latest request counts its 7 days
    if status == "pending":
        requested = max((row.requested_at for row in rows if row.requested_at), default=None)
    else:
        db.execute("DELETE FROM subscription_requests WHERE subscriber = ?", (kept.id,))
    db.execute("UPDATE subscribers SET email = ?, name = ?, status = ?, themes = ?, requested_at = ?, created_at = ?, "
               "updated_at = ? WHERE id = ?",
               (spelt, kept.name or next((row.name for row in others if row.name), ""), status,
                json.dumps(_themes([row for row in rows if row.status == status]), ensure_ascii=False), requested,
                min(row.created_at for row in rows), at, kept.id))
    said = [f"was {kept.email!r}"] if kept.email != spelt else []
    said += [f"subscriber {row.id}, {row.email!r} ({row.status}), merged in" for row in others]
    db.execute("INSERT INTO subscriber_events (subscriber, at, status, how, detail) VALUES (?, ?, ?, ?, ?)",
               (kept.id, at, status, UPGRADE, f"{'; '.join(said)}: the same mailbox"))


def _merge(db: sqlite3.Connection, other: _Row, kept: _Row, at: str) -> None:
    """`other` becomes an alias of `kept`: its record, requests and aliases are kept's, its row goes."""
    mark = f"as {other.email!r}"
    moved = [ident for (ident,) in db.execute("SELECT id FROM subscriber_events WHERE subscriber = ?", (other.id,))]
    db.execute("UPDATE subscriber_events SET subscriber = ?, detail = CASE WHEN detail = '' THEN ? "
               "ELSE detail || '; ' || ? END WHERE subscriber = ?", (kept.id, mark, mark, other.id))
    db.execute("UPDATE subscription_requests SET subscriber = ? WHERE subscriber = ?", (kept.id, other.id))
    db.execute("UPDATE subscriber_aliases SET subscriber = ? WHERE subscriber = ?", (kept.id, other.id))
    db.execute("INSERT INTO subscriber_aliases (id, subscriber, email, merged_at, events) VALUES (?, ?, ?, ?, ?)",
               (other.id, kept.id, other.email, at, json.dumps(moved)))
    db.execute("DELETE FROM subscribers WHERE id = ?", (other.id,))


def _themes(rows: list[_Row]) -> list[str]:
    """The themes of the rows whose status the merged row takes, together: while both spellings were active the
    mailbox had every one of them, and no choice of one outranks the other's; every theme if either chose none.
    (A pending row's themes are what it had before; the themes it asked for stay with its request.)"""
    if any(not row.themes for row in rows):
        return []
    return sorted({theme for row in rows for theme in row.themes})


def respell_deliveries(db: sqlite3.Connection) -> None:
    """Bring the journal's settled recipients to their one spelling, in the transaction `db` is in. A row in flight,
    in either spelling, is left for its batch's settlement, which asks the delivery by the spelling it was handed."""
    spellings = {}
    for (recipient,) in db.execute(f"SELECT DISTINCT recipient FROM deliveries WHERE ({_ODD.format('recipient')}) "
                                   f"AND status != 'in_flight'"):
        spelt = _spelt(recipient)
        if spelt is not None:
            spellings[recipient] = spelt
    found = db.execute(f"SELECT edition, recipient, {_SURELY_WENT} FROM deliveries WHERE recipient IN "
                       f"(SELECT value FROM json_each(?)) AND status != 'in_flight' ORDER BY edition, recipient",
                       (json.dumps(list(spellings)),))
    for edition, old, surely in found.fetchall():
        new = spellings[old]
        there = db.execute(f"SELECT {_SURELY_WENT}, status FROM deliveries WHERE edition = ? AND recipient = ?",
                           (edition, new)).fetchone()
        if there is not None and there[1] == "in_flight":  # both, once that batch has settled
            continue
        if there is not None and there[0] >= surely:
            db.execute("DELETE FROM deliveries WHERE edition = ? AND recipient = ?", (edition, old))
            continue
        if there is not None:
            db.execute("DELETE FROM deliveries WHERE edition = ? AND recipient = ?", (edition, new))
        db.execute("UPDATE deliveries SET recipient = ? WHERE edition = ? AND recipient = ?", (new, edition, old))


def _read(db: sqlite3.Connection, email: str) -> _Row | None:
    row = db.execute("SELECT id, email, name, status, themes, requested_at, created_at FROM subscribers "
                     "WHERE email = ?", (email,)).fetchone()
    return None if row is None else _Row(*row[:4], tuple(json.loads(row[4])), *row[5:])


def _has(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None
