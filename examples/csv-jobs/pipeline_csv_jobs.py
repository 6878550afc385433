"""`csv-jobs`: job adverts from a spreadsheet saved as CSV, one a row (columns: id, title, organisation,
location, salary, posted, closing_date, url, how_to_apply, description)."""
import csv
import html
from datetime import date

from pipeline import hookimpl
from pipeline.components import Settings, Source
from pipeline.dates import aware
from pipeline.models import Item, JobDetails, Kind, item_id
from pipeline.settings_types import ExistingFile


class CsvJobs(Source):
    name = "csv-jobs"

    class Settings(Settings):
        path: ExistingFile

    def fetch(self, run):
        with open(self.settings.path, newline="", encoding="utf-8") as rows:
            for line, row in enumerate(csv.DictReader(rows, restval=""), start=2):  # a short row: empty ends
                try:
                    posted, closing = date.fromisoformat(row["posted"]), date.fromisoformat(row["closing_date"])
                except (KeyError, TypeError, ValueError) as exc:
                    run.problem(f"{self.settings.path}:{line}", f"{type(exc).__name__} {exc}; row skipped")
                    continue
                job = JobDetails(row["organisation"], row["location"], salary=row["salary"], closing_date=closing,
                                 how_to_apply=row["how_to_apply"])
                yield Item(id=item_id(self.instance, row["id"]), kind=Kind.JOB, source=self.instance, job=job,
                           title=row["title"], published=aware(posted, self.project.tz), url=row["url"],
                           body_html=f"<p>{html.escape(row['description'])}</p>")


@hookimpl
def register_sources(register):
    register(CsvJobs)
