"""Review h132: what still printed a credential (or broke) around the masked tracebacks, the thread hook, check's
aggregated errors, `~` in paths and `serve --port 0`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

SECRETS = ("key-from-environment", "pw-literal", "tok-literal")
PROJECT = ('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\nsource_deadline = 5\n'
           '[sources.p]\ntype = "odd"\nurl = "https://p.example/${PRIVATE_KEY}/feed.xml"\n'
           '[sinks.feed]\ntype = "rss"\n')

# A plugin whose exception cannot be made a string: its __str__ reads an attribute never set.
ODD_SOURCE = '''
from pipeline import hookimpl, redact
from pipeline.components import Settings, Source


class Odd(Exception):
    def __str__(self):
        return self.reason


class OddSource(Source):
    name = "odd"

    class Settings(Settings):
        url: str

    def _fail(self):
        address = redact.expand(self.settings.url)
        try:
            raise ConnectionError(f"refused by {address} (and https://ann:pw-literal@p.example/f?token=tok-literal)")
        except ConnectionError:
            raise Odd()

    def fetch(self, run):
        self._fail()

    def expand(self):
        if self.project.core.description == "fail at start":
            self._fail()
        return [self]


@hookimpl
def register_sources(register):
    register(OddSource)
'''


def _pipeline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key != "PIPELINE_DEBUG"}
    environ.update({"PRIVATE_KEY": "key-from-environment", **(env or {})})
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120,
                          env=environ)


def _leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_an_unexpected_error_whose_str_raises_is_one_masked_line(write_project):
    """`unexpected Odd: ...` was made with str(exc), which raised in the handler: Python printed the whole chain,
    the ${NAME} value in the address included."""
    config = write_project(PROJECT.replace('name = "N"', 'name = "N"\ndescription = "fail at start"'),
                           {"local_plugins/odd.py": ODD_SOURCE})
    for debug in ({}, {"PIPELINE_DEBUG": "1"}):
        done = _pipeline("check", "-c", str(config), env=debug)
        assert done.returncode == 1, done.stderr
        said = "Traceback" if debug else "error: unexpected Odd: <exception str() failed> (set PIPELINE_DEBUG"
        assert said in done.stderr and "Odd: <exception str() failed>" in done.stderr, done.stderr
        assert _leaked(done.stderr) == [], done.stderr


def test_a_source_whose_error_has_no_str_fails_with_its_reason_not_a_timeout(write_project):
    """failure_reason raised on the source's thread, so the source was said to have timed out, once its whole
    deadline had passed."""
    config = write_project(PROJECT, {"local_plugins/odd.py": ODD_SOURCE})
    done = _pipeline("refresh", "-c", str(config))
    assert done.returncode == 3, done.stderr
    assert "Odd: <exception str() failed>" in done.stdout and "timed out" not in done.stdout, done.stdout
    assert "Exception in thread" not in done.stderr, done.stderr
    assert _leaked(done.stdout + done.stderr) == []


def test_serve_masks_the_warning_of_a_plugin_that_could_not_prepare_the_templates(tmp_path):
    """serve printed each problem of the app as it stood: a plugin's error naming the address it tried."""
    from tests.serve_fixtures import ServeProcess, serve_project_with_plugin

    config = serve_project_with_plugin(tmp_path / "failing-preparation", "lookup", (
        "from pipeline import hookimpl\n\n"
        "@hookimpl\ndef prepare_jinja_environment(env):\n"
        "    raise RuntimeError('no answer from https://ann:pw-literal@p.example/f?token=tok-literal')\n"))
    with ServeProcess(config) as serving:
        said = "".join(serving.lines) + serving.stop()
    assert "no answer from https://ann:***@p.example/f?token=***" in said, said
    assert _leaked(said) == [], said


# A source whose fetch runs `BODY` (indented under it) with `address`, its url with the ${NAME} read.
SOURCE = '''
import logging
import sys
import threading
import warnings

from pipeline import hookimpl, redact
from pipeline.components import Settings, Source


class Odd(Source):
    name = "odd"

    class Settings(Settings):
        url: str

    def fetch(self, run):
        address = redact.expand(self.settings.url)
        literal = "https://ann:pw-literal@p.example/f?token=tok-literal"
BODY
        return []


@hookimpl
def register_sources(register):
    register(Odd)
'''


def _refresh_with(write_project, tmp_path, body: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(what `pipeline refresh` printed, its log file) for a source whose fetch runs `body`."""
    plugin = SOURCE.replace("BODY", "\n".join(f"        {line}" for line in body.strip().splitlines()))
    config = write_project(PROJECT, {"local_plugins/odd.py": plugin})
    log_file = tmp_path / "pipeline.log"
    done = _pipeline("refresh", "-c", str(config), "--log-file", str(log_file), env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr, log_file.read_text() if log_file.exists() else ""


def test_a_logging_call_whose_arguments_do_not_fit_is_said_masked(write_project, tmp_path):
    """logging's own report of a malformed call printed the arguments as they stood ("Arguments: (...)")."""
    shown, logged = _refresh_with(write_project, tmp_path,
                                  'logging.getLogger("pipeline.plugins.odd").warning("%s: HTTP %d", address, literal)')
    for said in (shown, logged):
        assert "odd.py, line" in said and "do not fit" in said and "https://p.example/***/feed.xml" in said, said
        assert _leaked(said) == [], said


def test_a_plugins_warning_is_printed_masked(write_project, tmp_path):
    """Python printed a warning as it stood, the address a plugin warns about with its credentials."""
    shown, _ = _refresh_with(write_project, tmp_path, 'warnings.warn(f"{address} has no dates; nor has {literal}")')
    assert "UserWarning: https://p.example/***/feed.xml has no dates" in shown, shown
    assert _leaked(shown) == [], shown


def test_an_error_python_could_not_raise_is_printed_masked(write_project, tmp_path):
    """An exception in a finaliser (a generator closed as it is collected) is printed by sys.unraisablehook."""
    body = '''
def pages():
    try:
        yield 1
    finally:
        raise ConnectionError(f"could not close {address} nor {literal}")
walk = pages()
next(walk)
del walk
'''
    shown, _ = _refresh_with(write_project, tmp_path, body)
    assert "ConnectionError: could not close https://p.example/***/feed.xml" in shown, shown
    assert _leaked(shown) == [], shown


def test_main_called_in_a_program_leaves_pythons_printing_to_it(write_project, monkeypatch):
    """The masking hooks are the command's (`console`): main() put them in place for good, in a program that called
    it (a test), where a warning was then printed rather than caught by `pytest.warns` or `catch_warnings`."""
    from pipeline.cli import main

    plugin = SOURCE.replace("BODY", '        warnings.warn(f"{address} has no dates")')
    config = write_project(PROJECT, {"local_plugins/odd.py": plugin})
    monkeypatch.setenv("PRIVATE_KEY", "key-from-environment")
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    with pytest.warns(UserWarning, match="has no dates"):
        assert main(["refresh", "-q", "-c", str(config)]) == 0
    assert threading.excepthook is threading.__excepthook__ and sys.unraisablehook is sys.__unraisablehook__


def test_pipeline_plugins_masks_why_a_plugin_failed_to_load(write_project):
    """`pipeline plugins` printed a broken plugin's reason as it was made, not through a PipelineError."""
    config = write_project(PROJECT, {"local_plugins/odd.py": ODD_SOURCE, "local_plugins/early.py":
                                     "raise RuntimeError('no answer from https://ann:pw-literal@p.example/f?token="
                                     "tok-literal')\n"})
    for json_out in ([], ["--json"]):
        done = _pipeline("plugins", "-c", str(config), *json_out)
        assert done.returncode == 2, done.stderr
        assert "no answer from https://ann:***@p.example/f?token=***" in done.stdout, done.stdout
        assert _leaked(done.stdout + done.stderr) == [], done.stdout


def test_a_plugins_own_logger_outside_pipeline_is_masked_too(write_project, tmp_path):
    """A plugin logging under its module's name (not `pipeline.plugins.NAME`) reached logging's last resort, which
    printed the message as it stood."""
    shown, _ = _refresh_with(write_project, tmp_path,
                             'logging.getLogger(__name__).warning("could not read %s nor %s", address, literal)')
    assert "could not read https://p.example/***/feed.xml nor https://ann:***@p.example/f?token=***" in shown, shown
    assert _leaked(shown) == [], shown


def test_a_threads_error_is_not_printed_on_standard_output_when_there_is_no_standard_error(write_project):
    """With standard error closed, print(file=None) wrote the thread's traceback into standard output, among the
    run's table (or a command's CSV); Python's own hook says nothing then."""
    body = '''
worker = threading.Thread(target=lambda: 1 / 0, name="poller")
worker.start()
worker.join()
'''
    plugin = SOURCE.replace("BODY", "\n".join(f"        {line}" for line in body.strip().splitlines()))
    config = write_project(PROJECT, {"local_plugins/odd.py": plugin})
    environ = {**os.environ, "PRIVATE_KEY": "key-from-environment"}
    done = subprocess.run([sys.executable, "-m", "pipeline", "refresh", "-c", str(config)], stdout=subprocess.PIPE,
                          text=True, timeout=120, env=environ, preexec_fn=lambda: os.close(2))
    assert done.returncode == 0 and "stage" in done.stdout, done.stdout
    assert "Exception in thread" not in done.stdout and "ZeroDivisionError" not in done.stdout, done.stdout
