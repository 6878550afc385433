"""Before a send: each subscriber who came back after unsubscribing or bouncing is taken off the delivery's own
suppression lists (`Deliverer.readmit`: SendGrid drops mail to an address on its bounce list or global unsubscribes
without a word), as `pipeline/state/readmissions.py` records them; one the delivery could not take off is said, by
address and reason, and asked again before the next send."""

from __future__ import annotations

from pipeline.components import Deliverer
from pipeline.errors import exception_text
from pipeline.state import Store, readmissions


def readmit_returning(store: Store, deliverer: Deliverer) -> list[tuple[str, str]]:
    """Ask the delivery to take each returning subscriber off its lists; (address, reason) of each it could not."""
    failures = []
    for waiting in readmissions.due(store):
        try:
            deliverer.readmit(waiting.email)
        except Exception as exc:  # a plugin's too: said by address, and asked again next time
            text = exception_text(exc).strip()
            reason = (text.splitlines()[0] if text else "") or type(exc).__name__
            readmissions.failed(store, waiting.subscriber, reason)
            failures.append((waiting.email, reason))
        else:
            readmissions.done(store, waiting.subscriber)
    return failures
