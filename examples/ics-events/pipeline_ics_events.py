"""`ics-events`: events from an iCalendar (.ics) file, one item per VEVENT. Needs icalendar (pyproject.toml)."""
import html
from datetime import timedelta

from pipeline import hookimpl
from pipeline.components import Settings, Source
from pipeline.dates import aware
from pipeline.models import EventDetails, Item, Kind, item_id
from pipeline.settings_types import ExistingFile


class IcsEvents(Source):
    name = "ics-events"

    class Settings(Settings):
        path: ExistingFile

    def fetch(self, run):
        import icalendar  # here, not at the top: every run loads this plugin, and few read a calendar

        tz = self.project.tz  # for dates, and for "floating" times that have no zone of their own
        for event in icalendar.Calendar.from_ical(self.settings.path.read_bytes()).walk("VEVENT"):
            all_day = not hasattr(event.start, "hour")  # a DATE: its DTEND is the day after it ends
            start, end = aware(event.start, tz), aware(event.end - timedelta(days=1 if all_day else 0), tz)
            yield Item(id=item_id(self.instance, event.uid), kind=Kind.EVENT, source=self.instance,
                       title=event.summary, url=event.url, published=aware(event.created, tz),  # else DTSTAMP
                       body_html=f"<p>{html.escape(event.description or '')}</p>",
                       event=EventDetails(start, end, getattr(start.tzinfo, "key", ""), all_day,
                                          venue=event.location or "", booking_url=event.url))


@hookimpl
def register_sources(register):
    register(IcsEvents)
