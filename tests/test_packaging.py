"""An ordinary (not editable) install carries everything a run needs: the shipped templates come with the
package, so a project with no templates folder of its own makes its email and site."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POST = "---\ntitle: Peer support in Leeds\ndate: 2016-02-15\n---\n\nPeer workers met in Leeds to plan a seminar.\n"


def copy_of_the_package(tmp_path: Path) -> Path:
    """What a build reads, copied: a build writes beside its sources, and must leave nothing in the checkout."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("pipeline", "plugins", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    return source


def test_a_plain_install_runs_a_project_without_templates_of_its_own(tmp_path):
    source = copy_of_the_package(tmp_path)
    target = tmp_path / "installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "PYTEST_"))}
    env |= {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, env=env, timeout=300)
    assert (target / "templates" / "email" / "issue.mjml").is_file()
    for name in ("pipeline.toml.tmpl", "taxonomy.toml", "jobs.toml.tmpl", "events.toml.tmpl"):  # pipeline init's
        assert (target / "pipeline" / "scaffold" / name).is_file(), name

    project = tmp_path / "project"
    (project / "blog").mkdir(parents=True)
    (project / "blog" / "leeds.md").write_text(POST, encoding="utf-8")
    (project / "subscribers.csv").write_text("email,name\nann@example.org,Ann\n", encoding="utf-8")
    (project / "pipeline.toml").write_text(
        '[pipeline]\nname = "Test Network"\nworkers = 1\n[sources.blog]\ntype = "blog"\npath = "blog"\n'
        '[sinks.newsletter]\ntype = "email"\nfrom_email = "news@network.example.org"\nsubscribers = "subscribers.csv"\n'
        '[sinks.site]\ntype = "archive"\n', encoding="utf-8")
    env["PYTHONPATH"] = str(target)  # the installed copy comes before this checkout's editable one
    done = subprocess.run([sys.executable, "-c", "import sys, pipeline.cli; print(pipeline.cli.__file__, "
                           "file=sys.stderr); sys.exit(pipeline.cli.main(sys.argv[1:]))",
                           "run", "-c", str(project / "pipeline.toml"), "--as-of", "2016-03-01"],
                          capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(target) in done.stderr.splitlines()[0]  # it ran the installed copy
    assert (project / "out" / "newsletter" / "issue-1.html").is_file()
    assert (project / "out" / "index.html").is_file() and (project / "out" / "site.css").is_file()
    assert len(list((project / "outbox").rglob("*.eml"))) == 1


def test_an_editable_install_prints_nothing(tmp_path):
    """The set-up command's editable install says nothing of our making: setuptools warns about a flat
    layout's top-level finder, and `package-dir = {"" = "."}` makes the install one .pth line instead. The
    editable wheel is built with setuptools' own backend, as pip would, but installed nowhere."""
    source = copy_of_the_package(tmp_path)
    wheels = tmp_path / "wheels"
    build = ("import sys; from setuptools import build_meta; "
             "print(build_meta.build_editable(sys.argv[1]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", build, str(wheels)], cwd=source, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "careful" not in done.stdout + done.stderr and "Warning" not in done.stdout + done.stderr
    with zipfile.ZipFile(wheels / done.stderr.strip().splitlines()[-1]) as wheel:
        [pth] = [name for name in wheel.namelist() if name.endswith(".pth")]
        assert wheel.read(pth).decode().strip() == str(source)
        assert not [name for name in wheel.namelist() if name.endswith("_finder.py")]
