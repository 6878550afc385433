"""The suppression log of a project, kept by every command that opens its state database to write.

`keep` is called where such a store is opened (`runner._open_store`: run, refresh, schedule's runs, the mail
commands; `web.app.build_app`: serve; `commands.subscribers`): from then on each address that leaves is noted in
`<state_dir>/suppressions.log`, and the entries this database does not know yet (it was put back from a backup made
before them) are applied again at once, before anything is sent (`state/suppression_log.py` says how).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pipeline.config import Project
from pipeline.state import Store
from pipeline.state.subscribers import Reapplied, ids_by_digest, reapply
from pipeline.state.suppression_log import LOG_FILE, Key, SuppressionLog, drop_unmatched, keep_unmatched, mark, waiting

log = logging.getLogger("pipeline.subscribers")


def keep(store: Store, project: Project, *, replay: bool = True) -> int:
    """Note every leave of `store`'s subscribers in the project's suppression log, and (with `replay`) apply the
    log's entries the database does not know; how many were re-applied (said in one warning line)."""
    suppressions = SuppressionLog(project.core.state_dir / LOG_FILE, lambda make: _secret(project, make))
    store.suppressions = suppressions
    return replay_into(store, suppressions, project) if replay else 0


def replay_into(store: Store, suppressions: SuppressionLog, project: Project) -> int:
    """Apply the entries of the log after the database's marker, and those kept waiting for their secret; entries
    that match no address here are kept in the database (`keep_unmatched`), and the marker moves to the log's end."""
    found = suppressions.unchecked(store._rows)
    kept = waiting(store._rows)
    if found is None and not kept:
        return 0
    entries = sorted([*kept, *(found[0] if found else [])], key=lambda entry: entry.at)
    key, why = _key(suppressions, project) if entries else (None, "")
    ours = [entry for entry in entries if key is not None and entry.key == key.id]
    others = [entry for entry in entries if key is None or entry.key != key.id]
    if key is None and others:
        log.warning("%s: %d %s not checked against the list: %s; nothing is lost, %s checked at the next start once "
                    "the secret %s written with is back", suppressions.path, len(others),
                    "entry" if len(others) == 1 else "entries", why, "it is" if len(others) == 1 else "they are",
                    "it was" if len(others) == 1 else "they were")
    elif others:
        log.warning("%s: %d %s written under another secret (fingerprint %s) and cannot be matched to an address: "
                    "give the pipeline the secret they were written with (%s or %s) to have them applied at the "
                    "next start; until then each start says so", suppressions.path, len(others),
                    "entry was" if len(others) == 1 else "entries were", others[-1].key, project.serve.secret_env,
                    project.core.state_dir / "secret")
    ids = ids_by_digest(store, key.digest, {entry.digest for entry in ours}) if ours else {}
    matched = [(ids[entry.digest], entry.status, entry.at) for entry in ours if entry.digest in ids]
    reapplied = reapply(store, matched) if matched else Reapplied({}, 0, [])
    applied, deferred = reapplied.applied, reapplied.deferred
    _forget_mail(project, reapplied.erased, suppressions)
    done = sum(applied.values())
    with store.transaction() as db:
        keep_unmatched(db, [entry for entry in ours if entry.digest not in ids], waiting=False)
        keep_unmatched(db, others, waiting=True)
        if not deferred:  # else all is read again at the next start, when the send in flight is settled
            drop_unmatched(db, [entry for entry in ours if entry.digest in ids])
            if found is not None:
                mark(db, found[1], found[2], done, datetime.now(UTC))
    if done:
        log.warning("%s: %d %s who left after this database's copy was made taken off the list again (%s); "
                    "`pipeline subscribers show` gives each one's record", suppressions.path, done,
                    "address" if done == 1 else "addresses",
                    ", ".join(f"{count} {status}" for status, count in sorted(applied.items())))
    if deferred:
        log.warning("%s: %d %s to erase again after a restore had a send in flight: suppressed now, erased at the next "
                    "start once the send is settled", suppressions.path, deferred, "address" if deferred == 1 else
                    "addresses")
    return done


def _forget_mail(project: Project, addresses: list[str], suppressions: SuppressionLog) -> None:
    """Delete the mail the delivery keeps to each person erased again, as `subscribers forget` does: the restore may
    have put their files back with the database, or the copy was made before they were deleted."""
    if not addresses:
        return
    from pipeline.mail.transactional import forget_mail  # builds no message; loaded only when someone is erased

    failed = forget_mail(project, addresses)[1]
    if failed:  # no address in the line: it may go to serve's log
        log.warning("%s: the mail kept for %d %s erased again could not all be deleted (%s); `pipeline subscribers "
                    "list` shows who was erased, and `pipeline subscribers forget EMAIL` deletes what is left",
                    suppressions.path, len(failed), "address" if len(failed) == 1 else "addresses", failed[-1])


def _key(suppressions: SuppressionLog, project: Project) -> tuple[Key | None, str]:
    """The key of the project's secret, or None and why there is none (no secret is made for it)."""
    try:
        key = suppressions.key(make=False)
    except Exception as exc:  # ConfigError (a secret others can read, too short), OSError
        return None, getattr(exc, "strerror", None) or str(exc)
    return key, (f"no secret to match its hashes with ({project.serve.secret_env} is not set and "
                 f"{project.core.state_dir / 'secret'} is missing)")


def _secret(project: Project, make: bool) -> bytes | None:
    """The signing secret (`signing.signing_secret`); with `make` False, None rather than a new one when there is
    none: a secret made now would match no line written before. (Imported here: a refresh with nothing to note loads
    no signing code, tests/test_startup.py.)"""
    from pipeline.subscribers.signing import _read_secret, environment_secret, secret_path, signing_secret

    if make:
        return signing_secret(project)
    try:
        return environment_secret(project) or _read_secret(secret_path(project))
    except FileNotFoundError:
        return None
