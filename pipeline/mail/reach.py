"""Whom a send of an issue can still reach: one rule for `pipeline deliveries --resend`, `pipeline schedule`'s resume,
`pipeline status` and the organisers' alert, so that none of them waits on, or promises, a send that will not come.

A send reaches an active subscriber (the journal's rule, `journal.resendable`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.config import Project
from pipeline.state import Store, journal
from pipeline.state.store import EditionRecord


@dataclass
class Reach:
    """Of an issue's deliveries in some statuses, to active subscribers: (recipient, status) of each."""

    reached: list[tuple[str, str]] = field(default_factory=list)  # a send sends the issue to them

    def counts(self) -> Counter:
        """Counter(status -> recipients) of those reached."""
        return Counter(status for _, status in self.reached)


def within_reach(project: Project, store: Store, record: EditionRecord,
                 statuses: Iterable[str] = (journal.FAILED, journal.UNKNOWN)) -> Reach:
    """The deliveries of the issue `record` in `statuses` that a send can still reach (anyone else, who is not active,
    is `journal.held_back`)."""
    return Reach([(recipient, status) for recipient, status, _ in journal.resendable(store, record.number, statuses)])
