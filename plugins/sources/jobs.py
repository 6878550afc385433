"""`jobs`: job adverts from a TOML file of `[[job]]` records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator

from pipeline import hookimpl
from pipeline.components import Settings, Source
from pipeline.dates import aware
from pipeline.models import Item, JobDetails, Kind, item_id
from pipeline.run_context import RunContext
from pipeline.sanitize import plain_text, safe_url
from pipeline.settings_types import ExistingFile
from plugins.sources.records import Day, DayOrTime, read_records
from plugins.sources.text import markdown_to_html


class JobRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when a file is first read

    id: str
    title: str
    organisation: str
    posted: DayOrTime
    closing_date: Day
    description: str = ""  # Markdown
    location: str = ""
    hours: str = ""
    contract: str = ""
    salary: str = ""
    how_to_apply: str = ""
    url: str = ""
    themes: list[str] = []

    @model_validator(mode="after")
    def _closes_once_posted(self):
        posted = self.posted.date() if isinstance(self.posted, datetime) else self.posted
        if self.closing_date < posted:  # last year's year, typed in January: closed before anyone could see it
            raise ValueError(f"closing_date {self.closing_date} is before posted {posted}")
        return self


class JobsSource(Source):
    name = "jobs"
    complete = True  # the whole list: what it no longer has was taken out (the run withdraws it)
    description = "Job adverts from a TOML file of [[job]] records"

    class Settings(Settings):
        path: ExistingFile

    def uses_http(self) -> bool:
        return False  # a local file

    def fetch(self, run: RunContext):
        for job in read_records(self.settings.path, "job", JobRecord, run):
            url = safe_url(job.url)
            yield Item(
                id=item_id(self.instance, job.id),
                kind=Kind.JOB,
                source=self.instance,
                title=plain_text(job.title),
                published=aware(job.posted, self.project.tz),
                url=url,
                body_html=markdown_to_html(job.description, url),
                author=plain_text(job.organisation),
                themes=list(job.themes),
                job=JobDetails(
                    organisation=plain_text(job.organisation),
                    location=plain_text(job.location),
                    hours=plain_text(job.hours),
                    contract=plain_text(job.contract),
                    salary=plain_text(job.salary),
                    closing_date=job.closing_date,
                    how_to_apply=plain_text(job.how_to_apply),
                ),
            )


@hookimpl
def register_sources(register):
    register(JobsSource)
