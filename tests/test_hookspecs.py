"""Every hook is typed, documented in its docstring and the README, and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from pipeline import hookspecs

ROOT = Path(__file__).parent.parent
HOOKS = [name for name, fn in vars(hookspecs).items()
         if inspect.isfunction(fn) and hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")]


def test_there_are_hooks():
    assert {"register_sources", "register_transforms", "register_sinks", "register_deliveries",
            "prepare_jinja_environment", "run_finished"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_is_typed_and_says_when_it_is_called(hook):
    fn = getattr(hookspecs, hook)
    signature = inspect.signature(fn)
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())
    assert signature.return_annotation is not inspect.Signature.empty
    doc = inspect.getdoc(fn)
    assert "Called" in doc
    for parameter in signature.parameters:
        assert f":param {parameter}:" in doc
    assert ":return:" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_is_in_the_readme(hook):
    assert f"`{hook}(" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_is_implemented_in_a_test(hook):
    tests = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_hookspecs.py"]
    assert any(f"def {hook}(" in p.read_text() for p in tests)
