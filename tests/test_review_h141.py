"""Review h141: a plugin's `BaseException` or `SystemExit("...")` printed by Python itself, unmasked; and a key in a
link written with percent-escapes or in another case, not recognised as the key."""

from __future__ import annotations

import os
import subprocess
import sys
from html import escape
from html import unescape as html_unescape
from urllib.parse import quote, quote_plus, unquote

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

    def __init__(self, *args):
        super().__init__(*args)
        fail(self.settings.url, "set-up")

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


@pytest.mark.parametrize("how, name", [("boom", "Boom"), ("exit", "SystemExit")])
def test_a_component_that_raises_a_base_exception_as_it_is_set_up_is_a_config_error(write_project, tmp_path, how,
                                                                                   name):
    """Its set-up caught Exception only: the error went on, an unexpected one (exit 1), not the plugin's (exit 2)."""
    code, out, err, logged = _failing(write_project, tmp_path, "check", "set-up", how)
    assert code == 2, err
    said = f"plugin 'odd' could not set up 'odd': {name}: cannot reach {MASKED}"
    assert said in " ".join(err.split()), err


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


KEY = "k3y-of-the-partner-feed"
# The key as a feed may spell it in a link: an escape for one letter, escapes in lower case, every character escaped.
SPELLINGS = ("%6B3y-of-the-partner-feed", "k3y%2dof-the-partner-feed", "k3y-of-the-partner%2Dfeed",
             "".join(f"%{byte:02x}" for byte in KEY.encode()))
OTHER_KEY = "K3Y-OF-THE-PARTNER-FEED"  # another key: a path's letters are case-sensitive


def _parsed(url: str, document: str, environ: dict[str, str]):
    from pipeline.redact import credentials_in, variables_in
    from plugins.sources.feed import parse_feed

    values = tuple(dict.fromkeys(form for name in variables_in(url) for form in (environ[name], quote(environ[name],
                                                                                                      safe=""))))
    return parse_feed(document.encode(), url, "", "p", "news", "feedparser", tuple(credentials_in(url, environ)),
                      values)


def _rss(channel_link: str, *items: tuple[str, str]) -> str:
    """An RSS feed of (link, body) items, with a channel link when given."""
    entries = "".join(f"<item><title>Item {n}</title><link>{escape(link)}</link><pubDate>Fri, 15 Jan 2016 10:00:00 "
                      f"+0000</pubDate><description>{escape(body)}</description></item>"
                      for n, (link, body) in enumerate(items))
    channel = f"<link>{escape(channel_link)}</link>" if channel_link else ""
    return (f"<rss version='2.0'><channel><title>Partner</title>{channel}<description>d</description>{entries}"
            f"</channel></rss>")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_key_a_feed_repeats_with_percent_escapes_is_masked_in_its_links_and_text(spelling):
    """An entry's link or text holding the key with one of its characters percent-escaped (`%6B` for k, `%2d` for -)
    was published as it stood: the key was compared as sent, and in two spellings of its escapes only."""
    url = "https://partner.example.org/feeds/${K}/rss.xml"
    document = _rss("", (f"https://partner.example.org/feeds/{spelling}/news/1.html",
                         f"<p><a href='https://partner.example.org/feeds/{spelling}/news/2.html'>more</a> "
                         f"by key {spelling}</p>"))
    [item] = _parsed(url, document, {"K": KEY}).items
    for text in (item.url, item.body_html, item.id):
        assert KEY not in unquote(text), text
    assert item.url == "https://partner.example.org/feeds/***/news/1.html", item.url
    assert "by key ***" in item.body_html, item.body_html


def test_a_channel_link_that_repeats_the_key_escaped_is_no_base_for_relative_links():
    """The channel's link, `/feeds/%6B3y…/`, was taken as the base of the items' relative links: each published the
    key, as the server reads it."""
    url = "https://partner.example.org/feeds/${K}/rss.xml"
    document = _rss(f"https://partner.example.org/feeds/{SPELLINGS[0]}/", ("news/1.html", "<a href='2.html'>two</a>"))
    parsed = _parsed(url, document, {"K": KEY})
    [item] = parsed.items
    assert item.url == "" and "href" not in item.body_html and parsed.unresolved, (item.url, item.body_html)


def test_a_key_that_is_the_feeds_host_in_another_case_is_recognised_in_its_origin():
    """A key that is the host the feed is at (as 127.0.0.1 may be) was compared case-sensitively with the origin the
    links from the root are read from: `Feeds.Partner.example` was not `feeds.partner.example`, and every link
    from the root published it. A host's letters are the same in any case."""
    url = "https://Feeds.Partner.example/${K}/rss.xml"
    document = _rss("", ("/news/1.html", "<a href='/about/'>about</a>"))
    parsed = _parsed(url, document, {"K": "feeds.partner.example"})
    [item] = parsed.items
    assert item.url == "" and "href" not in item.body_html, (item.url, item.body_html)
    assert "feeds.partner.example" not in _parsed(url, _rss("https://FEEDS.partner.example/", ("/news/1.html", "")),
                                                  {"K": "feeds.partner.example"}).items[0].url.lower()


def test_another_key_in_another_letter_case_is_not_masked():
    url = "https://partner.example.org/feeds/${K}/rss.xml"
    link = f"https://partner.example.org/feeds/{OTHER_KEY}/news/1.html"
    [item] = _parsed(url, _rss("", (link, f"<p>{OTHER_KEY}</p>")), {"K": KEY}).items
    assert item.url == link and OTHER_KEY in item.body_html, (item.url, item.body_html)


VALUE = "a/b+c@d-4f9a2c"


@pytest.mark.parametrize("spelling", [quote(VALUE), quote_plus(VALUE), quote(VALUE, safe="").lower(),
                                      "a%2Fb%2bc%40d-4f9a2c", "%61/b+c@d-4f9a2c"])
def test_a_value_read_through_a_variable_is_masked_in_messages_however_it_is_escaped(spelling, monkeypatch):
    """An error repeating the address with the value escaped otherwise than `expand` did (a `/` kept, as quote() and
    httpx keep it; escapes in mixed case; a letter escaped) printed it: only the value, its quote(safe="") and that
    in lower case were masked."""
    from pipeline import redact

    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f/${T}/rss.xml", {"T": VALUE})
    said = redact.redact_text(f"GET https://h.example/f/{spelling}/rss.xml: HTTP 500")
    assert said == "GET https://h.example/f/***/rss.xml: HTTP 500", said
    assert redact.redact_text("GET https://h.example/f/A/B+C@D-4F9A2C/rss.xml") == \
        "GET https://h.example/f/A/B+C@D-4F9A2C/rss.xml"  # another value: not masked


def test_a_private_feed_repeating_its_key_escaped_publishes_no_spelling_of_it(write_project, feed_server,
                                                                              monkeypatch, capsys):
    """Through `pipeline refresh`: a feed at `/feeds/${PARTNER_KEY}/rss.xml` whose items link back with the key
    percent-escaped. Nothing written out (the RSS feed, the archive) holds the key in any spelling."""
    from pipeline import redact
    from pipeline.cli import main
    from tests.http_fixtures import Route

    monkeypatch.setenv("PARTNER_KEY", KEY)
    monkeypatch.setattr(redact, "_remembered", set())
    feed_server.routes[f"/feeds/{KEY}/rss.xml"] = Route(_rss(
        "https://partner.example.org/", *((f"https://partner.example.org/feeds/{spelling}/news/{n}.html",
                                          f"<a href='/feeds/{spelling}/more/{n}.html'>more</a>")
                                         for n, spelling in enumerate(SPELLINGS))).encode())
    url = feed_server.url("/feeds/${PARTNER_KEY}/rss.xml")
    config = write_project(f'[pipeline]\nname = "N"\n[sources.partner]\ntype = "feed"\nurl = "{url}"\n'
                           f'[sinks.feed]\ntype = "rss"\n[sinks.archive]\ntype = "archive"\n')

    assert main(["refresh", "-c", str(config)]) == 0, capsys.readouterr()

    written = [path.read_text(encoding="utf-8") for path in (config.parent / "out").rglob("*")
               if path.suffix in (".html", ".xml")]
    assert written and len(feed_server.requests) == 1
    assert "https://partner.example.org/feeds/***/news/0.html" in "".join(written)
    for text in [*written, *capsys.readouterr()]:
        assert KEY not in unquote(html_unescape(text)), text


def test_a_settings_validator_whose_error_has_no_str_is_a_config_error(write_project, capsys):
    """The message was made with `{exc}`, which raised in the handler: an unexpected AttributeError (exit 1)."""
    from pipeline.cli import main

    plugin = ("import pydantic\nfrom pipeline import hookimpl\nfrom pipeline.components import Settings, Sink\n"
              "class Odd(Exception):\n    def __str__(self):\n        return self.reason\n"
              "class Picky(Sink):\n    name = 'picky'\n    class Settings(Settings):\n        size: int = 1\n"
              "        @pydantic.field_validator('size')\n        @classmethod\n"
              "        def check(cls, value):\n            raise Odd()\n"
              "@hookimpl\ndef register_sinks(register):\n    register(Picky)\n")
    config = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.p]\ntype = "picky"\nsize = 2\n',
                           {"local/picky.py": plugin})
    assert main(["check", "-c", str(config)]) == 2
    assert "the plugin's settings raised Odd: <exception str() failed> while checking" in capsys.readouterr().err
