"""Review h114: a feed's credential, attacked. A partner's feed that echoes the token it was sent in its items'
links and text (as private feeds do), a credential named in ways the masking did not know, a user name that is
the whole credential, and hostile text that made the masking's regular expressions take quadratic time."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.redact import expand, literal_credentials, redact_text
from tests.test_source_credentials import ALERTS, ENCODED, FILES, SECRET, Partner, everything_written, refresh

ECHO_RSS = ("<rss version='2.0'><channel><title>P</title><link>{base}/?token={token}</link><description>d"
            "</description><item><title>News</title><link>{base}/item/1?token={token}</link>"
            "<description>&lt;p&gt;Read &lt;a href=\"{base}/files/1.pdf?token={token}\"&gt;the report&lt;/a&gt;"
            "&lt;/p&gt;</description><enclosure url=\"{base}/img/1.jpg?token={token}\" type=\"image/jpeg\"/>"
            "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")


class Echo:
    """A private feed on 127.0.0.1 that, as many do, repeats the token it was sent in its items' links, body and
    image (403 without it); `/feed.xml` first redirects to `/moved.xml`, the query repeated."""

    def __init__(self, token: str):
        self.token = token
        echo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                given = parse_qs(parts.query).get("token", [""])[0]
                if parts.path == "/feed.xml":
                    self.send_response(302)
                    self.send_header("Location", f"/moved.xml?{parts.query}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = given == echo.token
                body = ECHO_RSS.format(base=f"http://127.0.0.1:{echo.port}", token=parts.query.partition("=")[2]
                                       ).encode() if ok else b""
                self.send_response(200 if ok else 403)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo():
    made: list[Echo] = []

    def start(token: str) -> Echo:
        made.append(Echo(token))
        return made[-1]

    yield start
    for server in made:
        server.close()


SITE = '[sinks.feed]\ntype = "rss"\n'


def test_a_feed_repeating_its_token_in_its_items_stores_publishes_and_mails_none_of_it(
        write_project, echo, monkeypatch, capsys):
    server = echo(SECRET)
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{SITE}{ALERTS}', FILES)

    assert refresh(config, "-vv") == 0
    from pipeline.config import load_project
    from pipeline.runner import state_path
    from pipeline.state import Store

    store = Store(state_path(load_project(config)))
    try:
        [item] = store.get_items(store.ids_of("partner"))
    finally:
        store.close()
    assert item.title == "News" and item.url.startswith(f"http://127.0.0.1:{server.port}/item/1?token=")
    written = everything_written(config, capsys)
    assert "the report" in written  # the body was kept
    assert SECRET not in written and ENCODED not in written


def test_a_credential_written_out_in_a_feeds_address_is_not_carried_into_its_items(write_project, echo, capsys):
    server = echo("tok-literal")
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=tok-literal"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{SITE}{ALERTS}', FILES)

    assert refresh(config) == 0
    from pipeline.config import load_project
    from pipeline.runner import state_path
    from pipeline.state import Store

    store = Store(state_path(load_project(config)))
    try:
        [item] = store.get_items(store.ids_of("partner"))
    finally:
        store.close()
    assert "tok-literal" not in repr(item.to_dict())
    # (the state database keeps the address as written, as pipeline.toml does: README, "A feed's credential")
    published = [path.read_text() for folder in ("out", "outbox") if (config.parent / folder).exists()
                 for path in (config.parent / folder).rglob("*") if path.is_file()]
    assert published and not [text for text in published if "tok-literal" in text]


@pytest.mark.parametrize(("text", "shown"), [
    ("https://h.example/f?a=1;token=abc", "https://h.example/f?a=1;token=***"),  # ; between parameters
    ("<a href=\"https://h.example/f?page=2&amp;token=abc\">", "<a href=\"https://h.example/f?page=2&amp;token=***\">"),
    ("https://h.example/cb#access_token=abc&token_type=bearer", "https://h.example/cb#access_token=***&token_type=bearer"),
    ("https://h.example/f?accessToken=abc&authToken=def", "https://h.example/f?accessToken=***&authToken=***"),
    ("https://h.example/f?X-Amz-Signature=abc&X-Amz-Date=20160101", "https://h.example/f?X-Amz-Signature=***&X-Amz-Date=20160101"),
    ("https://h.example/f?private_token=abc.", "https://h.example/f?private_token=***."),
])
def test_a_credential_named_otherwise_is_masked_too(text, shown):
    assert redact_text(text) == shown


@pytest.mark.parametrize("text", [
    "https://h.example/f?page=2&keys=3&monkey=4&hotkey=5&passage=6&bypass=7",
    "a page?page=2, and a key in prose: key = 3",
    "write to fay:x@network.example.org, or https://h.example/about",
    "https://h.example/f?sort=date;dir=up",
])
def test_what_is_no_credential_is_shown_as_it_is(text):
    assert redact_text(text) == text


def test_a_token_given_as_the_user_name_alone_is_masked_wherever_it_is_repeated():
    expanded = expand("https://${API_TOKEN}@h.example/feed.xml", {"API_TOKEN": "sk-live-4f9a2c"})
    assert expanded == "https://sk-live-4f9a2c@h.example/feed.xml"
    assert "sk-live-4f9a2c" not in redact_text(f"redirected from {expanded}")
    # a user name before a password is no secret: masking it everywhere would mislead
    expand("https://${READER}:${PASS}@h.example/feed.xml", {"READER": "reader-name", "PASS": "pw-4f9a2c"})
    assert redact_text("reader-name pw-4f9a2c") == "reader-name ***"


def test_literal_credentials_names_those_named_otherwise():
    assert literal_credentials("https://h.example/f?a=1;token=abc&accessToken=d") == ["token", "accessToken"]


HOSTILE = r"""
import sys
from pipeline.redact import redact_text
n = 300_000
for text in ("?a=" + "." * n + "x", "@ :// " + "a" * n + "!", "https://u:" + "a" * n + " @", "&" + "a" * n,
             "?token=" + ")" * n + "x" + "=" * n, "x://" * (n // 4) + "@", "@ https://" + "a" * n,
             "@://" + "1a" * n, "?t=" + ";a" * n, "#t" + ";a=" * n):
    redact_text(text)
print("done")
"""


def test_masking_a_long_hostile_message_takes_linear_time():
    """A server's message of megabytes is masked as every log line is: a regular expression that backtracks on
    it would stall the run. A guard against a hang, not a benchmark: linear work takes well under a second
    here, quadratic work hours."""
    done = subprocess.run([sys.executable, "-c", HOSTILE], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent)
    assert done.stdout.strip() == "done", done.stderr


def test_what_a_feeds_items_are_masked_of_is_what_its_address_sends_as_a_credential(monkeypatch):
    from pipeline import redact
    from pipeline.redact import credentials_in

    monkeypatch.setattr(redact, "_remembered", set())  # (it remembers none of them)

    environ = {"LANGUAGE": "News", "T": "tok&12345", "KEY": "k3y-in-the-path", "U": "reader", "P": "pw-4f9a2c"}
    # a short value that is no credential (its parameter's name does not say so) is the feed's words too: kept
    assert credentials_in("https://h.example/f?lang=${LANGUAGE}&token=${T}", environ) == [
        "tok&amp;12345", "tok%2612345", "tok&12345"]
    assert "k3y-in-the-path" in credentials_in("https://h.example/${KEY}/rss.xml", environ)
    assert credentials_in("https://${U}:${P}@h.example/f", environ) == ["pw-4f9a2c"]
    assert credentials_in("https://${T}@h.example/f", environ)[-1] == "tok&12345"  # a token as the user name
    assert credentials_in("https://reader:pw-literal@h.example/f?page=20160101&sig=s1g-literal", environ) == [
        "s1g-literal", "pw-literal"]
    assert redact._remembered == set()


def test_a_token_written_out_as_the_user_name_alone_is_masked_and_warned_about():
    assert redact_text("https://sk_live_4f9a2c@h.example/f.xml: HTTP 500") == "https://***@h.example/f.xml: HTTP 500"
    assert redact_text("GET 'https://${TOKEN}@h.example/f'") == "GET 'https://${TOKEN}@h.example/f'"
    assert literal_credentials("https://sk_live_4f9a2c@h.example/feed.xml") == ["the user name"]
    assert literal_credentials("https://${TOKEN}@h.example/feed.xml") == []


def test_httpxs_own_log_line_of_each_request_does_not_carry_the_token(write_project, monkeypatch, caplog):
    """httpx logs every request's address at INFO to its own logger: a program that shows the root logger's lines
    (a plugin's, an embedding application's `logging.basicConfig`) must not see the token in them."""
    import logging

    server = Partner()
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{ALERTS}', FILES)
    try:
        with caplog.at_level(logging.DEBUG):
            assert refresh(config) == 0
    finally:
        server.close()
    assert "HTTP Request: GET" in caplog.text
    assert SECRET not in caplog.text and ENCODED not in caplog.text


def test_a_rotated_token_keeps_the_ids_of_the_items_whose_links_repeat_it(write_project, echo, monkeypatch):
    """An entry's id is its guid or link: one holding the token would make every item new when the token changes,
    and the next issue would send them all again."""
    server = echo("tok-one-4f9a2c")
    monkeypatch.setenv("PARTNER_TOKEN", "tok-one-4f9a2c")
    url = f"http://127.0.0.1:{server.port}/feed.xml?token=${{PARTNER_TOKEN}}"
    config = write_project(f'[sources.partner]\ntype = "feed"\nurl = "{url}"\n{SITE}', FILES)
    assert refresh(config) == 0
    server.token = "tok-two-7b1e0d"
    monkeypatch.setenv("PARTNER_TOKEN", "tok-two-7b1e0d")
    assert refresh(config) == 0

    from pipeline.config import load_project
    from pipeline.runner import state_path
    from pipeline.state import Store

    store = Store(state_path(load_project(config)))
    try:
        assert [item.title for item in store.get_items(store.ids_of("partner"))] == ["News"]
    finally:
        store.close()


def test_a_token_repeated_with_its_percent_escapes_in_lower_case_is_masked_too():
    from pipeline.redact import credentials_in

    expand("https://h.example/f?t=${T}", {"T": "a/b+c@d-4f9a2c"})
    assert redact_text("moved to https://h.example/g?t=a%2fb%2bc%40d-4f9a2c") == "moved to https://h.example/g?t=***"
    assert "a%2fb%2bc%40d-4f9a2c" in credentials_in("https://h.example/f?t=${T}", {"T": "a/b+c@d-4f9a2c"})
