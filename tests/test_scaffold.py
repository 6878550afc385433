"""`pipeline plugin new`: a package per kind that pip installs offline into a throwaway environment (beside this
one's packages), that `pipeline plugins` then lists, and whose generated test passes; names and folders checked."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline.cli import main

KINDS = {"source": "reading-list", "transform": "peer-words", "sink": "issue-json"}


def scaffold(tmp_path: Path, name: str, kind: str, *more: str) -> int:
    return main(["plugin", "new", name, "--kind", kind, "--dir", str(tmp_path), *more])


def test_new_writes_a_package_with_the_entry_point_module_test_and_readme(tmp_path, capsys):
    assert scaffold(tmp_path, "Reading-List", "source") == 0
    folder = tmp_path / "newsletter-pipeline-reading-list"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "README.md", "pipeline_reading_list.py", "pyproject.toml", "tests/test_reading_list.py"]
    pyproject = (folder / "pyproject.toml").read_text()
    assert '[project.entry-points.newsletter_pipeline]\nreading_list = "pipeline_reading_list"' in pyproject
    assert 'name = "reading-list"' in (folder / "pipeline_reading_list.py").read_text()
    assert "$" not in "".join(p.read_text() for p in folder.rglob("*") if p.is_file())
    assert f"pip install -e {folder}" in capsys.readouterr().out


@pytest.mark.parametrize("name, kind, error", [
    ("9lives", "source", "will not do as a plugin name"),
    ("bad name", "source", "will not do as a plugin name"),
    ("feed", "source", "a plugin named 'feed' is installed already"),
])
def test_a_name_that_will_not_do_is_refused(tmp_path, capsys, name, kind, error):
    assert scaffold(tmp_path, name, kind) == 2
    assert error in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_a_component_name_an_installed_plugin_registers_under_another_plugin_name_is_refused(tmp_path, capsys):
    import importlib.metadata
    if "webhook_sink" not in {ep.name for ep in importlib.metadata.entry_points(group="newsletter_pipeline")}:
        pytest.skip("examples/webhook-sink is not installed")
    assert scaffold(tmp_path, "webhook", "sink") == 2  # webhook_sink registers the sink `webhook`
    assert ("a sink named 'webhook' is registered already, by plugin 'webhook_sink'"
            in " ".join(capsys.readouterr().err.split()))
    assert not any(tmp_path.iterdir())
    assert scaffold(tmp_path, "webhook", "source") == 0  # a source of that name is no clash


def test_an_existing_folder_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "newsletter-pipeline-notes").mkdir()
    (tmp_path / "newsletter-pipeline-notes" / "mine.py").write_text("kept")
    assert scaffold(tmp_path, "notes", "sink") == 2
    assert "exists already; nothing was written" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "newsletter-pipeline-notes").iterdir()] == ["mine.py"]


def test_an_unknown_kind_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        scaffold(tmp_path, "notes", "delivery")
    assert exited.value.code == 2 and "invalid choice: 'delivery'" in capsys.readouterr().err


def test_scaffolded_plugins_install_are_listed_and_their_tests_pass(tmp_path):
    for kind, name in KINDS.items():
        assert scaffold(tmp_path, name, kind) == 0
    python = throwaway_environment(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "PYTEST_", "PIP_"))}
    env |= {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # offline: nothing to download
    folders = [str(tmp_path / f"newsletter-pipeline-{name}") for name in KINDS.values()]
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         *(arg for folder in folders for arg in ("-e", folder))], tmp_path, env)

    (tmp_path / "pipeline.toml").write_text('[pipeline]\nname = "Test Network"\n')
    listed = json.loads(run([python, "-m", "pipeline", "plugins", "--json"], tmp_path, env).stdout)
    components = {p["name"]: p["components"] for p in listed["plugins"]}
    for kind, name in KINDS.items():
        assert components[name.replace("-", "_")] == [{"category": kind, "name": name}]
    tested = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(f"{f}/tests" for f in folders)],
                 tmp_path, env)
    assert "3 passed" in tested.stdout


def throwaway_environment(folder: Path) -> str:
    """A venv that sees this environment's packages (the pipeline, pytest, pip, setuptools) through a .pth file,
    so what is installed into it stays out of this one and needs no download."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_path("purelib"), *site.getsitepackages()])
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in ours if Path(path).is_dir())
    (Path(purelib) / "_newsletter_pipeline_env.pth").write_text(lines)
    return str(python)


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done
