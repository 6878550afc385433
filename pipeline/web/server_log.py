"""What `serve` logs of what went wrong: an unexpected exception with every address masked (`log_masked`), and
each kind of bad request uvicorn warns of said once an hour at most (`quiet_bad_requests`).

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
time.)
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


class _OncePerRequestKind(logging.Filter):
    """Each kind of bad request said the first time, then at most once each `EVERY` seconds with how many came since
    (a flood an operator should hear of, without a line per request); the WebSocket advice never."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.said: dict[str, tuple[float, int]] = {}  # per kind: when it was last said, and how many since

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(NEVER):
            return False
        if message not in SAID_ONCE:
            return True
        now = self.clock()
        last = self.said.get(message)
        if last is None:
            note = (f"from a client; more such requests are counted, and said at most once every "
                    f"{EVERY // 60} minutes")
        elif now - last[0] < EVERY:
            self.said[message] = (last[0], last[1] + 1)
            return False
        else:
            count = last[1] + 1
            note = (f"from a client; {count} such request{'s' if count != 1 else ''} in the last "
                    f"{round((now - last[0]) / 60)} minutes")
        self.said[message] = (now, 0)
        record.msg, record.args = f"{message} ({note})", ()
        return True


def quiet_bad_requests(name: str = "uvicorn.error") -> None:
    """Log each kind of bad request uvicorn warns of once, on logger `name` (uvicorn's own)."""
    logger = logging.getLogger(name)
    if not any(isinstance(each, _OncePerRequestKind) for each in logger.filters):
        logger.addFilter(_OncePerRequestKind())


def log_masked(exc: BaseException, message: str, *args: object) -> None:
    """`log.exception(message, *args)` for `exc`: the line and its traceback (in the log file; on the terminal with
    PIPELINE_DEBUG), every address in them masked, as every credential is (`logs.traceback_text`)."""
    if log.isEnabledFor(logging.ERROR):
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, args, None)
        # credentials first: an address's user and password (https://ann:pw@host) is no mail address
        record.msg, record.args = without_addresses(redact_text(record.getMessage())), ()
        record.exc_text = without_addresses(traceback_text(exc))  # (with no exc_info, no formatter makes its own)
        log.handle(record)
