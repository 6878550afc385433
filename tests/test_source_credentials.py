"""A feed's credential: read from the environment through `${NAME}` in its url, sent percent-encoded, and never
printed, stored or mailed; one written out in pipeline.toml works, is warned about at start-up, and is masked in
every message. A real server on 127.0.0.1 answers 403 without the right credential."""

from __future__ import annotations

import base64
import email
import html
import os
import subprocess
import sys
import threading
from datetime import date
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from pipeline import redact
from pipeline.cli import main
from pipeline.config import load_project
from pipeline.errors import ConfigError
from pipeline.models import item_id
from pipeline.redact import expand, literal_credentials, redact_text, redact_url, without_credentials
from tests.http_fixtures import Route
from tests.sample_feeds import ONE_ITEM_RSS as RSS
from tests.test_site_links import Links

SECRET = "s3cr&t#to@k/en+x"  # every character that could end a query value, or the user name and password
ENCODED = quote(SECRET, safe="")
ALERTS = """[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"
subscribers = "subscribers.csv"
[alerts]
to = ["fay@network.example.org"]
source_failures = 1
"""
FILES = {"subscribers.csv": "email,name\nann@example.org,Ann\n", "local.xml": RSS.replace("News", "Local")}


class Partner:
    """A partner's feed on 127.0.0.1: 403 unless the request carries `token` (query parameter `token`) or, when
    `user` is set, Basic credentials `user:token`; `mode` "500" fails, "silent" never answers."""

    def __init__(self, token: str = SECRET, user: str = "", mode: str = "ok", etag: str = ""):
        self.tokens, self.user, self.mode, self.etag = {token}, user, mode, etag
        self.seen: list[dict] = []  # per request: the token and credentials as the server decoded them
        self.stop = threading.Event()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                given = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                basic = self.headers.get("Authorization", "").removeprefix("Basic ")
                pair = base64.b64decode(basic).decode() if basic else ""
                partner.seen.append({"token": given, "basic": pair, "etag": self.headers.get("If-None-Match", "")})
                if partner.mode == "silent":
                    partner.stop.wait(30)
                    return
                allowed = (pair in {f"{partner.user}:{t}" for t in partner.tokens} if partner.user
                           else given in partner.tokens)
                status = 500 if partner.mode == "500" else 200 if allowed else 403
                if status == 200 and partner.etag and self.headers.get("If-None-Match") == partner.etag:
                    status = 304
                body = RSS.encode() if status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                if partner.etag:
                    self.send_header("ETag", partner.etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner():
    made: list[Partner] = []

    def start(**options) -> Partner:
        made.append(Partner(**options))
        return made[-1]

    yield start
    for server in made:
        server.close()


def refresh(config: Path, *extra: str) -> int:
    return main(["refresh", "-c", str(config), "--as-of", "2016-02-01", "--log-file",
                 str(config.parent / "pipeline.log"), *extra])


def everything_written(config: Path, capsys) -> str:
    """stdout and stderr so far, and every file the pipeline wrote in the project (the SQLite file, the log, the
    outbox, the site), as text."""
    out, err = capsys.readouterr()
    files = [path.read_bytes().decode("utf-8", "replace") for path in config.parent.rglob("*")
             if path.is_file() and path != config and path.name not in (*FILES, "partners.opml")]
    return "\n".join([out, err, *files])


def alerts_sent(config: Path) -> list[str]:
    folder = config.parent / "outbox" / "messages"
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
            for path in sorted(folder.glob("*.eml"))]


def status_and_report(config: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    assert main(["status", "-c", str(config), "--json"]) == 0
    return capsys.readouterr().out


def test_a_feed_behind_a_token_is_read_through_the_variable_which_is_shown_and_kept_nowhere(
        write_project, partner, monkeypatch, capsys):
    server = partner()
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}&page=1"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{ALERTS}', FILES)

    assert refresh(config, "-vv", "--json") == 0
    assert [seen["token"] for seen in server.seen] == [SECRET]  # arrived whole: its & # @ / + did not split it
    from pipeline.runner import state_path
    from pipeline.state import Store

    store = Store(state_path(load_project(config)))
    try:
        assert [item.title for item in store.get_items(store.ids_of("partner"))] == ["News"]
        assert store.source_state("partner")["url"] == url  # HTTP state kept under the address as written
    finally:
        store.close()
    server.mode = "500"  # then it fails: the alert, the report, the history name the address as written
    assert refresh(config, "-vv") == 3
    [alert] = alerts_sent(config)
    assert f"{url}: HTTP 500" in alert
    written = everything_written(config, capsys) + status_and_report(config, capsys)
    assert "${PARTNER_TOKEN}" in written
    assert SECRET not in written and ENCODED not in written


@pytest.mark.parametrize(("mode", "core", "table", "said"), [
    ("500", "", "", ": HTTP 500 Internal Server Error; check the URL in [sources.partner]"),
    ("silent", "http_timeout = 1\n", "", ": no answer within 1 s; the server is slow or down"),
])
def test_a_server_failing_is_said_with_the_url_as_written(write_project, partner, monkeypatch, capsys,
                                                          mode, core, table, said):
    server = partner(mode=mode)
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}"
    config = write_project(f'[pipeline]\nname = "Test Network"\n{core}'
                           f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{table}{ALERTS}', FILES)

    assert refresh(config, "--json") == 3
    [alert] = alerts_sent(config)
    assert said in alert and url in alert
    written = everything_written(config, capsys) + status_and_report(config, capsys)
    assert url in written and said in written
    assert server.seen and SECRET not in written and ENCODED not in written


@pytest.mark.parametrize(("value", "why"), [
    (None, "is not set"), ("", "is empty"), (f"{SECRET}\nX-Injected: 1", "holds a line break"),
])
def test_a_variable_not_set_fails_its_source_alone_in_one_line(write_project, partner, monkeypatch, capsys,
                                                                value, why):
    server = partner()
    if value is None:
        monkeypatch.delenv("PARTNER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("PARTNER_TOKEN", value)
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n'
                           f'[sources.local]\ntype = "feed"\nurl = "local.xml"\n{ALERTS}', FILES)

    assert refresh(config) == 3  # as for any source that fails: the others' items are in, the sinks ran
    assert server.seen == []  # nothing was sent without it
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "environment variable" in line)
    assert (f"[sources.partner] url: environment variable PARTNER_TOKEN {why}" in line
            and "export PARTNER_TOKEN" in line)
    assert "local" in out and "1 item" in out
    if value:
        assert SECRET not in everything_written(config, capsys)


def test_a_password_from_the_environment_arrives_whole_as_basic_credentials(write_project, partner, monkeypatch,
                                                                             capsys):
    server = partner(user="partner@uni")
    monkeypatch.setenv("PARTNER_USER", "partner@uni")
    monkeypatch.setenv("PARTNER_PASS", SECRET)
    url = f"http://${{PARTNER_USER}}:${{PARTNER_PASS}}@127.0.0.1:{server.port}/feed.xml"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{ALERTS}', FILES)

    assert refresh(config) == 0
    assert [seen["basic"] for seen in server.seen] == [f"partner@uni:{SECRET}"]
    server.mode = "500"
    assert refresh(config) == 3
    written = everything_written(config, capsys)
    assert f"{url}: HTTP 500" in written and SECRET not in written and ENCODED not in written


def test_a_rotated_token_keeps_the_feeds_http_state(write_project, partner, monkeypatch):
    server = partner(etag='"v1"')
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{ALERTS}', FILES)
    assert refresh(config) == 0

    server.tokens = {"the-new-token"}
    monkeypatch.setenv("PARTNER_TOKEN", "the-new-token")
    assert refresh(config) == 0
    assert [(seen["token"], seen["etag"]) for seen in server.seen] == [(SECRET, ""), ("the-new-token", '"v1"')]


def test_a_credential_written_out_is_masked_everywhere_and_warned_about_at_start_up(write_project, partner, capsys):
    server = partner(token="tok-literal", mode="500")
    url = f"http://reader:pw-literal@127.0.0.1:{server.port}/feed.xml?page=2&Token=tok-literal&api_key=key-literal"
    shown = f"http://reader:***@127.0.0.1:{server.port}/feed.xml?page=2&Token=***&api_key=***"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{ALERTS}', FILES)

    assert refresh(config, "-vv") == 3
    assert server.seen == [{"token": "", "basic": "reader:pw-literal", "etag": ""}]  # it is used as written
    _, err = capsys.readouterr()
    [warning] = [line for line in err.splitlines() if "is written out" in line]
    assert warning == ("warning: pipeline.toml: [sources.partner] url: a credential is written out (the password, "
                       "Token, api_key), and secrets belong in the environment: put it in a variable and write ${NAME} "
                       "in its place (README, \"A feed's credential\")")
    [alert] = alerts_sent(config)
    assert f"{shown}: HTTP 500" in alert
    written = everything_written(config, capsys) + status_and_report(config, capsys)
    assert f"{shown}: HTTP 500" in written
    assert [word for word in ("pw-literal", "tok-literal", "key-literal") if word in written] == []


def test_an_opml_outline_with_a_credential_is_masked_and_one_reading_a_variable_is_never_fetched(
        write_project, partner, monkeypatch, capsys):
    server = partner(token="tok-literal", mode="500")
    monkeypatch.setenv("HOME_SECRET", SECRET)
    outlines = (f'<outline text="Partner" xmlUrl="http://u:pw-literal@127.0.0.1:{server.port}/f.xml?token=tok-literal"/>'
                f'<outline text="Probe" xmlUrl="http://127.0.0.1:{server.port}/p.xml?x=${{HOME_SECRET}}"/>')
    opml = f'<opml version="2.0"><body>{outlines}</body></opml>'
    config = write_project(f'[sources.partners]\ntype = "opml"\npath = "partners.opml"\nallow_private = true\n'
                           f'{ALERTS}', {**FILES, "partners.opml": opml})

    assert refresh(config) == 3
    assert len(server.seen) == 1  # the outline reading ${HOME_SECRET} is never fetched
    written = everything_written(config, capsys)
    assert f"http://u:***@127.0.0.1:{server.port}/f.xml?token=***: HTTP 500" in written
    assert "environment variables are read only for an address written in pipeline.toml" in written
    assert "pw-literal" not in written and "tok-literal" not in written and SECRET not in written


@pytest.mark.parametrize(("url", "says"), [
    ("https://p.example/feed?token=${PARTNER TOKEN}", "'${' must be followed by an environment variable's name"),
    ("https://p.example/feed?token=${1TOKEN}", "'${' must be followed by an environment variable's name"),
    ("https://p.example/feed?token=${TOKEN", "'${' must be followed by an environment variable's name"),
    ("https://p.example/feed?token=${}", "'${' must be followed by an environment variable's name"),
    ("https://${PARTNER_HOST}/feed.xml", "its host and port may not come from an environment variable"),
    ("https://p.example:${PORT}/feed.xml", "its host and port may not come from an environment variable"),
    ("https://${U}:${P}@${H}.example/feed.xml", "its host and port may not come from an environment variable"),
    ("feeds/${NAME}.xml", "${NAME} is read from the environment only in an http(s) address"),
])
def test_a_malformed_or_misplaced_variable_is_refused_at_start_up_in_one_line(write_project, url, says):
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n[sinks.feed]\ntype = "rss"\n')
    with pytest.raises(ConfigError) as info:
        load_project(config)
    [line] = info.value.lines
    assert line.startswith("pipeline.toml: [sources.partner] (feed): url: ") and says in line
    assert "\n" not in line and info.value.exit_code == 2


def test_a_credential_in_a_url_refused_at_start_up_is_masked(write_project):
    url = "https://reader:pw-literal@news..example/feed?token=${T}&sig=sig-literal"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n[sinks.feed]\ntype = "rss"\n')
    with pytest.raises(ConfigError) as info:
        load_project(config)
    [line] = info.value.lines
    assert "'https://reader:***@news..example/feed?token=${T}&sig=***': the host name" in line
    assert "literal" not in str(info.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pass@h.example/feed", "https://user:***@h.example/feed"),
    ("https://h.example/feed?token=abc&page=2", "https://h.example/feed?token=***&page=2"),
    ("https://h.example/f?ACCESS_TOKEN=1&apikey=2&Key=3&secret=4&password=5&passwd=6&pass=7&auth=8&sig=9"
     "&signature=10&session=11&sid=12&code=13&partner_token=14&my_key=15&client_secret=16&keys=17&monkey=18",
     "https://h.example/f?ACCESS_TOKEN=***&apikey=***&Key=***&secret=***&password=***&passwd=***&pass=***&auth=***"
     "&sig=***&signature=***&session=***&sid=***&code=***&partner_token=***&my_key=***&client_secret=***&keys=17"
     "&monkey=18"),
    ("https://${U}:${P}@h.example/f?token=${T}&page=${N}", "https://${U}:${P}@h.example/f?token=${T}&page=${N}"),
    ("https://u:p@ss@h.example/f#token=x", "https://u:***@h.example/f#token=***"),  # (OAuth's implicit flow)
    ("https://h.example/feed?page=2", "https://h.example/feed?page=2"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
    assert redact_text(f"GET '{url}': HTTP 500") == f"GET '{shown}': HTTP 500"


def test_expand_encodes_each_value_whole_and_only_what_it_is_asked_for():
    environ = {"U": "a:b@c", "P": SECRET, "T": SECRET}
    assert expand("https://${U}:${P}@h.example/f/${T}?token=${T}&x=$T", environ) == (
        f"https://a%3Ab%40c:{ENCODED}@h.example/f/{ENCODED}?token={ENCODED}&x=$T")
    assert literal_credentials("https://u:${P}@h.example/f?token=${T}") == []
    assert literal_credentials("https://u:p@h.example/f?page=1&sig=s") == ["the password", "sig"]
    assert without_credentials("https://u:p@h.example/a/b?token=1") == "https://h.example/a/b"
    assert without_credentials("https://h.example/a/b?page=2#top") == "https://h.example/a/b?page=2#top"


def test_a_source_past_its_deadline_is_said_with_its_origin_masked():
    from pipeline.fetching import fetch_all
    from pipeline.run_report import StageResult

    class Hanging:
        instance = "partner"

        def origin(self) -> str:
            return "https://reader:pw-literal@p.example/feed?token=tok-literal"

    release = threading.Event()

    def fetch(source) -> StageResult:
        release.wait(5)
        return StageResult("source", source.instance, True, "0 items", 0.0)

    try:
        [result] = fetch_all([Hanging()], fetch, concurrency=1, deadline_of=lambda name: 0.2,
                             on_result=lambda result: None, abandon=lambda name: None)
    finally:
        release.set()
    assert result.summary == ("timed out: no result within 0.2 s from https://reader:***@p.example/feed?token=***; "
                              "the run went on without it")


def test_a_feeds_relative_links_carry_no_credential_of_its_address():
    from plugins.sources.feed import parse_feed

    rss = RSS.replace("<link>https://p.example.org/1</link>", "<link>/news/1</link>")
    for parser in ("feedparser", "fast"):
        [item] = parse_feed(rss.encode(), "https://reader:pw@p.example.org/feed.xml?token=${T}", "", "p", "news",
                            parser).items
        assert item.url == "https://p.example.org/news/1"


def test_status_masks_a_credential_in_an_error_stored_before_masking(write_project, capsys):
    from datetime import UTC, date, datetime

    from pipeline.runner import state_path
    from pipeline.state import Store, history

    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "local.xml"\n{ALERTS}', FILES)
    store = Store(state_path(load_project(config)))
    try:  # as an earlier version stored it, unmasked
        run = history.begin_run(store, mode="refresh", as_of=date(2016, 2, 1), at=datetime(2016, 2, 1, tzinfo=UTC))
        with store.transaction() as db:
            db.execute("UPDATE runs SET finished = ?, exit_code = 3, outcome = 'done, with problems' WHERE id = ?",
                       (datetime(2016, 2, 1, 0, 1, tzinfo=UTC).isoformat(), run))
            db.execute("INSERT INTO run_results (run, stage, name, ok, summary, seconds, count) VALUES (?, 'source', "
                       "'partner', 0, 'https://u:pw-literal@p.example/f?token=tok-literal: HTTP 500', 0.1, 0)", (run,))
    finally:
        store.close()
    shown = status_and_report(config, capsys)
    assert shown.count("https://u:***@p.example/f?token=***: HTTP 500") == 2  # the table and --json
    assert "literal" not in shown


def test_a_host_busy_past_the_deadline_is_said_without_the_password(project_from, run_context):
    from pipeline.errors import SourceError

    ctx = run_context(project_from('[pipeline]\nname = "Test Network"\nper_host = 1\n[sinks.feed]\ntype = "rss"\n'))
    url = "https://reader:pw-literal@p.example/feed"
    with ctx.host_slot(url), ctx.deadline_scope(0.1), pytest.raises(SourceError) as info:
        with ctx.host_slot(url):
            pass
    assert str(info.value) == ("https://reader:***@p.example/feed: no free connection to p.example before the "
                               "source's deadline")


KEY = "k3y-of-the-partner-feed"
STORY = ("<p>Read <a href=\"leeds.html#more\">the whole story</a> and <a href=\"/about/\">about us</a>."
         " <img src=\"pics/group.png\" alt=\"The group\"></p>")
RELATIVE_RSS = (f"<rss version='2.0'><channel><title>Partner</title>{{link}}<description>d</description><item>"
                f"<title>Peer support in Leeds</title><link>news/leeds.html</link>"
                f"<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate><description>{html.escape(STORY)}</description>"
                f"</item></channel></rss>")
RELATIVE_ATOM = (f"<feed xmlns='http://www.w3.org/2005/Atom' xml:base='https://partner.example.org/'>"
                 f"<title>Partner</title><id>urn:partner</id><updated>2016-01-15T10:00:00Z</updated><entry>"
                 f"<title>Peer support in Leeds</title><id>urn:leeds</id><link href='news/leeds.html'/>"
                 f"<updated>2016-01-15T10:00:00Z</updated><content type='html'>{html.escape(STORY)}</content>"
                 f"</entry><entry><title>No link of its own</title><id>urn:own</id>"
                 f"<updated>2016-01-16T10:00:00Z</updated><content type='html'>&lt;a href='join/'&gt;Join&lt;/a&gt;"
                 f"</content></entry></feed>")


def test_a_key_in_a_feeds_path_never_reaches_its_items_links(pipeline_project, feed_server, monkeypatch):
    """A private feed's address holds its key in the path (`/feeds/${PARTNER_KEY}/rss.xml`), and its items link
    relatively. Resolved against the address as written, their links would say `${PARTNER_KEY}` (dead), and
    against the address sent, publish the key. A feed that declares a base of its own (an RSS channel's link, an
    Atom feed's xml:base) has its links resolved against that; one that declares none has its links from the root
    (`/about/`) read from its origin, and its other relative links dropped, their text kept, with one warning naming
    the feed as written. Nothing stored or published holds the key or `${`."""
    monkeypatch.setenv("PARTNER_KEY", KEY)
    feeds = {"bare": RELATIVE_RSS.format(link=""),
             "channel": RELATIVE_RSS.format(link="<link>https://partner.example.org/</link>"),
             "fast": RELATIVE_RSS.format(link="<link>https://partner.example.org/</link>"),
             "atom": RELATIVE_ATOM}
    toml = ""
    for name, document in feeds.items():
        feed_server.routes[f"/feeds/{KEY}/{name}.xml"] = Route(document.encode())
        parser = 'parser = "fast"\n' if name == "fast" else ""
        toml += f'[sources.{name}]\ntype = "feed"\nurl = "{feed_server.url(f"/feeds/${{PARTNER_KEY}}/{name}.xml")}"\n'
        toml += parser
    project = pipeline_project(toml, {"subscribers.csv": "email,name\nann@example.org,Ann\n"})

    report = project.run(as_of=date(2016, 2, 1), check=False)

    assert set(report.problems) == report.kept  # each item kept: the one line below is a warning
    items = {item.source: item for item in project.items() if item.title != "No link of its own"}
    assert len(feed_server.requests) == 4 and sorted(items) == sorted(feeds)
    (own,) = [item for item in project.items() if item.title == "No link of its own"]  # read from its xml:base
    assert own.url == "" and 'href="https://partner.example.org/join/"' in own.body_html
    for name in ("channel", "fast", "atom"):
        assert items[name].url == "https://partner.example.org/news/leeds.html"
        assert 'href="https://partner.example.org/news/leeds.html#more"' in items[name].body_html
        assert 'href="https://partner.example.org/about/"' in items[name].body_html
        assert 'src="https://partner.example.org/news/pics/group.png"' in items[name].body_html
    bare = items["bare"]
    assert bare.url == "" and Links(bare.body_html).links == [feed_server.url("/about/")]
    assert "the whole story" in bare.body_html and "about us" in bare.body_html
    warned = [problem for problem in report.problems if "relative" in problem]
    assert warned == [f"{feed_server.url('/feeds/${PARTNER_KEY}/bare.xml')}: 3 relative links in 1 new item could "
                      f"not be resolved and were left out (their text kept): its address has ${{NAME}} in the path, "
                      f"which no link may publish, and the feed declares no base of its own (xml:base, or the "
                      f"channel's link); ask its owner for absolute links"]
    published = [(entry.link, entry.get("summary", "")) for entry in project.feed().entries]
    assert ("https://partner.example.org/news/leeds.html" in [link for link, _ in published])
    out = project.root / "out"
    written = [path.read_text(encoding="utf-8") for path in out.rglob("*") if path.suffix in (".html", ".xml")]
    stored = [repr(item) for item in project.items()]
    for text in [*written, *stored, *map(repr, published)]:
        assert KEY not in text and "${" not in text and "$%7B" not in text and "%24%7B" not in text


ROOTED_STORY = ("<p>See <a href=\"/about/\">about us</a>, <a href=\"//cdn.partner.example.org/report.pdf\">the "
                "report</a>, <a href=\"more.html\">more</a>, <a href=\"../up.html\">up</a>, <a href=\"?page=2\">the "
                "next page</a> and <img src=\"/pics/group.png\" alt=\"The group\"></p>")
ROOTED_RSS = ("<rss version='2.0'><channel><title>Partner</title><description>d</description>{items}</channel></rss>")
ROOTED_ITEM = ("<item><title>{title}</title><link>{link}</link><pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate>"
               "<description>{story}</description></item>")


def rooted_feed(*entries: tuple[str, str, str]) -> bytes:
    """An RSS feed with no base of its own, of (title, link, body) entries, none with a guid."""
    items = "".join(ROOTED_ITEM.format(title=title, link=link, story=html.escape(story))
                    for title, link, story in entries)
    return ROOTED_RSS.format(items=items).encode()


@pytest.mark.parametrize("parser", ["feedparser", "fast"])
def test_links_from_the_root_of_a_feed_with_a_key_in_its_path_are_read_from_its_origin(
        pipeline_project, feed_server, monkeypatch, parser):
    """A feed at `/feeds/${PARTNER_KEY}/rss.xml` declaring no base: a link from the root (`/about/`, the item's
    `/news/leeds.html`) needs only the feed's origin, which holds no key, so it is read from it; one without its
    scheme (`//cdn…`) takes the feed's. A link from the feed's path (`more.html`, `../up.html`, `?page=2`) still
    is left out, and counted in the warning. A feed whose origin holds a value its address reads (a key that
    is `127.0.0.1`) has every relative link left out. An item without a guid keeps the id it had (its title's)."""
    monkeypatch.setenv("PARTNER_KEY", KEY)
    monkeypatch.setenv("ECHOED_KEY", "127.0.0.1")
    monkeypatch.setattr(redact, "_remembered", set())  # (masked in messages: not in the next tests')
    document = rooted_feed(("Peer support in Leeds", "/news/leeds.html", ROOTED_STORY),
                           ("Peer support in Bradford", "news/bradford.html", ROOTED_STORY))
    feed_server.routes[f"/feeds/{KEY}/rss.xml"] = Route(document)
    feed_server.routes["/feeds/127.0.0.1/rss.xml"] = Route(document)
    url, echoed = (feed_server.url(f"/feeds/${{{name}}}/rss.xml") for name in ("PARTNER_KEY", "ECHOED_KEY"))
    origin = feed_server.url("")
    project = pipeline_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\nparser = "{parser}"\n'
                               f'[sources.echoed]\ntype = "feed"\nurl = "{echoed}"\nparser = "{parser}"\n',
                               {"subscribers.csv": "email,name\n"})

    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    items = {(item.source, item.title): item for item in project.items()}
    leeds, bradford = items["partner", "Peer support in Leeds"], items["partner", "Peer support in Bradford"]
    assert leeds.id == item_id("partner", "Peer support in Leeds")  # as before: no duplicate on upgrade
    assert leeds.url == f"{origin}/news/leeds.html" and bradford.url == ""
    for item in (leeds, bradford):
        assert f'href="{origin}/about/"' in item.body_html and f'src="{origin}/pics/group.png"' in item.body_html
        assert 'href="http://cdn.partner.example.org/report.pdf"' in item.body_html
    assert f'href="{origin}/news/more.html"' in leeds.body_html  # read from its own link, as any item's
    assert "up.html" not in bradford.body_html and "more.html" not in bradford.body_html
    assert "page=2" not in bradford.body_html and "the next page" in bradford.body_html
    for title in ("Peer support in Leeds", "Peer support in Bradford"):
        kept = items["echoed", title]
        assert kept.url == "" and "href" not in kept.body_html and "src" not in kept.body_html
    why = ("could not be resolved and were left out (their text kept): its address has ${NAME} in the path, which "
           "no link may publish, and the feed declares no base of its own (xml:base, or the channel's link); ask "
           "its owner for absolute links")
    said = sorted(problem.partition(": ")[2] for problem in report.problems)  # (the echoed key is masked in its URL)
    assert said == [f"14 relative links in 2 new items {why}", f"4 relative links in 1 new item {why}"]
    assert [problem for problem in report.problems if "${PARTNER_KEY}" in problem and ": 4 relative" in problem]
    written = [path.read_text(encoding="utf-8") for path in (project.root / "out").rglob("*")
               if path.suffix in (".html", ".xml")]
    assert written and not [text for text in [*written, *map(repr, project.items())] if KEY in text]


def test_links_left_out_are_said_once_in_the_run_that_stores_their_items(pipeline_project, feed_server,
                                                                        monkeypatch):
    """A partner's feed with a key in its path and no base keeps linking relatively: its items are stored once,
    so the links they lost are said once, in that run, not again in each run that reads the feed again (its
    other items change) while the organiser can do nothing about it: those runs end "done" (exit 0). A new
    item that loses links is said, alone."""
    monkeypatch.setenv("PARTNER_KEY", KEY)
    first = ("Peer support in Leeds", "news/leeds.html", "<p>Read <a href='more.html'>more</a>.</p>")
    absolute = ("A plain one", "https://partner.example.org/plain.html", "<p>Nothing relative.</p>")
    later = ("Peer support in York", "news/york.html", "<p>Its own link the one relative.</p>")
    route = f"/feeds/{KEY}/rss.xml"
    url = feed_server.url("/feeds/${PARTNER_KEY}/rss.xml")
    feed_server.routes[route] = Route(rooted_feed(first))
    project = pipeline_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n',
                               {"subscribers.csv": "email,name\n"})

    reports = [project.refresh(as_of=date(2016, 2, 1), check=False)]
    feed_server.routes[route] = Route(rooted_feed(absolute, first))
    reports.append(project.refresh(as_of=date(2016, 2, 1), check=False))
    feed_server.routes[route] = Route(rooted_feed(later, absolute, first))
    reports.append(project.refresh(as_of=date(2016, 2, 1), check=False))

    assert len(feed_server.requests) == 3 and len(project.items()) == 3  # each run read the feed again
    warning = ("{n} relative links in 1 new item could not be resolved and were left out (their text kept): its "
               "address has ${{NAME}} in the path, which no link may publish, and the feed declares no base of its "
               "own (xml:base, or the channel's link); ask its owner for absolute links")
    assert [report.exit_code for report in reports] == [3, 0, 3]
    assert [report.problems for report in reports] == [[f"{url}: {warning.format(n=2)}"], [],
                                                       [f"{url}: {warning.format(n=1)}"]]


def source_plugin(kind: str, methods: str, imports: str = "") -> str:
    """A plugin file for `plugins_dir` registering a source of type `kind` (its `url` setting read by the code in
    `methods`, the class's body after its settings, indented as in a class)."""
    return (f"{imports}from pipeline import hookimpl, redact\nfrom pipeline.components import Settings, Source\n\n\n"
            f"class Plugin(Source):\n    name = {kind!r}\n\n    class Settings(Settings):\n        url: str\n\n"
            f"{methods}\n\n@hookimpl\ndef register_sources(register):\n    register(Plugin)\n")


PRIVATE_SOURCE = source_plugin("private", """\
    def fetch(self, run):
        return []

    def expand(self):  # a plugin's bug at start-up, after reading its own address through ${NAME}
        address = redact.expand(self.settings.url)
        try:
            raise ConnectionError(f"refused by {address}")
        except ConnectionError as exc:
            raise RuntimeError("gave up; also tried https://ann:pw-literal@p.example/f?token=tok-literal") from exc
""")


SECRETS = ("key-from-environment", "pw-literal", "tok-literal")


def run_with_plugin(write_project, tmp_path, kind: str, code: str, command: str, *, debug: bool):
    """`pipeline COMMAND` on a project whose one source, of type `kind`, is the local plugin `code` reading
    `${PRIVATE_KEY}` in its url; (the finished process, the log file's text)."""
    from pipeline.logs import DEBUG_ENV

    config = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                           f'[sources.p]\ntype = "{kind}"\nurl = "https://p.example/${{PRIVATE_KEY}}/feed.xml"\n'
                           '[sinks.feed]\ntype = "rss"\n', {f"local_plugins/{kind}.py": code})
    log_file = tmp_path / "pipeline.log"
    env = {key: value for key, value in os.environ.items() if key != DEBUG_ENV}
    env.update({"PRIVATE_KEY": "key-from-environment", **({DEBUG_ENV: "1"} if debug else {})})
    done = subprocess.run([sys.executable, "-m", "pipeline", command, "-c", str(config), "--log-file", str(log_file)],
                          capture_output=True, text=True, timeout=60, env=env)
    return done, log_file.read_text() if log_file.exists() else ""


def test_a_traceback_shown_on_request_is_masked_on_the_terminal_and_in_the_log_file(write_project, tmp_path):
    done, logged = run_with_plugin(write_project, tmp_path, "private", PRIVATE_SOURCE, "run", debug=True)
    assert done.returncode == 1, done.stderr
    for shown in (done.stderr, logged):
        assert "Traceback (most recent call last)" in shown and "ConnectionError: refused by" in shown, shown
        assert "RuntimeError: gave up; also tried https://ann:***@p.example/f?token=***" in shown, shown
        assert [word for word in SECRETS if word in shown] == []


FAILING_SOURCE = source_plugin("failing", """\
    def fetch(self, run):
        address = redact.expand(self.settings.url)
        raise ValueError(f"could not read {address} (also tried https://ann:pw-literal@p.example/f?token=tok-literal)")
""")


@pytest.mark.parametrize("debug", [True, False])
def test_a_failing_sources_traceback_is_shown_masked_only_when_asked(write_project, tmp_path, debug):
    """A plugin's source that raises is one line of the run's table; with PIPELINE_DEBUG its author also sees the
    traceback (their `fetch` in it), on the terminal and in the log file, credentials masked; without, neither."""
    done, logged = run_with_plugin(write_project, tmp_path, "failing", FAILING_SOURCE, "refresh", debug=debug)
    assert done.returncode == 3, done.stderr  # a source failed alone: the run went on
    for shown in (done.stdout + done.stderr, logged):  # the run's table on standard output
        assert "ValueError: could not read" in shown, shown
        assert ("Traceback (most recent call last)" in shown) is debug, shown
        assert ("in fetch" in shown) is debug, shown
        assert [word for word in SECRETS if word in shown] == []


THREADED_SOURCE = source_plugin("threaded", """\
    def fetch(self, run):
        address = redact.expand(self.settings.url)

        def poll():
            raise ConnectionError(f"lost {address} (and https://ann:pw-literal@p.example/f?token=tok-literal)")

        worker = threading.Thread(target=poll, name="poller")
        worker.start()
        worker.join()
        return []
""", imports="import threading\n\n")


def test_an_error_no_code_caught_in_a_plugins_thread_is_printed_masked(write_project, tmp_path):
    done, _ = run_with_plugin(write_project, tmp_path, "threaded", THREADED_SOURCE, "refresh", debug=False)
    assert done.returncode == 0, done.stderr
    assert "Exception in thread poller" in done.stderr and "ConnectionError: lost https://p.example/" in done.stderr
    assert [word for word in SECRETS if word in done.stderr] == []
