"""Review h142: sending and subscribers, adversarially (faults, the subscriber's life cycle over real HTTP).

Each test is one problem found, and fails while the problem is there. Servers (uvicorn, SMTP, the SendGrid
stand-in) run on 127.0.0.1, started and stopped by the test; state files live in tmp_path.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.mail_fixtures import Inbox
from tests.newsletter_network import newsletter_toml
from tests.serve_fixtures import LiveServer

POST = "---\ntitle: \"{title}\"\ndate: {day}\n---\n\n{title}: what happened, and what comes next.\n"
SITE = '[pipeline]\nname = "Test Network"\nsite_url = "https://network.example.org"\nworkers = 1\n'


def _journal(config: Path, edition: int = 1) -> dict[str, str]:
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        return dict(db.execute("SELECT recipient, status FROM deliveries WHERE edition = ?", (edition,)))
    finally:
        db.close()


# -- leaving while an issue is being sent ------------------------------------------------------------------------

class _ActsMidSend(Inbox):
    """An SMTP inbox that, while taking the send's first message, has the other subscriber act (`act(address)`: press
    the one-click unsubscribe link of their own, or save another choice of themes), as a reader may at any moment."""

    def __init__(self, everyone: set[str]):
        super().__init__()
        self.everyone, self.act, self.acted = everyone, None, []

    async def handle_DATA(self, server, session, envelope):
        if not self.received:
            [other] = self.everyone - set(envelope.rcpt_tos)
            self.act(other)
            self.acted.append(other)
        return await super().handle_DATA(server, session, envelope)


def test_a_subscriber_who_unsubscribes_while_the_issue_is_being_sent_is_not_sent_it(
        write_project, smtp_server, monkeypatch):
    """Ann and Bob are active; issue 1 goes out by SMTP, one message at a time. While the server takes the first
    message, the other reader presses the one-click unsubscribe link of an earlier issue (RFC 8058), and the page
    answers "You have unsubscribed … You will not receive the newsletter any more"; their status is `unsubscribed`.
    The send had read them with the rest of its 5,000-recipient chunk before, and nothing looks again: their
    message goes out a moment later. On a list of a few thousand sent by SMTP that is many minutes during which an
    unsubscribe, or a bounce or complaint the provider reports, is not honoured. A recipient no longer active when
    their batch is handed over should be left out of it (and get no journal row)."""
    monkeypatch.setenv("TEST_SECRET_H142", "a-secret-long-enough-for-links")
    inbox = _ActsMidSend({"ann@example.org", "bob@example.org"})
    port = smtp_server(inbox)
    config = write_project(SITE + '[serve]\nsecret_env = "TEST_SECRET_H142"\n' + newsletter_toml(
        delivery=f'type = "smtp"\n    host = "127.0.0.1"\n    port = {port}\n    starttls = false'),
        {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"),
         "subscribers.csv": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"})
    assert main(["subscribers", "import", str(config.parent / "subscribers.csv"), "-c", str(config)]) == 0
    live = LiveServer(load_project(config)).start()
    try:
        def leave(address: str) -> None:
            store = Store(config.parent / "state" / "pipeline.sqlite")
            try:
                found = subs.find_subscriber(store, address)
            finally:
                store.close()
            token = live.app.state.web.links.tokens.make("unsubscribe", found.id)
            answer = httpx.post(f"{live.url}/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
            assert answer.status_code == 200 and "You have unsubscribed" in answer.text

        inbox.act = leave
        assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    finally:
        live.stop()
    [left] = inbox.acted
    assert live.status(left) == "unsubscribed"
    received = [address for message in inbox.received for address in message["to"]]
    assert left not in received, received
    assert left not in _journal(config)


# -- changing themes while an issue is being sent ----------------------------------------------------------------

TAXONOMY = """
[transforms.themes]
type = "themes"

[transforms.themes.taxonomy]
"research" = ["research*"]
"peer support" = ["peer support*"]
"""
THEMED = """
[serve]
secret_env = "TEST_SECRET_H142"
""" + TAXONOMY
RESEARCH = ("---\ntitle: \"New research on recovery\"\ndate: 2016-01-18\n---\n\nOur research team published "
            "research on recovery: the research asked what helps.\n")
PEER = ("---\ntitle: \"Peer support in Leeds\"\ndate: 2016-01-20\n---\n\nPeer support workers met; peer support "
        "groups start in March, peer support for all.\n")


def test_a_subscriber_who_changes_themes_while_the_issue_is_being_sent_gets_the_version_of_the_new_choice(
        write_project, smtp_server, monkeypatch):
    """Ann and Cy follow research; issue 1 has a research post and a peer support post, and goes out by SMTP. While
    the server takes the first message, the other saves "peer support" instead on their preferences page. The
    README promises: "Someone who changes their themes while a send runs gets the issue once, in the version of
    their new choice." The send had read them with their group's 5,000-recipient chunk, and hands them the research
    version all the same, minutes later on a long list: the version of the choice they have just replaced."""
    monkeypatch.setenv("TEST_SECRET_H142", "a-secret-long-enough-for-links")
    inbox = _ActsMidSend({"ann@example.org", "cy@example.org"})
    port = smtp_server(inbox)
    config = write_project(SITE + THEMED + newsletter_toml(
        delivery=f'type = "smtp"\n    host = "127.0.0.1"\n    port = {port}\n    starttls = false'),
        {"blog/research.md": RESEARCH, "blog/peer.md": PEER,
         "subscribers.csv": "email,name,themes\nann@example.org,Ann,research\ncy@example.org,Cy,research\n"})
    assert main(["subscribers", "import", str(config.parent / "subscribers.csv"), "-c", str(config)]) == 0
    live = LiveServer(load_project(config)).start()
    try:
        def change(address: str) -> None:
            store = Store(config.parent / "state" / "pipeline.sqlite")
            try:
                found = subs.find_subscriber(store, address)
            finally:
                store.close()
            token = live.app.state.web.links.tokens.make("preferences", found.id)
            answer = httpx.post(f"{live.url}/preferences/{token}", data={"action": "save", "theme": "peer support"},
                                timeout=10)
            assert answer.status_code == 200 and "Your choice is saved" in answer.text

        inbox.act = change
        assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    finally:
        live.stop()
    [moved] = inbox.acted
    theirs = [message["message"] for message in inbox.received if message["to"] == [moved]]
    assert len(theirs) == 1, [m["Subject"] for m in theirs]
    text = theirs[0].get_body(("plain",)).get_content()
    assert "Peer support in Leeds" in text and "New research on recovery" not in text


# -- RFC 8058 one-click for a site whose address is not ASCII -----------------------------------------------------

def test_a_site_whose_address_is_not_ascii_still_gives_each_issue_its_one_click_unsubscribe(write_project,
                                                                                              monkeypatch):
    """site_url = "https://bücher.de/schöne-neuigkeiten" (an internationalised domain, a path with an umlaut) is
    taken, and every link in the issue is built from it. But a header takes only ASCII, so the recipient's own https
    link is dropped from List-Unsubscribe without a word (`_safe_link`), and with it List-Unsubscribe-Post: Gmail
    and Yahoo, which require one-click unsubscribe of bulk senders, find only the mailto: link. The link in the
    header should be the same address in ASCII (the host in its IDNA form, the path %-escaped), as a browser
    sends it, and `pipeline serve` should unsubscribe the reader when it is posted to."""
    import email
    from email import policy

    monkeypatch.setenv("TEST_SECRET_H142", "a-secret-long-enough-for-links")
    config = write_project('[pipeline]\nname = "Test Network"\nsite_url = "https://bücher.de/schöne-neuigkeiten"\n'
                           'workers = 1\n[serve]\nsecret_env = "TEST_SECRET_H142"\n' + newsletter_toml(),
                           {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"),
                            "subscribers.csv": "email,name\nann@example.org,Ann\n"})
    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    [path] = (config.parent / "outbox" / "issue-1").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    links = [link.strip(" <>") for link in str(message["List-Unsubscribe"]).split(",")]
    [own] = [link for link in links if link.startswith("https://")] or [None]
    assert own is not None, message["List-Unsubscribe"]
    assert own.startswith("https://xn--bcher-kva.de/sch%C3%B6ne-neuigkeiten/unsubscribe/"), own
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    live = LiveServer(load_project(config)).start()
    try:  # as a mailbox provider posts it: to the host the link names
        answer = httpx.post(live.url + own.removeprefix("https://xn--bcher-kva.de"),
                            content=b"List-Unsubscribe=One-Click", timeout=10,
                            headers={"Host": "xn--bcher-kva.de", "Content-Type": "application/x-www-form-urlencoded"})
    finally:
        live.stop()
    assert answer.status_code == 200 and "You have unsubscribed" in answer.text
    assert live.status("ann@example.org") == "unsubscribed"


# -- SendGrid over TLS that cannot be verified -------------------------------------------------------------------

def _untrusted_tls_server(folder: Path):
    """An HTTPS server on 127.0.0.1 whose certificate nobody trusts (self-signed, made here): a client that checks
    certificates ends every connection in the handshake, before a byte of its request is sent. (server, url)"""
    import datetime as dt
    import ipaddress
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_pem_files(folder, cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))

    class Accepting(BaseHTTPRequestHandler):
        requests: list[str] = []

        def do_POST(self):  # noqa: N802 (never reached by a client that checks the certificate)
            Accepting.requests.append(self.path)
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # the handshakes the client broke off
            pass

    server = Quiet(("127.0.0.1", 0), Accepting)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_address[1]}", Accepting.requests


def _pem_files(folder: Path, cert: bytes, key: bytes) -> tuple[Path, Path]:
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    return folder / "cert.pem", folder / "key.pem"


def test_a_sendgrid_send_refused_in_the_tls_handshake_is_failed_and_retried_not_unknown(write_project, tmp_path,
                                                                                           monkeypatch):
    """With `scheduled = false` (at most once), a request whose outcome is in doubt is `unknown`, never sent again
    unless the organiser asks. A certificate that cannot be verified (a clock far off, a proxy in between, a CA
    bundle missing) ends the connection in the TLS handshake, before any byte of the request went out: nothing can
    have been accepted. But the failure is taken as a request in doubt, so every reader is recorded `unknown`, the
    run says they "may or may not have the issue", and they are never retried: `--resend unknown` warns they may
    get two copies. Refused in the handshake, they should be `failed`, sent by the next run."""
    server, url, requests = _untrusted_tls_server(tmp_path)
    try:
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
        config = write_project(SITE + newsletter_toml(delivery=f'type = "sendgrid"\n    host = "{url}"\n'
                                                               f'    scheduled = false\n    max_retries = 0'),
                               {"blog/2016-01-20.md": POST.format(title="A day in Leeds", day="2016-01-20"),
                                "subscribers.csv": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"})
        assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert not requests  # the handshake never completed: SendGrid (here, anyone) got nothing
    assert _journal(config) == {"ann@example.org": "failed", "bob@example.org": "failed"}


# -- the Event Webhook refused in silence ------------------------------------------------------------------------

def test_webhook_requests_refused_for_their_signature_are_said_in_the_log(tmp_path, monkeypatch, caplog):
    """SendGrid makes a new verification key each time signed event posts are turned on again (or another account's
    key is copied): the webhook then refuses every request, 403, bounces and spam reports included, and `serve`
    writes no access log and logs nothing of it. The organiser sees nothing wrong, and the list keeps mailing people
    who reported it as spam. A refusal for the signature (or for a signing time off the server's clock) should be
    said in one line naming the variable to check: once, not for every post, until a request verifies again."""
    import base64
    import json
    import logging
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tests.serve_fixtures import serve_project

    def signed(key, body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}

    configured, sendgrids = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    public = configured.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv("TEST_SENDGRID_WEBHOOK_KEY", base64.b64encode(public).decode("ascii"))
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    body = json.dumps([{"email": "spam@example.org", "event": "spamreport", "timestamp": int(time.time())}]).encode()
    live = LiveServer(serve_project(tmp_path / "hook")).start()
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.web"):
            answers = [httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(sendgrids, body),
                                  timeout=10).status_code for _ in range(3)]
    finally:
        live.stop()
    assert answers == [403, 403, 403]
    said = [r.getMessage() for r in caplog.records if "TEST_SENDGRID_WEBHOOK_KEY" in r.getMessage()]
    assert len(said) == 1, said


def test_refusals_that_go_on_are_said_again_within_the_hour_with_how_many(tmp_path, monkeypatch, caplog):
    """Said once until a request verifies, a refusal could be said early by anyone's forged post, and a key SendGrid
    changed later would then go unmentioned: while refusals go on, the line comes again at most once an hour, with
    how many were refused since."""
    import base64
    import json
    import logging
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from pipeline.web import webhooks
    from tests.serve_fixtures import serve_project

    clock = [1000.0]
    monkeypatch.setattr(webhooks, "monotonic", lambda: clock[0], raising=False)
    configured, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    public = configured.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv("TEST_SENDGRID_WEBHOOK_KEY", base64.b64encode(public).decode("ascii"))
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    body = json.dumps([{"email": "spam@example.org", "event": "spamreport", "timestamp": int(time.time())}]).encode()
    stamp = str(int(time.time()))
    headers = {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(
                   other.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode("ascii"),
               "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}
    live = LiveServer(serve_project(tmp_path / "hook")).start()
    answers = []
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.web"):
            for at in (1000.0, 1010.0, 2000.0, 4600.0, 4700.0, 8300.0):
                clock[0] = at
                answers.append(httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=headers,
                                          timeout=10).status_code)
    finally:
        live.stop()
    said = [r.getMessage() for r in caplog.records if "TEST_SENDGRID_WEBHOOK_KEY" in r.getMessage()]
    assert answers == [403] * 6
    assert len(said) == 3, said
    assert said[0].endswith("changes the list")
    assert said[1].endswith("(3 such requests in the last 60 minutes)"), said[1]  # at 4600: 1010, 2000 and it
    assert said[2].endswith("(2 such requests in the last 62 minutes)"), said[2]  # at 8300: 4700 and it


def test_a_signed_batch_with_an_address_that_is_no_text_or_json_nested_too_deep_is_answered_not_a_500(
        tmp_path, monkeypatch):
    """Only SendGrid can sign a batch, and it sends neither; but an event whose address holds a lone surrogate (the
    JSON escape "\\ud800") ended the request with a 500 when the store met it, losing the batch's other events, and
    JSON nested deeper than the parser goes did too. The one is skipped as no address, the other answered 400."""
    import base64
    import sqlite3
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tests.serve_fixtures import serve_project

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv("TEST_SENDGRID_WEBHOOK_KEY", base64.b64encode(public).decode("ascii"))
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)

    def post(body: bytes) -> httpx.Response:
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode("ascii")
        return httpx.post(live.url + "/webhooks/sendgrid", content=body, timeout=10,
                          headers={"X-Twilio-Email-Event-Webhook-Signature": signature,
                                   "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                                   "Content-Type": "application/json"})

    now = int(time.time())
    batch = (f'[{{"email": "a\\ud800b@example.org", "event": "spamreport", "timestamp": {now}}},'
             f' {{"email": "real@example.org", "event": "spamreport", "timestamp": {now}}}]').encode()
    live = LiveServer(serve_project(tmp_path / "hook")).start()
    try:
        answers = [post(batch), post(b"[" * 100_000 + b"]" * 100_000)]
    finally:
        live.stop()
    assert [(a.status_code, a.text) for a in answers] == [(200, "1 address suppressed\n"),
                                                          (400, "the body is not JSON\n")]
    db = sqlite3.connect(tmp_path / "hook" / "state" / "pipeline.sqlite")
    try:
        assert db.execute("SELECT email, status FROM subscribers").fetchall() == [("real@example.org", "complained")]
    finally:
        db.close()
