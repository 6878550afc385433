"""What `serve` logs of what went wrong: an unexpected exception with every address masked (`log_masked`), and
each kind of bad request uvicorn warns of said once (`quiet_bad_requests`).

uvicorn logs an exception a route raises with its whole traceback, the exception's own message and all, and that
message may name an address anyone typed into the form: the app logs such an exception itself, masked
(`render.SecurityHeaders`), so none reaches uvicorn.

Anyone can send bad requests, one after another.

uvicorn warns of every request it cannot parse ("Invalid HTTP request received."), and twice of every one asking
for a WebSocket ("Unsupported upgrade request.", then advice to install a WebSocket library, which the app, with
no WebSocket route, does not want). Line by line, a script could fill `serve`'s log with them and lose the lines
that matter in it, as the host check (`hosts.HostCheck`) and the webhook's refusals are kept from doing. Each is
said the first time, saying so; the advice never. (`pipeline serve` runs uvicorn with `ws="none"`, so that a
WebSocket request comes here whatever library is installed, not to the app, which refuses it, logged each time.)
"""

from __future__ import annotations

import logging

from pipeline.logs import traceback_text
from pipeline.redact import redact_text
from pipeline.subscribers.addresses import without_addresses

log = logging.getLogger("pipeline.web")

SAID_ONCE = ("Invalid HTTP request received.", "Unsupported upgrade request.")
NEVER = ("No supported WebSocket library detected.",)


class _OncePerRequestKind(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.said: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(NEVER):
            return False
        if message not in SAID_ONCE:
            return True
        if message in self.said:
            return False
        self.said.add(message)
        record.msg = f"{message} (from a client; more such requests are not logged again until `pipeline serve` " \
                     f"restarts)"
        record.args = ()
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
