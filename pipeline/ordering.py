"""The one order of jobs and events, wherever they are listed: the email's Jobs and Events sections
(`pipeline/edition.py`) and the site's open jobs and upcoming events (plugins/sinks/archive/lists.py).

Those with a date come first, the soonest at the top (a job by its closing date, an event by its start, as a moment:
an event at 09:30 in New York comes after one at 10:00 in London that day), then those with none (a partner feed's
adverts and notices), newest first; the title settles a tie. So no run of adverts pushes a dated job out of the email,
which shows the first `max_items_per_section` of each section.
"""

from __future__ import annotations

from datetime import date, datetime


def soonest_first(when: date | datetime | None, published: datetime, title: str) -> tuple:
    """The sort key of a job (`when` its closing date) or an event (`when` its start), None when it has none."""
    if when is None:
        return (1, -published.timestamp(), title)
    return (0, when.timestamp() if isinstance(when, datetime) else when.toordinal() * 86400.0, title)
