"""What a run did, stage by stage: the CLI prints it and `run_finished` hooks receive it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import PipelineError


@dataclass
class StageResult:
    stage: str  # "source", "transform" or "sink"
    name: str  # the instance name from pipeline.toml
    ok: bool
    summary: str
    seconds: float
    count: int = 0  # items fetched (sources) or handled (transforms)


@dataclass
class RunReport:
    mode: str  # "run" or "refresh"
    as_of: str
    edition: int | None = None
    results: list[StageResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # per-record problems: a bad post, a bad row
    kept: set[str] = field(default_factory=set)  # those of them whose record was kept all the same

    def failed(self, stage: str) -> list[StageResult]:
        return [r for r in self.results if r.stage == stage and not r.ok]

    @property
    def exit_code(self) -> int:
        """0: all well; 1: a sink failed; 3: the sinks ran, but a source failed or records were skipped."""
        if self.failed("sink") or self.failed("transform"):
            return 1
        if self.failed("source") or self.problems:
            return 3
        return 0


def timed(stage: str, name: str, work: Callable[[], tuple[str, int]]) -> StageResult:
    """Run one component's work; any exception becomes a failed result naming the component (`sys.exit()`
    in a plugin too: only a signal, or Ctrl-C, stops the run)."""
    started = time.perf_counter()
    try:
        summary, count = work()
    except (Exception, SystemExit) as exc:
        return StageResult(stage, name, False, failure_reason(exc), time.perf_counter() - started)
    return StageResult(stage, name, True, summary, time.perf_counter() - started, count)


def items_text(count: int) -> str:
    return f"{count} item{'' if count == 1 else 's'}"


def failure_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {text}"
