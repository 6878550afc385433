"""The example plugins (examples/*): each an installed package with its entry point, README and uniquely named test
(their tests are collected with the rest: `testpaths` in pyproject.toml), small enough to copy, and shown in the
README exactly as they are."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "pyproject.toml").is_file())
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Writing a plugin"):README.index("### The hooks")]


def code_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_there_is_an_example_of_each_kind():
    assert [p.name for p in EXAMPLES] == ["csv-jobs", "ics-events", "reading-time", "webhook-sink"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_example_is_installed_from_this_folder(example: Path):
    project = tomllib.loads((example / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ((name, module),) = project["entry-points"]["newsletter_pipeline"].items()
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="newsletter_pipeline")}
    assert installed.get(name) == module, f"run `pip install -e examples/{example.name}` (scripts/test.sh does)"
    assert Path(importlib.util.find_spec(module).origin) == example / f"{module}.py"
    assert "newsletter-pipeline" in project["dependencies"][0] and (example / "README.md").is_file()
    (test,) = (example / "tests").glob("test_*.py")
    assert test.stem == f"test_{module.removeprefix('pipeline_')}"  # unique: pytest imports them by file name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_example_is_about_30_lines_with_a_test_of_at_most_20(example: Path):
    (module,) = example.glob("pipeline_*.py")
    (test,) = (example / "tests").glob("test_*.py")
    assert code_lines(module) <= 30, f"{module}: {code_lines(module)} lines that are not blank"
    assert len(test.read_text(encoding="utf-8").splitlines()) <= 20


def test_the_readme_shows_example_files_exactly_and_runs_every_other_block():
    shown = re.findall(r"<!-- plugin-example: (\S+) -->\n```python\n(.*?)```", SECTION, re.S)
    assert {path for path, _ in shown} >= {"examples/reading-time/pipeline_reading_time.py",
                                           "examples/webhook-sink/pipeline_webhook_sink.py"}
    for path, block in shown:
        assert block == (ROOT / path).read_text(encoding="utf-8"), f"README block differs from {path}"
    # The others are the notices plugin and its test, run by tests/test_third_party_plugin.py.
    blocks = re.findall(r"(<!-- plugin-example[^>]*-->\n)?```python\n", SECTION)
    assert len(blocks) == len(shown) + 2 and all(blocks), "every Python block is marked, so a test runs it"
