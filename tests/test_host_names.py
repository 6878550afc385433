"""A feed's host name that can never be looked up (a part over 63 characters, an empty part, a name that is
not valid IDNA) is said at start-up, naming the table and the URL; an OPML list's outline with one is skipped
and reported, the list's other feeds read; a redirect to one fails its source in a line naming the URL."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.config import load_project
from pipeline.errors import ConfigError
from pipeline.runner import run
from tests.http_fixtures import Route

LONG = "a" * 64  # one character over what DNS allows a label
RSS = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d</description>"
       "<item><title>Item</title><link>https://p.example.org/1</link>"
       "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")
SINK = '[sinks.feed]\ntype = "rss"\n'


@pytest.mark.parametrize(("url", "says"), [
    (f"https://{LONG}.example.org/feed.xml", f"the host name '{LONG}.example.org' cannot be looked up"),
    ("https://news..example.org/feed.xml", "the host name 'news..example.org' cannot be looked up"),
    ("https://" + "abcdefgh." * 29 + "org/feed.xml", "and the whole at most 253"),
    ("https://exa\uff4dple.org/feed.xml", "is not a valid international name"),  # a full-width letter
])
def test_a_host_name_that_cannot_be_looked_up_is_refused_at_start_up(write_project, url, says):
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{SINK}')
    with pytest.raises(ConfigError) as info:
        load_project(config)
    [line] = info.value.lines
    assert line.startswith(f"pipeline.toml: [sources.partner] (feed): url: {url!r}: ") and says in line
    assert line.endswith("; correct the URL") and info.value.exit_code == 2


@pytest.mark.parametrize("url", ["https://", "https:///feed.xml", "http://:8080/feed.xml"])
def test_an_address_with_no_host_name_is_refused_at_start_up(write_project, url):
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{SINK}')
    with pytest.raises(ConfigError) as info:
        load_project(config)
    [line] = info.value.lines
    assert line == f"pipeline.toml: [sources.partner] (feed): url: {url!r}: it names no host; correct the URL"


@pytest.mark.parametrize("url", ["https://stra\u00dfe.de/feed.xml", "https://EXAMPLE.org./feed.xml",
                                 "http://[::1]:8080/feed.xml", "http://127.0.0.1:9/feed.xml",
                                 f"https://{'a' * 63}.example.org/feed.xml",
                                 f"https://{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 61}./feed.xml"])  # 253, then "."
def test_host_names_that_can_be_looked_up_are_taken(write_project, url):
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{SINK}')
    assert [source.settings.url for source in load_project(config).sources] == [url]


def test_a_lists_outline_with_such_a_name_is_skipped_and_reported_and_the_others_read(write_project, feed_server):
    feed_server.routes["/good.xml"] = Route(RSS.encode())
    bad = f"https://{LONG}.example.org/feed.xml"
    outlines = (f'<outline text="Good" xmlUrl="{feed_server.url("/good.xml")}"/>'
                f'<outline text="Long" xmlUrl="{bad}"/>')
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\nallow_private = true\n{SINK}',
                           {"partners.opml": f'<opml version="2.0"><body>{outlines}</body></opml>'})

    report = run(load_project(config), mode="refresh", as_of=date(2016, 2, 1))

    assert [path for path, _ in feed_server.requests] == ["/good.xml"]
    assert report.exit_code == 3  # the sinks ran; the list reports what it skipped
    [problem] = report.problems
    assert problem.startswith(f"{config.parent / 'partners.opml'} <outline> 'Long': xmlUrl {bad!r} is never fetched: "
                              f"the host name '{LONG}.example.org' cannot be looked up")
    assert problem.endswith("correct the address in the OPML file (or remove the outline); outline skipped")


def test_a_redirect_to_such_a_name_fails_its_source_naming_the_url(write_project, feed_server):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(301)
            self.send_header("Location", f"http://{LONG}.example.org/feed.xml")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    Thread(target=server.serve_forever, daemon=True).start()
    feed_server.routes["/other.xml"] = Route(RSS.encode())
    url = f"http://127.0.0.1:{server.server_address[1]}/moved.xml"
    try:
        config = write_project(f'[sources.moved]\ntype = "feed"\nurl = "{url}"\n'
                               f'[sources.other]\ntype = "feed"\nurl = "{feed_server.url("/other.xml")}"\n{SINK}')
        report = run(load_project(config), mode="refresh", as_of=date(2016, 2, 1))
    finally:
        server.shutdown()
        server.server_close()

    results = {result.name: result for result in report.results if result.stage == "source"}
    assert results["other"].ok and report.exit_code == 3
    assert not results["moved"].ok and results["moved"].summary.startswith(
        f"{url}: cannot connect: a host name it leads to cannot be looked up (")
    assert results["moved"].summary.endswith("check the address in [sources.moved]")
