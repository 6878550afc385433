"""State in SQLite: items seen, editions, the delivery journal and the subscribers.

`store.py` holds the connection and the items and editions; `journal.py` every change of a
delivery, `subscribers.py` every change of a subscriber, `history.py` every run and what each
component did in it, `alerts.py` each problem the organisers were told of, `renames.py` each source
renamed (`renamed_from`), `suppression_log.py` the record of everyone who left that outlives the database
(a backup put back), `provider_reports.py` what the mail provider reported; `schema.py` every table.
"""

from pipeline.state.store import EditionRecord, Revision, Store

__all__ = ["EditionRecord", "Revision", "Store"]
