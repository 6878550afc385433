"""Review h162: the README against the code, for good.

tests/test_readme_reference.py checks that every setting of a built-in component is named in its README row; these
check what the row says of it (its meaning, the default it gives is the code's, its highest value), the keys the host
keeps, that the environment variables the code reads are the ones the README's table lists, that each module of the
host and its state layer is in "Architecture", that each pipeline.toml fragment the README shows loads, that each
README section a shipped file names exists, and that each example plugin's README shows the settings it takes."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from pydantic_core import PydanticUndefined

from tests.test_readme_reference import ROOT, builtin_components, section, table_rows

COMPONENTS = section("### Components: `[sources.NAME]`, `[transforms.NAME]`, `[sinks.NAME]`")


def _row(category: str, name: str) -> str:
    heading = "**Delivery**" if category == "delivery" else f"**{category.capitalize()}s**"
    return table_rows(COMPONENTS[COMPONENTS.index(heading):])[name][0]


def _said(row: str, key: str) -> tuple[str, str] | None:
    """What the row says of `key`: ("(", the words in its brackets), or ("as for", the component whose row does).
    Keys joined by "and" share their brackets (`` `a` and `b` (…) ``); a list ending "as for `feed`" is all as for
    `feed`; a key followed by a comma and the next key has no brackets of its own. None: named, and no more."""
    keys = r"`[\w.-]+`"
    found = re.search(rf"`{key}`(?: and {keys})* \((?P<words>[^)]*)|`{key}`(?:(?:,| and) {keys})* as for "
                      rf"`(?P<other>[\w-]+)`", row)
    if found is None:
        return None
    return ("as for", found["other"]) if found["other"] else ("(", found["words"])


def _written(words: str):
    """The default the words in brackets start with (`` (`news` default, …) ``, `(300, at least 40)`), as TOML."""
    first = re.split(r":\s|[,;]| at | from ", words, maxsplit=1)[0].strip().removesuffix(" default").strip()
    try:
        return tomllib.loads(f"x = {first.strip('`')}")["x"]
    except tomllib.TOMLDecodeError:
        return first.strip("`")


@pytest.mark.parametrize(("category", "name", "component"), builtin_components(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_each_setting_of_a_builtin_component_is_explained_in_its_row_with_the_codes_default(category, name,
                                                                                           component):
    row, wrong = _row(category, name), []
    for key, field in component.Settings.model_fields.items():
        if f".{key}]`" in row:  # a nested table, `[sinks.NAME.delivery]`: the delivery rows below
            continue
        said = _said(row, key)
        if said is not None and said[0] == "as for":
            said = _said(_row(category, said[1]), key)
        if said is None:
            wrong.append(f"{key}: named, but neither its meaning nor its default is given")
            continue
        code = field.default_factory() if field.default_factory else field.default
        if code is PydanticUndefined or code is None or code == "" or isinstance(code, list | dict | Path):
            continue  # required, or a default told in words ("default: the network's name")
        written = _written(said[1])
        if not (written == code and type(written) in (type(code), int)):  # 30 for 30.0 is the same
            wrong.append(f"{key}: the README gives {written!r}, the code {code!r}")
    assert not wrong, f"{category} {name!r}: {wrong}"


def _constants(tree: ast.Module) -> dict[str, str]:
    """A module's names bound to strings at its top (`BLOCK_ENV = "…"`, `A, B = "…", "…"`)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts, strict=False)
                         if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                         else [(target, node.value)])
                for name, value in pairs:
                    if isinstance(name, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found[name.id] = value.value
    return found


def _name_of(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return constants.get(node.id) if isinstance(node, ast.Name) else None


def variables_read() -> dict[str, str]:
    """Each environment variable the code of `pipeline/` and `plugins/` reads by a name written in it (not one a
    setting names, `secret_env`), and the first file that reads it."""
    found: dict[str, str] = {}
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)

        for node in ast.walk(tree):
            asked = None
            if isinstance(node, ast.Call) and node.args:
                func = ast.unparse(node.func)
                if func.endswith(("environ.get", "getenv")):
                    asked = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
                asked = node.slice
            elif (isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn)
                  and ast.unparse(node.comparators[0]).endswith("environ")):
                asked = node.left
            variable = _name_of(asked, constants) if asked is not None else None
            if variable and re.fullmatch(r"[A-Z][A-Z0-9_]*", variable):
                found.setdefault(variable, path.relative_to(ROOT).as_posix())
    return found


ENVIRONMENT = section("### Environment variables")
# httpx's own, for the sources' requests (pipeline/http_client.py names the CA variables in a loop)
READ_BY_LIBRARIES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"}


def test_the_code_reads_the_variables_this_test_knows_it_reads():
    read = variables_read()
    assert {"PIPELINE_BLOCK_PLUGINS", "PIPELINE_DEBUG", "PIPELINE_FAKE_NOW", "TZ", "NOTIFY_SOCKET"} <= set(read)


def test_each_environment_variable_the_code_reads_is_in_the_readmes_table():
    missing = {variable: path for variable, path in variables_read().items() if f"`{variable}`" not in ENVIRONMENT}
    assert not missing, f"read by the code, not in README, \"Environment variables\": {missing}"


def test_each_environment_variable_the_readmes_table_lists_is_read():
    first_cells = [line.split(" | ")[0] for line in ENVIRONMENT.splitlines() if line.startswith("| `")]
    listed = {found for cell in first_cells for found in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert "PIPELINE_SECRET" in listed
    read = set(variables_read()) | READ_BY_LIBRARIES
    defaults = {"PIPELINE_SECRET", "SENDGRID_WEBHOOK_PUBLIC_KEY", "SENDGRID_API_KEY"}  # named by a setting's default
    assert not sorted(listed - read - defaults)


def _most(field) -> float | None:
    """The highest value a setting takes (`le`), or None."""
    return next((rule.le for rule in field.metadata if getattr(rule, "le", None) is not None), None)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def test_each_highest_value_a_setting_takes_is_written_in_its_readme_row():
    from tests.test_readme_reference import HOST_TABLES

    rows = {f"{table} {key}": meaning for table in HOST_TABLES
            for key, (_default, meaning) in table_rows(section(f"### `{table}`")).items()}
    fields = {f"{table} {key}": field for table, model in HOST_TABLES.items()
              for key, field in model.model_fields.items()}
    for category, name, component in builtin_components():
        for key, field in component.Settings.model_fields.items():
            fields[f"{category} {name} {key}"] = field
            said = _said(_row(category, name), key)
            rows[f"{category} {name} {key}"] = said[1] if said and said[0] == "(" else ""
    unsaid = [f"{where}: at most {_number(most)}" for where, field in fields.items()
              if (most := _most(field)) is not None and not where.endswith(" port")  # (a TCP port's own limit)
              and not re.search(rf"(?<![\d.]){re.escape(_number(most))}(?![\d.])", rows[where].replace(",", ""))]
    assert not unsaid


def test_each_module_of_the_host_and_of_its_state_layer_is_in_the_architecture():
    text = section("## Architecture")
    modules = [path for folder in ("pipeline", "pipeline/state") for path in sorted((ROOT / folder).glob("*.py"))
               if not path.name.startswith("__")]
    assert len(modules) > 60
    assert not [path.relative_to(ROOT).as_posix() for path in modules if f"`{path.name}`" not in text]


README = (ROOT / "README.md").read_text(encoding="utf-8")
FRAGMENTS = [block for block in re.findall(r"```toml\n(.*?)```", README, re.S)
             if re.match(r"\[(pipeline|schedule|serve|alerts|sources|transforms|sinks)\b", block)]
BASE = """[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
plugins_dir = "local_plugins"

[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"
"""


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda block: block.split("\n", 1)[0])
def test_each_pipeline_toml_the_readme_shows_loads(fragment, tmp_path, monkeypatch):
    """Each `pipeline.toml` fragment the README shows, in a project that has what it needs (the `email` sink a
    delivery belongs to, the `themes` transform a taxonomy belongs to, the notices plugin of "A source"), loads."""
    from pipeline.config import load_project

    assert len(FRAGMENTS) >= 5
    for variable in ("SENDGRID_API_KEY", "ALERTS_SMTP_USER", "ALERTS_SMTP_PASSWORD", "PARTNER_TOKEN"):
        monkeypatch.setenv(variable, "x" * 40)
    notices = re.search(r"<!-- plugin-example -->\n```python\n(.*?)```", README, re.S)[1]
    (tmp_path / "local_plugins").mkdir()
    (tmp_path / "local_plugins" / "notices.py").write_text(notices, encoding="utf-8")
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "notices.csv").write_text("id,title,date,url,text\n", encoding="utf-8")
    themes = '\n[transforms.themes]\ntype = "themes"\n' if "[transforms.themes." in fragment else ""
    (tmp_path / "pipeline.toml").write_text(f"{BASE}{themes}\n{fragment}", encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml")
    assert project.core.name == "Test Network"


def test_each_key_the_host_keeps_of_a_components_table_is_in_the_reference():
    """`type`, `deadline` and `renamed_from` (pipeline/config.py) are refused as a plugin's settings: the reference
    says so, and says which tables take each."""
    from pipeline.config import _HOST_KEYS, DEADLINE_LIMITS

    kept = table_rows(COMPONENTS[:COMPONENTS.index("**A source renamed.**")])
    assert set(_HOST_KEYS) - {"type"} == set(kept)
    assert all(_number(most) in kept["deadline"][0] for most in DEADLINE_LIMITS.values())
    assert "a transform's and a sink's table" in " ".join(COMPONENTS.split())


def test_a_project_with_no_sink_is_refused_naming_the_readme_section_that_says_it_needs_one(tmp_path):
    from pipeline.config import load_project
    from pipeline.errors import ConfigError

    (tmp_path / "posts").mkdir()
    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "T"\nsite_url = "https://network.example.org"\n'
                                            '[sources.blog]\ntype = "blog"\npath = "posts"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_project(tmp_path / "pipeline.toml")
    (line,) = refused.value.lines
    assert line.startswith("pipeline.toml: no [sinks.*] tables") and line.endswith('(README, "Components")')
    assert "A project needs at least one sink" in " ".join(COMPONENTS.split())


def test_each_readme_section_the_shipped_files_name_is_in_the_readme():
    """What `pipeline init` and `pipeline plugin new` write, the shipped pipeline.toml, the unit and the Dockerfile
    send organisers to sections of the README by name (tests/test_readme_reference.py checks the code's messages)."""
    from tests.test_readme_reference import _readme_places

    named = re.compile(r'(?<![/\w])README(?:\.md)?,? \\?"([^"\\\n]+)\\?"')
    files = [*(ROOT / "pipeline" / "scaffold").iterdir(), ROOT / "pipeline.toml", ROOT / "Dockerfile",
             *(ROOT / "deploy").iterdir(), *(ROOT / "examples").glob("*/README.md"),
             ROOT / "local_plugins" / "README.md"]
    found = {(path.relative_to(ROOT).as_posix(), name) for path in files if path.is_file()
             for name in named.findall(path.read_text(encoding="utf-8"))}
    assert len(found) >= 10
    assert not sorted((path, name) for path, name in found if name not in _readme_places())


EXAMPLES = sorted(path for path in (ROOT / "examples").iterdir() if (path / "pyproject.toml").is_file())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_each_example_plugins_readme_shows_every_setting_it_takes_and_no_other(example):
    """An example's README shows its table in pipeline.toml: with each key its Settings has, and no key it would
    refuse (the module is read from this checkout, not the one installed)."""
    import importlib.util

    from pipeline.components import Sink, Source, Transform

    (module_path,) = example.glob("pipeline_*.py")
    spec = importlib.util.spec_from_file_location(f"h162_{module_path.stem}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (component,) = [value for value in vars(module).values() if isinstance(value, type)
                    and issubclass(value, Source | Transform | Sink) and value not in (Source, Transform, Sink)]
    (block,) = re.findall(r"```toml\n(.*?)```", (example / "README.md").read_text(encoding="utf-8"), re.S)
    ((_section, tables),) = tomllib.loads(block).items()
    ((_name, table),) = tables.items()
    assert table.pop("type") == component.name
    assert set(table) == set(component.Settings.model_fields)
