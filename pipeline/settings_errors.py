"""pydantic's errors in a settings table as the lines `pipeline check` prints: one per mistake, naming the key.

An error's `loc` is followed through the settings model's annotations, so a key inside a nested table is
reported with that table's own keys, and a union (`list[str] | ThemeSpec`) is reported as the one member
the value given was meant for (a table for a model, a list for a list), or as one line saying what the
value may be; the member's tag that pydantic puts in the `loc` is never printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

SECRET_WORDS = ("key", "password", "secret", "token")
# A key whose value is never repeated in a message: a word of its name (between "_", "-" and ".") that starts with
# one of these (wider than SECRET_WORDS, which hints that secrets belong in the environment), or is "auth"
_HIDDEN = (*SECRET_WORDS, "pass", "pwd", "cred", "dsn", "cookie", "private", "signing", "signature")


def describe_errors(where: str, model: type[BaseModel], data: Any, errors: list[dict],
                    host_keys: tuple[str, ...] = ()) -> list[str]:
    """One line per mistake in `data`, validated against `model`, each starting with `where` (file and table).
    `host_keys` are the table's keys the host reads itself (`type`, `deadline`): an unknown key's line lists them
    with the model's own."""
    lines: dict[str, list[str]] = {}  # per key, what is wrong: the members of a union of plain values, each
    for err in errors:
        described = _describe(where, model, data, err, host_keys)
        if described:
            key, _, problem = described.partition(_SEP)
            lines.setdefault(key, [])
            if problem not in lines[key]:
                lines[key].append(problem)
    return [key + (": " + "; or ".join(problems) if problems != [""] else "") for key, problems in lines.items()]


_SEP = "\x00"  # between the key of a line and what is wrong with it, until the lines are joined


def _describe(where: str, model: type[BaseModel], data: Any, err: dict, host_keys: tuple[str, ...] = ()) -> str | None:
    """One line for one of pydantic's errors; None for the error of a union's branch the value was not meant for.

    The error's `loc` is followed through the model's annotations and the table's values: a union's branch tag
    (`list[str]`, `ThemeSpec`) is left out of the key printed, and a branch of another kind than the value
    given (a list for a table) is dropped, or, when no branch takes that kind, the union makes one line.
    """
    path: list[str | int] = []
    annotation, owner, value = model, None, data
    for part in err["loc"]:
        annotation = _unwrap(annotation)
        branches = _branches(annotation)
        if branches:  # this part is the branch's tag
            meant = [branch for branch in branches if _fits(branch, value)]
            annotation = next((branch for branch in branches if _label(branch) == part), None)
            if annotation is not None and annotation not in meant:
                if meant and _structured(annotation, *meant, type(value)):
                    return None  # a list's errors for a table, say: only the member meant says what is wrong
                if not meant:
                    expected = " or ".join(dict.fromkeys(_expected(branch) for branch in branches))
                    return f"{where}: {_key(path)}{_SEP}must be {expected}, not {_KIND_NAMES[_kind(type(value))]}"
            continue
        owner, annotation = annotation, _child(annotation, part)
        value = _item(value, part)
        path.append(part)
    key = _key(path)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = bool(path) and _is_model(owner)  # the model the key is in: its fields are the ones allowed
        name, table = (str(path[-1]), path[:-1]) if known else (key, [])
        fields = [*(owner if known else model).model_fields, *([] if table else host_keys)]
        allowed = ", ".join(fields) or "none"
        hint = ""
        if any(word in name.lower() for word in SECRET_WORDS):
            hint = "; secrets are read from the environment, never from pipeline.toml"
        inside = f"{_key(table)}: " if table else ""
        return f"{where}: {inside}unknown key {name!r} (allowed: {allowed}){hint}"
    if kind == "missing":
        return f"{where}: missing required key {key!r}"
    return f"{where}: {key}{_SEP}{plain_message(err)}"


_A_TABLE = 'must be a table: its keys under a [heading] of its own, or { key = "value" }'
# pydantic's errors for a value of the wrong kind, as an organiser would put them (the value given follows)
_WORDING = {
    "list_type": 'must be a list in brackets, such as ["a", "b"]',
    "decimal_parsing": "must be a number such as 25 or 25.00, without a currency sign",
    "decimal_type": "must be a number such as 25 or 25.00, without a currency sign",
    "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "float_type": "must be a number",
    "bool_parsing": "must be true or false", "bool_type": "must be true or false",
    "string_type": "must be a string in quotes",
    "path_type": 'must be a path in quotes, such as "content/notices.csv"',
    "date_from_datetime_inexact": "must be a date such as 2016-03-01, with no time",
    # a table's key given a plain value (`delivery = "sendgrid"`, where [sinks.newsletter.delivery] type = ... belongs)
    "dict_type": _A_TABLE,
    "model_type": _A_TABLE,
}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
           "greater_than": ("gt", "more than"), "less_than": ("lt", "less than")}


def plain_message(err: dict) -> str:
    """What is wrong in one of pydantic's errors, in plain words, with the value given when it is short and no
    secret: "must be at least 1, not -1" for pydantic's "Input should be greater than or equal to 1"."""
    kind = err["type"]
    if kind in _WORDING:
        message = _WORDING[kind]
    elif kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        message = f"must be {words} {err.get('ctx', {}).get(bound)}"
    else:
        message = err["msg"].removeprefix("Value error, ").replace("Input should be ", "must be ", 1)
        if kind != "literal_error":
            return message
    value = err.get("input")
    words = [word for part in err["loc"] for word in re.split(r"[_\-.]", str(part).lower())]
    secret = any(word.startswith(_HIDDEN) or word == "auth" for word in words)
    if secret or isinstance(value, dict | list) or kind == "literal_error":
        return message
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, bool) else repr(value)
    return f"{message}, not {shown if len(shown) <= 60 else shown[:57] + '...'}"


# What a TOML value is written as, or a setting's type takes (None: any value)
_KIND_NAMES = {"table": "a table", "list": "a list", "string": "a string", "number": "a number",
               "boolean": "a boolean", None: "that value"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(path: list[str | int]) -> str:
    """`taxonomy."peer support".phrases.0`: written as in TOML, a key with a space in quotes."""
    parts = [str(part) if isinstance(part, int) or _BARE_KEY.fullmatch(part) else json.dumps(part) for part in path]
    return ".".join(parts) or "(table)"


def _unwrap(annotation: Any) -> Any:
    """The type under `Annotated[...]` and `X | None`."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType) and len(_branches(annotation, every=True)) == 1:
            annotation = _branches(annotation, every=True)[0]
        else:
            return annotation


def _branches(annotation: Any, every: bool = False) -> list[Any]:
    """The members of a union but None: with two or more, pydantic tags each error with its member's label."""
    if get_origin(annotation) not in (Union, UnionType):
        return []
    members = [member for member in get_args(annotation) if member is not type(None)]
    return members if every or len(members) > 1 else []


def _label(annotation: Any) -> str:
    """The tag pydantic puts in an error's `loc` for this member of a union (`ThemeSpec`, `list[str]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    try:
        return TypeAdapter(annotation).validator.title
    except Exception:  # a type pydantic takes only inside a model: then no member matches, and none is dropped
        return ""


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _child(annotation: Any, part: str | int) -> Any:
    """The type of `part` (a field, a list's index, a table's key) inside `annotation`; None when not known."""
    if _is_model(annotation):
        field = annotation.model_fields.get(part) or next(
            (f for f in annotation.model_fields.values() if f.alias == part), None)
        return field.annotation if field else None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, set, frozenset) and args:
        return args[0]
    if origin is tuple and args:
        if args[-1] is Ellipsis:
            return args[0]
        return args[part] if isinstance(part, int) and 0 <= part < len(args) else None
    if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
        return args[1]
    return None


def _item(value: Any, part: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(part)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return None


def _structured(*annotations: Any) -> bool:
    """Whether any of these is written as a table or a list."""
    return any(_kind(annotation) in ("table", "list") for annotation in annotations)


def _kind(annotation: Any) -> str | None:
    """What a TOML value of this type (or a setting of it) is written as: a table, a list, a string..."""
    annotation = _unwrap(annotation)
    if get_origin(annotation) is Literal:  # one of some values: written as they are
        kinds = {_kind(type(value)) for value in get_args(annotation)}
        return kinds.pop() if len(kinds) == 1 else None
    origin = get_origin(annotation) or annotation
    if not isinstance(origin, type):
        return None
    if issubclass(origin, BaseModel | Mapping):
        return "table"
    if issubclass(origin, list | tuple | set | frozenset):
        return "list"
    if issubclass(origin, bool):
        return "boolean"
    if issubclass(origin, str):
        return "string"
    if issubclass(origin, int | float):
        return "number"
    return None


def _fits(branch: Any, value: Any) -> bool:
    """Whether a value given could be meant for this member of a union (a table for a model, a list for a list)."""
    return value is None or None in (_kind(branch), _kind(type(value))) or _kind(branch) == _kind(type(value))


def _expected(branch: Any) -> str:
    branch = _unwrap(branch)
    if get_origin(branch) is Literal:
        return "one of " + ", ".join(repr(value) for value in get_args(branch))
    if _is_model(branch):
        return f"a table (keys: {', '.join(branch.model_fields)})"
    kind = _kind(branch)
    items = _kind(get_args(branch)[0]) if kind == "list" and get_args(branch) else None
    if items in ("string", "number"):
        return f"a list of {items}s"
    return _KIND_NAMES[kind] if kind else _label(branch) or str(branch)
