"""What a run did, stage by stage: the CLI prints it and `run_finished` hooks receive it."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import PipelineError, exception_text, is_stop
from pipeline.logs import show_traceback
from pipeline.redact import redact_text


@dataclass
class StageResult:
    stage: str  # "source", "transform" or "sink"
    name: str  # the instance name from pipeline.toml
    ok: bool
    summary: str
    seconds: float
    count: int = 0  # items fetched (sources) or handled (transforms)

    def __post_init__(self) -> None:  # shown, stored, mailed: a credential in an address it names is masked
        self.summary = redact_text(self.summary)


@dataclass
class RunReport:
    mode: str  # "run" or "refresh"
    as_of: str
    edition: int | None = None
    results: list[StageResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # per-record problems: a bad post, a bad row
    kept: set[str] = field(default_factory=set)  # those of them whose record was kept all the same
    skipped: dict[str, list[str]] = field(default_factory=dict)  # source -> the problems of the records it skipped
    unalerted: set[str] = field(default_factory=set)  # those of them saying an alert could not be sent ("alerts: ...")

    def failed(self, stage: str) -> list[StageResult]:
        return [r for r in self.results if r.stage == stage and not r.ok]

    def label(self, problem: str) -> str:
        """What the run table and the log put before `problem`: "" for an alert not sent, which says so itself."""
        return "" if problem in self.unalerted else "kept, with a warning" if problem in self.kept else "skipped"

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
    in a plugin too, and a `BaseException` of its own: only a signal, Ctrl-C or a deadline stops the run)."""
    started = time.perf_counter()
    try:
        summary, count = work()
    except BaseException as exc:
        if is_stop(exc):
            raise
        show_traceback(f"{stage} {name}", exc)
        return StageResult(stage, name, False, failure_reason(exc), time.perf_counter() - started)
    return StageResult(stage, name, True, summary, time.perf_counter() - started, count)


def items_text(count: int) -> str:
    return f"{count} item{'' if count == 1 else 's'}"


TEMPLATE_SUFFIXES = (".html", ".txt", ".mjml", ".xml", ".css", ".js")


def failure_reason(exc: BaseException) -> str:
    """One line: the exception's type and first line; for a mistake in a template, the template and its line
    first (a Jinja syntax error names them; an error while rendering is found in the traceback, whose frames
    Jinja gives the template's file and line)."""
    text = exception_text(exc).strip()
    text = text.splitlines()[0] if text else ""
    said = text if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {text}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        said += "; free some space on that disk, then run again"
    elif isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and exc.filename:
        said += ("; mount it read-write (under systemd, list it in ReadWritePaths), then run again"
                 if exc.errno == errno.EROFS else
                 "; let the user that runs the pipeline read and write it (chown or chmod), then run again")
    place = _template_place(exc)
    return redact_text(f"{place}: {said}" if place else said)


def _template_place(exc: BaseException) -> str:
    filename, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if type(exc).__module__.startswith("jinja2") and filename:
        return f"template {filename}, line {line}" if line else f"template {filename}"
    import traceback

    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(TEMPLATE_SUFFIXES):
            return f"template {frame.filename}, line {frame.lineno}"
    return ""
