"""The items' JSON: orjson's text, read back the same, and the standard library's for what orjson refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pipeline import jsontext
from pipeline.state import Store


def test_the_text_reads_back_the_same_and_sorts_on_request():
    value = {"b": ["peer support", "£112.50 – “group rate”"], "a": {"n": 1, "x": None, "f": 0.5}}
    assert json.loads(jsontext.dumps(value)) == value == jsontext.loads(jsontext.dumps(value))
    assert jsontext.dumps(value, sort_keys=True).startswith('{"a":')


def test_a_lone_surrogate_falls_back_to_the_standard_library(tmp_path, item_factory):
    text = jsontext.dumps({"title": "broken \ud800 text"})
    assert json.loads(text) == {"title": "broken \ud800 text"}
    item = item_factory(title="Seminar notes")
    item.title = "Seminar \udcff notes"  # as a sloppy decoder with surrogateescape leaves it
    store = Store(tmp_path / "s.sqlite")
    try:
        store.save_items([(item, "fp")], datetime(2016, 2, 1, tzinfo=UTC))
        assert store.get_items([item.id])[0].title == "Seminar \udcff notes"
    finally:
        store.close()
