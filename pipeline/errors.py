"""Errors meant for the person running the pipeline: each message is one line that says where and what to do."""

from pipeline.redact import redact_text

STR_FAILED = "<exception str() failed>"  # as Python's own traceback says it


def exception_text(exc: BaseException) -> str:
    """`str(exc)`; for an exception whose `__str__` raises (a plugin's bug), what Python's traceback says of it, so
    the line that reports it is still made, and no traceback of the failed report, unmasked, takes its place."""
    try:
        return str(exc)
    except Exception:
        return STR_FAILED


class Stop(BaseException):
    """What stops a run from outside it, never a component's failure: a signal (the CLI's `Stopped`), a deadline's
    interrupt inside plugin code (`time_limits.Interrupt`)."""


def is_stop(exc: BaseException) -> bool:
    """Whether `exc` stops the run (Ctrl-C, a signal, a deadline): unwound, not reported as what a plugin raised.
    Any other `BaseException` from plugin code (`sys.exit("...")`, a `class Boom(BaseException)`) is its failure."""
    return isinstance(exc, (KeyboardInterrupt, Stop))


class PipelineError(Exception):
    """A problem the user can fix; the CLI prints the message without a traceback. A credential in an address it
    names is masked as the message is made (`pipeline/redact.py`), so no path that shows it can print it."""

    exit_code = 1

    def __init__(self, *args):
        super().__init__(*(redact_text(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigError(PipelineError):
    """pipeline.toml, a plugin or a setting is wrong; nothing has run yet."""

    exit_code = 2

    def __init__(self, *lines: str):
        self.lines = [redact_text(line) for line in lines]
        super().__init__("\n".join(self.lines))


class SourceError(PipelineError):
    """A source could not produce its items; the run goes on without it."""


class SinkError(PipelineError):
    """A sink could not write or deliver; the run fails once every sink has had its turn."""


class InputError(PipelineError):
    """A command was given something it cannot take (an address, an item, a theme, a file): nothing changed."""

    exit_code = 2


class SubscriberError(InputError):
    """A subscriber change that is not allowed (re-adding someone who left), or a bad address or list."""


class StateError(PipelineError):
    """The state database is damaged or unreadable; nothing is fetched until it is restored or repaired."""

    exit_code = 2


class NewerState(StateError):
    """The state database is from a newer version of the pipeline (a schema step this one does not know:
    `schema.newer`); `step` is its step, `known` this version's last."""

    def __init__(self, message: str, step: int = 0, known: int = 0):
        super().__init__(message)
        self.step, self.known = step, known


class StateAccessError(PipelineError):
    """The state folder, or a file in it, cannot be written (or read) by this user, or is on a file system mounted
    read-only, or a folder is where the database file should be: nothing runs until someone changes that
    (`pipeline/state/access.py`); `pipeline schedule` ends on it (exit 2), since waiting cannot put it right."""

    exit_code = 2
