"""What `serve` logs of what went wrong: an unexpected exception with every address masked (`log_masked`), and
each kind of bad request uvicorn warns of said once an hour at most (`quiet_bad_requests`), as is a form body
python-multipart cannot parse (`quiet_bad_forms`).

uvicorn logs an exception a route raises with its whole traceback, the exception's own message and all, and that
message may name an address anyone typed into the form: the app logs such an exception itself, masked
(`render.SecurityHeaders`), so none reaches uvicorn.

Anyone can send bad requests, one after another, and uvicorn warns of every request it cannot parse ("Invalid HTTP
request received."), and twice of every one asking for a WebSocket ("Unsupported upgrade request.", then advice to
install a WebSocket library, which the app, with no WebSocket route, does not want). Line by line, a script could
fill `serve`'s log with them and lose the lines that matter in it, as the host check (`hosts.HostCheck`) and the
webhook's refusals are kept from doing. Each is said the first time, saying so, then at most once an hour with how
many came since (a flood is still heard of); the advice never. (`pipeline serve` runs uvicorn with `ws="none"`, so
that a WebSocket request comes here whatever library is installed, not to the app, which refuses it, logged each
time.) So is python-multipart's warning of each form post whose body it cannot parse (the page answers 400), which
it gives for every one, a line each, whatever the route.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pipeline.logs import traceback_text
from pipeline.redact import redact_text
from pipeline.subscribers.addresses import without_addresses

log = logging.getLogger("pipeline.web")

SAID_ONCE = ("Invalid HTTP request received.", "Unsupported upgrade request.")
NEVER = ("No supported WebSocket library detected.",)
EVERY = 3600  # seconds: each kind of bad request said at most this often, with how many came since
FORM_PARSER = "python_multipart.multipart"  # the logger python-multipart warns of each form body it cannot parse on


class Sparing:
    """When to say a line that may come again and again: the first time, then at most once each `every` seconds,
    with how many came since (a flood an operator should hear of, without a line for each)."""

    def __init__(self, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.said: dict[str, tuple[float, int]] = {}  # per kind: when it was last said, and how many since

    def due(self, kind: str) -> tuple[int, float] | None:
        """None to say nothing now; else (how many came since it was last said, this one with them; the seconds since
        then): (0, 0.0) the first time."""
        now = self.clock()
        last = self.said.get(kind)
        if last is not None and now - last[0] < self.every:
            self.said[kind] = (last[0], last[1] + 1)
            return None
        self.said[kind] = (now, 0)
        return (0, 0.0) if last is None else (last[1] + 1, now - last[0])

    def forget(self) -> None:
        """Start over: each kind is said again the next time it comes."""
        self.said.clear()


class _OncePerRequestKind(logging.Filter):
    """Each kind of bad request said the first time, then at most once each `EVERY` seconds with how many came since
    (a flood an operator should hear of, without a line per request); the WebSocket advice never."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.sparing = Sparing(clock=clock)

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(NEVER):
            return False
        kind = self.kind(record)
        if kind is None:
            return True
        due = self.sparing.due(kind)
        if due is None:
            return False
        count, since = due
        if not count:
            note = (f"from a client; more such requests are counted, and said at most once every "
                    f"{EVERY // 60} minutes")
        else:
            note = (f"from a client; {count} such request{'s' if count != 1 else ''} in the last "
                    f"{round(since / 60)} minutes")
        record.msg, record.args = f"{self.line(record)} ({note})", ()
        return True

    def kind(self, record: logging.LogRecord) -> str | None:
        """The kind of bad request `record` tells of; None for any other line (let through as it is)."""
        message = str(record.msg)
        return message if message in SAID_ONCE else None

    def line(self, record: logging.LogRecord) -> str:
        return str(record.msg)


class _OncePerBadForm(_OncePerRequestKind):
    """python-multipart's warnings, each of a form body it could not parse (`Expected boundary character 66, got 88
    at index 4`; the page answers 400), whatever the numbers in them: one kind, said as the bad requests are."""

    def kind(self, record: logging.LogRecord) -> str | None:
        return "form" if record.levelno >= logging.WARNING else None

    def line(self, record: logging.LogRecord) -> str:
        return f"A form post could not be parsed ({record.getMessage()}) and was answered 400"


def quiet_bad_requests(name: str = "uvicorn.error") -> None:
    """Log each kind of bad request uvicorn warns of once, on logger `name` (uvicorn's own)."""
    logger = logging.getLogger(name)
    if not any(isinstance(each, _OncePerRequestKind) for each in logger.filters):
        logger.addFilter(_OncePerRequestKind())


def quiet_bad_forms(name: str = FORM_PARSER) -> None:
    """Log python-multipart's warning of each form body it cannot parse (on logger `name`, its own) as the bad
    requests are: the first, then at most once each `EVERY` seconds with how many came since."""
    logger = logging.getLogger(name)
    if not any(isinstance(each, _OncePerBadForm) for each in logger.filters):
        logger.addFilter(_OncePerBadForm())


def log_masked(exc: BaseException, message: str, *args: object) -> None:
    """`log.exception(message, *args)` for `exc`: the line and its traceback (in the log file; on the terminal with
    PIPELINE_DEBUG), every address in them masked, as every credential is (`logs.traceback_text`)."""
    if log.isEnabledFor(logging.ERROR):
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, args, None)
        # credentials first: an address's user and password (https://ann:pw@host) is no mail address
        record.msg, record.args = without_addresses(redact_text(record.getMessage())), ()
        record.exc_text = without_addresses(traceback_text(exc))  # (with no exc_info, no formatter makes its own)
        log.handle(record)
