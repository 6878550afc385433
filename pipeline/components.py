"""Base classes for the components plugins register: sources, transforms, sinks and deliveries.

A component is a class with a `name` (what `pipeline.toml` calls it by) and a `Settings` model
(pydantic, unknown keys forbidden). The host builds one instance per table in `pipeline.toml`:

    [sources.open-dialogue-uk]     # instance name
    type = "feed"                  # component name
    url = "content/feeds/open-dialogue-uk.xml"
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from pipeline.models import Item

if TYPE_CHECKING:
    from email.message import EmailMessage

    from pipeline.config import Project
    from pipeline.edition import Edition
    from pipeline.run_context import RunContext


class Settings(BaseModel):
    """Base for component settings: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Component:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    Settings: ClassVar[type[Settings]] = Settings

    def __init__(self, instance: str, settings: Settings, project: Project):
        self.instance = instance
        self.settings = settings
        self.project = project

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.instance!r}>"


class Source(Component):
    """Produces items. Raise `SourceError` (or anything) to fail this source alone."""

    def fetch(self, run: RunContext) -> Iterable[Item]:
        raise NotImplementedError


class Transform(Component):
    """Changes items in place (tags, summaries); runs on every item fetched in a run."""

    def apply(self, items: list[Item], run: RunContext) -> None:
        raise NotImplementedError


@dataclass
class SinkResult:
    """What a sink did, for the run report."""

    summary: str
    files: list[str] = field(default_factory=list)


class Sink(Component):
    """Writes or delivers. `edition` is None when there is no new issue (a refresh, or nothing new)."""

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        raise NotImplementedError


@dataclass
class Delivery:
    """Outcome of sending one message to one recipient."""

    recipient: str  # the bare address, as in the message's To header
    ok: bool
    reference: str = ""  # a message id or file path
    error: str = ""


class Deliverer(Component):
    """Sends finished emails (the email sink's `delivery` table picks one)."""

    def send(self, messages: list[EmailMessage], run: RunContext) -> list[Delivery]:
        """Send `email.message.EmailMessage` objects, one per recipient; report each."""
        raise NotImplementedError


CATEGORIES: dict[str, type[Component]] = {
    "source": Source,
    "transform": Transform,
    "sink": Sink,
    "delivery": Deliverer,
}
