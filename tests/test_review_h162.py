"""Review h162: the README's configuration reference against the code.

tests/test_readme_reference.py checks that every setting of a built-in component is named in its README row; these
check what the row says of it (its meaning, and the default it gives is the code's)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic_core import PydanticUndefined

from tests.test_readme_reference import builtin_components, section, table_rows

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
