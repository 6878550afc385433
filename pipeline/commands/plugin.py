"""`pipeline plugin new NAME --kind source|transform|sink [--dir DIR]`: write a plugin package that works as
generated: a pyproject.toml with the entry point, the module, a test that uses the pipeline's pytest fixtures
(pipeline/testing.py), and a README. `pip install -e` on the folder makes it appear in `pipeline plugins`, and
`pytest` there passes. The files come from the templates in pipeline/scaffold/."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import string
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.hookspecs import ENTRY_POINT_GROUP

KINDS = ("source", "transform", "sink")
SECTIONS = {"source": "sources", "transform": "transforms", "sink": "sinks"}
USAGE = {
    "source": 'path = "content/items.csv"',
    "transform": 'theme = "peer support"\nwords = ["peer support", "peer worker"]',
    "sink": 'file = "$entry.json"',
}
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


class ScaffoldError(PipelineError):
    """The name or the folder will not do; nothing was written."""

    exit_code = 2


def register(command: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    from pipeline.cli import action_options

    plugin = command("plugin", cmd_plugin, "write a new plugin package to start from: plugin new NAME --kind KIND")
    actions = plugin.add_subparsers(required=True, metavar="ACTION", dest="action")
    new = actions.add_parser("new", help="write a plugin package: pyproject.toml, the module, a test, a README",
                             description="Write a plugin package that `pip install -e` makes appear in "
                                         "`pipeline plugins`, and whose test passes as generated.")
    new.add_argument("name", metavar="NAME", help="the component's name, such as reading-list "
                                                  "(lower case letters, digits, - and _)")
    new.add_argument("--kind", choices=KINDS, default="source", help="what it registers (default: source)")
    new.add_argument("--dir", type=Path, default=Path("."), metavar="DIR",
                     help="where to make the package's folder (default: the current folder)")
    action_options(new)  # --config, -v, -q, --log-file after the action too, as after any command


def cmd_plugin(args) -> int:
    folder = scaffold(args.name, args.kind, args.dir)
    entry = folder.name.removeprefix("newsletter-pipeline-").replace("-", "_")
    print(f"wrote {folder}/ (a {args.kind} plugin):")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(folder)}")
    print(f"next:\n  pip install -e {folder}\n  pipeline plugins       # lists {entry}\n"
          f"  pytest {folder}")
    return 0


def scaffold(name: str, kind: str, parent: Path) -> Path:
    """Write the package for plugin `name` of `kind` into `parent`; return its folder."""
    name = name.strip().lower()
    if not _NAME.fullmatch(name) or len(name) > 40:
        raise ScaffoldError(f"{name!r} will not do as a plugin name: use lower case letters, digits and single "
                            f"- or _ between them, starting with a letter (at most 40), such as reading-list")
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    entry = name.replace("-", "_")
    taken = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if entry in taken:
        raise ScaffoldError(f"a plugin named {entry!r} is installed already ({taken[entry]}); choose another name")
    registered = _installed_component(kind, name)
    if registered:  # its entry point has another name (webhook_sink registers the sink `webhook`)
        raise ScaffoldError(f"a {kind} named {name!r} is registered already, by plugin {registered!r}; installed "
                            f"beside it, the new one would make every project fail to load; choose another name")
    folder = parent / f"newsletter-pipeline-{name}"
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already; nothing was written (choose another name or --dir)")
    values = {"name": name, "entry": entry, "module": f"pipeline_{entry}", "dist": folder.name, "kind": kind,
              "cls": "".join(part.capitalize() for part in re.split(r"[-_]", name)) + kind.capitalize()}
    usage = f"[{SECTIONS[kind]}.{entry}]\ntype = \"{name}\"\n{USAGE[kind]}"
    values["usage"] = string.Template(usage).substitute(values)
    files = {"pyproject.toml": "pyproject.toml.tmpl", "README.md": "README.md.tmpl",
             f"{values['module']}.py": f"{kind}.py.tmpl", f"tests/test_{entry}.py": f"test_{kind}.py.tmpl"}
    templates = resources.files("pipeline") / "scaffold"
    for target, template in files.items():
        path = folder / target
        path.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(templates.joinpath(template).read_text(encoding="utf-8")).substitute(values)
        path.write_text(text, encoding="utf-8")
    return folder


def _installed_component(kind: str, name: str) -> str | None:
    """The installed plugin that registers a `kind` named `name` already, if one does."""
    from pipeline.plugins import build_plugin_manager
    from pipeline.registry import build_registry

    found = build_registry(build_plugin_manager(None)).get(kind, name)
    return found.plugin if found else None
