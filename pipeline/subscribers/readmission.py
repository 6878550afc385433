"""Before a send: each subscriber who came back after unsubscribing or bouncing is taken off the delivery's own
suppression lists (`Deliverer.readmit`: SendGrid drops mail to an address on its bounce list, global unsubscribes
or invalid emails without a word), as `pipeline/state/readmissions.py` records them; one the delivery could not take
off is said, by address and reason, and asked again before the next send; until then a send hands them nothing
(`not_waiting`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from pipeline.components import Deliverer
from pipeline.errors import exception_text
from pipeline.state import Store, readmissions

if TYPE_CHECKING:
    from pipeline.mail.message import Recipient


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


CAME_BACK_WHILE_SENDING = ("not sent: came back to the list while the send ran, so may still be on the delivery's own "
                           "suppression lists; the next run takes them off, then sends it")


def not_waiting(recipients: Iterable[Recipient], unreached: Mapping[str, str], met: dict[str, str],
                store: Store) -> Iterator[Recipient]:
    """`recipients` but those whose return still waits to be taken off the delivery's own lists: one it could not
    take off (`unreached`: address in lower case -> why), or one who confirmed while the send ran; each is put in
    `met` (address -> why), for the journal. Read lazily, as the send reads the list."""
    waiting: set[str] = set()
    for count, recipient in enumerate(recipients):
        if count % 500 == 0:  # read again as the send goes: a confirmation may come at any moment
            waiting = readmissions.waiting(store)
        address = recipient.email.lower()
        if address in unreached or address in waiting:
            met[recipient.email] = unreached.get(address) or CAME_BACK_WHILE_SENDING
        else:
            yield recipient
