"""Every change of a subscriber: each is one function below, doing one transaction.

The statuses, and every transition there is (nothing else changes a status):

    function              from                         to
    request_subscription  (new), unsubscribed, bounced pending       the form; a confirmation email follows
    confirm               pending (asked < 7 days ago) active        the button on the confirmation page (one who
                                                       had unsubscribed or bounced waits, besides, to be taken off the
                                                       delivery's own suppression lists: `readmissions`)
    import_rows           (new), pending*              active        the organiser's CSV list, on each run
    add                   (new), pending*              active        `pipeline subscribers add`
    import_suppressed     (new), active, pending**     unsubscribed, bounced or complained (the list's `status`)
                          unsubscribed, bounced        complained
    unsubscribe           active, pending              unsubscribed  one-click link, preferences page
    remove                active, pending              unsubscribed  `pipeline subscribers remove`
    suppress              (new), active, pending***    unsubscribed, bounced or complained (SendGrid's webhook, a
      (suppress_all: a batch, one transaction)         batch at once; bounced: a delivery's hard bounce,
                                                       `mail/sending.py`)
                          unsubscribed, bounced        complained
    expire_pending        pending (asked >= 7 days ago) deleted if it never was anything else, otherwise
                                                       back to the status it had before it asked
    set_themes            active, pending              (same)        the preferences page, the CLI
    reapply               active, pending****          unsubscribed, bounced or complained, as the suppression log
                          (any, for `forgotten`)       says; or erased again (`forget`)   after a restore

    *  only a pending address that never unsubscribed, bounced or complained
    ** not one that had left and came back through the form (its owner's request is newer than the list)
    *** not for an event that happened before the subscriber's latest change to active or pending
    **** only for an entry newer than every change in the address's consent record but the upgrade's (`UPGRADE`)

Every change that takes an address off the list (`unsubscribe`, `remove`, `suppress`, `import_suppressed`,
`forget`) also adds a line to the suppression log, inside its transaction (`_note_left`). An address that log says
left after the copy the database was put back from, and which that copy does not hold, is stored as having left
when `import_rows` lists it or `request_subscription` is asked for it, and refused by `add`
(`suppression_log.left_unknown`).

A request to subscribe changes nothing else about an address: the name and themes it asks for are
kept apart (`subscription_requests`), and become the subscriber's only when the confirmation link
of that very request is followed, so a stranger posting the form with someone's address can
neither rename them nor change what they receive. An active address is not touched at all.

So an address that unsubscribed, bounced or complained is never made active by the CSV or the CLI:
only its owner can come back, through the form and the confirmation (a complained address cannot).
A pending address on the organiser's list becomes active, since the list vouches for it, unless it
had left before: then anyone may have posted the form for it, and only its owner's confirmation
makes it active. The list vouches for the address, not for its requests: it follows the themes the
organiser gives, else every theme, and the name they give, never those of a request no one has
confirmed. The consent
record (`subscriber_events`) is what says whether an address ever left.

Each change adds a row to `subscriber_events`, the consent record: when, the status after, and how
('form', 'confirmation', 'csv import content/subscribers.csv', 'one-click unsubscribe', ...).

Every function taking a subscriber's id (the one a link names) reads it through `subscriber_aliases`: a row
merged into another by the upgrade that gave every address one spelling (`respelling`) is that other row.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from pipeline.errors import SubscriberError
from pipeline.state import readmissions
from pipeline.state.store import Store
from pipeline.state.suppression_log import left_unknown
from pipeline.subscribers.addresses import STORED_BEFORE, TAKEN_OFF_ANYWAY, canonical, checked, normalise, one_line

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
UPGRADE = "database upgrade: one spelling per mailbox"  # `how` of the entry migration step 14 makes (`respelling`)
SUPPRESSED = ("unsubscribed", "bounced", "complained")
PENDING_DAYS = 7  # a confirmation is valid this long; then the request expires
# Every new subscriber id and request id is drawn at random from 1 to 2**53 - 1 (`_new_id`), not counted on from the
# highest stored: a database that forgot an id it gave (a backup put back, a list moved to a new database signed
# with the same secret, a copy salvaged with `.recover`) would give it again, and a link mailed for it, which never
# expires, would then act on a stranger. Drawn at random, an id given in one database is given in another only by
# chance: of n ids there and m new ones here, about n * m / 2**53 (a million each: one chance in 9,000; a hundred
# thousand each: one in 900,000). 2**53 - 1 is the largest integer JSON and JavaScript keep exactly.
ID_RANGE = 2**53 - 1
RECORD_CHARS = 4000  # of the consent record an imported address brings from the list it came from (`earlier_record`)
ImportedRow = tuple[str, str, Iterable[str], str]  # email, name, themes, its consent record where the list came from


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str  # in its one spelling (`addresses.canonical`): the key deliveries are recorded under
    name: str
    status: str
    themes: frozenset[str]  # empty: every theme


@dataclass(frozen=True)
class Event:
    """One line of the consent record."""

    at: datetime
    status: str  # the status after the change
    how: str
    detail: str = ""
    wording: str = ""  # what the person was shown when they gave it (the form's, the confirmation page's), if kept

    def text(self, with_wording: bool = True) -> str:
        """The change on one line, as an export carries it: '2016-01-05 10:00:00 UTC active confirmation', and the
        wording shown then, if kept ('… [shown: Privacy: …]')."""
        detail = f" ({self.detail})" if self.detail else ""
        shown = f" [shown: {' '.join(self.wording.split())}]" if self.wording and with_wording else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} UTC {self.status} {self.how}{detail}{shown}"


@dataclass(frozen=True)
class Request:
    """A request to subscribe, awaiting its confirmation: its id goes in the confirmation link."""

    id: int
    subscriber: Subscriber


_COLUMNS = "id, email, name, status, themes"
# The order subscribers joined in, of `subscribers s`: ids are drawn at random, so by `created_at` (one width of
# UTC time, so text order is time order), then the first entry of their record (those one import added at one
# time come in the list's order), then the id.
_JOINED = "s.created_at, (SELECT MIN(id) FROM subscriber_events WHERE subscriber = s.id), s.id"


# -- transitions -------------------------------------------------------------------------------

def request_subscription(store: Store, email: str, name: str, themes: Iterable[str], *,
                         how: str, at: datetime, wording: str = "", once_within: timedelta | None = None,
                         ) -> Request | None:
    """Someone asked to subscribe: the request to send a confirmation for, or None to send nothing.

    A new, unsubscribed or bounced address becomes pending (asking again while pending restarts the
    7 days); an active or complained one is left as it is and gets nothing, and so does the same name and themes
    asked for again within `once_within` of a request still open (a form sent twice). The name and themes
    asked for are kept with the request, not given to the address: `confirm` does that. `wording`, what
    the form told them, is kept with the record's entry.
    """
    email = _checked(email)
    with store.transaction() as db:
        row = _by_email(db, email)
        if row is None and (left := left_unknown(db, store.suppressions, email)):
            _left_before(db, None, email, *left)  # it left after the copy this database was put back from
            row = _by_email(db, email)
        if row is None:
            subscriber_id = _insert(db, email, "", (), "pending", at, requested=True)
        elif row[3] in ("active", "complained"):
            return None
        # Either side of `at`: of a double click's two posts, the one that took the later time may commit first
        elif once_within is not None and _asked_since(db, row[0], name, themes, at - once_within, at + once_within):
            return None
        else:
            subscriber_id = row[0]
            db.execute("UPDATE subscribers SET status = 'pending', requested_at = ?, updated_at = ? WHERE id = ?",
                       (_iso(at), _iso(at), subscriber_id))
        request_id = _new_id(db)
        db.execute("INSERT INTO subscription_requests (id, subscriber, name, themes, at) VALUES (?, ?, ?, ?, ?)",
                   (request_id, subscriber_id, _name(name), _themes(themes), _iso(at)))
        _event(db, subscriber_id, at, "pending", how, wording=wording)
        return Request(request_id, _subscriber(_by_id(db, subscriber_id)))


def _asked_since(db: sqlite3.Connection, subscriber_id: int, name: str, themes: Iterable[str],
                 since: datetime, until: datetime) -> bool:
    """Whether the latest request of `subscriber_id` still open, made from `since` to `until`, asked for this name and
    these themes: going back to an earlier choice after a correction is a request of its own, whose confirmation is
    then the latest they are mailed."""
    latest = db.execute("SELECT name, themes FROM subscription_requests WHERE subscriber = ? AND "
                        "julianday(at) BETWEEN julianday(?) AND julianday(?) ORDER BY at DESC "
                        "LIMIT 1", (subscriber_id, _iso(since), _iso(until))).fetchone()
    return latest is not None and tuple(latest) == (_name(name), _themes(themes))


def confirm(store: Store, subscriber_id: int, *, how: str, at: datetime, request: int | None = None,
            mailed: datetime | None = None, wording: str = "") -> bool:
    """Activate a pending subscriber who asked less than 7 days before `at`; True if this activated them.

    With `request` (the id in the confirmation link), that request must be theirs and less than 7
    days old, and its name (if it gave one) and themes become theirs; every request of theirs is then
    done with. Without it (a link sent before requests were kept apart), what is stored is kept; such
    a link made at `mailed` (whole seconds) confirms nothing once the address left after the request
    it was mailed for (unsubscribed, bounced, complained, or its request expired): a request made since,
    a stranger's perhaps, would otherwise be confirmed by it, as the ended requests of new links are not.
    `wording`, what the page with the button told them, is kept with the record's entry.
    """
    with store.transaction() as db:
        subscriber_id = _current_id(_reader(db), subscriber_id)
        if not _confirmable(_reader(db), subscriber_id, at, request, mailed):
            return False
        db.execute("UPDATE subscribers SET status = 'active', requested_at = NULL, updated_at = ? WHERE id = ?",
                   (_iso(at), subscriber_id))
        detail = ""
        if request is not None:
            name, themes = db.execute("SELECT name, themes FROM subscription_requests WHERE id = ?",
                                      (request,)).fetchone()
            db.execute("UPDATE subscribers SET name = CASE WHEN ? != '' THEN ? ELSE name END, themes = ? WHERE id = ?",
                       (name, name, themes, subscriber_id))
            detail = "themes: " + ("; ".join(json.loads(themes)) or "all")
        _end_requests(db, subscriber_id)
        readmissions.queue(db, subscriber_id, at)  # one who had left: off the delivery's own lists before a send
        _event(db, subscriber_id, at, "active", how, detail, wording=wording)
        return True


def can_confirm(store: Store, subscriber_id: int, *, at: datetime, request: int | None = None,
                mailed: datetime | None = None) -> bool:
    """Whether `confirm` with the same link would activate the subscriber at `at`; it reads only (the page
    a confirmation link opens, with its button, is shown only while the button can work)."""
    return _confirmable(store._rows, _current_id(store._rows, subscriber_id), at, request, mailed)


def import_rows(store: Store, rows: Iterable[tuple[str, str] | tuple[str, str, Iterable[str]] | ImportedRow], *,
                how: str, at: datetime, stored_before: Collection[str] = ()) -> int:
    """Make every (email, name) pair active, in one transaction; the number of subscribers newly activated.

    New addresses are added (with the row's themes, if a third element gives them); pending ones
    become active, since the organiser's list vouches for them, unless they had unsubscribed, bounced
    or complained before (then the request may be a stranger's, and they stay pending until their
    owner confirms): with the row's themes if it gives any, else every theme (never an unconfirmed
    request's: anyone can post the form), and the row's name, never a request's (their requests
    end, as a confirmation ends them); an active subscriber gets the row's name, if it has one, and
    keeps the themes they chose; an unsubscribed, bounced or complained address is left as it is,
    never re-activated.
    An address listed twice counts once. The addresses in `stored_before` (an export's members, whose rows
    were stored before the limits on a new address) are taken over those limits (`addresses.STORED_BEFORE`).
    A fourth element is the consent record the address had where the list came from (an export's `record`):
    a new address keeps it in its own record's first change, a pending one made active in that change
    (`earlier_record`); one already active keeps its own.
    """
    wanted: dict[str, tuple[str, Iterable[str], str]] = {}
    members = {_key(email) for email in stored_before}
    for row in rows:
        email = _checked(row[0], STORED_BEFORE if _key(row[0]) in members else ())
        wanted.setdefault(email, (row[1], row[2] if len(row) > 2 else (), row[3] if len(row) > 3 else ""))
    activated = 0
    with store.transaction() as db:
        for email, (name, themes, record) in wanted.items():
            found = _by_email(db, email)
            if (found is None or found[3] == "pending") and (left := left_unknown(db, store.suppressions, email)):
                _left_before(db, found, email, *left)  # it left after the copy this database was put back from
            elif found is None:
                _event(db, _insert(db, email, name, themes, "active", at), at, "active", how, earlier_record(record))
                activated += 1
            elif found[3] == "pending" and not _ever_left(db, found[0]):
                _activate(db, found, name, themes, at, how, earlier_record(record))
                activated += 1
            elif found[3] == "active" and _name(name) and _name(name) != found[2]:
                db.execute("UPDATE subscribers SET name = ?, updated_at = ? WHERE id = ?",
                           (_name(name), _iso(at), found[0]))
    return activated


def add(store: Store, email: str, name: str, themes: Iterable[str], *, how: str, at: datetime) -> Subscriber:
    """Add one subscriber as active (the organiser vouches for them); a pending one is activated, with
    `themes` if any are given, else every theme, and `name` (never an unconfirmed request's).

    Raises SubscriberError for an address already active, or one that unsubscribed, bounced or
    complained, pending again or not: only its owner can come back, through the form and its
    confirmation.
    """
    email = _checked(email)
    with store.transaction() as db:
        found = _by_email(db, email)
        if (found is None or found[3] == "pending") and (left := left_unknown(db, store.suppressions, email)):
            raise SubscriberError(f"{email}: {left[0]} on {left[1]:%Y-%m-%d} (the suppression log: after the copy the "
                                  f"state database was put back from), so it is not added back; only its owner can "
                                  f"subscribe again, through the form")
        if found is None:
            subscriber_id = _insert(db, email, name, themes, "active", at)
            _event(db, subscriber_id, at, "active", how)
        elif found[3] == "pending" and not _ever_left(db, found[0]):
            subscriber_id = found[0]
            _activate(db, found, name, themes, at, how)
        else:
            raise SubscriberError(_refusal(db, found, email))
        return _subscriber(_by_id(db, subscriber_id))


def unsubscribe(store: Store, subscriber_id: int, *, how: str, at: datetime) -> bool:
    """An active or pending subscriber leaves; True if this changed their status."""
    with store.transaction() as db:
        return _leave(store, db, _current_id(_reader(db), subscriber_id), how, at)


def remove(store: Store, email: str, *, how: str, at: datetime) -> bool:
    """The organiser takes an address off the list (it stays, as unsubscribed, so the CSV cannot bring it back).

    True if this changed its status; raises SubscriberError for an address that is not on the list.
    """
    email = _key(email)
    with store.transaction() as db:
        found = _by_email(db, email)
        if found is None:
            raise SubscriberError(f"{email}: not on the list; `pipeline subscribers list` shows who is")
        return _leave(store, db, found[0], how, at)


class Forgotten(NamedTuple):
    deliveries: int  # the delivery journal's rows erased
    spellings: list[str]  # the address and every spelling merged into it: mail to each may be kept (`Deliverer.forget`)


def forget(store: Store, email: str, *, at: datetime) -> Forgotten:
    """Erase what is held about `email` at its owner's request (UK GDPR art. 17): name, themes, the consent record,
    open requests, the spellings merged into it, and the delivery journal's rows; the address alone is kept, as a
    suppression (unsubscribed, or bounced or complained as it was), so no list adds it back, with one entry saying
    it was erased. Refused while a send to it is in flight (its batch settles first)."""
    # What is deleted is overwritten, not left in free pages: every connection has `secure_delete` on (`Store`)
    erased = _forget(store, _key(email), at)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # and the write-ahead log's older copies of those pages go
    return erased


def _forget(store: Store, email: str, at: datetime) -> Forgotten:
    with store.transaction() as db:
        found = _by_email(db, email)
        if found is None:
            # no address in the line, which the log keeps: the person asked to be forgotten
            raise SubscriberError("that address is not on the list, so nothing is held about it (`pipeline "
                                  "subscribers list` shows every address)")
        erased = _erase(db, found, at, "kept as a suppression: the address only")
        _note_left(store, db, found[0], "forgotten", at)
    return erased


def _erase(db: sqlite3.Connection, found: tuple, at: datetime, detail: str) -> Forgotten:
    """Erase all but the address of the subscriber `found` (`forget`). SubscriberError, and nothing changed, while a
    send to it is in flight."""
    subscriber_id, email, status = found[0], found[1], found[3]
    spellings = [email, *(alias for (alias,) in db.execute(
        "SELECT email FROM subscriber_aliases WHERE subscriber = ?", (subscriber_id,)))]
    marks = ",".join("?" * len(spellings))
    if db.execute(f"SELECT 1 FROM deliveries WHERE recipient IN ({marks}) AND status = 'in_flight'",
                  spellings).fetchone():
        # no address in the line, which the log keeps (`forget`: the person asked to be forgotten)
        raise SubscriberError("a send to that address is in flight; run `pipeline subscribers forget` again once the "
                              "next run has settled it (`pipeline deliveries` shows it)")
    erased = db.execute(f"DELETE FROM deliveries WHERE recipient IN ({marks})", spellings).rowcount
    left = status if status in ("bounced", "complained") else "unsubscribed"
    # the address alone: not even when they joined (`created_at` takes the erasure's time, as the record's one entry)
    db.execute(f"UPDATE subscribers SET status = ?, requested_at = NULL, created_at = ?, updated_at = ?, {_FORGOTTEN} "
               f"WHERE id = ?", (left, _iso(at), _iso(at), subscriber_id))
    db.execute("DELETE FROM subscription_requests WHERE subscriber = ?", (subscriber_id,))
    db.execute("DELETE FROM subscriber_aliases WHERE subscriber = ?", (subscriber_id,))
    db.execute("DELETE FROM subscriber_events WHERE subscriber = ?", (subscriber_id,))
    readmissions.forget(db, subscriber_id)
    _event(db, subscriber_id, at, left, ERASED, detail)
    return Forgotten(erased, spellings)


REAPPLIED = "re-applied from the suppression log after a restore"  # `how` of a change `reapply` makes
ERASED = "erased at their request"  # `how` of the one change left in the record of a person forgotten


@dataclass
class Reapplied:
    """What `reapply` did: how many entries were re-applied, by the status logged; how many erasures are left for
    the next time; each address (and spelling merged into it) erased again, whose mail a delivery may keep
    (`Deliverer.forget`)."""

    applied: dict[str, int]
    deferred: int
    erased: list[str]


def reapply(store: Store, entries: Iterable[tuple[int, str, datetime]]) -> Reapplied:
    """Apply again the entries of the suppression log this database does not know (it was put back from a copy made
    before they were written; `state/suppression_log.py`). One transaction.

    Each entry is (subscriber id, status logged, when), in the log's order. An unsubscribe, bounce or complaint is
    applied to an active or pending subscriber (a complaint to an unsubscribed or bounced one too) whose consent
    record has nothing as recent: one who came back later has a newer change and is left alone. It is recorded at
    the time it happened, with `REAPPLIED`. `forgotten` erases the person again (as `forget`) while anything recorded
    before it remains; while a send to them is in flight, they are suppressed now and erased the next time. A person
    whose record is only that very erasure is named in `erased` again (a replay stopped before their mail went).
    """
    done = Reapplied({}, 0, [])
    with store.transaction() as db:
        for subscriber_id, status, at in entries:
            found = _by_id(db, subscriber_id)
            if found is None:
                continue
            detail = f"{status} on {at:%Y-%m-%d %H:%M:%S} UTC, after the copy this database was put back from"
            if status == "forgotten":
                [(before,)] = db.execute("SELECT EXISTS (SELECT 1 FROM subscriber_events WHERE subscriber = ? "
                                         "AND at < ?)", (subscriber_id, _iso(at))).fetchall()
                if not before:
                    if _erased_by(db, subscriber_id, at):  # a replay stopped before its mail was deleted
                        done.erased.append(found[1])
                    continue
                try:
                    forgotten = _erase(db, found, at, f"kept as a suppression: the address only; {REAPPLIED}")
                except SubscriberError:
                    done.deferred += 1
                    _reapplied(db, found, "unsubscribed", at, detail + "; erased once its send in flight settles")
                    continue
                done.erased += forgotten.spellings
                done.applied[status] = done.applied.get(status, 0) + 1
            elif _reapplied(db, found, status, at, detail):
                done.applied[status] = done.applied.get(status, 0) + 1
    if done.erased:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the write-ahead log's older copies of those pages go
    return done


def _erased_by(db: sqlite3.Connection, subscriber_id: int, at: datetime) -> bool:
    """Whether all that is recorded of `subscriber_id` is its erasure at `at` (`_erase`), by the very entry being
    replayed: a replay that committed it was stopped before the mark moved, maybe before the mail went too."""
    events = db.execute("SELECT at, how FROM subscriber_events WHERE subscriber = ?", (subscriber_id,)).fetchall()
    return events == [(_iso(at), ERASED)]


def _left_before(db: sqlite3.Connection, found: tuple | None, email: str, status: str, at: datetime) -> None:
    """`email`, which the organiser's list or the form names, left at `at` with `status` after the copy this
    database was put back from was made, before which it was not on the list (`suppression_log.left_unknown`): it is
    stored as having left (a pending one, whoever asked, stays pending: only its owner's confirmation brings it
    back)."""
    detail = f"{status} on {at:%Y-%m-%d %H:%M:%S} UTC, after the copy this database was put back from"
    if found is None:
        left = "unsubscribed" if status == "forgotten" else status
        _event(db, _insert(db, email, "", (), left, at), at, left, REAPPLIED, detail)
    elif not _ever_left(db, found[0]):
        _event(db, found[0], at, "unsubscribed" if status == "forgotten" else status, REAPPLIED, detail)


def ids_by_digest(store: Store, digest: Callable[[str], str], wanted: set[str]) -> dict[str, int]:
    """The subscriber id of each hash in `wanted` (`digest` of an address: the suppression log's), from every stored
    address and every spelling merged into one (`subscriber_aliases`)."""
    ids: dict[str, int] = {}
    for subscriber_id, email in store._rows("SELECT id, email FROM subscribers UNION ALL "
                                            "SELECT subscriber, email FROM subscriber_aliases", ()):
        hashed = digest(email)
        if hashed in wanted:
            ids.setdefault(hashed, subscriber_id)
    return ids


def _reapplied(db: sqlite3.Connection, found: tuple, status: str, at: datetime, detail: str) -> bool:
    """`found` leaves with `status` at `at` again, if it is still on the list and nothing in its record is as recent."""
    subscriber_id = found[0]
    if not (found[3] in ("active", "pending") or (status == "complained" and found[3] in ("unsubscribed", "bounced"))):
        return False
    # The upgrade's entry (`UPGRADE`) is stamped when a copy from before step 14 is opened, after the restore: no
    # change of the person's, it must not pass for their coming back
    [(latest,)] = db.execute("SELECT MAX(at) FROM subscriber_events WHERE subscriber = ? AND how != ?",
                             (subscriber_id, UPGRADE)).fetchall()
    if latest is not None and latest >= _iso(at):
        return False
    db.execute(f"UPDATE subscribers SET status = ?, requested_at = NULL, updated_at = ?, {_FORGOTTEN} WHERE id = ?",
               (status, _iso(at), subscriber_id))
    _end_requests(db, subscriber_id)
    _event(db, subscriber_id, at, status, REAPPLIED, detail)
    return True


def suppress(store: Store, email: str, status: str, *, how: str, at: datetime, detail: str = "",
             occurred: datetime | None = None) -> bool:
    """Stop sending to `email` (a bounce, a spam complaint, an unsubscribe reported by the provider).

    An address not on the list is added with that status, so the CSV can never activate it. An
    address already suppressed only changes to 'complained'. `occurred` is when the provider saw
    it happen: an event from before an active or pending subscriber's latest change to that status
    (they subscribed again after the bounce) is old news and changes nothing. True if a status changed.
    """
    return suppress_all(store, [(email, status, how, detail, occurred)], at=at) == 1


def suppress_all(store: Store, reports: Iterable[tuple[str, str, str, str, datetime | None]], *,
                 at: datetime) -> int:
    """`suppress` each of a provider's reports, (email, status, how, detail, occurred), in their order, in one
    transaction: a batch of SendGrid's Event Webhook is applied whole or not at all, and its lines of the suppression
    log are one write (one warning, should that fail). How many statuses changed. (Each report costs about a
    millisecond of the database's write lock: the webhook hands over at most `webhooks.PER_TRANSACTION` at once.)"""
    reports = list(reports)
    for report in reports:
        if report[1] not in SUPPRESSED:
            raise ValueError(f"suppress() takes one of {', '.join(SUPPRESSED)}, not {report[1]!r}")
    changed = 0
    with store.transaction() as db:
        for email, status, how, detail, occurred in reports:
            email = _key(email)
            found = _by_email(db, email)
            if found is not None and found[3] in ("active", "pending") and occurred is not None:
                since = _since(db, found[0], found[3])
                # The provider gives whole seconds: an event in the same second as the change still counts.
                if since is not None and occurred < since.replace(microsecond=0):
                    continue
            changed += _suppress(store, db, found, email, status, how, at, detail)
    return changed


def import_suppressed(store: Store, rows: Iterable[tuple[str, str] | tuple[str, str, str, Iterable[str]]
                                                  | tuple[str, str, str, Iterable[str], str]], *,
                      how: str, at: datetime) -> int:
    """The organiser's list says these (email, status) unsubscribed, bounced or complained; the number changed.

    One transaction. Like `suppress`, except for an address that had left and came back through
    the form (active after its owner's confirmation, or pending on a new request): its owner's own
    request is newer than the list, so it is left as it is. An address the list is new to is added
    with the name and themes a third and fourth element give (an export keeps them, so a list moved to
    another database is the same there), and the consent record a fifth element gives, as `import_rows`
    keeps it; one already stored keeps its own. An address listed twice counts once.
    """
    wanted: dict[str, tuple[str, str, Iterable[str], str]] = {}
    for row in rows:
        status, name, themes = row[1], row[2] if len(row) > 2 else "", row[3] if len(row) > 3 else ()
        if status not in SUPPRESSED:
            raise ValueError(f"import_suppressed() takes one of {', '.join(SUPPRESSED)}, not {status!r}")
        wanted.setdefault(_checked(row[0], TAKEN_OFF_ANYWAY), (status, name, themes, row[4] if len(row) > 4 else ""))
    changed = 0
    with store.transaction() as db:
        for email, (status, name, themes, record) in wanted.items():
            found = _by_email(db, email)
            if found is None and canonical(email) is None:  # a domain IDNA refuses: only a row from before is one
                continue
            if found is not None and found[3] in ("active", "pending") and _ever_left(db, found[0]):
                continue
            detail = earlier_record(record) if found is None else ""
            changed += _suppress(store, db, found, email, status, how, at, detail, name, themes)
    return changed


def set_themes(store: Store, subscriber_id: int, themes: Iterable[str], *, how: str, at: datetime) -> bool:
    """Set the themes an active or pending subscriber follows (none: every theme); True if they changed."""
    stored = _themes(themes)
    with store.transaction() as db:
        subscriber_id = _current_id(_reader(db), subscriber_id)
        changed = db.execute("UPDATE subscribers SET themes = ?, updated_at = ? "
                             "WHERE id = ? AND status IN ('active', 'pending') AND themes != ?",
                             (stored, _iso(at), subscriber_id, stored)).rowcount
        if changed:
            status = db.execute("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()[0]
            _event(db, subscriber_id, at, status, how, "themes: " + ("; ".join(json.loads(stored)) or "all"))
        return bool(changed)


def expire_pending(store: Store, *, at: datetime) -> list[str]:
    """End the requests not confirmed within 7 days; the addresses whose request ended.

    An address that was never anything but pending is deleted with its record (an unconfirmed
    address is not kept); one that had unsubscribed or bounced goes back to that status.
    """
    cutoff = _iso(at - timedelta(days=PENDING_DAYS))
    with store.transaction() as db:
        db.execute("DELETE FROM subscription_requests WHERE at <= ?", (cutoff,))
        expired = db.execute("SELECT id, email FROM subscribers WHERE status = 'pending' AND requested_at <= ?",
                             (cutoff,)).fetchall()
        if expired:  # an unconfirmed address, and the name asked with it, are not kept: not in the -wal either
            store.scrub_after()
        for subscriber_id, _ in expired:
            before = db.execute("SELECT status FROM subscriber_events WHERE subscriber = ? AND status != 'pending' "
                                "ORDER BY id DESC LIMIT 1", (subscriber_id,)).fetchone()
            if before is None:  # its requests go with it (ON DELETE CASCADE)
                db.execute("DELETE FROM subscriber_events WHERE subscriber = ?", (subscriber_id,))
                db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
            else:
                db.execute("UPDATE subscribers SET status = ?, requested_at = NULL, updated_at = ? WHERE id = ?",
                           (before[0], _iso(at), subscriber_id))
                _event(db, subscriber_id, at, before[0], "request expired", f"not confirmed within {PENDING_DAYS} days")
        return [email for _, email in expired]


# -- reading -----------------------------------------------------------------------------------

def requested_since(store: Store, since: datetime) -> list[str]:
    """The address of each request to subscribe made since `since` and still open, one per request."""
    return [email for (email,) in store._rows(
        "SELECT s.email FROM subscription_requests r JOIN subscribers s ON s.id = r.subscriber WHERE r.at > ?",
        (_iso(since),))]


def requests_of(store: Store, subscriber_id: int) -> list[tuple[datetime, str, frozenset[str]]]:
    """(when, name, themes) of each request to subscribe still open for `subscriber_id`, oldest first: what a form
    asked for, theirs only once confirmed."""
    return [(datetime.fromisoformat(at), name, frozenset(json.loads(themes))) for at, name, themes in store._rows(
        "SELECT at, name, themes FROM subscription_requests WHERE subscriber = ? ORDER BY id", (subscriber_id,))]

def spellings(store: Store, subscriber_id: int) -> list[str]:
    """The address of `subscriber_id`, then each spelling merged into it (`respelling`), which mail was sent to."""
    return [email for (email,) in store._rows(
        "SELECT email FROM subscribers WHERE id = ? UNION ALL "
        "SELECT email FROM subscriber_aliases WHERE subscriber = ?", (subscriber_id, subscriber_id))]


def get_subscriber(store: Store, subscriber_id: int) -> Subscriber | None:
    """The subscriber a link's id names (`_current_id`), None if they are no longer stored."""
    rows = store._rows(f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (_current_id(store._rows, subscriber_id),))
    return _subscriber(rows[0]) if rows else None


def asked_for(store: Store, subscriber_id: int, request: int) -> tuple[str, list[str]] | None:
    """The name and themes a request asked for (what confirming it gives the subscriber); None when it is not theirs
    or no longer stored."""
    rows = store._rows("SELECT name, themes FROM subscription_requests WHERE id = ? AND subscriber = ?",
                       (request, _current_id(store._rows, subscriber_id)))
    return (rows[0][0], json.loads(rows[0][1])) if rows else None


def find_subscriber(store: Store, email: str) -> Subscriber | None:
    rows = store._rows(f"SELECT {_COLUMNS} FROM subscribers WHERE email = ?", (_key(email),))
    return _subscriber(rows[0]) if rows else None


def active_subscribers(store: Store) -> list[Subscriber]:
    """Everyone to send to now, in the order they joined (`_JOINED`)."""
    return [_subscriber(row) for row in
            store._rows(f"SELECT {_COLUMNS} FROM subscribers s WHERE status = 'active' ORDER BY {_JOINED}")]


def active_choices(store: Store) -> list[frozenset[str]]:
    """Each distinct choice of themes among active subscribers (empty: every theme)."""
    return [frozenset(json.loads(themes)) for (themes,) in
            store._rows("SELECT DISTINCT themes FROM subscribers WHERE status = 'active' ORDER BY themes")]


# A subscriber active by a moment (the parameter): the first 'active' of the record since its last other status (a
# change of themes records 'active' again) is no later.
# (Compared as times: the record and the journal write their ISO times with and without microseconds.)
ACTIVE_BY = ("julianday((SELECT MIN(e.at) FROM subscriber_events e WHERE e.subscriber = {s}.id AND e.status = 'active' "
             "AND e.id > COALESCE((SELECT MAX(x.id) FROM subscriber_events x WHERE x.subscriber = {s}.id "
             "AND x.status != 'active'), 0))) <= julianday(?)")  # the start of their time on the list, a theme changed


def active_with_choice(store: Store, themes: frozenset[str], *, chunk: int = 5000) -> Iterator[tuple[int, str, str]]:
    """(id, email, name) of the active subscribers who follow exactly `themes`, by id, read `chunk` at a
    time (a long list never sits in memory whole); who is active is read as the iteration reaches them. Each id
    comes once, in increasing order. Ids are drawn at random, so one who joins while this runs may have an id it
    has passed: the send finds them afterwards (`journal.active_without_delivery`), as one who changed themes."""
    choice, after = _themes(themes), 0
    while True:
        # One row holding the chunk as JSON: fetching rows one by one gives the GIL up for each, which
        # makes a send's worker threads and this reader wait on each other.
        [(packed,)] = store._rows("SELECT json_group_array(json_array(id, email, name)) FROM (SELECT id, email, name "
                                  "FROM subscribers WHERE status = 'active' AND themes = ? AND id > ? "
                                  "ORDER BY id LIMIT ?)", (choice, after, chunk))
        rows = json.loads(packed)
        yield from map(tuple, rows)
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def count_not_active(store: Store, emails: Iterable[str]) -> int:
    """How many of `emails` are on the list but not active (they left, or await their own confirmation)."""
    [(count,)] = store._rows("SELECT COUNT(*) FROM subscribers WHERE status != 'active' "
                             "AND email IN (SELECT value FROM json_each(?))",
                             (json.dumps(sorted({_key(e) for e in emails})),))
    return count


def listing(store: Store, status: str | None = None) -> list[tuple[Subscriber, Event]]:
    """Every subscriber (or those with `status`), in the order they joined (`_JOINED`), each with the latest change
    of their record."""
    rows = store._rows(
        "SELECT s.id, s.email, s.name, s.status, s.themes, e.at, e.status, e.how, e.detail FROM subscribers s "
        "JOIN subscriber_events e ON e.id = (SELECT MAX(id) FROM subscriber_events WHERE subscriber = s.id) "
        f"WHERE ? IS NULL OR s.status = ? ORDER BY {_JOINED}", (status, status))
    return [(_subscriber(row[:5]), _event_of(row[5:])) for row in rows]


def records(store: Store, status: str | None = None) -> dict[int, list[Event]]:
    """The consent record of every subscriber (or of those with `status`), by id, each oldest first."""
    found: dict[int, list[Event]] = {}
    for row in store._rows("SELECT e.subscriber, e.at, e.status, e.how, e.detail, w.text FROM subscriber_events e "
                           "JOIN subscribers s ON s.id = e.subscriber LEFT JOIN consent_shown c ON c.event = e.id "
                           "LEFT JOIN consent_wordings w ON w.id = c.wording WHERE ? IS NULL OR s.status = ? "
                           "ORDER BY e.subscriber, e.id", (status, status)):
        found.setdefault(row[0], []).append(_event_of(row[1:]))
    return found


def earlier_record(record: str) -> str:
    """The detail of an imported address's first change that keeps the record it had in the list it came from: one
    line, at most `RECORD_CHARS` characters (its start and its end: the consent first given, and the latest)."""
    record = one_line(record, RECORD_CHARS, keep_end=True)
    return f"record where the list came from: {record}" if record else ""


def history(store: Store, subscriber_id: int) -> list[Event]:
    """The consent record of one subscriber, oldest first."""
    return [_event_of(row) for row in store._rows(
        "SELECT e.at, e.status, e.how, e.detail, w.text FROM subscriber_events e LEFT JOIN consent_shown c "
        "ON c.event = e.id LEFT JOIN consent_wordings w ON w.id = c.wording WHERE e.subscriber = ? ORDER BY e.id",
        (_current_id(store._rows, subscriber_id),))]


# -- helpers -----------------------------------------------------------------------------------

def _checked(email: str, anyway: tuple[str, ...] = ()) -> str:
    """`email` in the spelling it is stored in (`addresses.canonical`); SubscriberError if it is no address. With
    `anyway` (`addresses.TAKEN_OFF_ANYWAY` to take a row stored before off: over the limits on a new address, or a
    domain IDNA refuses; `addresses.STORED_BEFORE` for an export's member), an address refused only for one of those
    reasons is taken too."""
    email, problem = checked(email)
    if problem is not None and problem not in anyway:
        raise SubscriberError(f"{email!r} is not a valid email address{f' ({problem})' if problem else ''}; correct it")
    return email


def _key(email: str) -> str:
    """The spelling to look `email` up by: its stored one, or as given when IDNA refuses its domain (a row kept from
    before addresses took one spelling, which no new row can have)."""
    return canonical(email) or normalise(email)


def _current_id(read: Callable[[str, tuple], list[tuple]], subscriber_id: int) -> int:
    """The subscriber `subscriber_id` is now: an id merged into another row (two spellings of one mailbox,
    `respelling`) is that row's, so every link mailed to it still works."""
    [(current,)] = read("SELECT COALESCE((SELECT subscriber FROM subscriber_aliases WHERE id = ?), ?)",
                        (subscriber_id, subscriber_id))
    return current


def _by_email(db: sqlite3.Connection, email: str) -> tuple | None:
    return db.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE email = ?", (email,)).fetchone()


def _by_id(db: sqlite3.Connection, subscriber_id: int) -> tuple:
    return db.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()


def _insert(db: sqlite3.Connection, email: str, name: str, themes: Iterable[str], status: str, at: datetime,
            requested: bool = False) -> int:
    subscriber_id = _new_id(db)
    db.execute("INSERT INTO subscribers (id, email, name, status, themes, requested_at, created_at, updated_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (subscriber_id, email, _name(name), status, _themes(themes),
                                                   _iso(at) if requested else None, _iso(at), _iso(at)))
    return subscriber_id


def _new_id(db: sqlite3.Connection) -> int:
    """A subscriber or request id drawn at random (`ID_RANGE`), never 0 and none a stored subscriber, alias
    (a merged-away subscriber's id) or request has: one space for both, so no id names two things here."""
    while True:
        candidate = secrets.randbelow(ID_RANGE) + 1
        if not db.execute("SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = :id) OR EXISTS (SELECT 1 FROM "
                          "subscriber_aliases WHERE id = :id) OR EXISTS (SELECT 1 FROM subscription_requests "
                          "WHERE id = :id)", {"id": candidate}).fetchone()[0]:
            return candidate


def _activate(db: sqlite3.Connection, found: tuple, name: str, themes: Iterable[str], at: datetime,
              how: str, detail: str = "") -> None:
    """The organiser makes the pending address `found` active: with their `themes`, else every theme, and their
    `name`, else the one it has; its requests then end. Neither is ever taken from a request: that may be a
    stranger's form post (a name to greet its owner by, themes to choose for them), which only the owner's
    confirmation vouches for."""
    db.execute("UPDATE subscribers SET status = 'active', name = ?, themes = ?, requested_at = NULL, updated_at = ? "
               "WHERE id = ?", (_name(name) or found[2], _themes(themes), _iso(at), found[0]))
    subscriber_id = found[0]
    _end_requests(db, subscriber_id)
    _event(db, subscriber_id, at, "active", how, detail)


def _suppress(store: Store, db: sqlite3.Connection, found: tuple | None, email: str, status: str, how: str,
              at: datetime, detail: str, name: str = "", themes: Iterable[str] = ()) -> bool:
    """`found` (or `email`, new, with `name` and `themes`) takes the suppression `status`, if that changes it."""
    if found is None:
        subscriber_id = _insert(db, email, name, themes, status, at)
    elif found[3] in ("active", "pending") or (status == "complained" and found[3] != "complained"):
        subscriber_id = found[0]
        db.execute(f"UPDATE subscribers SET status = ?, requested_at = NULL, updated_at = ?, {_FORGOTTEN} WHERE id = ?",
                   (status, _iso(at), subscriber_id))
        _end_requests(db, subscriber_id)
    else:
        return False
    _event(db, subscriber_id, at, status, how, detail)
    _note_left(store, db, subscriber_id, status, at)
    return True


def _ever_left(db: sqlite3.Connection, subscriber_id: int) -> bool:
    """True if the consent record shows the address unsubscribed, bounced or complained at some time."""
    return db.execute("SELECT EXISTS (SELECT 1 FROM subscriber_events WHERE subscriber = ? AND status IN "
                      "('unsubscribed', 'bounced', 'complained'))", (subscriber_id,)).fetchone()[0] == 1


# A subscriber's own changes: not those that came with a row merged into it, nor the upgrade's entry for the merge
# (`respelling`), which interleave two histories and say nothing about when this row last subscribed.
_OWN_EVENTS = ("FROM subscriber_events WHERE subscriber = :id AND how != :upgrade AND id NOT IN (SELECT value FROM "
               "subscriber_aliases, json_each(subscriber_aliases.events) WHERE subscriber_aliases.subscriber = :id)")


def _since(db: sqlite3.Connection, subscriber_id: int, status: str) -> datetime | None:
    """When the subscriber last changed to `status` (their current one), from their own changes in the consent
    record (`_OWN_EVENTS`); None when those do not say (the status came with a merged row)."""
    [(at,)] = db.execute(f"SELECT MIN(at) {_OWN_EVENTS} AND id > COALESCE((SELECT MAX(id) {_OWN_EVENTS} "
                         f"AND status != :status), 0)",
                         {"id": subscriber_id, "upgrade": UPGRADE, "status": status}).fetchall()
    return datetime.fromisoformat(at) if at else None


# Someone who left is kept only as far as keeping them off the list needs (UK GDPR art. 5(1)(c)): their address and
# the record of their consent and of its end; not the name and themes they gave, which only a send used.
_FORGOTTEN = "name = '', themes = '[]'"


def _leave(store: Store, db: sqlite3.Connection, subscriber_id: int, how: str, at: datetime) -> bool:
    changed = db.execute(f"UPDATE subscribers SET status = 'unsubscribed', requested_at = NULL, updated_at = ?, "
                         f"{_FORGOTTEN} WHERE id = ? AND status IN ('active', 'pending')", (_iso(at), subscriber_id)
                         ).rowcount
    if changed:
        _end_requests(db, subscriber_id)
        _event(db, subscriber_id, at, "unsubscribed", how)
        _note_left(store, db, subscriber_id, "unsubscribed", at)
    return bool(changed)


def _note_left(store: Store, db: sqlite3.Connection, subscriber_id: int, status: str, at: datetime) -> None:
    """The suppression log's line for an address that left (`state/suppression_log.py`), written when the
    transaction recording it is about to commit, so that it is on the disk before that (`SuppressionLog.flush`). The
    name and themes the transaction blanked leave the write-ahead log once it commits (`Store.scrub_after`)."""
    store.scrub_after()
    if store.suppressions is not None:
        [(email,)] = db.execute("SELECT email FROM subscribers WHERE id = ?", (subscriber_id,)).fetchall()
        store.suppressions.note(email, status, at)


def _reader(db: sqlite3.Connection) -> Callable[[str, tuple], list[tuple]]:
    """Rows of a query, inside the transaction `db` is in (as `Store._rows` gives them outside one)."""
    return lambda sql, params: db.execute(sql, params).fetchall()


def _confirmable(read: Callable[[str, tuple], list[tuple]], subscriber_id: int, at: datetime, request: int | None,
                 mailed: datetime | None) -> bool:
    """Whether a confirm link activates the subscriber at `at`: they are pending, asked less than 7 days before,
    and the link's `request` is theirs and as recent (one ends when they stop being pending); a link naming no
    request (mailed before requests were kept apart) made at `mailed` only if the address has not left since."""
    cutoff = _iso(at - timedelta(days=PENDING_DAYS))
    [(pending,)] = read("SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = ? AND status = 'pending' "
                        "AND requested_at > ?)", (subscriber_id, cutoff))
    if not pending:
        return False
    if request is not None:
        [(asked,)] = read("SELECT EXISTS (SELECT 1 FROM subscription_requests WHERE id = ? AND subscriber = ? "
                          "AND at > ?)", (request, subscriber_id, cutoff))
        return bool(asked)
    return mailed is None or not _left_since_link(read, subscriber_id, mailed)


def _left_since_link(read: Callable[[str, tuple], list[tuple]], subscriber_id: int, mailed: datetime) -> bool:
    """True when the address left after the request a confirm link made at `mailed` was for: the latest request
    (a 'pending' change) before it (its time is in whole seconds, so up to a second after)."""
    [(asked,)] = read("SELECT MAX(at) FROM subscriber_events WHERE subscriber = ? AND status = 'pending' "
                      "AND at < ?", (subscriber_id, _iso(mailed + timedelta(seconds=1))))
    return asked is None or read(
        "SELECT EXISTS (SELECT 1 FROM subscriber_events WHERE subscriber = ? AND at > ? AND status IN "
        "('unsubscribed', 'bounced', 'complained'))", (subscriber_id, asked))[0][0] == 1


def _end_requests(db: sqlite3.Connection, subscriber_id: int) -> None:
    """The subscriber is no longer pending: no request of theirs can be confirmed any more."""
    db.execute("DELETE FROM subscription_requests WHERE subscriber = ?", (subscriber_id,))


def _event(db: sqlite3.Connection, subscriber_id: int, at: datetime, status: str, how: str, detail: str = "", *,
           wording: str = "") -> None:
    event = db.execute("INSERT INTO subscriber_events (subscriber, at, status, how, detail) VALUES (?, ?, ?, ?, ?)",
                       (subscriber_id, _iso(at), status, how, detail)).lastrowid
    # An id SQLite gives again (a salvaged copy that lost the last entry but kept what named it) names this one now
    db.execute("DELETE FROM consent_shown WHERE event = ?", (event,))
    if wording:
        digest = hashlib.sha256(wording.encode("utf-8")).hexdigest()
        db.execute("INSERT INTO consent_wordings (sha256, text, first_at) VALUES (?, ?, ?) ON CONFLICT (sha256) "
                   "DO NOTHING", (digest, wording, _iso(at)))
        db.execute("INSERT INTO consent_shown (event, wording) SELECT ?, id FROM consent_wordings WHERE sha256 = ?",
                   (event, digest))


def _refusal(db: sqlite3.Connection, row: tuple, email: str) -> str:
    if row[3] == "active":
        return f"{email}: already subscribed; nothing changed"
    if row[3] == "pending":
        at, status, how = db.execute(
            "SELECT at, status, how FROM subscriber_events WHERE subscriber = ? AND status IN "
            "('unsubscribed', 'bounced', 'complained') ORDER BY id DESC LIMIT 1", (row[0],)).fetchone()
        return (f"{email}: {status} on {at[:10]} ({how}) and has asked to subscribe again since, so it is not "
                f"added back; it becomes active only when its owner confirms, through the link mailed to it")
    at, how = db.execute("SELECT at, how FROM subscriber_events WHERE subscriber = ? ORDER BY id DESC LIMIT 1",
                         (row[0],)).fetchone()
    return (f"{email}: {row[3]} on {at[:10]} ({how}), so it is not added back; "
            f"only its owner can subscribe again, through the form")


def _subscriber(row: tuple) -> Subscriber:
    subscriber_id, email, name, status, themes = row
    return Subscriber(subscriber_id, email, name, status, frozenset(json.loads(themes)))


def _event_of(row: tuple) -> Event:
    at, status, how, detail, *wording = row
    return Event(datetime.fromisoformat(at), status, how, detail, (wording[0] or "") if wording else "")


def _name(name: str) -> str:
    """A name as every way in keeps it (`one_line`: no control characters, at most 200 characters), so the list's
    export read back in changes nothing."""
    return one_line(name or "")


def stored_themes(themes: Iterable[str]) -> str:
    """A choice of themes as `subscribers.themes` stores it (what a send's version of an issue is for)."""
    return _themes(themes)


def _themes(themes: Iterable[str]) -> str:
    return json.dumps(sorted({t.strip() for t in themes if t and t.strip()}), ensure_ascii=False)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("subscriber changes take an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")  # one width, so text order is time order
