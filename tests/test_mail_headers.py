"""No value from a feed, the subscriber list or the config can add a header or a recipient, encoded words included.

Each message is read back with Python's own email parser, which is what would decode a smuggled header.
"""

from __future__ import annotations

import email
import json
from datetime import UTC, date, datetime
from email import policy

import pytest

from pipeline.mail.headers import HeaderInjection, check_headers, header_text
from pipeline.mail.message import Mailing, Recipient, build_message, message_bytes
from pipeline.runner import run

INJECTIONS = [
    "=?UTF-8?Q?Fay=0D=0ABcc:_evil@example.com?=",
    "=?utf-8?b?RmF5DQpCY2M6IGV2aWxAZXhhbXBsZS5jb20=?=",  # the same, base64
    "Fay\r\nBcc: evil@example.com",
    "Fay\nBcc: evil@example.com",
    "Fay\u2028Bcc: evil@example.com",
    "=?UTF-8?Q?=3D=3FUTF-8=3FQ=3FFay=3D0D=3D0ABcc:_evil@example.com=3F=3D?=",  # an encoded word inside one
    "=?x-unknown?Q?Fay=0D=0ABcc:_evil@example.com?=",
    "Fay =?utf-8?b?abcde?=",  # base64 that cannot be decoded: the email package raises HeaderParseError
]
SAFE_HEADERS = {"subject", "from", "to", "date", "message-id", "list-id", "x-newsletter-edition", "list-unsubscribe",
                "list-unsubscribe-post", "mime-version", "content-type", "reply-to"}


def parsed(msg) -> email.message.EmailMessage:
    return email.message_from_bytes(message_bytes(msg), policy=policy.default)


@pytest.mark.parametrize("value", INJECTIONS)
def test_header_text_leaves_no_line_break_and_nothing_to_decode(value):
    text = header_text(value)
    assert not any(c in text for c in "\r\n\u2028\x85") and "=?" not in text
    assert "Fay" in text or "Fay" not in value


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_name_title_or_list_id_cannot_add_a_header_or_recipient(value):
    mailing = Mailing(f"Issue 4 {value}", "news@network.example.org", f"Network {value}", "text", "<p>html</p>",
                      datetime(2016, 3, 1, tzinfo=UTC), edition=4, list_id=f"{value} <news.network.example.org>",
                      reply_to="editor@network.example.org",
                      unsubscribe_mailto="mailto:news@network.example.org?subject=unsubscribe")

    message = parsed(build_message(mailing, Recipient("fay@example.org", value,
                                                      "https://network.example.org/unsubscribe/t")))

    assert {name.lower() for name in message.keys()} <= SAFE_HEADERS
    assert "bcc" not in {name.lower() for name in message.keys()}
    assert [a.addr_spec for a in message["To"].addresses] == ["fay@example.org"]
    assert [a.addr_spec for a in message["From"].addresses] == ["news@network.example.org"]
    for name in ("Subject", "To", "From", "List-Id"):
        assert "\n" not in str(message[name]) and "\r" not in str(message[name])


def test_an_issue_has_one_message_id_per_list_and_recipient():
    def message_id(list_id: str, edition: int, to: str) -> str:
        mailing = Mailing("Issue", "news@network.example.org", "Network", "text", "<p>html</p>",
                          datetime(2016, 3, 1, tzinfo=UTC), edition=edition, list_id=list_id)
        return str(build_message(mailing, Recipient(to, ""))["Message-ID"])

    network, research = "Network <news.network.example.org>", "Research group <research.network.example.org>"
    assert message_id(network, 4, "fay@example.org") == message_id(network, 4, "fay@example.org")  # sent again
    assert message_id(network, 4, "fay@example.org") != message_id(research, 4, "fay@example.org")
    assert message_id(network, 4, "fay@example.org") != message_id(network, 5, "fay@example.org")
    assert message_id(network, 4, "fay@example.org") != message_id(network, 4, "gus@example.org")


def test_check_headers_refuses_a_message_with_a_smuggled_header():
    raw = b"Subject: hi\r\nTo: fay@example.org\r\nBcc: evil@example.com\r\n\r\nbody"

    with pytest.raises(HeaderInjection, match="unexpected header.*bcc"):
        check_headers(raw, {"subject": 1, "to": 1}, "fay@example.org")


def test_check_headers_refuses_a_second_recipient_in_to():
    raw = b"Subject: hi\r\nTo: fay@example.org, evil@example.com\r\n\r\nbody"

    with pytest.raises(HeaderInjection, match="2 addresses"):
        check_headers(raw, {"subject": 1, "to": 1}, "fay@example.org")


def test_an_address_outside_ascii_is_written_as_it_is_in_utf8_and_still_checked():
    mailing = Mailing("Issue 4 £", "news@network.example.org", "Network", "text", None,
                      datetime(2016, 3, 1, tzinfo=UTC))

    raw = message_bytes(build_message(mailing, Recipient("jörg@bücher.example", "Jörg")))

    assert "To: Jörg <jörg@bücher.example>\r\n".encode() in raw  # RFC 6532; never an encoded word in an address
    smuggled = "Subject: hi\r\nTo: jörg@bücher.example, evil@example.com\r\n\r\nbody".encode()
    with pytest.raises(HeaderInjection, match="2 addresses"):
        check_headers(smuggled, {"subject": 1, "to": 1}, "jörg@bücher.example")


def test_hostile_subscriber_names_feed_titles_and_config_go_through_a_whole_run(project_from, item_factory):
    from pipeline import hookimpl
    from pipeline.components import Source

    class Hostile:
        @hookimpl
        def register_sources(self, register):
            class Feed(Source):
                name = "hostile"

                def fetch(self, run):
                    return [item_factory(title=value, published=datetime(2016, 2, 10 + n, tzinfo=UTC),
                                         url=f"https://example.org/{n}") for n, value in enumerate(INJECTIONS)]

            register(Feed)

    readers = [f'reader{n}@example.org,"{value}"\n' for n, value in enumerate(INJECTIONS) if '"' not in value]
    rows = "".join(readers)
    project = project_from("""
        [pipeline]
        name = "Network =?UTF-8?Q?x=0D=0ABcc:_evil@example.com?="
        site_url = "https://network.example.org"
        [sources.hostile]
        type = "hostile"
        [sinks.newsletter]
        type = "email"
        subscribers = "subscribers.csv"
        from_email = "news@network.example.org"
        from_name = "=?UTF-8?Q?Editor=0D=0ABcc:_evil@example.com?="
        """, files={"subscribers.csv": "email,name\n" + rows}, plugins=[("hostile", Hostile())])

    report = run(project, as_of=date(2016, 3, 1))

    assert report.exit_code == 0, report.results
    files = sorted((project.root / "outbox" / "issue-1").glob("*.eml"))
    assert len(files) == len(readers)
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert {name.lower() for name in message.keys()} <= SAFE_HEADERS, path.name
        assert len(message["To"].addresses) == 1 and len(message["From"].addresses) == 1


def test_a_name_the_email_package_cannot_decode_costs_nobody_else_their_issue(fake, write_project):
    from tests.newsletter_network import POST, SUBSCRIBERS, everyone, project_toml, readers_csv, statuses
    from tests.test_exactly_once import run_in_process

    rows = readers_csv().replace("reader0@example.org,Reader 0", "reader0@example.org,=?utf-8?b?abcde?=")
    config = write_project(project_toml(fake.url), {"subscribers.csv": rows, "blog/post.md": POST})

    report = run_in_process(config)

    assert report.exit_code == 0, report.results
    assert fake.delivered() == everyone() and not fake.cancelled_batches()
    assert statuses(config) == {"sent": SUBSCRIBERS}


@pytest.mark.parametrize("name, phrase", [
    ("Leeds <Co-production> Network", '"Leeds <Co-production> Network"'),
    ('The "Recovery" Network, Leeds', '"The \\"Recovery\\" Network, Leeds"'),
    ("Co-production Network", "Co-production Network"),
])
def test_a_network_name_with_a_special_character_is_quoted_in_the_list_id(project_from, name, phrase):
    """RFC 2919: List-Id is a phrase, then the id in angle brackets. A network's name holding "<" or ">" (or a comma,
    a quote) went in as it was, so a mail client filtering on the list read the part of the name in brackets as the
    list's id. Such a name is now a quoted string (RFC 5322 3.2.4), its quotes and backslashes escaped."""
    toml = (f'[pipeline]\nname = {json.dumps(name)}\nsite_url = "https://network.example.org"\n'
            '[sinks.newsletter]\ntype = "email"\nfrom_email = "news@network.example.org"\n')
    (sink,) = project_from(toml).sinks
    assert sink.list_id() == f"{phrase} <newsletter.network.example.org>"
