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
from pipeline.state.subscribers import reapply
from pipeline.state.suppression_log import LOG_FILE, SuppressionLog, mark, remember_unknown

log = logging.getLogger("pipeline.subscribers")


def keep(store: Store, project: Project, *, replay: bool = True) -> int:
    """Note every leave of `store`'s subscribers in the project's suppression log, and (with `replay`) apply the
    log's entries the database does not know; how many were re-applied (said in one warning line)."""
    suppressions = SuppressionLog(project.core.state_dir / LOG_FILE, lambda make: _secret(project, make))
    store.suppressions = suppressions
    return replay_into(store, suppressions, project) if replay else 0


def replay_into(store: Store, suppressions: SuppressionLog, project: Project) -> int:
    found = suppressions.unchecked(store._rows)
    if found is None:
        return 0
    entries, size, last_line = found
    if entries:
        try:
            key = suppressions.key(make=False)
        except Exception as exc:  # ConfigError (a secret others can read, too short), OSError
            key, why = None, getattr(exc, "strerror", None) or str(exc)
        else:
            why = (f"no secret to match its hashes with ({project.serve.secret_env} is not set and "
                   f"{project.core.state_dir / 'secret'} is missing)")
        if key is None:
            log.warning("%s: %d %s not checked against the list: %s; nothing is lost, the log is checked at the "
                        "next start once the secret it was written with is back", suppressions.path,
                        len(entries), "entry" if len(entries) == 1 else "entries", why)
            return 0
        others = [entry for entry in entries if entry.key != key.id]
        if others:  # kept unchecked (no marker moved), as without a secret: applied once theirs is back
            log.warning("%s: %d %s written under another secret (fingerprint %s) and cannot be matched to an "
                        "address: give the pipeline the secret they were written with (%s or %s) to have them "
                        "applied at the next start, or, if it is lost for good, delete those lines; until then each "
                        "start says so", suppressions.path, len(others),
                        "entry was" if len(others) == 1 else "entries were", others[-1].key,
                        project.serve.secret_env, project.core.state_dir / "secret")
        wanted = {entry.digest for entry in entries if entry.key == key.id}
        ids = _ids_of(store, key, wanted) if wanted else {}
        matched = [(ids[entry.digest], entry.status, entry.at) for entry in entries
                   if entry.key == key.id and entry.digest in ids]
        unknown = [entry for entry in entries if entry.key == key.id and entry.digest not in ids]
    else:
        matched, others, unknown = [], [], []
    applied, deferred = reapply(store, matched) if matched else ({}, 0)
    done = sum(applied.values())
    with store.transaction() as db:
        remember_unknown(db, unknown)  # not on this copy's list: kept off it if the organiser's list adds them again
        if not deferred and not others:
            mark(db, size, last_line, done, datetime.now(UTC))
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


def _ids_of(store: Store, key, wanted: set[str]) -> dict[str, int]:
    """The subscriber id of each hash in `wanted`, from every stored address and every spelling merged into one."""
    ids: dict[str, int] = {}
    for subscriber_id, email in store._rows("SELECT id, email FROM subscribers UNION ALL "
                                            "SELECT subscriber, email FROM subscriber_aliases", ()):
        digest = key.digest(email)
        if digest in wanted:
            ids.setdefault(digest, subscriber_id)
    return ids


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
