"""Logging, with the standard `logging` module: every message under the `pipeline` logger.

Standard error shows warnings and errors by default; `--verbose` (`-v`) adds what the pipeline is
doing (each run, each alert, each batch of a send), `-vv` the detail (each download's status, each
chunk of items), and `--quiet` (`-q`) only errors. `--log-file PATH` also appends every message at
INFO (DEBUG with `-vv`) to a file, each line with its time, level and logger; so does the
`PIPELINE_LOG_FILE` environment variable.

The terminal keeps its run table: what the table already says (each source's and sink's result,
each skipped record) is logged with `extra=SHOWN`, which goes to the log file but is not printed
twice on the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path

LOGGER = "pipeline"
LOG_FILE_ENV = "PIPELINE_LOG_FILE"
DEBUG_ENV = "PIPELINE_DEBUG"  # set: an unexpected error's traceback is shown, a failing component's too
SHOWN = {"shown": True}  # `extra=` for a message the terminal already shows another way

_handlers: list[logging.Handler] = []  # ours, replaced when `configure` runs again (tests call main() often)
_quiet = False


class _NotShownAlready(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "shown", False)


class _Redacted(logging.Filter):
    """Every line, to the terminal and the file, with a credential in an address masked (`pipeline/redact.py`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pipeline.redact import redact_text

        try:
            message = record.getMessage()
        except Exception as exc:  # a malformed call: said here, since logging's own report repeats its arguments
            message = _malformed(record, exc)
        record.msg, record.args = redact_text(message), ()
        if record.exc_info:  # formatted here, whatever a formatter before ours made of it
            record.exc_text = traceback_text(record.exc_info[1])
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _malformed(record: logging.LogRecord, exc: Exception) -> str:
    """The line for a logging call whose arguments do not fit its message: where it is, and what it was given."""
    from pipeline.errors import exception_text

    try:
        given = f"{record.msg!r} with {record.args!r}"
    except Exception:
        given = "a message or arguments that cannot be shown"
    return (f"{record.pathname}, line {record.lineno}: a logging call whose arguments do not fit its message "
            f"({type(exc).__name__}: {exception_text(exc)}); it gave {given}")


def traceback_text(exc: BaseException) -> str:
    """`exc`'s traceback with the exceptions chained to it, a credential in any line masked (`pipeline/redact.py`):
    their messages, an address's repr in a library's error, the source lines shown."""
    import traceback

    from pipeline.redact import redact_text

    return redact_text("".join(traceback.format_exception(exc)).rstrip("\n"))


def debugging() -> bool:
    return bool(os.environ.get(DEBUG_ENV))


def show_traceback(where: str, exc: BaseException) -> None:
    """With `PIPELINE_DEBUG` set, the traceback of what `where` (a plugin, a component) raised, masked, for its
    author: the run's table gives a failing component one line. Logged, so on the terminal and in the log file;
    printed on standard error in a worker process, where logging is not set up. An error the plugin explained
    itself (a `PipelineError`) has no traceback worth showing."""
    from pipeline.errors import PipelineError

    if not debugging() or isinstance(exc, PipelineError):
        return
    logger = logging.getLogger(LOGGER)
    if logger.hasHandlers():
        logger.error("%s: the traceback (%s is set)", where, DEBUG_ENV, exc_info=exc)
    else:
        print(f"{where}: the traceback ({DEBUG_ENV} is set)\n{traceback_text(exc)}", file=sys.stderr)


class _TerminalFormat(logging.Formatter):
    """`warning: …`, as the command's own errors are written."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        return f"{line}\n{record.exc_text}" if record.exc_text and debugging() else line


class _FileFormat(logging.Formatter):
    """`2026-10-25T01:30:00.123+01:00 INFO pipeline.run: …`: local time with its offset from UTC, so an hour the clocks
    go back through twice, or a log read on another machine, is still read right."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


def redact_logger(name: str) -> None:
    """Mask credentials in what a library logs on logger `name` itself, tracebacks included, to whichever handler
    shows it (httpx logs each request's address, a `${NAME}` read into it, at INFO)."""
    logger = logging.getLogger(name)
    if not any(isinstance(each, _Redacted) for each in logger.filters):
        logger.addFilter(_Redacted())


def configure(*, verbose: int = 0, quiet: bool = False, log_file: Path | None = None) -> None:
    """Send the `pipeline` logger's messages to standard error (at the level chosen) and to `log_file`."""
    global _quiet
    logger = logging.getLogger(LOGGER)
    for handler in _handlers:
        logger.removeHandler(handler)
        handler.close()
    _handlers.clear()
    _quiet = quiet

    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))
    terminal.setFormatter(_TerminalFormat())
    terminal.addFilter(_NotShownAlready())
    _handlers.append(terminal)

    given = "give --log-file" if log_file is not None else f"set {LOG_FILE_ENV} to"
    log_file = log_file or (Path(os.environ[LOG_FILE_ENV]) if os.environ.get(LOG_FILE_ENV) else None)
    if log_file is not None:
        try:
            file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            from pipeline.errors import ConfigError

            raise ConfigError(f"{log_file}: cannot write the log file there ({exc.strerror}); "
                              f"{given} a path in a folder that exists and is writable") from None
        file.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        file.setFormatter(_FileFormat())
        _handlers.append(file)
    for handler in _handlers:
        handler.addFilter(_Redacted())
        logger.addHandler(handler)
    if logging.lastResort is not None and not any(isinstance(each, _Redacted) for each in logging.lastResort.filters):
        logging.lastResort.addFilter(_Redacted())  # what another logger (a plugin's own, by module) warns of
    # Each handler picks its own level; the logger passes on what the most talkative wants, so a debug
    # line nobody shows (one per download) costs a level check, not a record through every handler.
    logger.setLevel(min(handler.level for handler in _handlers))


def quiet() -> bool:
    """Whether `--quiet` was given: no progress bar, and the run table only when something went wrong."""
    return _quiet
