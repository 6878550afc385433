"""The `opml` source over time: feeds of one name keep their own names (their items' ids and health records) when
the file changes around them."""

from __future__ import annotations

from datetime import date

from pipeline.config import load_project
from pipeline.runner import run
from pipeline.state import Store, history
from tests.http_fixtures import Route

RSS = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d</description>"
       "<item><title>Item {n}</title><link>https://p.example.org/{n}</link>"
       "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")
SINK = '[sinks.feed]\ntype = "rss"\n'
LOOPBACK = "allow_private = true\n"  # the test's feeds are served on 127.0.0.1


def _opml(*feeds: tuple[str, str]) -> str:
    outlines = "".join(f'<outline type="rss" text="{title}" xmlUrl="{url}"/>' for title, url in feeds)
    return f'<opml version="2.0"><body>{outlines}</body></opml>'


def test_feeds_of_one_name_keep_theirs_when_another_is_removed(write_project, feed_server, tmp_path):
    feed_server.routes["/a.xml"] = Route(RSS.format(n=1).encode())
    feed_server.routes["/c.xml"] = Route(RSS.format(n=3).encode())  # /b.xml is missing: that feed fails
    a, b, c = (("News", feed_server.url(f"/{x}.xml")) for x in "abc")
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{LOOPBACK}{SINK}',
                           {"partners.opml": _opml(a, b, c)})
    first = load_project(config)
    names = {source.settings.url: source.instance for source in first.sources}
    assert len(set(names.values())) == 3 and names[a[1]] == "partners/news"
    run(first, mode="refresh", as_of=date(2016, 2, 1))

    (config.parent / "partners.opml").write_text(_opml(a, c))  # the broken feed is taken out of the list
    second = load_project(config)
    assert {source.settings.url: source.instance for source in second.sources} == {a[1]: names[a[1]],
                                                                                   c[1]: names[c[1]]}
    report = run(second, mode="refresh", as_of=date(2016, 2, 1))
    assert report.exit_code == 0
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        health = history.source_health(store)
    finally:
        store.close()
    assert health[names[c[1]]].failures_in_a_row == 0  # the removed feed's failure is not counted against c
    assert health[names[b[1]]].failures_in_a_row == 1


def test_a_table_named_like_a_lists_feed_is_refused_naming_both(write_project):
    import pytest

    from pipeline.errors import ConfigError

    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n'
                           f'[sources."partners/news"]\ntype = "feed"\nurl = "https://q.example.org/news.xml"\n{SINK}',
                           {"partners.opml": _opml(("News", "https://p.example.org/news.xml"))})
    with pytest.raises(ConfigError) as raised:
        load_project(config)
    assert "[sources.partners/news]: 2 sources have this name" in str(raised.value)


def test_an_opml_file_larger_than_the_limit_is_refused_naming_it_and_the_limit(write_project):
    import pytest

    from pipeline.errors import ConfigError

    feed = '<outline type="rss" text="News" xmlUrl="https://p.example.org/news.xml"/>'
    padding = "<!-- " + "x" * 5 * 2**20 + " -->"  # a well-formed list, only too large
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{SINK}',
                           {"partners.opml": f'<opml version="2.0"><body>{feed}</body></opml>{padding}'})
    with pytest.raises(ConfigError) as raised:
        load_project(config)
    assert str(raised.value) == (f"{config.name}: [sources.partners]: partners.opml is larger than 5 MB, the most an "
                                 f"OPML list may be; export a smaller list, or split it between two [sources.*] "
                                 f"tables")


def _refreshed_skipping(write_project, feed_server, private: list[tuple[str, str]]):
    """A list of only outlines it must not fetch, refreshed: (config, report), checked to have asked nothing and
    to stand as the list alone, to report them."""
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{SINK}',
                           {"partners.opml": _opml(*private)})
    project = load_project(config)
    assert [source.instance for source in project.sources] == ["partners"]
    report = run(project, mode="refresh", as_of=date(2016, 2, 1))
    assert feed_server.requests == [] and report.exit_code == 3
    return config, report


def test_an_outline_at_localhost_or_a_private_address_is_not_fetched_but_reported(write_project, feed_server):
    feed_server.routes["/here.xml"] = Route(RSS.format(n=1).encode())
    private = [("Here", feed_server.url("/here.xml")), ("Loopback six", "http://[::1]:9/f.xml"),
               ("Office", "http://10.0.0.7/f.xml"), ("Router", "https://192.168.1.1/f.xml"),
               ("Metadata", "http://169.254.169.254/latest/meta-data/"), ("Local", "http://localhost:9/f.xml")]
    config, report = _refreshed_skipping(write_project, feed_server, private)
    listed = config.parent / "partners.opml"
    assert report.problems == [
        f"{listed} <outline> {title!r}: xmlUrl {url!r} is at localhost or an address that is not public, "
        f"so it is never fetched; give the feed's public address in the OPML file (or remove the outline), or set "
        f"allow_private = true in [sources.partners] if feeds there are meant to be read; outline skipped"
        for title, url in private]

    config.write_text(config.read_text().replace('path = "partners.opml"\n', f'path = "partners.opml"\n{LOOPBACK}'))
    assert [source.instance for source in load_project(config).sources] == [
        f"partners/{name}" for name in ("here", "loopback-six", "office", "router", "metadata", "local")]


def test_a_public_address_is_a_feed_without_the_setting_which_is_true_or_false(write_project):
    import pytest

    from pipeline.errors import ConfigError

    public = [("Named", "https://p.example.org/f.xml"), ("Public IP", "http://93.184.215.14/f.xml"),
              ("Ten in a name", "http://10.example.org/f.xml")]
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{SINK}',
                           {"partners.opml": _opml(*public)})
    assert [source.settings.url for source in load_project(config).sources] == [url for _, url in public]
    config.write_text(config.read_text().replace('path = "partners.opml"\n', 'path = "partners.opml"\n'
                                                                             'allow_private = "yes"\n'))
    with pytest.raises(ConfigError) as raised:
        load_project(config)
    assert str(raised.value) == (f"{config.name}: [sources.partners] (opml): allow_private: must be true or false, "
                                 f"without quotes, not 'yes'")


def test_an_ip_address_written_with_the_dots_idna_reads_as_dots_is_not_fetched(write_project, feed_server):
    # The fetcher (httpx, through IDNA) reads 。 ． ｡ as dots: "127。0。0。1" is 127.0.0.1 to it, not a name.
    feed_server.routes["/here.xml"] = Route(RSS.format(n=1).encode())
    here = feed_server.url("/here.xml")
    private = [(f"Here {n}", here.replace("127.0.0.1", "127.0.0.1".replace(".", dot)))
               for n, dot in enumerate("\u3002\uff0e\uff61")]
    private += [("Local", "http://localhost\u3002:9/f.xml"), ("Sub", "http://feeds\uff0elocalhost:9/f.xml"),
                ("Short", "http://127\u30021:9/f.xml"), ("Metadata", "http://169\uff0e254\uff0e169\uff0e254/")]
    config, report = _refreshed_skipping(write_project, feed_server, private)
    assert len(report.problems) == len(private) and all("is at localhost" in p for p in report.problems)


def test_ipv4_inside_ipv6_is_judged_by_its_ipv4_address(write_project):
    # A NAT64 gateway (64:ff9b::/96, RFC 6052; 64:ff9b:1::/48 for local use, RFC 8215) or a 6to4 relay (2002::/16)
    # takes the IPv6 address to the IPv4 one inside it, which Python 3.11's is_global does not look at.
    private = [("NAT64 office", "http://[64:ff9b::10.0.0.7]/f.xml"), ("NAT64 metadata", "http://[64:ff9b::a9fe:a9fe]/"),
               ("Local NAT64", "http://[64:ff9b:1::a00:7]/f.xml"), ("6to4 loopback", "http://[2002:7f00:1::]/f.xml"),
               ("Compatible", "http://[::10.0.0.7]/f.xml"), ("Site-local", "http://[fec0::1]/f.xml")]
    public = [("NAT64 public", "http://[64:ff9b::93.184.215.14]/f.xml"), ("6to4 public", "http://[2002:5db8:d70e::1]/f.xml"),
              ("Six", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/f.xml")]
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{SINK}',
                           {"partners.opml": _opml(*private, *public)})
    project = load_project(config)
    assert [source.settings.url for source in project.sources[:-1]] == [url for _, url in public]
    [listing] = [source for source in project.sources if source.instance == "partners"]
    assert [(title, why) for title, _, why in listing.skipped] == [(title, "private") for title, _ in private]


def test_a_lists_feed_redirected_to_a_private_address_is_refused_there(write_project, feed_server, monkeypatch):
    """A public feed of the list whose server redirects to this machine (or its network) is not followed there
    unless the table allows private addresses. The "public" server is an HTTP proxy on 127.0.0.1 that answers
    every request for feeds.example.net with a redirect to the test's feed server (the proxy is how a name
    reaches a local server without DNS)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    feed_server.routes["/secret.xml"] = Route(RSS.format(n=7).encode())
    target = feed_server.url("/secret.xml")
    asked: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            asked.append(self.path)  # a proxy is sent the whole URL
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the redirect's target is fetched directly, when it is
    try:
        config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{SINK}',
                               {"partners.opml": _opml(("Partner", "http://feeds.example.net/partner.xml"))})
        report = run(load_project(config), mode="refresh", as_of=date(2016, 2, 1))
        assert asked == ["http://feeds.example.net/partner.xml"]
        assert feed_server.requests == [] and report.exit_code == 3  # a source failed, the run went on
        [failed] = [result for result in report.results if result.name == "partners/partner"]
        assert not failed.ok and failed.summary.startswith(
            f"{target}: localhost or an address that is not public, refused")

        config.write_text(config.read_text().replace('path = "partners.opml"\n',
                                                     f'path = "partners.opml"\n{LOOPBACK}'))
        report = run(load_project(config), mode="refresh", as_of=date(2016, 2, 1))
        assert report.exit_code == 0 and [path for path, _ in feed_server.requests] == ["/secret.xml"]
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_lists_feed_at_a_name_that_resolves_to_a_private_address_is_refused(write_project, feed_server):
    """A name is looked up as the connection for a list's feed is opened: one that resolves to this machine (its
    own host name here) is refused like the address itself, naming the address (tests/test_public_only.py has the
    rest: rebinding, redirects, proxies, TLS)."""
    import socket

    import pytest

    from pipeline.hosts import is_private, private_address_of

    name = socket.gethostname()
    url = f"http://{name}:{feed_server.port}/named.xml"
    address = private_address_of(url)
    if is_private(url) or not address:
        pytest.skip(f"this machine's name {name!r} is not a name that resolves to a private address")
    feed_server.routes["/named.xml"] = Route(RSS.format(n=8).encode())
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\n{SINK}',
                           {"partners.opml": _opml(("Named", url))})
    report = run(load_project(config), mode="refresh", as_of=date(2016, 2, 1))
    [failed] = [result for result in report.results if result.name == "partners/named"]
    assert feed_server.requests == [] and not failed.ok
    assert failed.summary.startswith(f"{url}: {name} resolves to {address}, an address that is not public, refused "
                                     f"for a feed of someone else's list; allow_private = true in its table allows it")
