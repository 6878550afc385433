"""Base classes for the components plugins register: sources, transforms, sinks and deliveries.

A component is a class with a `name` (what `pipeline.toml` calls it by) and a `Settings` model
(pydantic, unknown keys forbidden). The host builds one instance per table in `pipeline.toml`:

    [sources.open-dialogue-uk]     # instance name
    type = "feed"                  # component name
    url = "content/feeds/open-dialogue-uk.xml"
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from pipeline.models import Item
from pipeline.settings_types import project_path

if TYPE_CHECKING:
    from email.message import EmailMessage

    from pipeline.config import Project
    from pipeline.edition import Edition
    from pipeline.mail.message import Mailing, Recipient
    from pipeline.run_context import RunContext


class Settings(BaseModel):
    """Base for component settings: unknown keys are an error, not silently ignored; so is a number that
    is not finite (TOML allows `inf` and `nan`). Each model's validator is built when it is first used, not
    when its class is made: a run validates only the plugins its pipeline.toml names."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A default `Path` is resolved and checked as a given one is (its field's default validated); a default of
        any other kind is taken as the plugin gives it, as pydantic does."""
        super().__pydantic_init_subclass__(**kwargs)
        for info in cls.model_fields.values():
            if _mentions_path(info.annotation) and info.validate_default is None:
                info.validate_default = True

    @field_validator("*")
    @classmethod
    def _from_pipeline_toml(cls, value: Any, info: ValidationInfo) -> Any:
        """Any `Path` setting, not only `settings_types`' ones, is relative to the folder of pipeline.toml, a leading
        `~` the home folder: alone, or anywhere in lists, tuples, sets and tables (their keys too), however nested.
        A `PurePosixPath` (a path on the site, say) is not a file's, and stays as it is."""
        base = (info.context or {}).get("base_dir")
        return value if base is None else _resolved(value, Path(base))


def _resolved(value: Any, base: Path) -> Any:
    """`value` with each relative `Path` in it taken from `base` (`project_path`: `~` the home folder); the very
    same object when it holds none. Lists, tuples (a NamedTuple too), sets, tables (an OrderedDict or a defaultdict
    too) and pydantic models (a frozen one too) are looked into; two keys of a table that name the same file are
    refused."""
    if isinstance(value, Path):
        return value if value.is_absolute() else project_path(value, base)
    if isinstance(value, list | tuple | set | frozenset):
        made = [_resolved(entry, base) for entry in value]
        if all(a is b for a, b in zip(made, value, strict=True)):
            return value
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
            return type(value)(*made)
        return type(value)(made)
    if isinstance(value, dict):
        made = {}
        for key, entry in value.items():
            new_key = _resolved(key, base)
            if new_key in made:
                raise ValueError(f"two keys name the same file, {new_key}")
            made[new_key] = _resolved(entry, base)
        if all(a is b and made[a] is value[b] for a, b in zip(made, value, strict=True)):
            return value
        copy = value.copy()  # of its own kind: an OrderedDict's order, a defaultdict's factory
        copy.clear()
        copy.update(made)
        return copy
    if isinstance(value, BaseModel):
        changed = {name: new for name, old in value for new in (_resolved(old, base),) if new is not old}
        return value.model_copy(update=changed) if changed else value
    return value


def _mentions_path(annotation: Any) -> bool:
    """Whether a field's type is `Path`, or holds one (Optional, a list, an Annotated `ExistingFile`)."""
    if isinstance(annotation, type):
        return issubclass(annotation, Path)
    return any(_mentions_path(argument) for argument in get_args(annotation))


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

    # No longer read (kept so that a plugin that sets it still loads). The host cleans every `body_html` but one that
    # is `pipeline.sanitize.clean_html`'s output as it returned it, which it knows by its type (`Clean`): a source that
    # cleans its bodies so (the built-ins do) is not cleaned twice, and one that says it does but does not is cleaned.
    sanitises: ClassVar[bool] = False
    # True when `fetch` returns every item the source has (the organiser's own files: the blog, jobs, events), not
    # a window onto them as a feed is: an item it stored before and no longer returns was taken out (a cancelled
    # event, a post made a draft again), so it is withdrawn from the feeds, the site and every issue to come; the
    # run's report says which. Listed again, it is back.
    complete: ClassVar[bool] = False

    def fetch(self, run: RunContext) -> Iterable[Item]:
        raise NotImplementedError(f"{type(self).__name__} does not implement fetch(self, run) (misspelt?)")

    def uses_http(self) -> bool:
        """Whether `fetch` may use `run.http`. While a run starts it loads httpx and the CA certificates
        for such sources, and they start once those are ready; a run whose sources all say False (local
        files) does neither. One that says False and uses `run.http` anyway still gets the client."""
        return True

    def site_files(self) -> list[tuple[str, Path]]:
        """Files of this source's own, for the site (the `archive` sink) to publish as they are while an item of the
        source on the site links them: (address under `site_url`, local file, a relative one taken from
        pipeline.toml's folder), each an image or a PDF (`site.FILE_SUFFIXES`). Asked on every run that writes the
        site; the default is none. The blog's images are such files."""
        return []

    def origin(self) -> str:
        """Where this source reads from, for a message that names it when it fails without saying so itself (timed
        out): a feed's address, say, as written (a credential in it is masked where it is shown,
        `pipeline/redact.py`); "" (the default) when it has no one place."""
        return ""

    def expand(self) -> list[Source]:
        """The sources this table stands for: itself, or several (an OPML list of feeds, each run,
        reported and identified under its own name). Called once, when pipeline.toml is loaded."""
        return [self]


class Transform(Component):
    """Changes items in place (tags, summaries); runs on every item new or changed in a run. Each call of
    `apply` is stopped at its deadline (`[transforms.NAME] deadline`; see pipeline/time_limits.py). What it sets
    is checked by the host again, as a source's items are (a body cleaned, a link made safe: pipeline/item_checks.py);
    a body it sets is cleaned before the next transform reads it.
    """

    # True when `apply` uses nothing of the run but `run.text_of` and `run.problem`, and nothing of the
    # project but its settings: it is then applied a chunk at a time as sources finish, in the worker
    # processes of a long run (pipeline/transforming.py) or here; otherwise once, with every item.
    in_workers: ClassVar[bool] = False

    def apply(self, items: list[Item], run: RunContext) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement apply(self, items, run) (misspelt?)")


@dataclass
class SinkResult:
    """What a sink did, for the run report."""

    summary: str
    files: list[str] = field(default_factory=list)


class Sink(Component):
    """Writes or delivers. `edition` is None when there is no new issue (a refresh, or nothing new)."""

    # Why a project may have only one sink of this type ("both would write out_dir/feed.xml"), or "" when it may have
    # several: a second table of such a type is refused at start-up, with this reason.
    single: ClassVar[str] = ""

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        raise NotImplementedError(f"{type(self).__name__} does not implement write(self, edition, run) (misspelt?)")


@dataclass
class Delivery:
    """Outcome of sending one message to one recipient."""

    recipient: str  # the bare address, as in the message's To header
    ok: bool
    reference: str = ""  # a message id or file path
    error: str = ""
    # False when a failure may still have reached the provider (a timeout, a connection lost after the
    # request went out, a 5xx): such a message must never be sent again blindly.
    certain: bool = True
    # True when the receiving server or the provider refused the address itself, for good (a hard bounce: "550
    # 5.1.1 no such user" at RCPT TO; SendGrid's "Does not contain a valid address."). Only with ok False and
    # certain True; the host then marks the subscriber bounced, as a provider's bounce event does, so no later
    # run sends to them.
    bounced: bool = False


class Resolution(StrEnum):
    """What became of a message whose outcome was not known (see `Deliverer.resolve`)."""

    SENT = "sent"
    NOT_SENT = "not_sent"  # certainly not delivered, and never will be: safe to send again
    UNKNOWN = "unknown"  # may or may not be delivered: never sent again without the organiser


@dataclass(frozen=True)
class Batch:
    """Recipients journalled together; `id` is the provider's batch id where it has one."""

    id: str
    send_at: datetime | None = None  # when a scheduled send is released by the provider
    edition: int | None = None
    begun: datetime | None = None  # when the host journalled it, before handing it over (None: not yet, or unknown)


class Deliverer(Component):
    """Sends finished emails (the email sink's `delivery` table picks one).

    The host journals every batch before and after it is handed over (`pipeline/mail/sending.py`).
    A simple third-party delivery implements only `send`; the built-ins implement `deliver`
    (no `EmailMessage` per recipient where the provider does not need one) and `resolve`.
    """

    batch_size: ClassVar[int] = 500  # recipients journalled as one batch
    parallel_batches: ClassVar[int] = 1  # batches handed over at once (each from its own thread)
    # How many batches in doubt the provider can take back at once (SendGrid holds 10 cancelled batches until
    # their send time); None: no such limit. With one, the host keeps count of those it asked to take back
    # (`journal.taken_back`) and never has more in flight than it could still take back (`sending.py`).
    take_back_limit: ClassVar[int | None] = None

    def local_time(self, provider_time: datetime) -> datetime:
        """A time of the provider's (a batch's `send_at`) by this machine's clock, as far as the delivery knows how
        far the two clocks are apart (SendGrid: from the `Date` of its answers); itself by default."""
        return provider_time

    def send(self, messages: list[EmailMessage], run: RunContext | None) -> list[Delivery]:
        """Send `email.message.EmailMessage` objects, one per recipient; report each (by the address in its To
        header; another spelling of it, such as the domain's `xn--` form, is matched too). A recipient reported
        nothing for is in doubt: never sent again without the organiser."""
        raise NotImplementedError

    def forget(self, address: str) -> int:
        """Delete whatever this delivery keeps of mail to `address` (`pipeline subscribers forget`: a person's
        erasure); how many files. The default keeps nothing: a provider's own records are the organiser's to ask."""
        return 0

    def kept(self, address: str) -> list[str]:
        """Where this delivery keeps mail to `address`, each file (or record) that `forget` would delete (`pipeline
        subscribers show`: everything held about a person). The default keeps nothing; a class with a `forget` of its
        own and this default is said by `show` to keep mail it cannot list (`transactional.kept_mail`)."""
        return []

    def forget_request(self, address: str) -> int:
        """Delete whatever this delivery keeps of the confirmations mailed to `address`, whose request to join
        ended unconfirmed after 7 days (its link no longer works, and an unconfirmed address is not kept); how many
        files. The default keeps nothing."""
        return 0

    def readmit(self, address: str) -> None:
        """Take `address`, which unsubscribed or bounced and has confirmed through the form again, off whatever
        suppression list of its own the provider keeps (SendGrid drops mail to an address on its bounce list, global
        unsubscribes or invalid emails); raise `PipelineError` with a one-line reason when it could not (the host says
        so and asks again before the next send). Called before a send, only for such an address; a delivery that has
        its own `readmit` is handed none whose return still waits (recorded failed, for the next run). The default
        keeps no list: nothing to do."""

    def prepare(self) -> str:
        """Put in order what the delivery keeps between runs (the outbox's folder); return a line to tell the
        organiser, or "". Called at the start of each command that holds the state folder's lock (every run,
        `preview`, `send-test`, `deliveries`), before any batch is settled or anything sent; a ConfigError
        raised here stops the command."""
        return ""

    def open_batch(self, edition: int) -> Batch:
        """A new batch for `edition`; a provider with batch ids creates one here (nothing is sent yet)."""
        return Batch(uuid.uuid4().hex, edition=edition)

    def deliver(self, mailing: Mailing, recipients: list[Recipient], batch: Batch | None,
                run: RunContext | None) -> list[Delivery]:
        """Send `mailing` to each recipient, as part of `batch` (None: a single message sent at once)."""
        from pipeline.mail.message import build_message
        return self.send([build_message(mailing, r) for r in recipients], run)

    def resolve(self, batch: Batch, known: list[Delivery]) -> dict[str, Resolution]:
        """Settle a batch some of whose outcomes are uncertain (`certain=False`), per recipient.

        Called after an ambiguous failure, and at the start of a run for a batch a killed run left
        in flight (then every delivery in `known` is uncertain). The default trusts what is certain
        and calls the rest unknown.
        """
        return {d.recipient: (Resolution.SENT if d.ok else Resolution.NOT_SENT if d.certain else Resolution.UNKNOWN)
                for d in known}

    def close(self) -> None:
        """Release connections at the end of a send."""

    @property
    def probe_size(self) -> int:
        """Recipients sent alone first after a round in doubt (SendGrid: one request's worth)."""
        return self.batch_size

    def pause_after_doubt(self, round_number: int) -> float:
        """Seconds to wait before sending again what a round in doubt took back (an outage may be passing)."""
        return 0.0

    def halted(self) -> str:
        """Why no further batch may be handed over in this send, or "" (the default: none). SendGrid's: a rate
        limit whose reset is further ahead than it may wait (a daily cap). Asked before each batch; the host then
        records whoever is left as failed, with this reason, for the next run."""
        return ""


CATEGORIES: dict[str, type[Component]] = {
    "source": Source,
    "transform": Transform,
    "sink": Sink,
    "delivery": Deliverer,
}
