"""The run history: every run of `pipeline run` and `refresh`, and what each of its components did.

A run's row changes twice, one transaction each:

    (none) --begin_run--> unfinished          once the run holds the lock and the store is open
    unfinished --finish_run--> finished       at the end, with every component's result; also when the run
                                              failed or was stopped (outcome "stopped by SIGTERM", "error: ...")

The same transaction replaces, for each source the run fetched, the records it skipped in its previous run with those
it skipped in this one (`skipped_records`, for `pipeline status`): what is there is what its latest run skipped.

A run stays unfinished only while it runs, or when its process was killed outright (SIGKILL, a power
cut): `pipeline status` shows such a run as unfinished. Readers (`last_runs`, `source_health`, ...)
take no lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pipeline.redact import redact_text
from pipeline.run_report import StageResult
from pipeline.state.store import Store


@dataclass(frozen=True)
class RunRecord:
    id: int
    started: datetime
    finished: datetime | None  # None: still running, or killed before it could say so
    mode: str  # "run", "refresh" or "run (dry run)"
    as_of: date
    edition: int | None
    exit_code: int | None
    outcome: str

    @property
    def seconds(self) -> float | None:
        return (self.finished - self.started).total_seconds() if self.finished else None


@dataclass(frozen=True)
class SourceHealth:
    name: str
    last_success: datetime | None  # when the latest run in which it succeeded started
    failures_in_a_row: int  # its failed runs since that success (all of them if it never succeeded)
    last_error: str  # the latest failure's reason ("" if it never failed)
    last_failure: datetime | None


def begin_run(store: Store, *, mode: str, as_of: date, at: datetime) -> int:
    """Record that a run has started; return its id."""
    with store.transaction() as db:
        return db.execute("INSERT INTO runs (started, mode, as_of) VALUES (?, ?, ?)",
                          (_iso(at), mode, as_of.isoformat())).lastrowid


def finish_run(store: Store, run: int, *, at: datetime, edition: int | None, exit_code: int, outcome: str,
               results: Iterable[StageResult], skipped: dict[str, list[str]] | None = None) -> None:
    """Record how run `run` ended, with every component's result (a credential in an address masked), and, for each
    source it fetched, the records it skipped (`skipped`: source -> each one's problem; an address in one masked
    too, as the alerts mask it: the history holds no subscriber's)."""
    from pipeline.subscribers.addresses import without_addresses

    results = list(results)
    fetched = {r.name for r in results if r.stage == "source"} | set(skipped or ())
    with store.transaction() as db:
        db.execute("UPDATE runs SET finished = ?, edition = ?, exit_code = ?, outcome = ? WHERE id = ?",
                   (_iso(at), edition, exit_code, redact_text(outcome), run))
        db.executemany("INSERT INTO run_results (run, stage, name, ok, summary, seconds, count) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(run, r.stage, r.name, int(r.ok), redact_text(r.summary), r.seconds, r.count)
                        for r in results])
        db.executemany("DELETE FROM skipped_records WHERE source = ?", [(name,) for name in sorted(fetched)])
        db.executemany("INSERT INTO skipped_records (source, run, problem) VALUES (?, ?, ?)",
                       [(name, run, without_addresses(redact_text(line)))
                        for name, lines in sorted((skipped or {}).items()) for line in lines])


def last_runs(store: Store, n: int = 10) -> list[RunRecord]:
    """The latest `n` runs, newest first (unfinished ones included)."""
    return [_run(row) for row in store._rows(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (n,))]


def latest_run_of_mode(store: Store, mode: str, *, finished: bool = True, as_of: date | None = None
                       ) -> RunRecord | None:
    """The latest run of `mode` ("run", "refresh", "run (dry run)"); only finished ones unless told; with `as_of`,
    the latest of those for that date."""
    where = "mode = ? AND finished IS NOT NULL" if finished else "mode = ?"
    where, args = (f"{where} AND as_of = ?", (mode, as_of.isoformat())) if as_of is not None else (where, (mode,))
    rows = store._rows(f"SELECT {RUN_COLUMNS} FROM runs WHERE {where} ORDER BY id DESC LIMIT 1", args)
    return _run(rows[0]) if rows else None


def first_run_started(store: Store) -> datetime | None:
    """When the first run this database records started (None: it records none)."""
    (first,), = store._rows("SELECT MIN(started) FROM runs")
    return datetime.fromisoformat(first) if first else None


def run_results(store: Store, run: int) -> list[StageResult]:
    """What each component did in run `run`, in the order the run reported them."""
    return [StageResult(stage, name, bool(ok), summary, seconds, count) for stage, name, ok, summary, seconds, count
            in store._rows("SELECT stage, name, ok, summary, seconds, count FROM run_results WHERE run = ? "
                           "ORDER BY rowid", (run,))]


def skipped_records(store: Store) -> dict[str, list[str]]:
    """{source name: the problem of each record its latest finished run skipped} for each source that skipped any;
    none from a database opened read-only that has no record of them yet (made by an earlier version)."""
    if not store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'skipped_records'"):
        return {}
    found: dict[str, list[str]] = {}
    for source, problem in store._rows("SELECT source, problem FROM skipped_records ORDER BY source, rowid"):
        found.setdefault(source, []).append(problem)
    return found


def source_health(store: Store) -> dict[str, SourceHealth]:
    """{source name: its health} for every source any finished run has fetched."""
    # One pass over the sources' results (grouped by name, run_results_by_name), then a look-up per name: a year of
    # hourly runs of two hundred feeds is a million rows, which a query per name over all of them would read again.
    rows = store._rows("""
        WITH good AS (SELECT name, MAX(CASE WHEN ok THEN run END) AS good, MAX(CASE WHEN NOT ok THEN run END) AS bad
                      FROM run_results x WHERE stage = 'source' AND run IN (SELECT id FROM runs) GROUP BY name),
             failing AS (SELECT x.name, COUNT(*) AS failures FROM run_results x JOIN good g ON g.name = x.name
                         WHERE x.stage = 'source' AND NOT x.ok AND x.run > COALESCE(g.good, 0)
                               AND x.run IN (SELECT id FROM runs) GROUP BY x.name)
        SELECT g.name, (SELECT started FROM runs WHERE id = g.good), COALESCE(f.failures, 0),
               (SELECT x.summary || char(31) || r.started FROM run_results x JOIN runs r ON r.id = x.run
                WHERE x.stage = 'source' AND x.name = g.name AND x.run = g.bad)
        FROM good g LEFT JOIN failing f ON f.name = g.name
        ORDER BY g.name""")
    health = {}
    for name, success, failing, failure in rows:
        error, _, when = (failure or "").partition("\x1f")
        health[name] = SourceHealth(name, _moment(success), failing, error, _moment(when))
    return health


RUN_COLUMNS = "id, started, finished, mode, as_of, edition, exit_code, outcome"


def _run(row: tuple) -> RunRecord:
    number, started, finished, mode, as_of, edition, exit_code, outcome = row
    return RunRecord(number, datetime.fromisoformat(started), _moment(finished), mode, date.fromisoformat(as_of),
                     edition, exit_code, outcome)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
