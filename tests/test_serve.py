"""`pipeline serve` over real HTTP: the app under uvicorn on 127.0.0.1, driven with httpx.

One server for the module; each test uses its own addresses, and its own client address (an
X-Forwarded-For from the trusted proxy, 127.0.0.1), so the rate limits of one test never touch another.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipeline.config import load_project
from pipeline.errors import PipelineError
from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.mail_fixtures import Inbox
from tests.serve_fixtures import SERVE_TOML, LiveServer, ServeProcess, serve_project, serve_project_with_plugin

CLIENTS = (f"198.51.100.{n}" for n in itertools.count(1))  # documentation addresses: never contacted
WEBHOOK_ENV = "TEST_SENDGRID_WEBHOOK_KEY"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TEST_SERVE_SECRET", raising=False)
        patch.delenv(WEBHOOK_ENV, raising=False)
        server = LiveServer(serve_project(tmp_path_factory.mktemp("serve"))).start()
        yield server
        server.stop()


@pytest.fixture
def client(live) -> Iterator[httpx.Client]:
    """A browser-like client with an address of its own, as the proxy reports it."""
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10) as http:
        yield http


@pytest.fixture
def store(live) -> Iterator[Store]:
    """A second connection to the same state file, as the CLI or a run would have."""
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    yield store
    store.close()


def h1(response: httpx.Response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.text).group(1)


def form_token(response: httpx.Response) -> str:
    return re.search(r'name="form" value="([^"]+)"', response.text).group(1)


def ask(http: httpx.Client, address: str, **fields) -> httpx.Response:
    """Fill in and send the subscribe form, as a browser would."""
    page = http.get("/subscribe")
    assert page.status_code == 200
    return http.post("/subscribe", data={"form": form_token(page), "email": address, "name": "", **fields})


def link_in(message, path: str) -> str:
    url = re.search(rf"https://network\.example\.org(/{path}/\S+)", message.get_content()).group(1)
    return url


def test_subscribe_confirm_choose_and_leave(live, client, store):
    page = client.get("/subscribe")
    assert h1(page) == "Subscribe to the newsletter"
    for theme in ("research", "peer support", "Open Dialogue"):
        assert f'value="{theme}"' in page.text
    sent = client.post("/subscribe", data={"form": form_token(page), "email": "Ann@Example.org", "name": "Ann",
                                           "theme": ["research", "not a theme"], "website": ""})
    assert sent.status_code == 200 and h1(sent) == "Check your inbox"
    assert live.status("ann@example.org") == "pending"

    message = live.wait_for_message("ann@example.org")
    assert message["Subject"] == "Confirm your subscription to Test Network"
    assert "Ann" not in message.get_content()  # nothing the form's sender typed reaches the inbox
    confirm = link_in(message, "confirm")
    page = client.get(confirm)
    assert page.status_code == 200 and "Confirm my subscription" in page.text
    assert live.status("ann@example.org") == "pending"  # a mail scanner opening the link changes nothing
    done = client.post(confirm)
    assert h1(done) == "You are subscribed" and live.status("ann@example.org") == "active"
    ann = subs.find_subscriber(store, "ann@example.org")
    assert ann.name == "Ann" and ann.themes == frozenset({"research"})

    preferences = re.search(r'href="(/preferences/[^"]+)"', done.text).group(1)
    saved = client.post(preferences, data={"action": "save", "theme": ["peer support", "Open Dialogue"]})
    assert saved.status_code == 200 and "Your choice is saved" in saved.text
    assert subs.get_subscriber(store, ann.id).themes == frozenset({"peer support", "Open Dialogue"})

    one_click = httpx.post(live.url + "/unsubscribe/" + _token(live, "unsubscribe", ann.id),
                           content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200 and "set-cookie" not in one_click.headers
    assert "location" not in one_click.headers and live.status("ann@example.org") == "unsubscribed"
    record = [(e.status, e.how) for e in subs.history(store, ann.id)]
    assert record == [("pending", "form"), ("active", "confirmation"), ("active", "preferences page"),
                      ("unsubscribed", "one-click unsubscribe")]


def test_one_click_takes_multipart_and_the_page_button_but_nothing_else(live, client, store):
    ann = subs.add(store, "multi@example.org", "", [], how="cli", at=datetime.now(UTC))
    url = "/unsubscribe/" + _token(live, "unsubscribe", ann.id)
    assert client.post(url).status_code == 400  # no List-Unsubscribe=One-Click: nothing happens
    assert client.post(url, data={"List-Unsubscribe": "Yes"}).status_code == 400
    assert live.status("multi@example.org") == "active"
    multipart = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200 and live.status("multi@example.org") == "unsubscribed"

    bob = subs.add(store, "button@example.org", "", [], how="cli", at=datetime.now(UTC))
    url = "/unsubscribe/" + _token(live, "unsubscribe", bob.id)
    page = client.get(url)
    assert h1(page) == "Unsubscribe" and live.status("button@example.org") == "active"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page.text))
    assert client.post(url, data=fields).status_code == 200
    assert subs.history(store, bob.id)[-1].how == "unsubscribe page"
    assert h1(client.get(url)) == "You are not subscribed"


def test_get_and_head_never_change_anything(live, client, store):
    now = datetime.now(UTC)
    pending = subs.request_subscription(store, "get-pending@example.org", "", [], how="form", at=now).subscriber
    active = subs.add(store, "get-active@example.org", "", [], how="cli", at=now)
    links = [f"/{purpose}/{_token(live, purpose, who.id)}" for who in (pending, active)
             for purpose in ("confirm", "unsubscribe", "preferences")]
    before = live.snapshot()
    for url in ["/subscribe", *links]:
        assert client.get(url).status_code == 200, url
        assert client.head(url).status_code == 200, url
    assert live.snapshot() == before


def test_forged_or_altered_tokens_get_400_and_change_nothing(live, client, store):
    active = subs.add(store, "forged@example.org", "", [], how="cli", at=datetime.now(UTC))
    good = _token(live, "unsubscribe", active.id)
    payload, signature = good.split(".", 1)
    every = ("unsubscribe", "preferences", "confirm")
    forged = {payload + "." + signature[:4] + ("A" if signature[4] != "A" else "B") + signature[5:]: every,
              f"{active.id + 1}.{signature}": every, "x": every, "": every[:1],
              f"{payload}.{signature[:-1]}%C3%A9": every,  # not ASCII once decoded
              _token(live, "confirm", active.id): ("unsubscribe", "preferences"),  # valid, for another page
              good: ("confirm",)}
    before = live.snapshot()
    for token, paths in forged.items():
        for path in paths:
            assert client.get(f"/{path}/{token}").status_code == (404 if not token else 400)
            data = {"List-Unsubscribe": "One-Click", "action": "leave"}
            assert client.post(f"/{path}/{token}", data=data).status_code == (404 if not token else 400)
    assert live.snapshot() == before and live.status("forged@example.org") == "active"


def test_a_genuine_link_naming_nobody_says_it_is_not_valid_and_changes_nothing(live, client, store):
    # A link mailed by another database (the list moved, a backup put back) or to a request forgotten since: its
    # signature is ours, but no one here has its id. The page does not say "unsubscribed", nor "you are not
    # subscribed": its clicker may well be, under the link of the latest issue.
    subs.add(store, "stays@example.org", "", [], how="cli", at=datetime.now(UTC))
    nobody = 2**53 - 1  # the last id `subscribers._new_id` can draw, stored by no one here
    assert subs.get_subscriber(store, nobody) is None
    before = live.snapshot()
    for purpose, data in (("unsubscribe", {"List-Unsubscribe": "One-Click"}), ("preferences", {"action": "leave"})):
        url = f"/{purpose}/{_token(live, purpose, nobody)}"
        for response in (client.get(url), client.post(url, data=data)):
            assert response.status_code == 404 and h1(response) == "This link is not valid", url
            assert "names no one on the Test Network list" in response.text and "latest issue" in response.text
    assert live.snapshot() == before and live.status("stays@example.org") == "active"
    left = subs.add(store, "left-before@example.org", "", [], how="cli", at=datetime.now(UTC))
    assert subs.unsubscribe(store, left.id, how="cli", at=datetime.now(UTC))
    for purpose in ("unsubscribe", "preferences"):  # one who is stored but left is told so, as before
        page = client.get(f"/{purpose}/{_token(live, purpose, left.id)}")
        assert (page.status_code, h1(page)) == (200, "You are not subscribed")


def test_the_form_needs_its_token_its_cookie_and_our_origin(live, client):
    token = form_token(client.get("/subscribe"))
    # no cookie (another browser), a token from someone else's page, another site's origin: refused
    stranger = httpx.post(live.url + "/subscribe", data={"form": token, "email": "csrf1@example.org"},
                          headers={"X-Forwarded-For": next(CLIENTS)})
    other_page = httpx.get(live.url + "/subscribe", headers={"X-Forwarded-For": next(CLIENTS)})
    swapped = client.post("/subscribe", data={"form": form_token(other_page), "email": "csrf2@example.org"})
    elsewhere = client.post("/subscribe", data={"form": token, "email": "csrf3@example.org"},
                            headers={"Origin": "https://evil.example.com"})
    odd_cookie = httpx.post(live.url + "/subscribe", data={"form": token, "email": "csrf5@example.org"},
                            headers={"X-Forwarded-For": next(CLIENTS),
                                     "Cookie": "pipeline-form=\u00e9".encode("latin-1")})
    for response in (stranger, swapped, elsewhere, odd_cookie):
        assert response.status_code == 403 and "sent from another site" in response.text
    assert [live.status(f"csrf{n}@example.org") for n in (1, 2, 3, 5)] == [None, None, None, None]
    accepted = client.post("/subscribe", data={"form": token, "email": "csrf4@example.org"},
                           headers={"Origin": "https://network.example.org"})
    assert accepted.status_code == 200 and live.status("csrf4@example.org") == "pending"


def test_a_bot_that_fills_the_hidden_field_is_told_sent_and_ignored(live, client):
    response = ask(client, "bot@example.org", website="https://spam.example.com")
    assert response.status_code == 200 and h1(response) == "Check your inbox"
    live.settled()  # whatever the post set going is done
    assert live.status("bot@example.org") is None and live.messages_to("bot@example.org") == []


def test_an_address_already_active_gets_the_same_page_and_no_mail(live, client, store):
    subs.add(store, "member@example.org", "Member", [], how="cli", at=datetime.now(UTC))
    new = ask(client, "stranger@example.org")
    again = ask(client, "member@example.org")
    assert (again.status_code, again.text) == (new.status_code, new.text)
    live.settled()  # every confirmation asked for is out
    assert len(live.messages_to("stranger@example.org")) == 1
    assert live.messages_to("member@example.org") == []
    assert subs.find_subscriber(store, "member@example.org").name == "Member"


def test_a_strangers_form_changes_nothing_about_an_address_until_its_owner_confirms(live, client, store):
    stranger = httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10)
    now = datetime.now(UTC)
    subs.add(store, "kept-active@example.org", "Kim", ["research"], how="cli", at=now)
    left = subs.add(store, "kept-left@example.org", "Lee", ["peer support"], how="cli", at=now)
    subs.unsubscribe(store, left.id, how="unsubscribe page", at=now)
    mallory = {"name": "Mallory", "theme": ["Open Dialogue"]}

    assert ask(client, "kept-pending@example.org", name="Pat", theme=["research"]).status_code == 200
    owners_link = link_in(live.wait_for_message("kept-pending@example.org"), "confirm")
    before = {row[1]: row for row in live.snapshot()[0]}
    pages = [ask(stranger, address, **mallory)
             for address in ("kept-pending@example.org", "kept-left@example.org", "kept-active@example.org")]
    assert {(page.status_code, h1(page)) for page in pages} == {(200, "Check your inbox")}  # the same, whoever
    after = {row[1]: row for row in live.snapshot()[0]}
    for address in ("kept-pending@example.org", "kept-left@example.org"):
        # name and themes as they were; only the status and the request's time, for the confirmation
        assert after[address][:3] + after[address][4:5] == before[address][:3] + before[address][4:5]
    assert after["kept-active@example.org"] == before["kept-active@example.org"]
    assert live.status("kept-left@example.org") == "pending"
    strangers_link = link_in(live.wait_for_message("kept-pending@example.org", 2), "confirm")

    assert h1(client.post(owners_link)) == "You are subscribed"  # what the owner asked for, not the stranger
    pat = subs.find_subscriber(store, "kept-pending@example.org")
    assert (pat.status, pat.name, pat.themes) == ("active", "Pat", frozenset({"research"}))
    client.post(strangers_link)  # the stranger's request, mailed to the owner, ended with the confirmation
    pat = subs.find_subscriber(store, "kept-pending@example.org")
    assert (pat.status, pat.name, pat.themes) == ("active", "Pat", frozenset({"research"}))
    lee = subs.find_subscriber(store, "kept-left@example.org")
    assert (lee.name, lee.themes) == ("", frozenset())  # what Lee gave went when Lee left; nothing the stranger typed
    kim = subs.find_subscriber(store, "kept-active@example.org")
    assert (kim.status, kim.name, kim.themes) == ("active", "Kim", frozenset({"research"}))
    stranger.close()


def test_the_confirm_page_shows_what_its_request_asked_for_as_text(live, client):
    """Anyone may fill in the form for an address: the page its owner opens says which name and themes the button
    would take on (each request its own), escaped, so a stranger's request is told apart before it is confirmed."""
    stranger = httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10)
    assert ask(client, "shown@example.org", name="Pat", theme=["research"]).status_code == 200
    owners = client.get(link_in(live.wait_for_message("shown@example.org"), "confirm"))
    assert ask(stranger, "shown@example.org", name="<b>Mallory</b>").status_code == 200
    strangers = client.get(link_in(live.wait_for_message("shown@example.org", 2), "confirm"))
    stranger.close()
    asked = re.compile(r'<dl class="asked">(.*?)</dl>', re.S)
    assert re.sub(r"\s+", " ", asked.search(owners.text).group(1)).strip() == (
        "<dt>Your name in each issue</dt><dd>Pat</dd> <dt>Themes</dt><dd>research</dd>")
    assert re.sub(r"\s+", " ", asked.search(strangers.text).group(1)).strip() == (
        "<dt>Your name in each issue</dt><dd>&lt;b&gt;Mallory&lt;/b&gt;</dd> <dt>Themes</dt><dd>every theme</dd>")
    assert live.status("shown@example.org") == "pending"


def test_a_link_mailed_before_requests_were_kept_apart_confirms_only_while_the_address_has_not_left(
        live, client, store):
    """A confirm link mailed before the upgrade names no request. It still confirms its address (a stranger's
    later post notwithstanding), but not once the address left after it was mailed: then a stranger's post
    makes it pending again, and the owner's old link would have brought back someone who had left."""
    stranger = httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10)
    old_links = {}
    for address in ("legacy-stays@example.org", "legacy-left@example.org"):
        asked = subs.request_subscription(store, address, "", [], how="form", at=datetime.now(UTC)).subscriber
        with store.transaction() as db:  # as a database from before step 7 holds it: no request kept apart
            db.execute("DELETE FROM subscription_requests WHERE subscriber = ?", (asked.id,))
        old_links[address] = "/confirm/" + _token(live, "confirm", asked.id)  # a bare id, as mailed then
    time.sleep(1.1)  # the link's time is in whole seconds
    subs.remove(store, "legacy-left@example.org", how="cli", at=datetime.now(UTC))
    for address in old_links:
        assert ask(stranger, address).status_code == 200
        assert live.status(address) == "pending"

    assert h1(client.post(old_links["legacy-stays@example.org"])) == "You are subscribed"
    assert live.status("legacy-stays@example.org") == "active"
    assert client.post(old_links["legacy-left@example.org"]).status_code == 410
    assert live.status("legacy-left@example.org") == "pending"
    stranger.close()


def test_a_confirm_link_that_can_no_longer_confirm_says_so_when_opened_and_changes_nothing(live, client, store):
    """The address is pending again, on someone else's request, but the link opened is for a request that ended
    (the address left since), or mailed before requests were kept apart to an address that left since: opening it
    gives the page pressing its button would give (410), not the button, and changes nothing."""
    stranger = httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=10)
    assert ask(client, "ended@example.org", name="Eda", theme=["research"]).status_code == 200
    ended = link_in(live.wait_for_message("ended@example.org"), "confirm")
    assert "Confirm my subscription" in client.get(ended).text  # while it can confirm
    legacy = subs.request_subscription(store, "ended-legacy@example.org", "", [], how="form",
                                       at=datetime.now(UTC)).subscriber
    with store.transaction() as db:  # as a database from before step 7 holds it: no request kept apart
        db.execute("DELETE FROM subscription_requests WHERE subscriber = ?", (legacy.id,))
    bare = "/confirm/" + _token(live, "confirm", legacy.id)
    time.sleep(1.1)  # the bare link's time is in whole seconds
    for address in ("ended@example.org", "ended-legacy@example.org"):
        subs.remove(store, address, how="cli", at=datetime.now(UTC))
        assert ask(stranger, address, name="Mallory").status_code == 200
        assert live.status(address) == "pending"
    current = link_in(live.wait_for_message("ended@example.org", 2), "confirm")

    before = live.snapshot()
    for link in (ended, bare):
        opened = client.get(link)
        assert (opened.status_code, h1(opened)) == (410, "This link has expired")
        assert "Confirm my subscription" not in opened.text
        assert client.head(link).status_code == 410
        assert live.snapshot() == before
        pressed = client.post(link)
        assert (pressed.status_code, pressed.text) == (opened.status_code, opened.text)
    assert live.snapshot() == before
    assert "Confirm my subscription" in client.get(current).text  # the request still open keeps its button
    stranger.close()


def test_confirmations_asked_for_at_once_each_reach_their_own_address(tmp_path, smtp_server, monkeypatch):
    """The project's one SMTP delivery is shared by every request: sends that overlapped lost each other's mail."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    inbox = Inbox()
    port = smtp_server(inbox)
    project = serve_project(tmp_path / "smtp", f'delivery = {{ type = "smtp", host = "127.0.0.1", port = {port}, '
                                               f'starttls = false, timeout = 10 }}\n')
    server = LiveServer(project).start()
    together = threading.Barrier(12)

    def ask_together(n: int) -> int:
        with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": next(CLIENTS)}, timeout=20) as http:
            token = form_token(http.get("/subscribe"))
            together.wait()
            return http.post("/subscribe", data={"form": token, "email": f"at-once{n}@example.org"}).status_code

    try:
        with ThreadPoolExecutor(12) as pool:
            assert list(pool.map(ask_together, range(12))) == [200] * 12
        server.settled()  # every confirmation asked for is out (the SMTP server has it once it said 250)
    finally:
        server.stop()
    assert sorted(tuple(m["to"]) for m in inbox.received) == sorted((f"at-once{n}@example.org",) for n in range(12))


def test_a_mail_server_that_never_answers_holds_up_the_stop_only_briefly(tmp_path, monkeypatch):
    """The stop waits for the confirmations already queued, but not a timeout for each: through it the event
    loop is held, and Ctrl-C only sets a flag, so `pipeline serve` could not be stopped."""
    from pipeline.web import pages

    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    monkeypatch.setattr(pages, "STOP_GRACE", 1.0)
    silent = socket.create_server(("127.0.0.1", 0), backlog=50)  # takes connections, never greets
    port = silent.getsockname()[1]
    project = serve_project(tmp_path / "silent", f'delivery = {{ type = "smtp", host = "127.0.0.1", port = {port}, '
                                                 f'starttls = false, timeout = 2 }}\n')
    server = LiveServer(project).start()
    try:
        for n in range(8):  # 16 s of timeouts, one after another
            with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
                token = form_token(http.get("/subscribe"))
                answer = http.post("/subscribe", data={"form": token, "email": f"queued{n}@example.org"})
                assert answer.status_code == 200
        started = time.monotonic()
        server.server.should_exit = True
        server.thread.join(timeout=20)
        # The grace (1 s) and what a busy machine adds to it, where waiting for each queued send would take 16 s
        assert time.monotonic() - started < 10
    finally:
        server.stop()
        # The send under way ends at its own timeout (2 s) and logs that it failed: wait for it here, while this
        # test's log stream is open, so its line does not land on a stream closed after the test.
        for thread in [t for t in threading.enumerate() if t.name.startswith("confirmations")]:
            thread.join(timeout=5)
        silent.close()


def test_a_confirmation_that_fails_unexpectedly_is_logged_and_the_next_still_goes(live, client, monkeypatch, caplog):
    from pipeline.web import pages

    sent, real = [], pages.send_confirmation

    def fail_once(project, request, *args):
        if not sent:
            sent.append(None)
            raise RuntimeError("the mail server's library broke")
        sent.append(request.subscriber.email)
        return real(project, request, *args)

    monkeypatch.setattr(pages, "send_confirmation", fail_once)
    assert ask(client, "broken-once@example.org").status_code == 200
    assert ask(client, "after-that@example.org").status_code == 200
    live.settled()  # both handed to the mailer, and done

    assert sent == [None, "after-that@example.org"]
    failed = [r for r in caplog.records if "could not send the confirmation" in r.getMessage()]
    assert failed and "RuntimeError: the mail server's library broke" in failed[0].exc_text  # its traceback


def test_serve_on_a_port_already_in_use_says_so_in_one_line(tmp_path):
    config = serve_project(tmp_path / "busy").config_path
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "pipeline", "serve", "--config", str(config), "--port", str(port)],
                              capture_output=True, text=True, timeout=60)

    assert done.returncode != 0
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert f"127.0.0.1:{port}" in line and "Address already in use" in line and "--port" in line, done.stderr


def test_a_pages_traceback_on_the_terminal_has_its_credentials_masked(tmp_path):
    """An error a page did not catch (a plugin's filter that fails, saying where it tried with the credential in
    it) is one line on the terminal, and its traceback with PIPELINE_DEBUG: credentials masked in both."""
    folder = tmp_path / "failing-filter"
    (folder / "plugins").mkdir(parents=True)
    (folder / "plugins" / "lookup.py").write_text(
        "from pipeline import hookimpl\n\n"
        "def lookup(value):\n"
        "    raise RuntimeError('no answer from https://ann:pw-literal@p.example/f?token=tok-literal')\n\n"
        "@hookimpl\ndef prepare_jinja_environment(env):\n    env.filters['lookup'] = lookup\n")
    (folder / "templates" / "web").mkdir(parents=True)
    (folder / "templates" / "web" / "subscribe.html").write_text("{{ 'x' | lookup }}\n")
    serve_project(folder)
    config = folder / "pipeline.toml"
    config.write_text(config.read_text().replace("workers = 1", 'workers = 1\nplugins_dir = "plugins"'))
    for debug in ("", "1"):
        with ServeProcess(config, env={**os.environ, "PIPELINE_DEBUG": debug}) as serving:
            assert httpx.get(f"{serving.url}/subscribe", timeout=10).status_code == 500
            err = serving.stop()
        assert ("error: unexpected error answering GET /subscribe: RuntimeError: no answer from "
                "https://ann:***@p.example/f?token=***") in err, err
        assert ("Traceback (most recent call last)" in err) == bool(debug), err
        assert "pw-literal" not in err and "tok-literal" not in err, err


def test_serve_says_which_plugin_could_not_prepare_the_templates_and_still_serves(tmp_path):
    config = serve_project_with_plugin(tmp_path / "broken-filter", "shouting", (
        "from pipeline import hookimpl\n\n"
        "@hookimpl\ndef prepare_jinja_environment(env):\n    raise ValueError('no filter today')\n"))
    with ServeProcess(config) as serving:
        page = httpx.get(f"{serving.url}/subscribe", timeout=10)

    [warning] = [line for line in serving.lines if "prepare_jinja_environment" in line]
    assert warning.startswith("warning: plugin 'shouting'") and "ValueError: no filter today" in warning, serving.lines
    assert page.status_code == 200 and "<form" in page.text


def test_two_serves_started_together_cannot_both_have_the_port():
    # SO_REUSEADDR lets a second socket bind a port another has bound but not yet listened on; uvicorn
    # listens only after the app's startup, so both commands passed the check and the second died in uvicorn.
    from pipeline.commands.serve import _listening

    [first] = _listening("127.0.0.1", 0)
    with first:
        port = first.getsockname()[1]
        with pytest.raises(PipelineError, match=f"cannot listen on 127.0.0.1:{port} .*Address already in use"):
            _listening("127.0.0.1", port)


def test_an_empty_host_listens_on_every_interface_as_uvicorn_did():
    from pipeline.commands.serve import _listening

    sockets = _listening("", 0)
    try:
        assert ("0.0.0.0", socket.AF_INET) in {(s.getsockname()[0], s.family) for s in sockets}
        assert len({s.getsockname()[1] for s in sockets}) == 1  # port 0: one free port, the same on IPv4 and IPv6
    finally:
        for sock in sockets:
            sock.close()


def test_an_empty_host_listens_on_ipv4_where_the_system_has_no_ipv6(monkeypatch):
    # getaddrinfo gives "::" even where IPv6 is turned off; making its socket failed, and with it the command,
    # where asyncio (and so uvicorn) skips an address family the system cannot make a socket of.
    import errno

    from pipeline.commands.serve import _listening

    real = socket.socket

    def no_ipv6(family=socket.AF_INET, *args):
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real(family, *args)

    monkeypatch.setattr(socket, "socket", no_ipv6)
    sockets = _listening("", 0)
    try:
        assert [(s.getsockname()[0], s.family) for s in sockets] == [("0.0.0.0", socket.AF_INET)]
    finally:
        for sock in sockets:
            sock.close()
    with pytest.raises(PipelineError, match=r"cannot listen on \[::1\]:\d+ \(Address family not supported"):
        _listening("::1", 0)


def test_a_bad_address_is_shown_back_with_the_problem(live, client):
    response = ask(client, "not an address", name="Ann")
    assert response.status_code == 400 and 'aria-invalid="true"' in response.text
    assert "Enter an email address like name@example.org." in response.text
    assert 'value="Ann"' in response.text
    for address, why in [("a" * 65 + "@example.org", "the part before the @ is longer than 64 characters"),
                         ("ann@192.168.1.1", "mail to an IP address needs brackets")]:
        response = ask(client, address)
        assert response.status_code == 400 and f"Enter an email address like name@example.org ({why}" in response.text
    assert live.status("ann@192.168.1.1") is None


def test_rate_limit_per_address_whoever_asks(live):
    responses = []
    for n in range(3):  # per_address_limit = 2, each time from another client (and name: not the same request)
        with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
            responses.append(ask(http, "victim@example.org", name=f"Victim {n}"))
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2].headers["Retry-After"]) > 0
    live.settled()  # both confirmations handed to the mailer and sent (the refused post asked for none)
    assert len(live.messages_to("victim@example.org")) == 2


def test_another_spelling_of_an_address_its_mail_reaches_is_that_address(live, store):
    """IDNA, which mail servers and the sendgrid delivery use, reads each of these domains as example.org (a soft
    hyphen or a zero-width space dropped, a full-width letter or dot the plain one), and xn--bcher-kva.de as
    bücher.de. So the form takes each as that address: one on the list gets nothing, however it is spelt, and the
    per-address limit counts every spelling."""
    spellings = ["{}@exam\u00adple.org", "{}@example.org\u200b", "{}@\uff45xample.org", "{}@example\u3002org"]
    members = ["spelt-member1", "spelt-member2"]  # two spellings each: per_address_limit = 2
    for member in members:
        subs.add(store, f"{member}@example.org", "", [], how="cli", at=datetime.now(UTC))
    subs.add(store, "spelt-ann@bücher.de", "", [], how="cli", at=datetime.now(UTC))
    before = live.snapshot()[0]
    for n, spelling in enumerate([*spellings, "{}@xn--bcher-kva.de"]):
        member = members[n // 2] if n < len(spellings) else "spelt-ann"
        with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
            assert ask(http, spelling.format(member)).status_code == 200
    live.settled()  # every confirmation asked for is out
    assert live.snapshot()[0] == before  # no second subscriber for the same mailbox
    assert [live.messages_to(a) for a in ("spelt-member1@example.org", "spelt-member2@example.org",
                                          "spelt-ann@bücher.de")] == [[], [], []]

    codes = []
    for address in ["spelt-new@example.org", *spellings[:2]]:  # per_address_limit = 2
        with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
            codes.append(ask(http, address.format("spelt-new")).status_code)
    assert codes == [200, 200, 429]
    assert live.status("spelt-new@example.org") == "pending"

    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
        for unreachable in ("spelt-rtl@exa\u202emple.org", "spelt-c1@exa\x9fmple.org", "spelt-pua@exa\ue000mple.org"):
            assert ask(http, unreachable).status_code == 400, repr(unreachable)  # no mail server takes the domain


def test_a_form_sent_twice_at_once_mails_one_confirmation(live):
    """A double-clicked Subscribe button posts the same form twice: one confirmation is mailed, not two, each with
    its own link (`confirmation.REPEAT_WITHIN`; tests/test_subscribers_state.py has the rest)."""
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
        page = http.get("/subscribe")
        fields = {"form": form_token(page), "email": "twice@example.org", "name": "Tess"}
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: http.post("/subscribe", data=fields), range(2)))
        assert [a.status_code for a in answers] == [200, 200]
        assert h1(answers[0]) == h1(answers[1])  # the same page, however many went out
        live.settled()
    assert len(live.messages_to("twice@example.org")) == 1
    assert live.status("twice@example.org") == "pending"


def test_a_mailbox_gets_at_most_daily_confirmations_a_day_whatever_its_spelling_and_restarts(tmp_path, monkeypatch):
    """The per-address limit is an hour's, kept in memory: a restart forgets it, and someone posting a victim's
    address every hour would mail them 72 confirmations a day. The requests stored say how many went out: past
    `daily_confirmations` in 24 hours a mailbox gets none, although the page says the same (the limit counts
    requests, which an address on the list never has, so a different answer would tell who is on it)."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    folder = tmp_path / "daily"
    folder.mkdir()
    (folder / "pipeline.toml").write_text(SERVE_TOML.replace("per_address_limit = 2", "per_address_limit = 2\n"
                                                             "daily_confirmations = 3"), encoding="utf-8")
    project = load_project(folder / "pipeline.toml")
    mailed = []
    for spellings in (["pat@example.org", "pat+news@example.org"], ["Pat@Example.org", "pat+x@example.org"]):
        server = LiveServer(project).start()  # started again: its memory of the hour is gone
        try:
            for address in spellings:
                with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": next(CLIENTS)}) as http:
                    assert ask(http, address).status_code == 200
            server.settled()  # every confirmation asked for is out
            mailed += [path.name for path in (folder / "outbox" / "messages").glob("*.eml") if path.name not in mailed]
        finally:
            server.stop()
    assert len(mailed) == 3, mailed


def test_rate_limit_per_client(live, client):
    codes = [ask(client, f"many{n}@example.org").status_code for n in range(6)]  # per_client_limit = 5
    assert codes == [200] * 5 + [429]
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": next(CLIENTS)}) as other:
        assert ask(other, "many6@example.org").status_code == 200  # another client is not held back


def test_an_ipv6_client_is_counted_by_its_slash_64(live):
    """A home or a phone has a whole /64: a new address from it for each post is still one client."""
    codes = []
    for n in range(6):
        with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": f"2001:db8:64:1::{n + 1}"}) as http:
            codes.append(ask(http, f"six-four{n}@example.org").status_code)
    assert codes == [200] * 5 + [429]
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": "2001:db8:64:2::1"}) as neighbour:
        assert ask(neighbour, "next-door@example.org").status_code == 200  # another /64 is another client


@pytest.mark.parametrize(("host", "trusted", "key"), [
    ("127.0.0.1", True, "127.0.0.1"),
    ("::ffff:127.0.0.1", True, "127.0.0.1"),  # how a server listening on "::" sees an IPv4 proxy
    ("::1", True, "::/64"),
    ("127.0.0.2", False, "127.0.0.2"),
    ("2001:db8::7", False, "2001:db8::/64"),
    ("not an address", False, "not an address"),
    (None, False, "unknown"),
])
def test_proxies_and_clients_are_judged_by_address_whatever_its_spelling(host, trusted, key):
    from pipeline.config import ServeSettings
    from pipeline.web.proxy import TrustedProxies, client_key

    assert (host in TrustedProxies(ServeSettings().trusted_proxies)) is trusted
    assert client_key(host) == key


@pytest.mark.parametrize(("chain", "client"), [
    ("203.0.113.7", "203.0.113.7"),
    ("203.0.113.7:5678", "203.0.113.7"),  # some proxies add the client's port
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("198.51.100.9, 203.0.113.7:5678, 127.0.0.1", "203.0.113.7"),  # the nearest hop not a proxy of ours
    ("no address:1:2", None),  # garbled: the proxy's own address is kept
])
def test_the_client_is_read_from_the_forwarded_chain_with_or_without_a_port(chain, client):
    from pipeline.web.proxy import ForwardedHeaders

    assert ForwardedHeaders(None, ["127.0.0.1"])._client(chain) == client


def test_a_trusted_network_written_as_ipv6_matches_its_ipv4_hosts():
    from pipeline.web.proxy import TrustedProxies

    trusted = TrustedProxies(["::ffff:10.0.0.0/104"])
    assert "10.1.2.3" in trusted and "::ffff:10.1.2.3" in trusted and "11.0.0.1" not in trusted


@pytest.mark.parametrize(("network", "inside", "outside"), [
    ("::/0", ["10.1.2.3", "::ffff:10.1.2.3", "203.0.113.7", "2001:db8::1"], []),
    ("::/64", ["10.1.2.3", "203.0.113.7", "::1"], ["2001:db8::1"]),  # holds ::ffff:0:0/96, so every IPv4 host
    ("::ffff:0:0/96", ["10.1.2.3", "::ffff:203.0.113.7"], ["::1", "2001:db8::1"]),
    ("2001:db8::/32", ["2001:db8::1"], ["10.1.2.3", "::ffff:10.1.2.3", "::1"]),  # wide, but no IPv4 in it
    ("::/97", ["::1"], ["10.1.2.3", "::ffff:10.1.2.3"]),  # narrow, and not the mapped range
])
def test_a_wide_ipv6_network_matches_the_ipv4_hosts_it_holds_mapped_and_no_others(network, inside, outside):
    from pipeline.web.proxy import TrustedProxies

    trusted = TrustedProxies([network])
    assert [host for host in inside if host not in trusted] == []
    assert [host for host in outside if host in trusted] == []


def test_a_rate_limiter_full_of_fresh_keys_makes_room_for_many_at_once():
    from pipeline.web.guards import RateLimiter

    limiter = RateLimiter(1, 60.0, max_keys=8, clock=lambda: 0.0)
    assert [limiter.hit(f"k{n}") for n in range(8)] == [None] * 8
    assert limiter.hit("k8") is None  # every key still in its window: the oldest quarter is dropped
    assert len(limiter._hits) == 7 and "k0" not in limiter._hits and "k1" not in limiter._hits
    assert limiter.hit("k7") is not None  # the newest keep their counts
    assert limiter.hit("k9") is None and len(limiter._hits) == 8  # the next new key found room: no scan again


@pytest.mark.parametrize("max_keys", [1, 2, 3, 4, 8])
def test_a_full_rate_limiter_still_limits_the_keys_it_has(max_keys):
    # A hit of a key already counted made room as a new one would, dropping the oldest keys: that key among
    # them, it was counted afresh (with max_keys=1 nothing was ever limited).
    from pipeline.web.guards import RateLimiter

    limiter = RateLimiter(1, 60.0, max_keys=max_keys, clock=lambda: 0.0)
    keys = [f"k{n}" for n in range(max_keys)]
    assert [limiter.hit(key) for key in keys] == [None] * max_keys
    assert [limiter.hit(key) for key in keys] == [60.0] * max_keys
    assert len(limiter._hits) == max_keys


def test_a_full_rate_limiter_forgets_the_keys_under_their_limit_first():
    """Made to drop keys still in their window, a full limiter keeps those at their limit: a flood of new addresses
    (or clients) would otherwise free the very ones it was keeping out."""
    from pipeline.web.guards import RateLimiter

    limiter = RateLimiter(2, 60.0, max_keys=8, clock=lambda: 0.0)
    for n in range(4):  # k0 to k3 at their limit, the oldest of all
        limiter.hit(f"k{n}"), limiter.hit(f"k{n}")
    assert [limiter.hit(f"k{n}") for n in range(4, 8)] == [None] * 4
    assert limiter.hit("new") is None
    assert [limiter.hit(f"k{n}") for n in range(4)] == [60.0] * 4
    assert "k4" not in limiter._hits and "k5" not in limiter._hits  # the oldest of those under their limit


def test_the_form_answers_429_to_everyone_past_its_total_limit(tmp_path, monkeypatch, caplog):
    """`[serve] total_limit` bounds the confirmations the form sends in a window, however many clients and
    addresses ask (an IPv6 /48 holds 65,536 clients), and the organiser is told once it is reached."""
    from tests.serve_fixtures import SERVE_TOML

    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    (tmp_path / "pipeline.toml").write_text(SERVE_TOML.replace("per_client_limit = 5", "per_client_limit = 5\n"
                                                                                       "total_limit = 3"))
    from pipeline.config import load_project

    server = LiveServer(load_project(tmp_path / "pipeline.toml")).start()
    try:
        codes = []
        for n in range(5):
            with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": f"2001:db8:0:{n}::1"},
                              timeout=10) as http:
                page = http.get("/subscribe")
                token = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
                codes.append(http.post("/subscribe", data={"form": token, "email": f"new{n}@example.org"}).status_code)
        server.settled()  # every confirmation asked for is out
        sent = sum(len(server.messages_to(f"new{n}@example.org")) for n in range(5))
    finally:
        server.stop()
    assert (codes, sent) == ([200, 200, 200, 429, 429], 3)
    assert "reached [serve] total_limit (3 posts in 60 minutes)" in caplog.text


def test_a_full_rate_limiter_with_one_key_expired_still_makes_room_for_many():
    from pipeline.web.guards import RateLimiter

    now = [0.0]
    limiter = RateLimiter(1, 60.0, max_keys=8, clock=lambda: now[0])
    limiter.hit("k0")
    now[0] = 30.0
    assert [limiter.hit(f"k{n}") for n in range(1, 8)] == [None] * 7
    now[0] = 61.0  # k0 is over, the rest are not
    assert limiter.hit("k8") is None and len(limiter._hits) == 7  # not just k0 dropped: the next key needs no scan
    assert limiter.hit("k9") is None and len(limiter._hits) == 8


def test_forwarded_headers_count_only_from_a_trusted_proxy(live):
    """From 127.0.0.1 (trusted) X-Forwarded-* are the public values; from 127.0.0.2 they are ignored."""
    public = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "network.example.org"}
    via_proxy = httpx.get(live.url + "/subscribe", headers=public)
    assert via_proxy.headers["set-cookie"].startswith("__Host-pipeline-form=")
    assert "Secure" in via_proxy.headers["set-cookie"]
    outside = httpx.Client(base_url=live.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with outside:
        cookie = outside.get("/subscribe", headers=public).headers["set-cookie"]
        assert cookie.startswith("pipeline-form=") and "Secure" not in cookie
        codes = []
        for n in range(6):  # a client that claims a new address each time is still one client
            outside.headers["X-Forwarded-For"] = f"203.0.113.{n}"
            codes.append(ask(outside, f"spoof{n}@example.org").status_code)
    assert codes == [200] * 5 + [429]


def test_a_trailing_slash_is_not_redirected_to_the_host_the_request_names(live):
    # a host not allowed is refused before any route; an allowed one is not sent elsewhere either
    for path in ("/subscribe/", "/confirm/abc/", "/unsubscribe/abc/"):
        for host, status in (("evil.example", 400), ("localhost:8000", 404)):
            response = httpx.get(live.url + path, headers={"Host": host}, follow_redirects=False)
            assert response.status_code == status and "location" not in response.headers, (path, host)


def test_errors_are_pages_and_every_response_is_protected(live, client):
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and h1(missing) == "Page not found"
    assert client.put("/subscribe").status_code == 405
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    too_large = client.post("/subscribe", content=b"x" * 70_000, headers=form)  # said by its Content-Length
    chunked = client.post("/subscribe", content=iter([b"email=a%40example.org&x="] + [b"x" * 8192] * 9),
                          headers=form)  # found out as it arrives
    one_click = client.post("/unsubscribe/" + _token(live, "unsubscribe", 1), content=b"x" * 70_000, headers=form)
    webhook = client.post("/webhooks/sendgrid", content=b"[" + b" " * 8 * 1024 * 1024 + b"]",
                          headers={"Content-Type": "application/json"})
    for response in (too_large, chunked, one_click, webhook):
        assert response.status_code == 413 and h1(response) == "Too much data"
        assert response.headers["content-type"].startswith("text/html")
    assert "transfer-encoding" not in too_large.request.headers and "content-length" not in chunked.request.headers
    form_page = client.get("/subscribe")
    for response in (missing, form_page, too_large, chunked):
        assert "script-src" not in response.headers["content-security-policy"]
        assert response.headers["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
        # the form's post needs its Origin; no other page gives the address it holds (a token) to a link
        policy = "same-origin" if response is form_page else "no-referrer"
        assert response.headers.get_list("referrer-policy") == [policy]
        assert response.headers["x-frame-options"] == "DENY"
        assert "server" not in response.headers


def test_an_unexpected_error_is_a_page_with_the_same_protection(live, client, monkeypatch, caplog):
    from pipeline.web import pages

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(pages, "get_subscriber", broken)
    caplog.set_level(logging.ERROR, logger="pipeline.web")
    failed = client.get("/preferences/" + _token(live, "preferences", 1))
    assert failed.status_code == 500 and h1(failed) == "Something went wrong"
    assert "database went away" not in failed.text
    assert failed.headers["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert failed.headers["x-frame-options"] == "DENY" and failed.headers["x-content-type-options"] == "nosniff"
    assert failed.headers["referrer-policy"] == "no-referrer" and failed.headers["cache-control"] == "no-store"
    assert any("database went away" in (r.exc_text or "") for r in caplog.records)  # still logged, with its traceback


# -- the SendGrid Event Webhook ------------------------------------------------------------------

@pytest.fixture
def webhook_key(monkeypatch) -> ec.EllipticCurvePrivateKey:
    """A P-256 key pair like SendGrid's; the public half in the environment, as SendGrid shows it."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv(WEBHOOK_ENV, base64.b64encode(public).decode("ascii"))
    return key


def signed(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}


def events(*pairs: tuple[str, str], **extra) -> bytes:
    """A webhook body of events that happened now (unless `timestamp` is given)."""
    return json.dumps([{"email": address, "event": kind, "timestamp": int(time.time()), **extra}
                       for address, kind in pairs]).encode()


def test_webhook_suppresses_bounces_complaints_and_unsubscribes(live, store, webhook_key):
    now = datetime.now(UTC)
    for address in ("hook-bounce@example.org", "hook-spam@example.org", "hook-unsub@example.org",
                    "hook-drop@example.org", "hook-blocked@example.org", "hook-open@example.org"):
        subs.add(store, address, "", [], how="cli", at=now)
    body = events(("hook-bounce@example.org", "bounce"), ("hook-spam@example.org", "spamreport"),
                  ("hook-unsub@example.org", "unsubscribe"), ("hook-open@example.org", "open"),
                  ("hook-new@example.org", "bounce"))
    body = body[:-1] + b', {"email": "hook-drop@example.org", "event": "dropped", "reason": "Spam Reporting Address"}' \
        + b', {"email": "hook-blocked@example.org", "event": "bounce", "type": "blocked"}]'
    response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(webhook_key, body))
    assert response.status_code == 200, response.text
    assert [live.status(f"hook-{n}@example.org") for n in ("bounce", "spam", "unsub", "drop", "blocked", "open")] \
        == ["bounced", "complained", "unsubscribed", "complained", "active", "active"]
    assert live.status("hook-new@example.org") == "bounced"  # kept, so the CSV can never activate it
    spam = subs.find_subscriber(store, "hook-spam@example.org")
    assert subs.history(store, spam.id)[-1].how == "sendgrid webhook: spamreport"


def test_webhook_takes_sendgrids_post_to_the_site_url_host_and_no_other(live, store, webhook_key):
    """SendGrid posts to site_url: through the proxy (X-Forwarded-Host) or straight to the port, it is taken."""
    for n, headers in enumerate(({"Host": "network.example.org"},
                                 {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "network.example.org"})):
        subs.add(store, f"hook-host{n}@example.org", "", [], how="cli", at=datetime.now(UTC))
        body = events((f"hook-host{n}@example.org", "bounce"))
        response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers={**signed(webhook_key, body),
                                                                                       **headers})
        assert response.status_code == 200, response.text
        assert live.status(f"hook-host{n}@example.org") == "bounced"
    subs.add(store, "hook-elsewhere@example.org", "", [], how="cli", at=datetime.now(UTC))
    body = events(("hook-elsewhere@example.org", "bounce"))
    response = httpx.post(live.url + "/webhooks/sendgrid", content=body,
                          headers={**signed(webhook_key, body), "Host": "attacker.example"})
    assert response.status_code == 400 and live.status("hook-elsewhere@example.org") == "active"


@pytest.mark.parametrize(("typed", "reported"), [
    # The sendgrid delivery sends to ann@bücher.de as ann@xn--bcher-kva.de, and its events name that address.
    ("hook-ann@bücher.de", "hook-ann@xn--bcher-kva.de"),
    # straße.de is xn--strae-oqa.de in IDNA 2008, as the sendgrid delivery sends it; IDNA 2003 (Python's own
    # codec) reads that label as no domain at all, since it would write straße.de as strasse.de.
    ("hook-fritz@straße.de", "hook-fritz@xn--strae-oqa.de"),
])
def test_webhook_suppresses_an_address_with_a_domain_outside_ascii_reported_in_its_idna_form(live, store, webhook_key,
                                                                                             typed, reported):
    subs.add(store, typed, "", [], how="cli", at=datetime.now(UTC))
    body = events((reported, "bounce"))
    response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(webhook_key, body))
    assert response.status_code == 200, response.text
    assert live.status(typed) == "bounced"


def test_webhook_refuses_what_is_unsigned_or_badly_signed(live, store, webhook_key):
    subs.add(store, "hook-safe@example.org", "", [], how="cli", at=datetime.now(UTC))
    body = events(("hook-safe@example.org", "spamreport"))
    good = signed(webhook_key, body)
    other_key = ec.generate_private_key(ec.SECP256R1())
    attempts = {
        "no headers": {"Content-Type": "application/json"},
        "no timestamp": {k: v for k, v in good.items() if "Timestamp" not in k},
        "another key": signed(other_key, body),
        "another timestamp": {**good, "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time()) + 1)},
        "not base64": {**good, "X-Twilio-Email-Event-Webhook-Signature": "%%%"},
    }
    for what, headers in attempts.items():
        response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=headers)
        assert response.status_code == 403, what
    altered = body.replace(b"spamreport", b"unsubscribe")
    assert httpx.post(live.url + "/webhooks/sendgrid", content=altered, headers=good).status_code == 403
    assert live.status("hook-safe@example.org") == "active"


def test_webhook_refuses_a_request_signed_more_than_five_minutes_from_now(live, store, webhook_key):
    subs.add(store, "hook-late@example.org", "", [], how="cli", at=datetime.now(UTC))
    body = events(("hook-late@example.org", "bounce"), timestamp=1454313600)
    now = int(time.time())
    for when in ("1454313600", str(now - 6 * 60), str(now + 6 * 60), f"{now}.5", "soon"):  # 2016, a replay...
        response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(webhook_key, body, when))
        assert response.status_code == 403, when
    assert live.status("hook-late@example.org") == "active"
    assert subs.history(store, subs.find_subscriber(store, "hook-late@example.org").id)[-1].how == "cli"
    body = events(("hook-late@example.org", "bounce"))
    response = httpx.post(live.url + "/webhooks/sendgrid", content=body,
                          headers=signed(webhook_key, body, str(now - 4 * 60)))  # late, but within the window
    assert response.status_code == 200 and live.status("hook-late@example.org") == "bounced"


def test_webhook_ignores_an_event_from_before_the_address_subscribed_again(live, store, webhook_key):
    subs.add(store, "hook-back@example.org", "", [], how="cli", at=datetime.now(UTC) - timedelta(days=30))
    bounced_at = int(time.time()) - 3
    body = events(("hook-back@example.org", "bounce"), timestamp=bounced_at)
    url = live.url + "/webhooks/sendgrid"
    assert httpx.post(url, content=body, headers=signed(webhook_key, body)).status_code == 200
    assert live.status("hook-back@example.org") == "bounced"
    again = subs.request_subscription(store, "hook-back@example.org", "", [],
                                      how="form", at=datetime.now(UTC)).subscriber
    assert subs.confirm(store, again.id, how="confirmation", at=datetime.now(UTC))

    replayed = httpx.post(url, content=body, headers=signed(webhook_key, body))  # the same events, signed again
    assert replayed.status_code == 200 and replayed.text == "0 addresses suppressed\n"
    assert live.status("hook-back@example.org") == "active"
    later = events(("hook-back@example.org", "bounce"), timestamp=int(time.time()) + 1)
    assert httpx.post(url, content=later, headers=signed(webhook_key, later)).status_code == 200
    assert live.status("hook-back@example.org") == "bounced"  # a new bounce still counts


def test_webhook_drops_suppress_only_for_reasons_about_the_address(live, store, webhook_key):
    reasons = {"hook-drop-bounced": "Bounced Address", "hook-drop-invalid": "Invalid",
               "hook-drop-unsub": "Unsubscribed Address", "hook-drop-spam": "Spam Reporting Address",
               "hook-drop-content": "Spam Content (if spam checker app is enabled)",
               "hook-drop-header": "Invalid SMTPAPI header", "hook-drop-duplicate": "Duplicate message"}
    for name in reasons:
        subs.add(store, f"{name}@example.org", "", [], how="cli", at=datetime.now(UTC))
    body = json.dumps([{"email": f"{name}@example.org", "event": "dropped", "reason": reason,
                        "timestamp": int(time.time())} for name, reason in reasons.items()]).encode()
    response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(webhook_key, body))
    assert response.status_code == 200, response.text
    assert {name: live.status(f"{name}@example.org") for name in reasons} == {
        "hook-drop-bounced": "bounced", "hook-drop-invalid": "bounced", "hook-drop-unsub": "unsubscribed",
        "hook-drop-spam": "complained", "hook-drop-content": "active", "hook-drop-header": "active",
        "hook-drop-duplicate": "active"}


def test_webhook_without_a_key_accepts_nothing(live, store, monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    subs.add(store, "hook-nokey@example.org", "", [], how="cli", at=datetime.now(UTC))
    key = ec.generate_private_key(ec.SECP256R1())
    body = events(("hook-nokey@example.org", "bounce"))
    response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(key, body))
    assert response.status_code == 503 and WEBHOOK_ENV in response.text
    monkeypatch.setenv(WEBHOOK_ENV, "not a key")
    assert httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=signed(key, body)).status_code == 503
    assert live.status("hook-nokey@example.org") == "active"


@pytest.mark.parametrize("other", ["rsa", "ed25519", "p384"])
def test_webhook_with_a_key_sendgrid_never_signs_with_says_so_and_accepts_nothing(live, store, monkeypatch, caplog,
                                                                                  other):
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    wrong = {"rsa": lambda: rsa.generate_private_key(65537, 2048), "ed25519": ed25519.Ed25519PrivateKey.generate,
             "p384": lambda: ec.generate_private_key(ec.SECP384R1())}[other]()
    public = wrong.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv(WEBHOOK_ENV, base64.b64encode(public).decode("ascii"))
    address = f"hook-wrongkey-{other}@example.org"
    subs.add(store, address, "", [], how="cli", at=datetime.now(UTC))
    body = events((address, "bounce"))
    headers = signed(ec.generate_private_key(ec.SECP256R1()), body)
    with caplog.at_level(logging.ERROR, logger="pipeline.web"):
        response = httpx.post(live.url + "/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == 503 and WEBHOOK_ENV in response.text
    assert any(WEBHOOK_ENV in r.getMessage() and "P-256" in r.getMessage() for r in caplog.records)
    assert live.status(address) == "active"


def _token(live: LiveServer, purpose: str, subscriber_id: int) -> str:
    return live.app.state.web.links.tokens.make(purpose, subscriber_id)


def test_a_signal_before_uvicorn_has_started_its_server_leaves_no_python_warning(tmp_path):
    """SIGTERM between `serve`'s 'serving' line and uvicorn starting its server (asyncio.run setting its loop up):
    the stop's line was followed by "RuntimeWarning: coroutine 'Server.serve' was never awaited" and the line of
    source it was found on, on the organiser's terminal. The signal is sent at that point here (uvicorn's `run`
    made to meet it there), so what is printed does not depend on the machine's speed."""
    config = serve_project(tmp_path / "early").config_path
    script = ("import signal, sys, uvicorn\n"
              "from pipeline.cli import Stopped, console\n"
              "def run(self, sockets=None):\n"
              "    serving = self.serve(sockets=sockets)  # made, as uvicorn's run makes it, then the signal\n"
              "    raise Stopped(signal.SIGTERM)\n"
              "uvicorn.Server.run = run\n"
              f"sys.argv = ['pipeline', 'serve', '--config', {str(config)!r}, '--port', '0']\n"
              "console()\n")
    done = subprocess.run([sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 143, done.stderr
    assert done.stderr.rstrip().splitlines()[-1] == "stopped by SIGTERM (exit 143)", done.stderr
    assert "never awaited" not in done.stderr


def test_serve_stopped_by_sigterm_says_so_without_the_runs_words(tmp_path):
    """A signal ends `serve` (exit 143) with one line of its own, not a run's about workers and a send's batches."""
    with ServeProcess(serve_project(tmp_path / "stopped").config_path) as serving:
        err = serving.stop()
    assert serving.process.returncode == 143
    assert err.rstrip().splitlines()[-1] == "stopped by SIGTERM (exit 143)", err



def test_serve_whose_terminal_closes_shuts_down_as_for_sigterm(tmp_path):
    """SIGHUP (the terminal `serve` runs in closing) reached the loop as an exception: two tracebacks in uvicorn's
    log, no graceful shutdown. It now shuts down as SIGTERM does, then says so (exit 129)."""
    import signal

    with ServeProcess(serve_project(tmp_path / "hung-up").config_path) as serving:
        assert httpx.get(f"{serving.url}/subscribe", timeout=10).status_code == 200  # uvicorn has the signals now
        serving.process.send_signal(signal.SIGHUP)
        err = serving.process.communicate(timeout=30)[1]
    assert serving.process.returncode == 129, err
    assert "Traceback" not in err and "Application shutdown complete" in err, err
    assert err.rstrip().splitlines()[-1] == "stopped by SIGHUP (exit 129)", err

def test_saving_preferences_is_limited_per_subscriber_and_leaving_never_is(live, client, store):
    """A subscriber's own link can save their choice `[serve] preferences_limit` times in `limit_minutes`: a script
    toggling themes on it without end would otherwise add a row to the consent record each time. Leaving is never
    refused."""
    who = subs.add(store, "toggles@example.org", "", [], how="cli", at=datetime.now(UTC))
    url = f"/preferences/{_token(live, 'preferences', who.id)}"
    limit = live.project.serve.preferences_limit
    codes = [client.post(url, data={"action": "save", "theme": ["peer support"] if n % 2 else []}).status_code
             for n in range(limit)]
    before = live.snapshot()
    refused = client.post(url, data={"action": "save", "theme": ["peer support", "Open Dialogue"]})

    assert codes == [200] * limit
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert live.snapshot() == before  # nothing saved, nothing recorded
    left = client.post(url, data={"action": "leave"})
    assert left.status_code == 200 and live.status("toggles@example.org") == "unsubscribed"
