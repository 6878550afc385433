"""Every hook the host calls, in one place.

Plugins implement these with the `hookimpl` marker and are found through the
`newsletter_pipeline` entry-point group or the `plugins_dir` folder named in `pipeline.toml`.
The host always calls hooks with keyword arguments; new arguments may be added to a hook,
none is ever removed or renamed, so an implementation may accept just the ones it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import jinja2

    from pipeline.components import Deliverer, Sink, Source, Transform
    from pipeline.config import Project
    from pipeline.run_report import RunReport

PROJECT_NAME = "newsletter_pipeline"
ENTRY_POINT_GROUP = "newsletter_pipeline"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Register source components: things that produce items.

    Called once, while the host builds its component registry, before `pipeline.toml`'s
    `[sources.*]` tables are validated.

    :param register: call it with each `Source` subclass this plugin provides. The class's
        `name` is what `type = "..."` in `pipeline.toml` refers to; a name registered twice is
        an error that names both plugins.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_transforms(register: Callable[[type[Transform]], None]) -> None:
    """Register transform components: things that change items after they are fetched.

    Called once, while the host builds its component registry. Transforms run in the order
    of the `[transforms.*]` tables in `pipeline.toml`.

    :param register: call it with each `Transform` subclass this plugin provides.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    """Register sink components: things that write or deliver the output (email, RSS, archive).

    Called once, while the host builds its component registry. Sinks run in the order of the
    `[sinks.*]` tables in `pipeline.toml`, after every source and transform has run.

    :param register: call it with each `Sink` subclass this plugin provides.
    :return: nothing; the return value is ignored.
    """


@hookspec
def register_deliveries(register: Callable[[type[Deliverer]], None]) -> None:
    """Register email delivery methods (`outbox`, `sendgrid`, `smtp`, ...).

    Called once, while the host builds its component registry. The email sink's
    `[sinks.<name>.delivery]` table names one by `type` and gives it settings.

    :param register: call it with each `Deliverer` subclass this plugin provides.
    :return: nothing; the return value is ignored.
    """


@hookspec
def prepare_jinja_environment(env: jinja2.Environment, project: Project) -> None:
    """Add filters, globals or tests to the Jinja2 environment used by every template.

    Called once per run, when the first template is about to be rendered, and once as `pipeline serve`
    starts (its pages and confirmation emails), after the host has added its own filters (`money`,
    `when`, `day`) and global (`project`: the `[pipeline]` settings).

    :param env: the environment; change it in place.
    :param project: the loaded configuration (site name, URL, time zone, folders).
    :return: nothing; the return value is ignored.
    """


@hookspec
def run_finished(report: RunReport, project: Project) -> None:
    """Look at what a run did: counts per source, problems, the sinks' results.

    Called once at the end of every `pipeline run` and `pipeline refresh`, after the last sink,
    whether or not anything failed; state has been saved by then. Useful for notifications
    and metrics. An exception here is reported with the plugin's name; it does not change the
    run's outcome.

    :param report: what happened, stage by stage (`pipeline.run_report.RunReport`).
    :param project: the loaded configuration.
    :return: nothing; the return value is ignored.
    """
