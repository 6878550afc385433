"""Review h141: a plugin's `BaseException` or `SystemExit("...")` printed by Python itself, unmasked; and a key in a
link written with percent-escapes or in another case, not recognised as the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SECRET = "key-from-environment"
PROJECT = ('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\nsource_deadline = 5\n'
           '[sources.p]\ntype = "odd"\nurl = "https://p.example/${PRIVATE_KEY}/feed.xml"\n'
           '[sinks.odd]\ntype = "odd_sink"\n[sinks.feed]\ntype = "rss"\n')
MASKED = "https://p.example/***/feed.xml"

# A source that fails, where $WHERE says, as $HOW says: a bare BaseException's subclass or sys.exit(text), each
# naming the address it was given, the ${NAME} read.
ODD = '''
import os
import sys

from pipeline import hookimpl, redact
from pipeline.components import Settings, Sink, SinkResult, Source


class Boom(BaseException):
    pass


def fail(url, where):
    if os.environ.get("WHERE") != where:
        return
    address = redact.expand(url)
    if os.environ["HOW"] == "boom":
        raise Boom(f"cannot reach {address}")
    sys.exit(f"cannot reach {address}")


class Odd(Source):
    name = "odd"

    class Settings(Settings):
        url: str

    def expand(self):
        fail(self.settings.url, "expand")
        return [self]

    def fetch(self, run):
        fail(self.settings.url, "fetch")
        return []


class OddSink(Sink):
    name = "odd_sink"

    def write(self, edition, run):
        if os.environ.get("WHERE") == "write" and os.environ["HOW"] == "ctrl-c":
            raise KeyboardInterrupt
        fail(self.project.sources[0].settings.url, "write")
        return SinkResult("written")


if os.environ.get("WHERE") == "import":
    raise Boom("not loaded")


@hookimpl
def register_sources(register):
    register(Odd)


@hookimpl
def register_sinks(register):
    register(OddSink)


@hookimpl
def run_finished(report, project):
    fail(project.sources[0].settings.url, "run_finished")
'''


def _pipeline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key != "PIPELINE_DEBUG"}
    environ.update({"PRIVATE_KEY": SECRET, **env})
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120,
                          env=environ)


def _failing(write_project, tmp_path, command: str, where: str, how: str) -> tuple[int, str, str, str]:
    """(exit code, standard output, standard error, log file) of `command` with the source failing so."""
    config = write_project(PROJECT, {"local_plugins/odd.py": ODD})
    log_file = tmp_path / "pipeline.log"
    done = _pipeline(command, "-c", str(config), "--log-file", str(log_file), env={"WHERE": where, "HOW": how})
    logged = log_file.read_text() if log_file.exists() else ""
    for said in (done.stdout, done.stderr, logged):
        assert SECRET not in said, (done.stdout, done.stderr, logged)
    return done.returncode, done.stdout, done.stderr, logged


@pytest.mark.parametrize("how, name", [("boom", "Boom"), ("exit", "SystemExit")])
def test_a_source_that_raises_a_base_exception_fails_alone_masked(write_project, tmp_path, how, name):
    """A bare BaseException's subclass killed the source's thread: the source was said to have timed out once its
    whole deadline had passed, and Python's own thread report (masked only under `console()`) printed the error."""
    code, out, err, logged = _failing(write_project, tmp_path, "refresh", "fetch", how)
    assert code == 3, err
    assert f"{name}: cannot reach {MASKED}" in " ".join(out.split()), out
    assert "timed out" not in out and "Exception in thread" not in err, (out, err)
    assert f"{name}: cannot reach {MASKED}" in logged, logged


@pytest.mark.parametrize("how, name", [("boom", "Boom"), ("exit", "SystemExit")])
def test_a_run_finished_hook_that_raises_a_base_exception_is_a_masked_warning(write_project, tmp_path, how, name):
    """SystemExit("...") or a BaseException's subclass in `run_finished` went past the hook's `except Exception`, out
    of `main()`: Python printed its text (or traceback) with the key, and the run was recorded as stopped by Ctrl-C."""
    code, out, err, logged = _failing(write_project, tmp_path, "refresh", "run_finished", how)
    assert code == 0 and "refresh as of" in out and "done" in out, (out, err)
    said = f"plugin 'odd': run_finished raised {name}: cannot reach {MASKED}; the run's outcome stands"
    assert said in logged, logged


@pytest.mark.parametrize("how, name", [("boom", "Boom"), ("exit", "SystemExit")])
def test_a_base_exception_no_component_catches_is_one_masked_line_exit_1(write_project, tmp_path, how, name):
    """Raised where the host calls plugin code without a component's guard (a source's `expand`), it went out of
    `main()`: Python printed the traceback or the SystemExit's text, with the key."""
    code, out, err, logged = _failing(write_project, tmp_path, "check", "expand", how)
    assert code == 1, err
    said = f"error: unexpected {name}: cannot reach {MASKED}"
    assert said in " ".join(err.split()) and f"unexpected {name}: cannot reach {MASKED}" in logged, (err, logged)


@pytest.mark.parametrize("how, name", [("boom", "Boom"), ("exit", "SystemExit")])
def test_a_sink_that_raises_a_base_exception_fails_and_the_next_sink_still_writes(write_project, tmp_path, how, name):
    code, out, err, logged = _failing(write_project, tmp_path, "refresh", "write", how)
    assert code == 1, (out, err)
    shown = " ".join(out.split())
    assert f"{name}: cannot reach {MASKED}" in shown and "sink feed ok" in shown, shown


def test_a_component_s_ctrl_c_still_stops_the_run_cleanly(write_project, tmp_path):
    """KeyboardInterrupt (as SIGTERM's Stopped) is a stop, not a component's failure: it unwinds the run."""
    code, out, err, logged = _failing(write_project, tmp_path, "refresh", "write", "ctrl-c")
    assert code == 130 and "stopped by Ctrl-C" in err, (out, err)
    assert "sink feed" not in out, out


def test_a_plugin_whose_module_raises_a_base_exception_is_broken_not_fatal(write_project, tmp_path):
    """Its import went past the loader's `except (Exception, SystemExit)`: a traceback, not the plugin's name."""
    code, out, err, logged = _failing(write_project, tmp_path, "check", "import", "boom")
    assert code == 2 and "plugin 'odd' failed to load" in err and "Boom: not loaded" in err, err
    assert "Traceback" not in err, err


def test_a_run_cut_short_by_a_base_exception_is_recorded_as_an_error_not_a_stop(write_project, monkeypatch):
    """A run cut short by a BaseException that is not a stop (a plugin's, past every guard) was recorded as "stopped
    by Ctrl-C", exit 130, and no alert was considered."""
    from pipeline import runner
    from pipeline.config import load_project
    from pipeline.state import Store, history

    def leaves(project, report):
        raise SystemExit("the hook left")

    monkeypatch.setenv("PRIVATE_KEY", SECRET)
    monkeypatch.setattr(runner, "_notify", leaves)
    project = load_project(write_project(PROJECT, {"local_plugins/odd.py": ODD}))
    with pytest.raises(SystemExit):
        runner.run(project, mode="refresh")
    store = Store(runner.state_path(project), read_only=True)
    try:
        [recorded] = history.last_runs(store)
    finally:
        store.close()
    assert (recorded.exit_code, recorded.outcome) == (1, "error: SystemExit: the hook left"), recorded
