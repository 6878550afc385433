"""Review h152: sending and subscriber gaps left open by the last review."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.state import Store, journal
from tests.newsletter_network import POST, newsletter_toml
from tests.serve_fixtures import LiveServer

READERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\ncy@example.org,Cy\n"


def _store(config) -> Store:
    return Store(config.parent / "state" / "pipeline.sqlite")


def _journal(config) -> dict[str, str]:
    store = _store(config)
    try:
        return {r: s for r, s, _ in journal.listed(store, 1, ("sent", "failed", "unknown", "in_flight"))}
    finally:
        store.close()


# -- 1. deliveries --resend: counts that say what will happen, and the exit code ---------------------------------

def _failed_bob_and_cy(write_project, readers: str = READERS):
    from plugins.deliveries.outbox import file_name

    config = write_project(newsletter_toml(), {"blog/post.md": POST, "subscribers.csv": readers})
    blocked = [config.parent / "outbox" / "issue-1" / file_name(a) for a in ("bob@example.org", "cy@example.org")]
    for path in blocked:
        path.mkdir(parents=True)  # their files cannot be written: they are failed
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 1
    for path in blocked:
        path.rmdir()
    return config, blocked


def test_resend_does_not_count_or_release_someone_pending_it_will_not_send_to(write_project, capsys):
    """Before: bob left after his delivery failed and asked again on the form (pending, not confirmed). `--resend
    failed` said "2 recipient(s) (failed) will be sent again", deleted bob's failed record, and sent to cy alone
    (a send reaches only active subscribers). Now it says 1 will be sent again, names bob as left as he is (pending:
    he has not confirmed), and keeps his record for when he does."""
    from pipeline.state import subscribers

    config, blocked = _failed_bob_and_cy(write_project)
    store = _store(config)
    now = datetime.now(UTC)
    subscribers.remove(store, "bob@example.org", how="cli", at=now)
    assert subscribers.request_subscription(store, "bob@example.org", "Bob", (), how="form", at=now) is not None
    store.close()
    capsys.readouterr()

    code = main(["deliveries", "-c", str(config), "--resend", "failed"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "issue 1: 1 recipient(s) (failed) will be sent again" in out, out
    assert "bob@example.org" in out and "pending" in out, out
    assert "1 sent via outbox" in out
    assert blocked[1].is_file() and not blocked[0].exists()  # cy has it now, bob not
    assert _journal(config) == {"ann@example.org": "sent", "bob@example.org": "failed", "cy@example.org": "sent"}


def test_resend_that_reports_problems_exits_3_as_a_run_does(write_project, capsys):
    """Before: the resend's own problems (here a row of the subscriber list it imports, as every send does, that
    cannot be read) were neither said nor counted: it printed its summary and exited 0. A run reporting them exits
    3 (README, "Exit codes"); so does the resend now, each problem said on one line."""
    config, blocked = _failed_bob_and_cy(write_project)
    (config.parent / "subscribers.csv").write_text(READERS + "not-an-address,Dee\n", encoding="utf-8")
    capsys.readouterr()

    code = main(["deliveries", "-c", str(config), "--resend", "failed"])

    captured = capsys.readouterr()
    assert code == 3, captured
    assert "2 sent via outbox" in captured.out
    assert "not-an-address" in captured.err or "subscribers.csv:5" in captured.err, captured.err
    assert _journal(config) == {"ann@example.org": "sent", "bob@example.org": "sent", "cy@example.org": "sent"}


# -- 5. a rate limit that resets hours away stops the send at once ------------------------------------------------

def test_a_rate_limit_reset_hours_away_stops_the_send_and_leaves_the_rest_for_the_next_run(fake, write_project,
                                                                                          caplog):
    """Before: SendGrid's daily cap (a 429 whose X-RateLimit-Reset is hours away) was waited on for max_wait_seconds
    before each retry of each request, then each request failed, batch after batch: every batch of the issue tried
    and waited for in turn. Now the first such 429 stops the send: no further request or batch is handed over, the
    rest are recorded failed for the next run (which sends each of them once), and one line says so with the reset
    time."""
    import logging
    import re

    from tests.newsletter_network import everyone, readers_csv, statuses

    config = write_project(newsletter_toml(delivery=f"""type = "sendgrid"
    host = "{fake.url}"
    batch_size = 20
    requests_per_batch = 2
    concurrency = 2
    max_retries = 3
    max_wait_seconds = 1"""), {"subscribers.csv": readers_csv(), "blog/post.md": POST})
    sends = []

    def daily_cap(n, path, phase):
        if path == "/v3/mail/send" and phase == "received":
            sends.append(n)
            if len(sends) == 3:  # two requests went out; then the day's cap is reached, until five hours from now
                fake.fail_before(429, times=10_000, reset_in=5 * 3600)

    fake.on_request(daily_cap)
    caplog.set_level(logging.WARNING)

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 1

    refused = fake.statuses.count(429)
    assert 1 <= refused <= 4, refused  # only the requests already in flight: none retried, no further batch
    done = statuses(config)
    assert done["sent"] == 40 and done["failed"] == 80 and not done["unknown"] and not done["in_flight"], done
    said = [r.getMessage() for r in caplog.records
            if r.name == "pipeline.send" and "X-RateLimit-Reset" in r.getMessage()]
    assert len(said) == 1 and re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d UTC", said[0]), said
    assert "max_wait_seconds" in said[0] and "next run" in said[0]

    fake.on_request(None)
    fake.heal()  # the next day
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0
    assert fake.delivered() == everyone()  # each reader once: nothing sent twice
    assert statuses(config) == {"sent": 120}


# -- 2. every link of the email in ASCII, for a site whose address is not ------------------------------------------

IDN_SITE = ('[pipeline]\nname = "Test Network"\nsite_url = "https://bücher.de/schöne-neuigkeiten"\nworkers = 1\n'
            '[serve]\nsecret_env = "TEST_SECRET_H152"\n')
SITE_SINKS = '\n[sinks.site]\ntype = "archive"\n\n[sinks.feed]\ntype = "rss"\n'
IDN_POST = "---\ntitle: \"{title}\"\ndate: {day}\n{extra}---\n\n{title}: what happened, and what comes next.\n"


def _message_links(path) -> tuple[list[str], list[str]]:
    """(every href of the HTML part, every http(s) address of the plain text) of the .eml at `path`."""
    import email
    import re
    from email import policy
    from html import unescape

    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return ([unescape(h) for h in re.findall(r'href="([^"]*)"', html)],
            [link.rstrip(".,;:)") for link in re.findall(r"https?://[^\s<>\"]+", text)])


def test_every_link_of_an_issue_for_a_site_outside_ascii_is_ascii_and_works(write_project, monkeypatch):
    """Before: the List-Unsubscribe header carried the site's address in ASCII (`header_link`: the host in IDNA, the
    path %-escaped), but the footer's links (unsubscribe, choose your themes, view in the browser, past issues, the
    feed, subscribe) and every item's link in the HTML and text parts kept https://bücher.de/schöne-neuigkeiten/…,
    which a mail client may leave unlinked or mangle (the text part's links are found by the client itself). Now
    every link of the email goes through that one helper; those `pipeline serve` answers work when fetched (as a
    browser sends them: to the host they name), and those of the site name files `out/` has."""
    from urllib.parse import unquote

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = write_project(IDN_SITE + newsletter_toml() + SITE_SINKS,
                           {"blog/2016-01-20.md": IDN_POST.format(title="A day in Leeds", day="2016-01-20", extra=""),
                            "subscribers.csv": "email,name\nann@example.org,Ann\n"})
    assert main(["run", "--as-of", "2016-02-01", "-c", str(config)]) == 0
    [path] = (config.parent / "outbox" / "issue-1").glob("*.eml")
    hrefs, texts = _message_links(path)
    base = "https://xn--bcher-kva.de/sch%C3%B6ne-neuigkeiten/"
    assert hrefs and texts
    assert [h for h in hrefs + texts if not h.isascii()] == [], [h for h in hrefs + texts if not h.isascii()]
    ours = [h for h in hrefs + texts if h.startswith(base) or h == base.rstrip("/")]
    assert any("/unsubscribe/" in h for h in hrefs) and any("/unsubscribe/" in t for t in texts)
    assert any("/preferences/" in h for h in hrefs) and any("/preferences/" in t for t in texts)
    assert len(ours) == len(hrefs + texts), sorted(set(hrefs + texts) - set(ours))

    served = ("unsubscribe/", "preferences/", "subscribe")
    live = LiveServer(load_project(config)).start()
    try:
        for link in sorted(set(ours)):
            rest = link.removeprefix(base.rstrip("/")).removeprefix("/")  # "" for the site's own address
            if rest.startswith(served):  # `pipeline serve`'s: fetched as a browser does, from the host it names
                answer = httpx.get(live.url + link.removeprefix("https://xn--bcher-kva.de"), timeout=10,
                                   headers={"Host": "xn--bcher-kva.de"})
                assert answer.status_code == 200, (link, answer.status_code)
            else:  # the site's: a file of out/ (or a folder's index.html), as the proxy serves it
                file = config.parent / "out" / unquote(rest)
                assert file.is_file() or (file / "index.html").is_file(), link
    finally:
        live.stop()
    assert live.status("ann@example.org") == "active"  # a GET of the unsubscribe link asks, and changes nothing


# -- 3. a withdrawn post's lead image, shown by an email already sent -------------------------------------------

def test_the_lead_image_of_a_post_withdrawn_after_its_issue_was_sent_stays_on_the_site(pipeline_project):
    """Before: a post made a draft again (withdrawn) took its lead image off the site with it (`files.plan_files`
    counted only what items still on the site link), though the README promises a withdrawal "leaves everything but
    the emails already sent": those emails still show the image, from the site, and showed it broken. Now a file
    that is the lead image of an item in an issue already mailed stays where the email shows it (one deleted from
    the folder goes, as before); a lead image only a withdrawn post never mailed had still goes."""
    import re
    from datetime import date

    from tests.test_withdrawn import BLOG_TOML, post_file

    png = b"\x89PNG\r\n\x1a\n" + b"a small picture"
    project = pipeline_project(BLOG_TOML, {
        "blog/feb.md": post_file("February post", "2016-01-25", "image: images/lead.png\n"),
        "blog/images/lead.png": png, "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    [sent] = list((project.root / "outbox" / "issue-1").glob("*.eml"))
    shown = re.findall(r'<img src="(https://network\.example\.org/[^"]+)"', project.email().html)
    assert shown == ["https://network.example.org/blog/images/lead.png"], shown
    image = project.root / "out" / "blog" / "images" / "lead.png"
    assert image.read_bytes() == png

    project.write({"blog/feb.md": post_file("February post", "2016-01-25", "draft: true\nimage: images/lead.png\n"),
                   "blog/mar.md": post_file("March post", "2016-02-10", "draft: true\nimage: images/draft.png\n"),
                   "blog/images/draft.png": png})
    report = project.refresh(as_of=date(2016, 2, 1))

    assert "withdrawn: 'February post'" in " ".join(r.summary for r in report.results if r.name == "blog")
    assert sent.is_file() and "has been withdrawn" in project.site("blog/feb/")
    assert image.read_bytes() == png  # the email sent shows it still
    assert not (project.root / "out" / "blog" / "images" / "draft.png").exists()  # never mailed: not published

    (project.root / "blog" / "images" / "lead.png").unlink()  # the organiser takes it down for good
    project.refresh(as_of=date(2016, 2, 1))
    assert not image.exists()


# -- 4. SendGrid's own suppression lists and someone who comes back -------------------------------------------------

SENDGRID_SITE = ('[pipeline]\nname = "Test Network"\nsite_url = "https://network.example.org"\nworkers = 1\n'
                 '[serve]\nsecret_env = "TEST_SECRET_H152"\n')


def _sendgrid_project(fake, write_project, readers: str):
    return write_project(SENDGRID_SITE + newsletter_toml(delivery=f"""type = "sendgrid"
    host = "{fake.url}"
    scheduled = false
    max_retries = 1
    max_wait_seconds = 0"""), {"subscribers.csv": readers,
                               "blog/2016-02-10.md": IDN_POST.format(title="February", day="2016-02-10", extra=""),
                               "blog/2016-03-10.md": IDN_POST.format(title="March", day="2016-03-10", extra="")})


def _come_back_through_serve(fake, config, address: str) -> None:
    """`address` fills in the form of a real `pipeline serve`, and presses the button of the link SendGrid was given to
    mail them."""
    import json
    import re
    import time

    live = LiveServer(load_project(config)).start()
    try:
        browser = httpx.Client(base_url=live.url, timeout=10)
        page = browser.get("/subscribe")
        form = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
        assert browser.post("/subscribe", data={"form": form, "email": address, "name": ""}).status_code == 200
        deadline, link = time.monotonic() + 10, None
        while link is None and time.monotonic() < deadline:
            mailed = [json.dumps(body) for body in list(fake.accepted) if address in json.dumps(body)]
            found = [re.search(r"https://network\.example\.org(/confirm/[^\s\"\\]+)", text) for text in mailed]
            link = next((m.group(1) for m in found if m), None)
            time.sleep(0.05)
        assert link, "no confirmation was handed to SendGrid"
        assert browser.post(link).status_code == 200
    finally:
        live.stop()
    assert live.status(address) == "active"


def test_someone_who_bounced_and_came_back_is_taken_off_sendgrids_lists_before_the_next_send(fake, write_project,
                                                                                             monkeypatch):
    """Before: bob bounced (SendGrid put him on its bounce list; its webhook marked him bounced here), then asked
    again and confirmed through `pipeline serve`: active again, he was handed to SendGrid with the next issue, which
    SendGrid accepted (202) and dropped, as it drops all mail to an address on its lists: the run said "2 sent" and
    he got nothing, every month. Now his confirmation is recorded, and before the next send the delivery deletes him
    from SendGrid's bounce list and its global unsubscribes (a 404, not on the list, is fine), so he gets it; and
    the confirmation he asked for goes past those lists (SendGrid's bypass filters), or he could never confirm."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    fake.suppress("bob@example.org", "bounces")  # his mailbox bounced it: SendGrid lists him, and its webhook says so
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: bounce", at=datetime.now(UTC))
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    mark = len(fake.log)  # (before his confirmation, he was taken off the invalid emails list: review h198)

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0

    assert not fake.suppressed("bob@example.org")
    # issue 1, the confirmation (sent past the bounce list: he asked for it), and issue 2; nothing dropped
    assert fake.delivered()["bob@example.org"] == 3 and "bob@example.org" not in fake.dropped
    deletes = [(r.method, r.path, r.status) for r in fake.log[mark:] if r.method == "DELETE"]
    assert deletes == [("DELETE", "/v3/suppression/bounces/bob@example.org", 204),
                       ("DELETE", "/v3/asm/suppressions/global/bob@example.org", 404),
                       ("DELETE", "/v3/suppression/invalid_emails/bob@example.org", 404)], deletes
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0  # done: not asked again
    assert len([r for r in fake.log[mark:] if r.method == "DELETE"]) == 3


def test_a_failure_to_take_someone_off_sendgrids_list_is_said_by_address_and_tried_again(fake, write_project,
                                                                                        monkeypatch, capsys):
    """SendGrid refusing the delete (a 429 that lasts, a key without the Suppressions permission: 401/403) is said by
    the run, naming the address and SendGrid's reason, never the key; he is left out of that send, failed (exit 1;
    review h154: before, he was handed over and SendGrid dropped it), and the next run asks again, then sends."""
    config = _bob_came_back(fake, write_project, monkeypatch)
    fake.fail_before(429, times=2, on="suppressions")  # the first delete, and its one retry
    capsys.readouterr()

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 1

    said = capsys.readouterr()
    line = [x for x in (said.out + said.err).splitlines() if "subscriber bob@example.org" in x]
    assert line and "SendGrid answered 429" in line[0], said
    assert fake.api_key not in said.out + said.err
    assert fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0  # asked again, and done
    assert not fake.suppressed("bob@example.org")


def test_the_sendgrid_stand_in_keeps_the_v3_contract_of_its_suppression_lists(fake):
    """What the delivery counts on, through the official client: 204 off the list, 404 not on it, 401 with a wrong
    key, 429 with its rate-limit headers."""
    import pytest
    import sendgrid
    from python_http_client.exceptions import HTTPError

    client = sendgrid.SendGridAPIClient(api_key=fake.api_key, host=fake.url).client
    fake.suppress("Ann@Example.org", "bounces")
    fake.suppress("bo+news@example.org", "unsubscribes")
    assert client.suppression.bounces._("ann@example.org").delete().status_code == 204
    assert client.asm.suppressions._("global")._("bo%2Bnews@example.org").delete().status_code == 204
    assert not fake.suppressed("ann@example.org") and not fake.suppressed("bo+news@example.org")
    for request in (lambda: client.suppression.bounces._("ann@example.org").delete(),
                    lambda: sendgrid.SendGridAPIClient(api_key="SG.wrong", host=fake.url).client
                    .suppression.bounces._("ann@example.org").delete()):
        with pytest.raises(HTTPError) as refused:
            request()
        assert refused.value.status_code in (404, 401)
    fake.fail_before(429, on="suppressions", reset_in=60)
    with pytest.raises(HTTPError) as limited:
        client.asm.suppressions._("global")._("ann@example.org").delete()
    assert limited.value.status_code == 429 and limited.value.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.value.headers["X-RateLimit-Reset"]) >= int(fake.now()) + 59


def test_forget_erases_a_return_still_waiting_to_be_taken_off_the_providers_lists(write_project):
    """`readmissions` holds who came back: a person erased leaves nothing there."""
    from pipeline.state import readmissions, subscribers

    config = write_project(newsletter_toml(), {"blog/post.md": POST, "subscribers.csv": "email,name\n"})
    assert main(["subscribers", "add", "cy@example.org", "-c", str(config)]) == 0
    store = _store(config)
    try:
        now = datetime.now(UTC)
        subscribers.remove(store, "cy@example.org", how="cli", at=now)
        request = subscribers.request_subscription(store, "cy@example.org", "", (), how="form", at=now)
        assert subscribers.confirm(store, request.subscriber.id, how="confirmation", at=now, request=request.id)
        assert [w.email for w in readmissions.due(store)] == ["cy@example.org"]
        subscribers.forget(store, "cy@example.org", at=now)
        assert store._rows("SELECT COUNT(*) FROM readmissions") == [(0,)]
    finally:
        store.close()


def test_a_resend_that_fails_again_exits_1_as_a_run_whose_sink_failed(write_project, capsys):
    """The resend's send failing again (cy's file still cannot be written) is the sink failing: one line saying so,
    exit 1 (README, "Exit codes"), and cy stays failed for the next try."""
    config, blocked = _failed_bob_and_cy(write_project)
    blocked[1].mkdir()  # cy's file still cannot be written
    capsys.readouterr()

    code = main(["deliveries", "-c", str(config), "--resend", "failed"])

    captured = capsys.readouterr()
    assert code == 1, captured
    assert "issue 1: 2 recipient(s) (failed) will be sent again" in captured.out
    assert "1 sent via outbox, 1 failed" in captured.err, captured.err
    assert _journal(config) == {"ann@example.org": "sent", "bob@example.org": "sent", "cy@example.org": "failed"}


def _bob_came_back(fake, write_project, monkeypatch):
    """Issue 1 sent to ann and bob; bob unsubscribed (and on SendGrid's global unsubscribes), then back through the
    form of `pipeline serve`: the project's config."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    fake.suppress("bob@example.org", "unsubscribes")
    store = _store(config)
    subscribers.unsubscribe(store, subscribers.find_subscriber(store, "bob@example.org").id, how="preferences page",
                            at=datetime.now(UTC))
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    return config
