"""What a run did, stage by stage: the CLI prints it and `run_finished` hooks receive it."""

from __future__ import annotations

from dataclasses import dataclass, field


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
