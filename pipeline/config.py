"""Loading `pipeline.toml`: core settings, plugins, and one validated component per table.

Every problem found is collected and raised together as a `ConfigError`, one line each,
naming the file, the table and the key.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, PydanticUserError, ValidationError, field_validator, model_validator

from pipeline.components import Component, Deliverer, Settings, Sink, Source, Transform
from pipeline.errors import ConfigError, exception_text, is_stop
from pipeline.files import folder_problem
from pipeline.models import zone_named
from pipeline.placeholders import site_url_problem
from pipeline.plugins import BLOCK_ENV, PluginHost, build_plugin_manager
from pipeline.registry import Registry, build_registry
from pipeline.settings_errors import describe_errors
from pipeline.settings_types import EnvVarName, HttpUrl, ProjectPath, absolute_http_url

SECTIONS = {"sources": "source", "transforms": "transform", "sinks": "sink"}
_HOST_KEYS = {"type": "the type of the table", "deadline": "the seconds it may take",
              "renamed_from": "the names the source had before"}  # what each key the host keeps is, for messages
_SECTION_OF = {category: section for section, category in SECTIONS.items()}
# Names in the zone database that are not zones to give a network (the machine's own, and tzdata's leftovers)
NOT_ZONES = {"localtime", "posixrules", "Factory"}
# The tables that take a `deadline` (a key the host keeps), and its most seconds
DEADLINE_LIMITS = {"sources": 3600, "transforms": 86400, "sinks": 86400}


def default_workers() -> int:
    """One worker process per CPU this process may use, at most 8 (1: everything in this process)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, usable))


class CoreSettings(Settings):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)  # defaults resolve too

    name: str = Field(min_length=1)  # (stripped first: a blank name is no name)
    description: str = ""
    site_url: str = "http://localhost:8000"
    language: str = "en-GB"
    timezone: str = "UTC"
    state_dir: ProjectPath = Path("state")
    out_dir: ProjectPath = Path("out")
    plugins_dir: ProjectPath | None = None
    workers: int = Field(default_factory=default_workers, ge=1, le=64)
    http_timeout: float = Field(default=20.0, gt=0)
    source_deadline: float = Field(default=60.0, gt=0, le=3600, strict=True)  # seconds a source may take, all in
    transform_deadline: float = Field(default=300.0, gt=0, le=86400, strict=True)  # seconds one apply call may take
    sink_deadline: float = Field(default=3600.0, gt=0, le=86400, strict=True)  # seconds one sink's write may take
    fetch_concurrency: int = Field(default=32, ge=1, le=256)  # sources fetched at once
    per_host: int = Field(default=16, ge=1, le=256)  # requests at once to one host
    undated_job_days: int = Field(default=90, ge=1, le=3650, strict=True)  # a job with no closing date: days open
    undated_event_days: int = Field(default=45, ge=1, le=3650, strict=True)  # an event with no date: days upcoming

    @field_validator("name", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str) -> str:
        from pipeline.sanitize import language_tag

        tag = language_tag(value.replace("_", "-"))  # "en_GB", as a locale is spelt, is "en-GB"
        if not tag:
            raise ValueError(f"{value!r} is not a language tag; use one such as 'en-GB' or 'cy' (BCP 47), which "
                             f"every page's lang and the feed's language carry")
        return tag

    @model_validator(mode="after")
    def _state_not_published(self) -> CoreSettings:
        state, out = self.state_dir.resolve(), self.out_dir.resolve()
        if state == out or state.is_relative_to(out):
            raise ValueError(f"state_dir {self.state_dir} is inside out_dir {self.out_dir}, which is published: the "
                             f"state database (every subscriber's address) and the secret that signs their links "
                             f"would be on the web; choose a state_dir outside out_dir")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value.strip() in NOT_ZONES:
            raise ValueError(f"{value!r} is not a place's zone (it is whatever machine runs the project, whose clock "
                             f"may keep another zone than yours); use an IANA name such as 'Europe/London'")
        if zone_named(value) is None:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'")
        return value

    @field_validator("state_dir")
    @classmethod
    def _could_be_a_folder(cls, value: Path) -> Path:
        """The state folder is there, or could be made: every command needs it (`out_dir`, only `pipeline
        check` and the runs, which make it)."""
        if problem := folder_problem(value):
            raise ValueError(f"{problem}; choose another path")
        return value

    @field_validator("site_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        if "@" in urlsplit(value).netloc:  # not repeated: what is before the @ may be a password
            raise ValueError("has a user name or password before its host; every link in the email and feed is "
                             "built from it, so each reader would get it: give the site's address without it")
        try:
            url = absolute_http_url(value).rstrip("/")
        except ValueError as exc:
            raise ValueError(f"{exc}; every link in the email and feed is built from it") from None
        if placeholder := site_url_problem(url):  # the value `pipeline init` writes when not given one
            raise ValueError(placeholder)
        if why := _not_plain(url):
            raise ValueError(f"{value!r} {why}: every link in the email and feed is site_url and a path after it, "
                             f"which pipeline serve answers under its path as written; give the site's plain "
                             f"address, such as 'https://uni.example.ac.uk/coproduction'")
        return url


def _not_plain(url: str) -> str:
    """Why `url` (site_url) cannot start a link that reaches its pages, or "": a query or fragment would hold the
    rest of each link, a browser resolves "." and ".." and reads "//" as another host, and pipeline serve's routes
    would read braces as their parameters."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "has a query or a fragment"
    if "\\" in url:  # a browser reads it as "/" in an http(s) address
        return "has a backslash in it"
    segments = parts.path.split("/")[1:]
    if "" in segments[:-1] or any(unquote(segment) in (".", "..") for segment in segments):  # %2E is "." too
        return "has an empty, '.' or '..' part in its path"
    if any(brace in unquote(parts.path) for brace in "{}"):
        return "has a brace in its path"
    return ""


class ScheduleSettings(Settings):
    """`[schedule]`: when `pipeline schedule` makes the monthly edition and refreshes (pipeline/scheduler.py)."""

    newsletter_day: int = Field(default=1, ge=1, le=28)
    newsletter_time: str = "08:00"
    # at most a month each, the most a slot is ever from the next: every monthly run fetches the sources too, and a
    # window reaching past the next slot is closed by it (`scheduler.due` makes the latest slot's issue only)
    refresh_minutes: int = Field(default=60, ge=1, le=31 * 24 * 60)
    catch_up_hours: int = Field(default=48, ge=1, le=31 * 24)  # how late a missed slot (machine off) is made

    @field_validator("newsletter_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM")
        return value


class ServeSettings(Settings):
    """`[serve]`: the web app of `pipeline serve` (subscribe, confirm, unsubscribe, preferences, webhooks)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_env: EnvVarName = "PIPELINE_SECRET"  # the variable holding the signing secret; unset: state_dir/secret
    webhook_key_env: EnvVarName = "SENDGRID_WEBHOOK_PUBLIC_KEY"  # the Event Webhook's verification key
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])  # X-Forwarded-* trusted from these
    allowed_hosts: list[str] = Field(default_factory=list)  # host names served besides site_url's and loopback
    per_address_limit: int = Field(default=3, ge=1)  # subscription requests per address per window
    per_client_limit: int = Field(default=10, ge=1)  # form posts per client address per window
    total_limit: int = Field(default=300, ge=1)  # form posts per window from everyone: a flood from many clients
    preferences_limit: int = Field(default=20, ge=1)  # choices saved per subscriber per window (leaving: never limited)
    limit_minutes: int = Field(default=60, ge=1)
    daily_confirmations: int = Field(default=5, ge=1)  # confirmations mailed to one mailbox in 24 hours (stored)
    request_seconds: int = Field(default=60, ge=1, le=3600)  # to send one whole request (web/timely.py)
    privacy_url: HttpUrl | None = None  # the network's privacy notice, linked under the form (UK GDPR art. 13)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address or network such as '127.0.0.1' "
                                 f"or '10.0.0.0/8'") from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        from pipeline.web.hosts import host_name

        for name in value:
            try:
                host_name(name)
            except ValueError as exc:
                raise ValueError(f"{name!r}: {exc}") from None
        return value


class AlertSettings(Settings):
    """`[alerts]`: who is emailed when something breaks (pipeline/alerts.py), once per problem."""

    to: list[str] = Field(default_factory=list)  # the organisers' addresses; none: no alerts
    source_failures: int = Field(default=3, ge=1)  # a source's failed runs in a row before anyone is told
    from_email: str = ""  # the alerts' sender; default: the email sink's from_email
    # [alerts.delivery]: a delivery of the alerts' own, as [sinks.NAME.delivery]; none: the newsletter's
    delivery: dict[str, Any] | None = None

    @field_validator("from_email")
    @classmethod
    def _sender(cls, value: str) -> str:
        from pipeline.placeholders import address_problem
        from pipeline.subscribers.addresses import sender_spelling

        value = value.strip()
        if placeholder := address_problem(value, "from_email"):
            raise ValueError(placeholder)
        return sender_spelling(value) if value else value

    @field_validator("to")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        from pipeline.subscribers.addresses import refusal

        for address in value:
            if why := refusal(address, "organiser@example.org"):
                raise ValueError(why)
        return value


@dataclass
class Project:
    """A loaded, validated configuration, with its plugins and component instances."""

    config_path: Path
    core: CoreSettings
    schedule: ScheduleSettings
    host: PluginHost
    registry: Registry
    sources: list[Source] = field(default_factory=list)
    transforms: list[Transform] = field(default_factory=list)
    sinks: list[Sink] = field(default_factory=list)
    serve: ServeSettings = field(default_factory=ServeSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # [sources.NAME], [transforms.NAME] and [sinks.NAME] deadline, where one is given, by (section, NAME)
    deadlines: dict[tuple[str, str], float] = field(default_factory=dict)
    # a source that another's table stands for (an OPML list's feed) -> the name of that table
    listed_in: dict[str, str] = field(default_factory=dict)
    alert_delivery: Deliverer | None = None  # [alerts.delivery], built from its table; None: the newsletter's
    # [sources.NAME] renamed_from, where one is given: NAME -> the names it had (pipeline/renaming.py)
    renamed_from: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def former_names(self, source: str) -> tuple[str, ...]:
        """The names source `source` had before (`renamed_from`): its table's, or, for an OPML list's feed, its
        name under each name the list's table had ("old-list/feed" for "list/feed")."""
        table = self.listed_in.get(source, source)
        return tuple(old + source[len(table):] for old in self.renamed_from.get(table, ()))

    def deadline_of(self, source: str) -> float:
        """Seconds source `source` may take, connecting, downloading and parsing together."""
        return self.deadlines.get(("sources", source), self.core.source_deadline)

    def transform_deadline_of(self, transform: str) -> float:
        """Seconds one `apply` call of transform `transform` may take (one chunk, or the whole run's items)."""
        return self.deadlines.get(("transforms", transform), self.core.transform_deadline)

    def sink_deadline_of(self, sink: str) -> float:
        """Seconds one `write` of sink `sink` may take."""
        return self.deadlines.get(("sinks", sink), self.core.sink_deadline)

    @property
    def root(self) -> Path:
        return self.config_path.parent

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.core.timezone)

    def build_component(self, category: str, where: str, table: dict[str, Any]) -> Component:
        """Validate `table` against the schema of the component its `type` names; used for nested tables too."""
        return _build(self, category, where, table)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: no such file; run from the folder that holds pipeline.toml or pass --config "
                              f"PATH")
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:  # its mode, or a folder above it, not for this user (a checkout root's, say)
        if exc.errno not in (errno.EACCES, errno.EPERM):  # the disk, say: no advice about rights
            raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); check the file and its disk, or pass "
                              f"--config PATH") from None
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}) by the user running pipeline; let it read "
                          f"the file and enter each folder above it (`chmod a+r {path}`, or `chown` it to that user), "
                          f"or pass --config PATH") from None


def load_plugins(config_path: Path | str) -> tuple[PluginHost, Registry]:
    """Only the plugins (for `pipeline plugins`): broken ones are in `host.broken`, not raised."""
    path = Path(config_path).resolve()
    errors: list[str] = []
    core = _validate(CoreSettings, read_toml(path).get("pipeline"), f"{path.name}: [pipeline]",
                     {"base_dir": path.parent}, errors)
    if core is None:
        raise ConfigError(*errors)
    if missing := _missing_plugins_dir(path, core):
        raise ConfigError(missing)
    host = build_plugin_manager(core.plugins_dir)
    return host, build_registry(host)


def _missing_plugins_dir(path: Path, core: CoreSettings) -> str:
    """The line saying `[pipeline] plugins_dir` names no folder, or ""."""
    if core.plugins_dir and not core.plugins_dir.is_dir():
        return (f"{path.name}: [pipeline] plugins_dir: folder {core.plugins_dir} does not exist; create it or remove "
                f"the setting")
    return ""


def load_project(config_path: Path | str, *, extra_plugins: list[tuple[str, object]] = (),
                 entry_points: bool = True) -> Project:
    """Read and validate `pipeline.toml`, load plugins, and build every component instance."""
    path = Path(config_path).resolve()
    data = read_toml(path)
    errors: list[str] = []
    context = {"base_dir": path.parent}

    known = {"pipeline", "schedule", "serve", "alerts", *SECTIONS}
    for key in data:
        if key not in known:
            errors.append(f"{path.name}: unknown table [{key}]; allowed: {', '.join(sorted(known))}")
    core = _validate(CoreSettings, data.get("pipeline"), f"{path.name}: [pipeline]", context, errors)
    schedule = _validate(ScheduleSettings, data.get("schedule", {}), f"{path.name}: [schedule]", context, errors)
    serve = _validate(ServeSettings, data.get("serve", {}), f"{path.name}: [serve]", context, errors)
    alerts = _validate(AlertSettings, data.get("alerts", {}), f"{path.name}: [alerts]", context, errors)
    if core is None and (core := _core_without_mistakes(data.get("pipeline"), context)) is None:
        raise ConfigError(*errors)

    host = build_plugin_manager(core.plugins_dir if core.plugins_dir else None,
                                entry_points=entry_points, extra=extra_plugins)
    if missing := _missing_plugins_dir(path, core):
        errors.append(missing)
    registry = build_registry(host)
    project = Project(path, core, schedule or ScheduleSettings(), host, registry, serve=serve or ServeSettings(),
                      alerts=alerts or AlertSettings())
    for name, reason in host.broken.items():
        errors.append(f"plugin {name!r} {reason}")
    if host.blocked_unknown:  # said, not refused: the block of a broken plugin is what lets the rest run
        import logging

        logging.getLogger("pipeline").warning(
            "%s names %s, which is no plugin; the plugins are: %s", BLOCK_ENV,
            ", ".join(map(repr, host.blocked_unknown)), ", ".join(sorted(host.origins)))
    errors += [f"plugin {name!r} {reason}" for name, _, reason in host.unloaded]
    errors.extend(registry.problems)

    for section, category in SECTIONS.items():
        tables = data.get(section, {})
        if not isinstance(tables, dict):
            errors.append(f"{path.name}: [{section}] must be a table of named tables, like [{section}.my-name]")
            continue
        for instance, table in tables.items():
            where = f"{path.name}: [{section}.{instance}]"
            if section in DEADLINE_LIMITS and isinstance(table, dict) and "deadline" in table:
                table = dict(table)
                deadline, most = table.pop("deadline"), DEADLINE_LIMITS[section]  # the host's key, whatever the schema
                if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not 0 < deadline <= most:
                    errors.append(f"{where}: deadline: must be a number of seconds between 0 and {most}, "
                                  f"not {deadline!r}")
                    continue
                project.deadlines[section, instance] = float(deadline)
            if section == "sources" and isinstance(table, dict) and "renamed_from" in table:
                table = dict(table)
                if problem := _renamed_from(project, instance, table.pop("renamed_from")):  # the host's key too
                    errors.append(f"{where}: renamed_from: {problem}")
                    continue
            try:
                component = _build(project, category, where, table, instance)
            except ConfigError as exc:
                errors.extend(exc.lines)
                continue
            if section == "sources":
                try:
                    expanded = component.expand()
                except ConfigError as exc:
                    errors.extend(exc.lines)
                    continue
                for child in expanded:  # an OPML list's feeds: the list they are in, and its deadline
                    if child.instance != instance:
                        project.listed_in[child.instance] = instance
                    if (section, instance) in project.deadlines:
                        project.deadlines.setdefault((section, child.instance), project.deadlines[section, instance])
                project.sources.extend(expanded)
                continue
            single = _single_of(component) if section == "sinks" else None
            other = next((sink.instance for sink in project.sinks if _single_of(sink) is single), None)
            if single is not None and other is not None:
                errors.append(f"{where}: a second {single.name} sink beside [sinks.{other}]; {single.single}, "
                              f"so keep one")
                continue
            getattr(project, section).append(component)
    named: dict[str, int] = {}
    for source in project.sources:  # an OPML list's feed (LIST/FEED) and a [sources."LIST/FEED"] table may clash
        named[source.instance] = named.get(source.instance, 0) + 1
    errors += [f"{path.name}: [sources.{name}]: {count} sources have this name (an OPML list's feed and a table, "
               f"say); rename one, since a source's items, health and alerts go by its name"
               for name, count in named.items() if count > 1]
    errors += _renames_problems(path.name, project, set(data.get("sources", {})) if isinstance(
        data.get("sources"), dict) else set())
    if not project.sinks and not errors:
        errors.append(f"{path.name}: no [sinks.*] tables, so a run would produce nothing; add one "
                      f"(README, \"Components\")")
    errors += _alert_delivery(project, errors)
    if errors:
        raise ConfigError(*errors)
    return project


def _alert_delivery(project: Project, errors: list[str]) -> list[str]:
    """Build [alerts.delivery], if given, into `project.alert_delivery`; the lines of what is wrong with how the
    alerts would be sent (none while `errors` already says something: the sinks may be what is missing)."""
    name, settings = project.config_path.name, project.alerts
    if settings.delivery is not None:
        try:
            project.alert_delivery = project.build_component("delivery", f"{name}: [alerts.delivery]",
                                                             settings.delivery)
        except ConfigError as exc:  # a line from the plugin itself ("sendgrid delivery: ...") is told which table
            table = "[alerts.delivery]"
            return [line if table in line else f"{name}: {table}: {line.removeprefix(f'{name}: ')}"
                    for line in exc.lines]
    if not settings.to or errors or any(hasattr(sink, "deliverer") for sink in project.sinks):
        return []
    if project.alert_delivery is None:
        return [f"{name}: [alerts] to: alerts are sent through the newsletter's delivery, and there is no [sinks.*] "
                f"table of type \"email\"; add one, or give the alerts a delivery of their own ([alerts.delivery]), "
                f"or remove [alerts]"]
    if not settings.from_email:
        return [f"{name}: [alerts] from_email: there is no email sink to take the alerts' sender from; set "
                f"from_email to the address they are sent from, such as 'alerts@network.example.org'"]
    return []


def _renamed_from(project: Project, instance: str, given: Any) -> str:
    """Keep a source's `renamed_from` (a name, or a list of the names it had); what is wrong with it, or ""."""
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, list) or not names or not all(isinstance(name, str) and name.strip() for name in names):
        return (f"must be the name the source had before, in quotes (renamed_from = \"old-name\"), or a list of the "
                f"names it had, not {given!r}")
    if instance in names:
        return f"names this table itself ({instance!r}); give the name its table had before"
    project.renamed_from[instance] = tuple(dict.fromkeys(names))
    return ""


def _renames_problems(file: str, project: Project, tables: set[str]) -> list[str]:
    """A `renamed_from` that names a source still configured (renaming means its table is gone), or a name two
    tables both say they had."""
    problems, claimed = [], {}
    configured = tables | {source.instance for source in project.sources}
    for instance, names in project.renamed_from.items():
        for name in names:
            if name in configured:
                problems.append(f"{file}: [sources.{instance}]: renamed_from: [sources.{name}] is still in {file}; "
                                f"remove that table (its items move to this one), or this key if it is another "
                                f"source")
            elif name in claimed:
                problems.append(f"{file}: [sources.{instance}]: renamed_from: [sources.{claimed[name]}] says it was "
                                f"{name!r} too; keep the key in the table that took that source's place only")
            else:
                claimed[name] = instance
    return problems


def _core_without_mistakes(table: Any, context: dict) -> CoreSettings | None:
    """[pipeline] with the defaults in place of the keys that will not do (already said), so the other tables are
    checked too and every mistake is said at once (each placeholder `pipeline init` wrote, say); None when one of
    them is a folder, which the other tables are checked against, or is not one key's (a missing `name`)."""
    try:
        CoreSettings.model_validate(table, context=context)
    except ValidationError as exc:
        wrong = {error["loc"][0] if error["loc"] else None for error in exc.errors()}
    else:
        return None
    if not isinstance(table, dict) or wrong & {None, "state_dir", "out_dir", "plugins_dir"}:
        return None
    try:
        return CoreSettings.model_validate({key: value for key, value in table.items() if key not in wrong},
                                           context=context)
    except ValidationError:
        return None


def _single_of(component: Component) -> type | None:
    """The sink type a project may have once (`Sink.single`) that `component` is, or a subclass of (the most basic
    such: a subclass may word its own reason); None if none."""
    return next((cls for cls in reversed(type(component).__mro__) if cls.__dict__.get("single")), None)


def _build(project: Project, category: str, where: str, table: Any, instance: str | None = None) -> Component:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table with a `type` key")
    table = dict(table)
    type_name = table.pop("type", None)
    if not type_name or not isinstance(type_name, str):
        problem = "missing `type`" if not type_name else f"`type` must be a name in quotes, not {type_name!r}"
        raise ConfigError(f"{where}: {problem}; one of: {', '.join(project.registry.names(category))}")
    registered = project.registry.get(category, type_name)
    if registered is None:
        elsewhere = [other for other in SECTIONS.values() if other != category
                     and project.registry.get(other, type_name) is not None]
        if elsewhere:
            raise ConfigError(f"{where}: {type_name!r} is a {elsewhere[0]} type, not a {category} one: it goes in a "
                              f"[{_SECTION_OF[elsewhere[0]]}.NAME] table; the {category} types are "
                              f"{', '.join(project.registry.names(category)) or 'none'}")
        if category != "delivery" and project.registry.get("delivery", type_name) is not None:  # README's "smtp"
            raise ConfigError(f"{where}: {type_name!r} is a delivery type, not a {category} one: it is how an email "
                              f"sink sends, so it goes in that sink's [sinks.NAME.delivery] table (type = "
                              f"{type_name!r} there, under a [sinks.NAME] of type = 'email'); the {category} types "
                              f"are {', '.join(project.registry.names(category)) or 'none'}")
        blocked = project.host.blocked
        raise ConfigError(f"{where}: unknown {category} type {type_name!r}; installed: "
                          f"{', '.join(project.registry.names(category)) or 'none'} "
                          + (f"(or it is from a plugin {BLOCK_ENV} blocks: {', '.join(blocked)})" if blocked else
                             "(install the plugin that provides it, or check the spelling)"))
    component = registered.component
    errors: list[str] = []
    label = type_name if registered.plugin == type_name else f"{type_name}, from plugin {registered.plugin!r}"
    model = getattr(component, "Settings", None)
    host_keys = ("type", "deadline") if f"{category}s" in DEADLINE_LIMITS else ("type",)
    host_keys += ("renamed_from",) if category == "source" else ()
    if not (isinstance(model, type) and issubclass(model, Settings)):  # pydantic's own BaseModel forgets unknown keys
        given = ", ".join(sorted(key for key in table if key not in host_keys)) or "none"
        raise ConfigError(f"{where} ({label}): the plugin's Settings is not a subclass of pipeline.components.Settings "
                          f"(write `class Settings(Settings):`, from pipeline.components), so the table's keys "
                          f"({given}) cannot be checked")
    for key in host_keys:
        if key in model.model_fields:
            raise ConfigError(f"{where} ({label}): the {category} has a setting named `{key}`, which is the host's "
                              f"key ({_HOST_KEYS[key]}); "
                              f"the plugin must give its setting another name")
    try:
        settings = _validate(model, table, f"{where} ({label})",
                             {"base_dir": project.root, "project": project}, errors, host_keys)
    except PydanticUserError as exc:  # the model itself is wrong: pydantic builds it here, as first used
        raise ConfigError(f"{where} ({label}): the plugin's settings cannot be used: {type(exc).__name__}: {exc}"
                          ) from None
    except BaseException as exc:  # a validator of the plugin's that raised something else than a ValueError
        if is_stop(exc):
            raise
        raise ConfigError(f"{where} ({label}): the plugin's settings raised {type(exc).__name__}: "
                          f"{exception_text(exc)} while checking this table; check its keys, or report it to the "
                          f"plugin's author") from None
    if settings is None:
        raise ConfigError(*errors)
    name = instance or type_name
    try:
        return component(name, settings, project)
    except ConfigError:
        raise
    except BaseException as exc:  # `sys.exit("...")` too: a plugin's failure, said as any other
        if is_stop(exc):
            raise
        raise ConfigError(f"{where}: plugin {registered.plugin!r} could not set up {type_name!r}: "
                          f"{type(exc).__name__}: {exception_text(exc)}") from None


def _validate(model: type[Settings], data: Any, where: str, context: dict, errors: list[str],
              host_keys: tuple[str, ...] = ()):
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors.extend(describe_errors(where, model, data, exc.errors(), host_keys))
        return None
