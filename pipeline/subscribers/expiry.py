"""Requests to subscribe that nobody confirmed within 7 days end, and what the delivery kept of them goes too.

Called by every run and refresh (the `email` sink), by the form before it records a request, and by
`pipeline subscribers add` and `import`. Kept apart from `confirmation.py`, which loads the mail and
signing modules: a refresh that sends nothing never needs them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pipeline.components import Deliverer
from pipeline.state import Store
from pipeline.state.subscribers import expire_pending
from pipeline.subscribers.addresses import without_addresses

log = logging.getLogger("pipeline.subscribers")


def expire_requests(store: Store, deliverer: Deliverer | None, *, at: datetime) -> int:
    """End the requests not confirmed within 7 days (`expire_pending`), and have `deliverer` (the project's, None when
    it sends no mail) forget the confirmations it keeps of them; how many ended."""
    ended = expire_pending(store, at=at)
    for address in ended if deliverer is not None else ():
        try:
            deliverer.forget_request(address)
        except Exception as exc:  # a delivery's files left behind are no reason to fail the form or the run
            log.warning("the %s delivery could not forget an expired request's confirmation (%s); delete it by hand",
                        deliverer.name, without_addresses(f"{type(exc).__name__}: {exc}"))
    return len(ended)
