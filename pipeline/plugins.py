"""Building the plugin manager: entry points (built-in and installed plugins) and a plugins folder.

Nothing here runs at import time; `build_plugin_manager()` makes a fresh manager each call,
so tests and long-running schedulers never share one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pluggy

from pipeline import hookspecs
from pipeline.errors import exception_text, is_stop
from pipeline.logs import show_traceback
from pipeline.redact import redact_text

BLOCK_ENV = "PIPELINE_BLOCK_PLUGINS"
TRACE_ENV = "PIPELINE_TRACE_HOOKS"
LOCAL_PREFIX = "pipeline_local_plugins."  # the modules of plugin files in a project's plugins_dir


@dataclass
class PluginHost:
    """The manager plus what the host learnt while loading: where each plugin came from, what broke."""

    pm: pluggy.PluginManager
    origins: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # plugin name -> one-line reason (masked: redact.py)
    # plugins not loaded because an earlier one has their name: (name, where it is, why: "from ... was not loaded")
    unloaded: list[tuple[str, str, str]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # the plugins PIPELINE_BLOCK_PLUGINS kept from loading
    blocked_unknown: list[str] = field(default_factory=list)  # names it gives that are no plugin's


def build_plugin_manager(
    plugins_dir: Path | None = None,
    *,
    entry_points: bool = True,
    extra: list[tuple[str, object]] = (),
) -> PluginHost:
    """Make a plugin manager with every plugin loaded and checked.

    :param plugins_dir: a folder of loose `*.py` plugin files (from `pipeline.toml`).
    :param entry_points: load the `newsletter_pipeline` entry-point group (built-ins included).
    :param extra: `(name, plugin)` pairs to register too (tests use this).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    host = PluginHost(pm)
    blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}

    if entry_points:
        packages: dict[int, str] = {}  # each distribution's "name version": its metadata is parsed once, not per plugin
        for ep in sorted(importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=_ep_key):
            if id(ep.dist) not in packages:
                packages[id(ep.dist)] = _package(ep.dist)
            _load(host, ep.name, f"{packages[id(ep.dist)]} (entry point {ep.value})", ep.load, blocked)
    if plugins_dir is not None:
        for path in sorted(plugins_dir.glob("*.py")):
            _load(host, path.stem, str(path), lambda p=path: import_file(p), blocked, rename="rename the file")
    for name, plugin in extra:
        _load(host, name, "registered by the caller", lambda p=plugin: p, blocked)

    host.blocked_unknown = sorted(blocked.difference(host.blocked))
    _check_hooks(host)
    if os.environ.get(TRACE_ENV):
        _trace_hooks(pm)
    return host


def _trace_hooks(pm: pluggy.PluginManager) -> None:
    """PIPELINE_TRACE_HOOKS: each hook call on standard error, naming the plugins called, with its arguments, then
    what it returned or raised. The host calls most hooks once per plugin (`call_each_plugin`): a call that reaches
    no plugin (one that does not implement the hook) is left out."""
    def called(impls) -> str:
        return f"[plugin {', '.join(impl.plugin_name for impl in impls)}]"

    def before(hook_name, impls, kwargs) -> None:
        if impls:
            arguments = "".join(f"\n    {name}: {value!r}" for name, value in kwargs.items())
            sys.stderr.write(redact_text(f"hook {hook_name} {called(impls)}{arguments}") + "\n")

    def after(outcome, hook_name, impls, kwargs) -> None:
        if impls:
            exc = outcome.exception
            said = f"--> {outcome.get_result()!r}" if exc is None else f"raised {type(exc).__name__}: {exc}"
            sys.stderr.write(redact_text(f"hook {hook_name} {called(impls)} {said}") + "\n")

    pm.add_hookcall_monitoring(before, after)


def _package(dist: importlib.metadata.Distribution | None) -> str:
    if dist is None:
        return "unknown package"
    metadata = dist.metadata
    return f"{metadata['Name']} {metadata['Version']}"


def _ep_key(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    return (ep.name, ep.value)


def _load(host: PluginHost, name: str, origin: str, load, blocked: set[str], rename: str = "rename one") -> None:
    if name in blocked:
        host.origins[name] = f"{origin} [blocked by {BLOCK_ENV}]"
        host.blocked.append(name)
        return
    if name in host.origins:  # this one is not loaded: the one loaded first is whole, and listed as it is
        host.unloaded.append((name, origin, f"from {origin} was not loaded: a plugin named {name!r} is already "
                                            f"loaded from {host.origins[name]}; {rename}"))
        return
    host.origins[name] = origin
    try:
        plugin = load()
        host.pm.register(plugin, name=name)
    except BaseException as exc:  # a broken plugin is reported by name, never a crash of the host
        if is_stop(exc):
            raise
        show_traceback(f"plugin {name}", exc)
        host.broken[name] = redact_text(f"failed to load from {origin}: {type(exc).__name__}: {exception_text(exc)}")
        return
    unmarked = [hook for hook in _HOOK_NAMES if callable(getattr(plugin, hook, None))
                and getattr(getattr(plugin, hook), f"{hookspecs.PROJECT_NAME}_impl", None) is None]
    if unmarked:  # it would load and do nothing, and the table naming its type would find none
        host.pm.unregister(plugin)
        host.broken[name] = (f"from {origin} has {', '.join(unmarked)} without @hookimpl on the line above it "
                             f"(from pipeline import hookimpl), so the host does not call it")


_HOOK_NAMES = [name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), f"{hookspecs.PROJECT_NAME}_spec",
                                                                   None) is not None]


def import_file(path: Path) -> ModuleType:
    """A plugin file of `plugins_dir` as the module `pipeline_local_plugins.<its stem>`."""
    module_name = f"{LOCAL_PREFIX}{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _check_hooks(host: PluginHost) -> None:
    """Like `pm.check_pending()`, but a misspelt hook marks its plugin broken instead of crashing."""
    pm = host.pm
    for hook_name in list(vars(pm.hook)):
        if hook_name.startswith("_"):
            continue
        caller = getattr(pm.hook, hook_name)
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook and pm.is_registered(impl.plugin):
                plugin_name = pm.get_name(impl.plugin)
                host.broken[plugin_name] = (
                    f"implements {hook_name!r}, which is not a hook of this pipeline "
                    f"(misspelt? see `pipeline/hookspecs.py`)"
                )
                pm.unregister(impl.plugin)
    pm.check_pending()  # nothing pending is left; kept so pluggy's own check still guards us


def loaded(pm: pluggy.PluginManager) -> list[object]:
    """The plugins in the order they were loaded (entry points by name, then plugins_dir's files, then a caller's):
    not `pm.get_plugins()`, a set, whose order changes from one process to the next (which of two plugins
    registering one name keeps it, say)."""
    return [plugin for _, plugin in pm.list_name_plugin() if plugin is not None]


def call_each_plugin(pm: pluggy.PluginManager, hook_name: str, kwargs_for) -> dict[str, BaseException]:
    """Call a hook once per plugin, so what it does (or raises) is credited to that plugin.

    `kwargs_for(plugin_name)` gives the keyword arguments for that plugin's call. Returns the
    exceptions raised (`sys.exit()` and a plugin's own `BaseException` too, not a stop: `is_stop`), by plugin name;
    the other plugins' calls still happen.
    """
    plugins = loaded(pm)
    failures: dict[str, BaseException] = {}
    for plugin in plugins:
        name = pm.get_name(plugin)
        others = [p for p in plugins if p is not plugin]
        try:
            pm.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs_for(name))
        except BaseException as exc:
            if is_stop(exc):
                raise
            show_traceback(f"plugin {name}: {hook_name}", exc)
            failures[name] = exc
    return failures
