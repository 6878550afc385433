"""The csv-jobs source on a temporary project, with the pipeline's own fixtures (pipeline/testing.py)."""
from datetime import date
from pathlib import Path

TOML = '[sources.jobs]\ntype = "csv-jobs"\npath = "jobs.csv"\n'


def test_jobs_reach_the_email_and_the_site_and_a_bad_row_is_reported(pipeline_project):
    project = pipeline_project(TOML, {"jobs.csv": (Path(__file__).parent / "jobs.csv").read_bytes()})
    project.run(as_of=date(2016, 2, 1), check=False)  # the row closing "soon" is skipped: exit 3
    (job,) = project.items()
    assert (job.job.organisation, job.job.closing_date) == ("Open Dialogue UK", date(2016, 2, 14))
    assert "jobs.csv:3: ValueError" in project.problems[0]
    assert "Administrator for the new London centre" in project.email().text
    assert "Administrator for the new London centre" in project.site("jobs/")
