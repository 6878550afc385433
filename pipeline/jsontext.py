"""JSON text for what the state database keeps of every item: orjson, several times quicker than the
standard library on items with their theme evidence; the standard library for what orjson refuses
(a lone surrogate in a string), both ways."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, sort_keys=sort_keys)  # escaped: SQLite takes no lone surrogate either


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what the fallback above wrote
        return json.loads(text)
