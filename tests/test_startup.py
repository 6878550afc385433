"""What a run loads, how the command ends (`cli.console`), and the HTTP client made ready while the state database
is checked (pipeline/http_client.py)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.errors import PipelineError
from pipeline.http_client import new_client, prepare
from pipeline.runner import run
from tests.http_fixtures import Route
from tests.test_sources import RSS, SINK

# Loaded only by what needs them: a run that transforms, sends, prints (rich: a quiet run that goes well prints
# nothing) or looks for a C library the hard way.
NOT_NEEDED = ["plugins.transforms.sentences", "plugins.transforms.paragraphs", "python_http_client", "ctypes.util",
              "httpx._main", "pipeline.mail.message", "pipeline.mail.sending", "pipeline.subscribers.signing", "rich"]
LOADED_BY = """
import json, sys
from pipeline import cli
modules, sys.argv = sys.argv[2:], ["pipeline", "refresh", "--config", sys.argv[1], "-q"]
try:
    code = cli.main()
except SystemExit as end:
    code = end.code
print(json.dumps({"exit": code, "loaded": {m: sys.modules.get(m) is not None for m in modules}}))
"""


def _refresh_in_a_new_process(config, modules: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", LOADED_BY, str(config), *modules], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.splitlines()[-1])


EMAIL_SINK = '\n[sinks.newsletter]\ntype = "email"\nfrom_email = "news@example.org"\n'  # outbox delivery


@pytest.mark.parametrize("sink, needed", [(SINK, []), (EMAIL_SINK, ["pipeline.mail.sending"])], ids=["rss", "email"])
def test_a_refresh_with_nothing_new_loads_neither_the_sentence_splitter_nor_the_mail_clients(write_project, sink,
                                                                                               needed):
    config = write_project('[sources.p]\ntype = "feed"\nurl = "p.xml"\n[transforms.summary]\ntype = "summary"\n' + sink,
                           {"p.xml": RSS})
    first = _refresh_in_a_new_process(config, NOT_NEEDED + ["httpx"])
    assert first["exit"] == 0 and first["loaded"]["plugins.transforms.sentences"]  # two new items summarised

    again = _refresh_in_a_new_process(config, NOT_NEEDED + ["httpx"])

    assert again["exit"] == 0
    # an email sink settles open batches on a refresh, without building a message; a feed read from a file
    # needs no HTTP client (tests/test_startup.py, below: one that downloads gets httpx made ready)
    assert again["loaded"] == {**dict.fromkeys(NOT_NEEDED, False), "httpx": False, **dict.fromkeys(needed, True)}


def test_a_refresh_that_downloads_makes_httpx_ready_but_not_its_command_line(write_project, feed_server):
    feed_server.routes["/p.xml"] = Route(RSS.encode())
    config = write_project(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/p.xml")}"\n' + SINK)

    loaded = _refresh_in_a_new_process(config, ["httpx", "httpx._main", "plugins.transforms.sentences"])

    assert loaded == {"exit": 0, "loaded": {"httpx": True, "httpx._main": False,
                                            "plugins.transforms.sentences": False}}


def test_the_prepared_tls_context_verifies_certificates_and_host_names():
    context = prepare().result(timeout=30)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() or context.cert_store_stats()["x509_ca"]  # a CA bundle was read


def test_a_tls_set_up_that_fails_fails_each_http_source_by_name_and_the_run_goes_on(
        project_from, feed_server, monkeypatch, tmp_path):
    feed_server.routes["/a.xml"] = Route(RSS.encode())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))  # httpx reads it for verify=True
    project = project_from(f'[sources.web]\ntype = "feed"\nurl = "{feed_server.url("/a.xml")}"\n'
                           f'[sources.local]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": RSS})

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    [failed] = report.failed("source")
    assert failed.name == "web"
    assert failed.summary == (f"cannot read the CA certificates for HTTPS (SSL_CERT_FILE={tmp_path}/no-such-bundle"
                              f".pem: No such file or directory); point SSL_CERT_FILE at a PEM bundle, or unset it")
    assert [r.count for r in report.results if r.name == "local"] == [2]


class Probe:
    """A plugin with a source, `probe`, that notes whether the HTTP client was ready when it started."""

    def __init__(self):
        self.ready: list[bool] = []

    @hookimpl
    def register_sources(self, register):
        ready = self.ready

        class ProbeSource(Source):
            name = "probe"

            def fetch(self, run):
                ready.append(run.tls.done())
                return []

        register(ProbeSource)


@pytest.mark.parametrize("loading, ready", [(0.3, True), (3.0, False)], ids=["ready", "too slow"])
def test_sources_start_once_the_http_client_is_ready_or_its_wait_is_over(project_from, monkeypatch, loading, ready):
    # Started while httpx loads, they would all wait for it, finishing nothing, and the thread ramp
    # (pipeline/fetching.py) would give them every thread to fight over the GIL with.
    from pipeline import http_client, runner

    loaded = http_client._load_all
    monkeypatch.setattr(http_client, "_load_all", lambda: time.sleep(loading) or loaded())
    monkeypatch.setattr(runner, "HTTP_READY_WAIT", 1.0)
    probe = Probe()
    project = project_from('[sources.a]\ntype = "probe"\n[sources.b]\ntype = "probe"\n' + SINK,
                           plugins=[("probe", probe)])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0 and probe.ready == [ready, ready]


def test_a_source_whose_uses_http_raises_is_taken_to_download_and_the_run_goes_on(project_from):
    probe = Probe()

    class Broken:
        @hookimpl
        def register_sources(self, register):
            class BrokenAnswer(Source):
                name = "broken-answer"

                def uses_http(self):
                    raise RuntimeError("a plugin's bug")

                def fetch(self, run):
                    return []

            register(BrokenAnswer)

    project = project_from('[sources.b]\ntype = "broken-answer"\n[sources.a]\ntype = "probe"\n' + SINK,
                           plugins=[("probe", probe), ("broken", Broken())])

    report = run(project, mode="refresh", as_of=date(2016, 5, 1))

    assert report.exit_code == 0 and probe.ready == [True]  # the client was made ready all the same


def test_each_source_gets_its_own_error_when_tls_cannot_be_set_up(monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    failed = prepare()
    raised = []
    for _ in range(2):
        with pytest.raises(PipelineError, match="missing.pem") as caught:
            new_client(5.0, "test", failed)
        raised.append(caught.value)
    assert raised[0] is not raised[1]  # the future's own exception would carry every caller's frames


def test_the_prepared_context_reads_the_bundle_ssl_cert_file_names(monkeypatch, tmp_path):
    import certifi

    bundle = tmp_path / "one.pem"
    bundle.write_text(certifi.contents().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert prepare().result(timeout=30).cert_store_stats()["x509_ca"] == 1


PIPELINE = Path(sys.executable).with_name("pipeline")  # the installed command, as pyproject's script makes it


def test_the_command_ends_with_its_output_log_and_exit_code_whole(write_project, tmp_path):
    config = write_project('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": RSS})
    log = tmp_path / "run.log"

    done = subprocess.run([str(PIPELINE), "refresh", "--config", str(config), "--log-file", str(log)],
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("done")  # the run table, flushed through a pipe
    assert "refresh" in log.read_text().splitlines()[-1]  # logging's atexit handler closed the file
    broken = subprocess.run([str(PIPELINE), "refresh", "--config", str(tmp_path / "missing.toml")],
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode == 2 and "missing.toml" in broken.stderr


def test_a_thread_still_running_is_waited_for(tmp_path):
    marker = tmp_path / "written"
    script = f"""
import threading, time
from pathlib import Path
from pipeline import cli

def late():
    time.sleep(0.3)
    Path({str(marker)!r}).write_text("done")

def main():
    threading.Thread(target=late).start()  # not a daemon: the exit must wait for it
    return 4

cli.main = main
cli.console()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert marker.read_text() == "done"


def _console_with(main_body: str, before: str = "", **run) -> subprocess.CompletedProcess:
    """`cli.console()` with `main` replaced, in a new process whose output is buffered (as it is for a user)."""
    script = (f"import atexit, sys\nfrom pipeline import cli\n{before}\n"
              f"def main():\n{main_body}\ncli.main = main\ncli.console()\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    run = {"stdout": subprocess.PIPE, **run}
    return subprocess.run([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, timeout=60, env=env, **run)


def test_what_main_and_the_atexit_handlers_print_reaches_a_pipe():
    done = _console_with('    atexit.register(lambda: print("from atexit"))\n    print("from main")\n    return 3')
    assert done.returncode == 3
    assert done.stdout.splitlines() == ["from main", "from atexit"]


def test_output_that_cannot_be_written_fails_the_command():
    with open("/dev/full", "w") as full:  # every write: "No space left on device"
        done = _console_with("    print('x' * 1000)\n    return 0", stdout=full)
    assert done.returncode == 120  # as Python's own exit
    assert done.stderr == "error: the output could not be written (No space left on device)\n"


def test_a_closed_standard_output_and_a_code_that_is_not_a_number_end_as_usual():
    closed = _console_with("    print('to stderr', file=sys.stderr)\n    return 0", before="sys.stdout = None")
    assert closed.returncode == 0 and closed.stderr == "to stderr\n"
    nothing = _console_with("    return None")
    assert nothing.returncode == 0 and nothing.stderr == ""


def test_python_m_pipeline_is_the_same_command(write_project):
    config = write_project('[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": RSS})
    done = subprocess.run([sys.executable, "-m", "pipeline", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
