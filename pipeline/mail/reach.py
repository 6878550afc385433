"""Whom a send of an issue can still reach: one rule for `pipeline deliveries --resend`, `pipeline schedule`'s resume,
`pipeline status` and the organisers' alert, so that none of them waits on, or promises, a send that will not come.

A send reaches an active subscriber (the journal's rule, `journal.resendable`) whose choice of themes, as it counts
now, selects something in the issue (an item, or a job or event it tells has changed): one whose choice selects
nothing is sent nothing on purpose, as a send gives nothing to a choice with nothing new (the email sink's `groups`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.config import Project
from pipeline.state import Store, journal
from pipeline.state.store import EditionRecord


def gets_something(project: Project, store: Store, record: EditionRecord) -> Callable[[frozenset[str]], bool]:
    """Whether a subscriber whose stored choice of themes is the one given gets anything of the issue `record`."""
    sink = next((sink for sink in project.sinks if hasattr(sink, "items_for")), None)
    if sink is None:
        return lambda themes: True
    from pipeline.changes import stored_changes
    from pipeline.subscribers.themes import following

    # its items, and the jobs and events of its "Changed since" (`pipeline/changes.py`), which alone make an issue
    items = [*store.get_items(record.item_ids), *(change.item for change in stored_changes(store, record.number))]
    follows = following(project, store)
    return lambda themes: bool(sink.items_for(items, follows(themes)))


@dataclass
class Reach:
    """Of an issue's deliveries in some statuses, to active subscribers: (recipient, status) of each."""

    reached: list[tuple[str, str]] = field(default_factory=list)  # a send sends the issue to them
    nothing: list[tuple[str, str]] = field(default_factory=list)  # their themes select nothing in it now

    def counts(self) -> Counter:
        """Counter(status -> recipients) of those reached."""
        return Counter(status for _, status in self.reached)


def within_reach(project: Project, store: Store, record: EditionRecord,
                 statuses: Iterable[str] = (journal.FAILED, journal.UNKNOWN)) -> Reach:
    """The deliveries of the issue `record` in `statuses` that a send can still reach, and those to active subscribers
    whose themes select nothing in it now (anyone else, who is not active, is `journal.held_back`)."""
    found = Reach()
    rows = journal.resendable(store, record.number, statuses)
    if not rows:
        return found
    chosen = gets_something(project, store, record)
    for recipient, status, themes in rows:
        (found.reached if chosen(themes) else found.nothing).append((recipient, status))
    return found
