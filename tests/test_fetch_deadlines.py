"""No feed can stall a run: trickling and silent servers and a hanging third-party source each fail alone,
within their deadline; SIGTERM ends a run cleanly; an OPML list is many feeds; a mislabelled feed is read."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime

import pytest

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.runner import run
from tests.conftest import make_item
from tests.http_fixtures import Route

RSS = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d</description>"
       "<item><title>Peer support news</title><link>https://p.example.org/{n}</link>"
       "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")
SINK = '[sinks.feed]\ntype = "rss"\n'


class Stalling:
    """A raw server on 127.0.0.1: `mode` is 'headers' (one header byte at a time), 'body' (one body byte at a
    time) or 'silent' (reads the request and never answers)."""

    def __init__(self, mode: str):
        self.mode, self.stop = mode, threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/feed.xml"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n"
            data = head if self.mode == "headers" else b""
            if self.mode == "body":
                conn.sendall(head)
                data = b"<rss>" + b" " * 100000
            for byte in data:
                if self.stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
            self.stop.wait(60)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def feeds(feed_server):
    feed_server.routes["/ok.xml"] = Route(RSS.format(n=1).encode())
    return feed_server


@pytest.mark.parametrize("mode", ["headers", "body", "silent"])
def test_a_stalling_server_fails_its_source_alone_within_the_deadline(project_from, feeds, mode):
    stalling = Stalling(mode)
    try:
        project = project_from(f"""
            [pipeline]
            name = "Test Network"
            http_timeout = 30
            [sources.slow]
            type = "feed"
            url = "{stalling.url}"
            deadline = 1
            [sources.good]
            type = "feed"
            url = "{feeds.url('/ok.xml')}"
            {SINK}""")
        started = time.monotonic()
        report = run(project, mode="refresh", as_of=date(2016, 2, 1))
        took = time.monotonic() - started
    finally:
        stalling.close()

    [slow] = report.failed("source")
    assert slow.name == "slow" and took < 10
    assert "timed out" in slow.summary or "deadline of 1 s" in slow.summary or "within" in slow.summary
    good = next(r for r in report.results if r.name == "good")
    assert good.ok and good.count == 1


def test_a_third_party_source_that_never_returns_is_abandoned(project_from):
    release = threading.Event()

    class Plugin:
        @hookimpl
        def register_sources(self, register):
            class Hanging(Source):
                name = "hanging"

                def fetch(self, run):
                    release.wait(120)  # a bug: never comes back in time
                    return [make_item(title="Too late")]

            class Quick(Source):
                name = "quick"

                def fetch(self, run):
                    return [make_item(title="On time", published=datetime(2016, 1, 20, tzinfo=UTC))]

            register(Hanging)
            register(Quick)

    # One source at a time: the hung one must give its turn back at its deadline for the other to run at all.
    project = project_from(f'[pipeline]\nname = "N"\nfetch_concurrency = 1\n'
                           f'[sources.stuck]\ntype = "hanging"\ndeadline = 0.5\n[sources.fine]\ntype = "quick"\n'
                           f'{SINK}', plugins=[("p", Plugin())])
    started = time.monotonic()
    report = run(project, mode="refresh", as_of=date(2016, 2, 1))
    release.set()

    assert time.monotonic() - started < 10
    [stuck] = report.failed("source")
    assert stuck.name == "stuck" and stuck.summary.startswith("timed out: no result within 0.5 s")
    assert next(r for r in report.results if r.name == "fine").count == 1


def test_hung_downloads_give_back_their_connections_to_a_host(project_from, feeds):
    stalling = Stalling("headers")
    try:
        project = project_from(f"""
            [pipeline]
            name = "Test Network"
            per_host = 1
            [sources.slow-1]
            type = "feed"
            url = "{stalling.url}"
            deadline = 1
            [sources.slow-2]
            type = "feed"
            url = "{stalling.url.replace('feed.xml', 'other.xml')}"
            deadline = 1
            [sources.good]
            type = "feed"
            url = "{feeds.url('/ok.xml')}"
            {SINK}""")
        started = time.monotonic()
        report = run(project, mode="refresh", as_of=date(2016, 2, 1))
    finally:
        stalling.close()

    assert time.monotonic() - started < 10
    assert sorted(r.name for r in report.failed("source")) == ["slow-1", "slow-2"]
    assert next(r for r in report.results if r.name == "good").count == 1


def test_a_deadline_that_is_not_a_number_is_a_config_error(project_from):
    from pipeline.errors import ConfigError
    with pytest.raises(ConfigError, match=r"\[sources.s\]: deadline: must be a number of seconds"):
        project_from(f'[sources.s]\ntype = "feed"\nurl = "x.xml"\ndeadline = "soon"\n{SINK}')


def test_errors_name_the_feed_and_what_happened(project_from):
    with socket.socket() as unused:  # bound, not listening: refused, and no other test process can take the port
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        project = project_from(f'[sources.gone]\ntype = "feed"\nurl = "http://127.0.0.1:{port}/feed.xml"\n{SINK}')
        [gone] = run(project, mode="refresh", as_of=date(2016, 2, 1)).failed("source")
    assert gone.summary.startswith(f"http://127.0.0.1:{port}/feed.xml: cannot connect")


def test_a_feed_served_with_the_wrong_content_type_is_still_read(project_from, feeds):
    feeds.routes["/html.xml"] = Route(RSS.format(n=2).encode(), content_type="text/html; charset=utf-8")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feeds.url("/html.xml")}"\n{SINK}')
    [result] = [r for r in run(project, mode="refresh", as_of=date(2016, 2, 1)).results if r.stage == "source"]
    assert result.ok and result.count == 1


def test_an_opml_list_is_one_source_per_feed_each_under_its_own_name(project_from, feeds):
    feeds.routes["/two.xml"] = Route(RSS.format(n=2).encode())
    opml = f"""<?xml version="1.0"?><opml version="2.0"><head><title>Partners</title></head><body>
      <outline text="Regional">
        <outline type="rss" text="Open Dialogue UK" xmlUrl="{feeds.url('/ok.xml')}"/>
        <outline type="rss" text="Leeds Mind" xmlUrl="{feeds.url('/two.xml')}"/>
      </outline>
      <outline type="rss" text="Gone away" xmlUrl="{feeds.url('/missing.xml')}"/>
      <outline text="Filed twice"><outline type="rss" text="ODUK again" xmlUrl="{feeds.url('/ok.xml')}"/></outline>
      <outline text="not a feed"/></body></opml>"""
    project = project_from(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\ndeadline = 5\n'
                           f'allow_private = true\n{SINK}', files={"partners.opml": opml})  # feeds on 127.0.0.1

    assert [s.instance for s in project.sources] == ["partners/open-dialogue-uk", "partners/leeds-mind",
                                                     "partners/gone-away"]
    assert project.deadline_of("partners/leeds-mind") == 5
    report = run(project, mode="refresh", as_of=date(2016, 2, 1))
    assert [(r.name, r.ok, r.count) for r in report.results if r.stage == "source"] == [
        ("partners/open-dialogue-uk", True, 1), ("partners/leeds-mind", True, 1), ("partners/gone-away", False, 0)]
    assert "HTTP 404" in report.failed("source")[0].summary


def test_an_opml_file_with_no_feeds_is_a_config_error(project_from):
    from pipeline.errors import ConfigError
    with pytest.raises(ConfigError, match="lists no feeds"):
        project_from(f'[sources.p]\ntype = "opml"\npath = "p.opml"\n{SINK}', files={"p.opml": "<opml><body/></opml>"})


def test_an_opml_outline_that_is_not_http_is_never_fetched_and_is_reported(write_project, tmp_path, feeds, capsys):
    from pipeline.cli import main
    local = tmp_path / "local.xml"  # a feed on this disk: an OPML file must not make the pipeline read it
    opml = f"""<opml version="2.0"><body>
      <outline type="rss" text="Open Dialogue UK" xmlUrl="{feeds.url('/ok.xml')}"/>
      <outline type="rss" text="Local copy" xmlUrl="{local}"/>
      <outline type="rss" title="Old FTP" xmlUrl="ftp://ftp.example.org/feed.xml"/>
      <outline type="rss" xmlUrl="javascript:alert(1)"/></body></opml>"""
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\nallow_private = true\n{SINK}', {
        "partners.opml": opml, "local.xml": RSS.format(n=9).replace("Peer support news", "Read from this disk")})

    code = main(["refresh", "-c", str(config), "--as-of", "2016-02-01"])

    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert code == 3  # records were skipped
    listed = config.parent / "partners.opml"
    assert (f"skipped: {listed} <outline> 'Local copy': xmlUrl '{local}' is not an http(s) "
            f"address, so it is never fetched; give the feed's http(s) address in the OPML file") in out
    assert f"{listed} <outline> 'Old FTP': xmlUrl 'ftp://ftp.example.org/feed.xml' is not an http(s)" in out
    assert f"{listed} <outline> '(no title)': xmlUrl 'javascript:alert(1)' is not an http(s)" in out
    written = (config.parent / "out" / "feed.xml").read_text()
    assert "Peer support news" in written and "Read from this disk" not in written


def test_an_opml_file_whose_feeds_are_none_of_them_http_reports_each_and_the_rest_still_runs(project_from):
    opml = ('<opml><body><outline text="Local copy" xmlUrl="/etc/passwd"/>'
            '<outline text="Old FTP" xmlUrl="ftp://ftp.example.org/feed.xml"/></body></opml>')
    project = project_from(f'[sources.p]\ntype = "opml"\npath = "p.opml"\n[sources.local]\ntype = "feed"\n'
                           f'url = "local.xml"\n{SINK}', files={"p.opml": opml, "local.xml": RSS.format(n=1)})
    report = run(project, mode="refresh", as_of=date(2016, 2, 1))
    assert [(r.name, r.ok, r.count) for r in report.results if r.stage == "source"] == [("p", True, 0),
                                                                                          ("local", True, 1)]
    assert ["'Local copy': xmlUrl '/etc/passwd'" in report.problems[0],
            "'Old FTP': xmlUrl 'ftp://ftp.example.org/feed.xml'" in report.problems[1]] == [True, True]
    assert report.exit_code == 3


SLOW_PLUGIN = '''
import time
from pipeline import hookimpl
from pipeline.components import Source

class Slow(Source):
    name = "slow"
    def fetch(self, run):
        print("fetching", flush=True)
        time.sleep(60)
        return []

@hookimpl
def register_sources(register):
    register(Slow)
'''


def test_sigterm_ends_a_run_cleanly(write_project):
    config = write_project(f'[pipeline]\nname = "N"\nplugins_dir = "local"\nworkers = 2\n'
                           f'[sources.s]\ntype = "slow"\n{SINK}', {"local/slow.py": SLOW_PLUGIN})
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "refresh", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "fetching"

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 143
    assert "stopped by SIGTERM" in err
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the run is left, workers included
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the state folder is free again



def test_the_terminal_closing_ends_a_run_as_sigterm_does_unless_run_under_nohup(write_project):
    """Closing the terminal (an SSH session dropped) sends SIGHUP to the foreground group: it killed the run outright,
    with no unwinding, and its workers with it. It now ends the run as SIGTERM does (exit 129), its workers deaf to
    it (the run ends them). Under `nohup`, which ignores SIGHUP, the run goes on."""
    config = write_project(f'[pipeline]\nname = "N"\nplugins_dir = "local"\nworkers = 2\n'
                           f'[sources.s]\ntype = "slow"\n{SINK}', {"local/slow.py": SLOW_PLUGIN})
    command = [sys.executable, "-m", "pipeline", "refresh", "--config", str(config)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout.readline().strip() == "fetching"

    os.killpg(proc.pid, signal.SIGHUP)  # as the terminal does: the whole foreground group
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 129, err
    assert "stopped by SIGHUP" in err and "Traceback" not in err, err
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    ignored = subprocess.Popen(["nohup", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert ignored.stdout.readline().strip() == "fetching"
    os.killpg(ignored.pid, signal.SIGHUP)
    with pytest.raises(subprocess.TimeoutExpired):
        ignored.wait(timeout=2)  # still running
    ignored.send_signal(signal.SIGTERM)
    ignored.communicate(timeout=30)
    assert ignored.returncode == 143

TRANSFORMING_PLUGIN = '''
import time
from datetime import UTC, datetime
from pipeline import hookimpl
from pipeline.components import Source, Transform
from pipeline.models import Item, Kind, item_id

class Many(Source):
    name = "many"
    def fetch(self, run):
        return [Item(item_id(self.instance, str(n)), Kind.NEWS, self.instance, f"Note {n}",
                     datetime(2016, 4, 20, tzinfo=UTC)) for n in range(250)]

class Slow(Source):
    name = "slow"
    def fetch(self, run):
        time.sleep(60)
        return []

class Slowly(Transform):
    name = "slowly"
    in_workers = True
    def apply(self, items, run):
        print("transforming", flush=True)
        time.sleep(60)

@hookimpl
def register_sources(register):
    register(Many)
    register(Slow)

@hookimpl
def register_transforms(register):
    register(Slowly)
'''


def test_sigterm_ends_a_run_at_once_while_a_chunk_is_transformed_here(write_project):
    config = write_project(f'[pipeline]\nname = "N"\nplugins_dir = "local"\nworkers = 1\n'
                           f'[sources.many]\ntype = "many"\n[sources.slow]\ntype = "slow"\n'
                           f'[transforms.t]\ntype = "slowly"\n{SINK}', {"local/slowly.py": TRANSFORMING_PLUGIN})
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "refresh", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "transforming"  # on the run's background thread

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)  # not after the chunk's 60 s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    assert proc.returncode == 143 and "stopped by SIGTERM" in err
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_an_opml_list_passes_its_feed_settings_to_each_feed(project_from):
    opml = """<opml version="2.0"><body><outline type="rss" text="One" xmlUrl="https://one.example.org/f.xml"/>
      </body></opml>"""
    project = project_from(f'[sources.p]\ntype = "opml"\npath = "p.opml"\nkind = "job"\nparser = "fast"\n'
                           f'max_items = 7\n{SINK}', files={"p.opml": opml})
    (feed,) = project.sources
    assert (feed.settings.kind, feed.settings.parser, feed.settings.max_items) == ("job", "fast", 7)
