"""README, "Configuration reference", "The command line" and "Dependencies" against the code: every setting of the
host's tables and of each built-in component, every command and option, and every dependency is written down (and,
for the host's tables, nothing written down is missing from the code, and each default given is the code's)."""

from __future__ import annotations

import argparse
import importlib
import re
import tomllib
from pathlib import Path

import pytest
from pydantic_core import PydanticUndefined

from pipeline import cli, config
from pipeline.plugins import build_plugin_manager
from pipeline.registry import build_registry

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def section(heading: str) -> str:
    """The README's text from the line `heading` to the next heading of its level or above."""
    level = heading.split(" ")[0]
    start = README.index(f"\n{heading}\n") + 1
    ends = [README.find(f"\n{'#' * n} ", start + len(heading)) for n in range(2, len(level) + 1)]
    return README[start:min([end for end in ends if end != -1] or [len(README)])]


def table_rows(text: str) -> dict[str, list[str]]:
    """The rows of the tables in `text` by their first cell's name, backticked or not: `| `key` | a | b |` ->
    {key: [a, b]}. A row is one line (a line break inside it would end the table there)."""
    rows, lines = {}, text.splitlines()
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("| ---") or after.startswith("| ---"):  # the header and the line under it
            continue
        if found := re.match(r"\| `?([\w.-]+)`?[^|]*\|(.*)\|\s*$", line):
            rows[found[1]] = [cell.strip() for cell in found[2].split(" | ")]
    return rows


HOST_TABLES = {"[pipeline]": config.CoreSettings, "[schedule]": config.ScheduleSettings,
               "[serve]": config.ServeSettings, "[alerts]": config.AlertSettings}


@pytest.mark.parametrize("table", HOST_TABLES)
def test_each_key_of_a_host_table_is_in_its_readme_table_and_nothing_else(table):
    rows = table_rows(section(f"### `{table}`"))
    assert set(rows) == set(HOST_TABLES[table].model_fields)


def _as_toml(cell: str):
    """A default cell read as a TOML value (`"08:00"`, `[]`, `20`), or its words ("required", "none")."""
    text = cell.replace("`", "")
    try:
        return tomllib.loads(f"x = {text}")["x"]
    except tomllib.TOMLDecodeError:
        return text if cell.startswith("`") or text in ("required", "none") else PydanticUndefined  # words: skipped


@pytest.mark.parametrize("table", HOST_TABLES)
def test_each_default_the_readme_gives_is_the_codes(table):
    model = HOST_TABLES[table]
    for key, (default, _meaning) in table_rows(section(f"### `{table}`")).items():
        field = model.model_fields[key]
        written = _as_toml(default)
        if written is PydanticUndefined and field.default_factory is not None:
            continue  # a default worked out when loaded ("one per CPU"), told in words
        code = field.default_factory() if field.default_factory else field.default
        if written == "required":
            assert code is PydanticUndefined, key
        elif written == "none":
            assert code is None, key
        elif isinstance(code, Path):
            assert written == str(code), key
        else:
            assert written == code and type(written) in (type(code), int), key  # 20 for 20.0 is the same


def builtin_components() -> list[tuple[str, str, type]]:
    """(category, name, class) of every component the package's own plugins register."""
    plugins = PYPROJECT["project"]["entry-points"]["newsletter_pipeline"]
    host = build_plugin_manager(entry_points=False, extra=[(name, importlib.import_module(module))
                                                           for name, module in plugins.items()])
    assert not host.broken
    return [(category, name, registered.component) for category, name, registered in build_registry(host).all()]


@pytest.mark.parametrize(("category", "name", "component"), builtin_components(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_each_setting_of_a_builtin_component_is_in_its_row(category, name, component):
    heading = "**Delivery**" if category == "delivery" else f"**{category.capitalize()}s**"
    components = section("### Components: `[sources.NAME]`, `[transforms.NAME]`, `[sinks.NAME]`")
    rows = table_rows(components[components.index(heading):])
    assert name in rows, f"no row for the {category} {name!r}"
    missing = [key for key in component.Settings.model_fields  # a nested table's key as `[sinks.NAME.delivery]`
               if f"`{key}`" not in rows[name][0] and f".{key}]`" not in rows[name][0]]
    assert not missing, f"{category} {name!r}: {missing} not in its README row"


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, with its options (a command's own is built only when it is the one asked for)."""
    names = [action for action in cli._parser([])._subparsers._group_actions[0].choices]
    return {name: cli._parser([name])._subparsers._group_actions[0].choices[name] for name in names}


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    found = {option for action in parser._actions for option in action.option_strings if option.startswith("--")}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= options_of(sub)
    return found


def test_each_command_and_action_is_in_the_command_table():
    text = section("## The command line")
    for name, parser in commands().items():
        assert f"`pipeline {name}" in text, name
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert not [sub for sub in action.choices if f"`{sub} " not in text and f" {sub} " not in text]


def test_each_option_of_every_command_is_in_the_readme():
    options = options_of(cli._parser([])) | set().union(*(options_of(parser) for parser in commands().values()))
    assert {"--as-of", "--dry-run", "--json", "--invite"} <= options
    assert not [option for option in sorted(options - {"--help"})
                if not re.search(rf"`[^`]*(?<![\w-]){option}(?![\w-])[^`]*`", README)]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_each_dependency_is_in_the_table_with_its_reason_and_nothing_else():
    rows = table_rows(section("## Dependencies"))
    assert set(rows) == _names(PYPROJECT["project"]["dependencies"])
    assert all(len(cells[0]) > 10 for cells in rows.values())  # a reason, not an empty cell


def test_each_optional_dependency_is_named_under_dependencies():
    text = section("## Dependencies")
    extras = set().union(*(_names(group) for group in PYPROJECT["project"]["optional-dependencies"].values()))
    assert not [name for name in sorted(extras) if name not in text]


def test_a_leading_tilde_is_home_in_the_settings_types_and_in_a_plain_path(tmp_path, monkeypatch):
    """README, "A source": `~` is expanded in a plain `Path`, as `ExistingFile` and `ExistingDir` expand it."""
    from pipeline.components import Settings
    from pipeline.settings_types import ExistingDir, ExistingFile

    class Paths(Settings):
        plain: Path
        folder: ExistingDir
        file: ExistingFile

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "notes").mkdir(parents=True)
    (tmp_path / "home" / "notes" / "a.csv").write_text("x\n")
    paths = Paths.model_validate({"plain": "~/notes", "folder": "~/notes", "file": "~/notes/a.csv"},
                                 context={"base_dir": tmp_path / "project"})
    assert paths.plain == tmp_path / "home" / "notes"
    assert (paths.folder, paths.file) == (tmp_path / "home" / "notes", tmp_path / "home" / "notes" / "a.csv")


def _readme_places() -> set[str]:
    """The names a message may send a reader to: each heading (without its backticks, and, for one with a colon,
    its words before it) and each bold paragraph's lead (`**Restoring.**`)."""
    places = set()
    for line in README.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().replace("`", "")
            places.update({heading, heading.split(":")[0]})
        elif line.lstrip("- ").startswith("**"):
            places.add(line.lstrip("- ")[2:].split("**")[0].rstrip(".:"))
    return places


def test_each_readme_section_a_message_names_is_in_the_readme():
    named = re.compile(r'(?<![/\w])README(?:\.md)?,? \\?"([^"\\\n]+)\\?"')  # (not bench/README.md)
    places = _readme_places()
    missing = sorted({(path.relative_to(ROOT).as_posix(), name)
                      for folder in ("pipeline", "plugins") for path in (ROOT / folder).rglob("*.py")
                      for name in named.findall(path.read_text(encoding="utf-8"))
                      if not name.endswith(" ") and name not in places})  # (a name split across literals: not here)
    assert missing == []
