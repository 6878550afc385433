"""Shared fixtures: tmp_path projects written from TOML text, and items built in one line."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline.config import load_project
from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, item_id

pytest_plugins = ["tests.browser_fixtures"]  # the `browser` fixture

BASE_TOML = """
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1
"""


@pytest.fixture
def write_project(tmp_path: Path):
    """write_project(toml, files={relative path: text}) -> path of pipeline.toml.

    `toml` is added after a minimal [pipeline] table unless it has its own.
    """

    def write(toml: str, files: dict[str, str | bytes] | None = None) -> Path:
        toml = textwrap.dedent(toml)
        if "[pipeline]" not in toml:
            toml = BASE_TOML + toml
        for rel, content in (files or {}).items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content), encoding="utf-8")
        config = tmp_path / "pipeline.toml"
        config.write_text(toml, encoding="utf-8")
        return config

    return write


@pytest.fixture
def project_from(write_project):
    """project_from(toml, files=None, plugins=[(name, obj)]) -> a loaded Project."""

    def load(toml: str, files=None, plugins=()):
        return load_project(write_project(toml, files), extra_plugins=list(plugins))

    return load


def make_item(kind: Kind = Kind.POST, title: str = "A title", *, source: str = "test",
              published: datetime | None = None, **fields) -> Item:
    published = published or datetime(2016, 1, 15, 10, 0, tzinfo=UTC)
    url = fields.pop("url", f"https://example.org/{kind.value}/{title.lower().replace(' ', '-')}")
    if kind is Kind.JOB and "job" not in fields:
        fields["job"] = JobDetails(organisation="Open Dialogue UK", location="London",
                                   closing_date=date(2016, 2, 14), how_to_apply="Email a CV.")
    if kind is Kind.EVENT and "event" not in fields:
        fields["event"] = EventDetails(
            start=datetime(2016, 2, 2, 9, 30, tzinfo=UTC),
            end=datetime(2016, 2, 2, 17, 0, tzinfo=UTC),
            venue="London", speakers=["Jaakko Seikkula"],
            prices=[PriceTier("Organisation rate", Decimal("125")), PriceTier("Group rate", Decimal("112.50"))],
            booking_url="https://example.org/book")
    return Item(id=item_id(source, title), kind=kind, source=source, title=title, published=published,
                url=url, body_html=fields.pop("body_html", f"<p>{title} body.</p>"), **fields)


@pytest.fixture
def item_factory():
    return make_item


@pytest.fixture
def run_context(tmp_path):
    """run_context(project, as_of=date(2016, 5, 1)) -> a RunContext over a fresh SQLite file."""
    from pipeline.edition import start_of
    from pipeline.run_context import RunContext
    from pipeline.state import Store

    made = []

    def make(project, as_of: date = date(2016, 5, 1)):
        ctx = RunContext(project, Store(tmp_path / "state" / "test.sqlite"), as_of, start_of(as_of, project.tz))
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
        ctx.store.close()
