"""The themes transform, measured against the hand-labelled set (see bench/themes_eval.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pipeline.toml"
LABELLED = ROOT / "tests" / "data" / "themes_labelled.toml"

# The shipped taxonomy reaches 0.863 (tuned on the odd-numbered items, 0.844 on the even ones it never
# saw); a change that loses more than a point and a half fails.
MIN_MICRO_F1 = 0.85
# Predicted themes per item must be within this of the labelled average.
MAX_THEMES_PER_ITEM_GAP = 0.5


def _load_eval():
    spec = importlib.util.spec_from_file_location("themes_eval", ROOT / "bench" / "themes_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result():
    return _load_eval().evaluate(CONFIG, LABELLED)


def test_micro_f1_does_not_drop(result):
    micro = result["micro"]
    assert micro["f1"] >= MIN_MICRO_F1, (
        f"micro F1 {micro['f1']:.3f} < {MIN_MICRO_F1} (P {micro['precision']:.3f}, R {micro['recall']:.3f}); "
        "run .venv/bin/python bench/themes_eval.py for the per-theme table"
    )


def test_themes_per_item_close_to_labels(result):
    predicted, labelled = result["avg_themes_predicted"], result["avg_themes_labelled"]
    assert abs(predicted - labelled) <= MAX_THEMES_PER_ITEM_GAP, (
        f"{predicted:.2f} themes per item predicted, {labelled:.2f} labelled"
    )
