"""A third-party source, outside plugins/: the README's own example, loaded from a plugins folder
and installed as a package, reaches all three sinks with no change to pipeline/."""

from __future__ import annotations

import email
import importlib.util
import os
import re
import subprocess
import sys
from datetime import date
from email import policy
from pathlib import Path

import pytest

from pipeline.runner import run

README = Path(__file__).parent.parent / "README.md"
CSV = ("id,title,date,url,text\n"
       "4,Seminar 4: space to think,2016-03-01,https://x.example.org/4,<p>Peer <b>support</b></p>\n")


def readme_block(marker: str | None, index: int = 0) -> str:
    text = README.read_text(encoding="utf-8")
    if marker:
        text = text[text.index(marker):]
    return re.findall(r"```python\n(.*?)```", text, re.S)[index]


def sinks_toml(source_table: str) -> str:
    return source_table + """
[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
unsubscribe = "mailto:news@network.example.org?subject=unsubscribe"
[sinks.feed]
type = "rss"
[sinks.archive]
type = "archive"
"""


def assert_reaches_every_sink(root: Path, title: str) -> None:
    out = root / "out"
    assert title in (out / "newsletter" / "issue-1.html").read_text()
    assert title in (out / "newsletter" / "issue-1.txt").read_text()
    (eml,) = (root / "outbox" / "issue-1").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert title in message.get_body(("plain",)).get_content()
    assert title in (out / "feed.xml").read_text()
    assert title in (out / "archive" / "issue-1.html").read_text()


def test_the_readme_plugin_from_a_plugins_folder_reaches_all_sinks(write_project):
    files = {"local/notices.py": readme_block("<!-- plugin-example -->"), "content/notices.csv": CSV,
             "subscribers.csv": "email,name\nreader@example.org,Reader\n"}
    toml = '[pipeline]\nname = "N"\nplugins_dir = "local"\nworkers = 1\n'
    path = write_project(sinks_toml(toml + '[sources.notices]\ntype = "notices"\npath = "content/notices.csv"\n'),
                         files)
    from pipeline.config import load_project

    project = load_project(path)
    assert "local/notices.py" in project.host.origins["notices"]
    report = run(project, as_of=date(2016, 4, 1))
    assert report.exit_code == 0, report.results
    assert_reaches_every_sink(path.parent, "Seminar 4: space to think")


def test_the_readme_plugin_installed_as_a_package_reaches_all_sinks(write_project, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "thirdparty_notices-1.0.dist-info").mkdir(parents=True)
    (site / "thirdparty_notices.py").write_text(readme_block("<!-- plugin-example -->"))
    (site / "thirdparty_notices-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-notices\nVersion: 1.0\n")
    (site / "thirdparty_notices-1.0.dist-info" / "entry_points.txt").write_text(
        "[newsletter_pipeline]\nnotices = thirdparty_notices\n")
    monkeypatch.syspath_prepend(str(site))
    path = write_project(sinks_toml('[sources.notices]\ntype = "notices"\npath = "n.csv"\n'),
                         {"n.csv": CSV, "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    from pipeline.config import load_project

    try:
        project = load_project(path)
        assert "thirdparty-notices 1.0" in project.host.origins["notices"]
        assert run(project, as_of=date(2016, 4, 1)).exit_code == 0
        assert_reaches_every_sink(path.parent, "Seminar 4: space to think")
    finally:
        sys.modules.pop("thirdparty_notices", None)


def test_the_readme_plugins_test_passes_run_by_pytest_as_an_organiser_would(tmp_path):
    """The README's test of its plugin, as tests/test_notices.py beside local_plugins/notices.py, run by pytest
    in a process of its own: the fixtures come from the installed package (pipeline/testing.py), no conftest."""
    (tmp_path / "local_plugins").mkdir()
    (tmp_path / "local_plugins" / "notices.py").write_text(readme_block("<!-- plugin-example -->"))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_notices.py").write_text(readme_block("<!-- plugin-example-test -->"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "PYTEST_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("row, problem", [("9,Talk,03/01/2016,,x", "date must be like 2016-03-01")])
def test_the_readme_plugin_reports_a_bad_row_and_goes_on(project_from, run_context, tmp_path, row, problem):
    module_path = tmp_path / "readme_notices2.py"
    module_path.write_text(readme_block("<!-- plugin-example -->"))
    spec = importlib.util.spec_from_file_location("readme_notices2", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    project = project_from('[sources.n]\ntype = "notices"\npath = "n.csv"\n[sinks.feed]\ntype = "rss"\n',
                           {"n.csv": CSV + row + "\n"}, plugins=[("notices", module)])
    run = run_context(project)
    assert [i.title for i in project.sources[0].fetch(run)] == ["Seminar 4: space to think"]
    assert run.problems == [f"{project.root / 'n.csv'}:3: {problem}; row skipped"]
