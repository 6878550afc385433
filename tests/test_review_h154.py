"""Review h154: the h152 changes to sending and subscribers (resend, ASCII links, lead images kept, SendGrid
re-admission, a rate limit far ahead)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.cli import main
from pipeline.state import journal
from tests.newsletter_network import newsletter_toml
from tests.test_review_h152 import _bob_came_back, _come_back_through_serve, _sendgrid_project, _store


def _issue(config, number: int) -> dict[str, str]:
    store = _store(config)
    try:
        return {r: s for r, s, _ in journal.listed(store, number, ("sent", "failed", "unknown", "in_flight"))}
    finally:
        store.close()


def test_someone_sendgrid_could_not_readmit_is_not_sent_the_issue_it_would_drop_but_gets_it_next_run(
        fake, write_project, monkeypatch, capsys):
    """Before: when SendGrid refused to take bob (who came back) off its global unsubscribes, the run said so, and
    handed him the issue all the same: SendGrid dropped it without a word, the journal said "sent", and the next
    run, which did take him off, never sent him that issue. Now he is left out of this send and recorded failed,
    so the next run takes him off the list first and then sends him the issue, once."""
    config = _bob_came_back(fake, write_project, monkeypatch)
    fake.fail_before(429, times=2, on="suppressions")
    capsys.readouterr()

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 1  # a delivery failed, as any

    said = capsys.readouterr()
    assert fake.api_key not in said.out + said.err
    assert "bob@example.org" not in fake.dropped, "handed to SendGrid while on its list: dropped"
    assert _issue(config, 2) == {"ann@example.org": "sent", "bob@example.org": "failed"}
    before = fake.delivered()["bob@example.org"]

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org")
    assert _issue(config, 2) == {"ann@example.org": "sent", "bob@example.org": "sent"}
    assert fake.delivered()["bob@example.org"] == before + 1 and "bob@example.org" not in fake.dropped


def _waiting(config) -> list[str]:
    from pipeline.state import readmissions

    store = _store(config)
    try:
        return [w.email for w in readmissions.due(store)]
    finally:
        store.close()


def test_a_dry_run_asks_sendgrid_to_delete_nothing_and_keeps_the_return_waiting(fake, write_project, monkeypatch):
    """(sound) `pipeline run --dry-run` with a return waiting: no DELETE reaches SendGrid, and the return still
    waits for the real run, which takes bob off."""
    config = _bob_came_back(fake, write_project, monkeypatch)
    mark = len(fake.log)  # (the confirmation's own delete from the invalid emails list before: review h198)
    assert _waiting(config) == ["bob@example.org"]
    assert main(["run", "--dry-run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert [r for r in fake.log[mark:] if r.method == "DELETE"] == []
    assert _waiting(config) == ["bob@example.org"] and fake.suppressed("bob@example.org")
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org") and _waiting(config) == []


def test_someone_who_came_back_and_left_again_before_the_send_stays_on_sendgrids_unsubscribes(
        fake, write_project, monkeypatch):
    """(sound) bob confirms again, then unsubscribes again before the next send: that send must not take him off
    SendGrid's global unsubscribes (he asked to get nothing); nor any later run, until he comes back once more."""
    from pipeline.state import subscribers

    config = _bob_came_back(fake, write_project, monkeypatch)
    mark = len(fake.log)  # (the confirmation's own delete from the invalid emails list before: review h198)
    store = _store(config)
    subscribers.unsubscribe(store, subscribers.find_subscriber(store, "bob@example.org").id, how="one-click",
                            at=datetime.now(UTC))
    store.close()
    for _ in range(2):
        assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert [r for r in fake.log[mark:] if r.method == "DELETE"] == []
    assert fake.suppressed("bob@example.org")
    assert "bob@example.org" not in fake.delivered() or fake.delivered()["bob@example.org"] == 2  # issue 1, confirm


def test_a_database_from_before_readmissions_is_read_by_status_and_migrated_by_a_run(fake, write_project,
                                                                                  monkeypatch, capsys):
    """(sound) A state database made before the table existed: `pipeline status` (read-only) reads it and writes
    nothing; the next run makes the table, and a return confirmed after it is taken off SendGrid's lists."""
    import sqlite3

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    path = config.parent / "state" / "pipeline.sqlite"
    db = sqlite3.connect(path)
    db.execute("DROP TABLE readmissions")
    db.commit()
    db.close()
    assert main(["status", "-c", str(config)]) in (0, 3)
    db = sqlite3.connect(path)
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'readmissions'").fetchone()
    db.close()
    config = _bob_came_back_after(fake, config)
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org")


def _bob_came_back_after(fake, config):
    from pipeline.state import subscribers

    fake.suppress("bob@example.org", "bounces")
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: bounce", at=datetime.now(UTC))
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    return config


# -- the email's links in ASCII (header_link) ---------------------------------------------------------------------

def test_a_link_in_an_item_whose_port_is_out_of_range_does_not_stop_the_email(pipeline_project):
    """Before: since every link of the email goes through `header_link`, an item's address outside ASCII with a port
    no URL parser takes (a post's lead image at https://bücher.de:99999/bild.png, as a source gave it) raised
    ValueError ("Port out of range") while the issue was rendered: the email sink failed, and nobody got the issue,
    every run, for one item's bad link. Now such an address is left as it is, as one whose host IDNA cannot take."""
    from datetime import date

    from tests.test_withdrawn import BLOG_TOML, post_file

    project = pipeline_project(BLOG_TOML, {
        "blog/feb.md": post_file("February post", "2016-01-25", "image: https://bücher.de:99999/bild.png\n"),
        "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))  # (fails the test when a sink failed)
    assert list((project.root / "outbox" / "issue-1").glob("*.eml"))


def test_header_link_keeps_a_port_the_user_and_what_is_escaped_and_leaves_ascii_alone():
    """A site or an item address outside ASCII: the host in IDNA, the port, a path's spaces and characters
    %-escaped, what is escaped already kept as it is (not escaped twice); an ASCII address byte for byte the same
    (even with a space). Before, the user part of an address (https://name@host/) was dropped."""
    from pipeline.mail.message import header_link

    assert header_link("https://bücher.de:8443/schöne neuigkeiten/") == \
        "https://xn--bcher-kva.de:8443/sch%C3%B6ne%20neuigkeiten/"
    assert header_link("https://bücher.de/sch%C3%B6ne/ö") == "https://xn--bcher-kva.de/sch%C3%B6ne/%C3%B6"
    assert header_link("https://network.example.org/a b/?x=1") == "https://network.example.org/a b/?x=1"
    assert header_link("http://[::1]:8080/ö") == "http://[::1]:8080/%C3%B6"
    assert header_link("https://leser@bücher.de/ö") == "https://leser@xn--bcher-kva.de/%C3%B6"


def test_a_rate_limit_far_ahead_on_sendgrids_suppression_lists_is_not_waited_out_person_by_person(
        fake, write_project, monkeypatch, capsys):
    """Before: a 429 from the suppression-list endpoints whose reset is hours away (their own cap) was retried, each
    retry waiting max_wait_seconds, for every returning subscriber in turn, all in vain, before the issue went to
    anyone: with the defaults (3 retries, 60 s) three minutes a person. Now the first such 429 is not retried, and
    no other return is asked of SendGrid in that run: each is said with the reset time, left out of the send and
    asked again by the next run. (max_wait_seconds is 0 here: the requests that reach SendGrid are counted.)"""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    readers = "email,name\nann@example.org,Ann\nbob@example.org,Bob\ncy@example.org,Cy\n"
    config = _sendgrid_project(fake, write_project, readers)
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    for address in ("bob@example.org", "cy@example.org"):
        fake.suppress(address, "unsubscribes")
        store = _store(config)
        subscribers.unsubscribe(store, subscribers.find_subscriber(store, address).id, how="preferences page",
                                at=datetime.now(UTC))
        store.close()
        _come_back_through_serve(fake, config, address)
    fake.fail_before(429, times=10_000, on="suppressions", reset_in=5 * 3600)
    capsys.readouterr()
    mark = len(fake.log)  # (each confirmation's own delete from the invalid emails list before: review h198)

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 1

    deletes = [r for r in fake.log[mark:] if r.method == "DELETE"]
    assert len(deletes) == 1, [(r.path, r.status) for r in deletes]
    said = capsys.readouterr()
    for address in ("bob@example.org", "cy@example.org"):
        line = [x for x in (said.out + said.err).splitlines() if f"subscriber {address}" in x]
        assert line and "X-RateLimit-Reset" in line[0], said
    assert _waiting(config) == ["bob@example.org", "cy@example.org"] or \
        sorted(_waiting(config)) == ["bob@example.org", "cy@example.org"]
    assert _issue(config, 2) == {"ann@example.org": "sent", "bob@example.org": "failed", "cy@example.org": "failed"}
    assert fake.api_key not in said.out + said.err


def test_someone_forgotten_after_bouncing_who_comes_back_is_taken_off_sendgrids_bounce_list(
        fake, write_project, monkeypatch):
    """(sound) `subscribers forget` keeps the address as a suppression, with an event of the status it left with,
    so bob, forgotten after he bounced, who comes back through the form, is still taken off SendGrid's bounce list
    before the next send and gets it (his consent record was erased, but not that he had left)."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    fake.suppress("bob@example.org", "bounces")
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: bounce", at=datetime.now(UTC))
    store.close()
    assert main(["subscribers", "forget", "bob@example.org", "-c", str(config)]) in (0, None)
    _come_back_through_serve(fake, config, "bob@example.org")
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped
    assert _issue(config, 2)["bob@example.org"] == "sent"


def test_someone_who_comes_back_while_the_send_runs_is_not_handed_to_sendgrid_before_it_takes_them_off(
        fake, write_project, monkeypatch):
    """Before: bob, who had unsubscribed (on SendGrid's global unsubscribes), pressed his confirmation button while
    the issue was being sent, after the delivery had been asked to take returns off its lists: the send picked him
    up as one who joined while it ran, and handed him to SendGrid, which dropped it; the journal said sent, so he
    never got that issue. Now one whose return still waits to be taken off the lists is left out of the send,
    recorded failed, and the next run takes him off first, then sends it to him once."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    fake.suppress("bob@example.org", "unsubscribes")
    store = _store(config)
    bob = subscribers.find_subscriber(store, "bob@example.org").id
    subscribers.unsubscribe(store, bob, how="preferences page", at=datetime.now(UTC))
    request = subscribers.request_subscription(store, "bob@example.org", "Bob", (), how="form", at=datetime.now(UTC))
    store.close()
    pressed = []

    def press_the_button(n, path, phase):  # in the stand-in, while the run waits for SendGrid's answer
        if path == "/v3/mail/send" and phase == "accepted" and not pressed:
            inside = _store(config)
            try:
                pressed.append(subscribers.confirm(inside, bob, how="confirmation", at=datetime.now(UTC),
                                                   request=request.id))
            finally:
                inside.close()
    fake.on_request(press_the_button)

    main(["run", "--as-of", "2016-04-01", "-c", str(config)])
    fake.on_request(None)

    assert pressed == [True]
    assert "bob@example.org" not in fake.dropped, "handed to SendGrid while on its list: dropped"
    assert _issue(config, 2) == {"ann@example.org": "sent", "bob@example.org": "failed"}
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped
    assert _issue(config, 2) == {"ann@example.org": "sent", "bob@example.org": "sent"}


def test_the_outbox_delivery_keeps_no_lists_so_a_return_is_done_with_and_sent_to_at_once(write_project):
    """(sound) The outbox (as smtp) has no `readmit` of its own: the default does nothing, the return is done with
    at the next send, and the one who came back gets the issue, exit 0, nothing held back."""
    from pipeline.state import subscribers
    from tests.test_review_h152 import IDN_POST, SENDGRID_SITE

    config = write_project(SENDGRID_SITE + newsletter_toml(), {
        "subscribers.csv": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n",
        "blog/2016-02-10.md": IDN_POST.format(title="February", day="2016-02-10", extra=""),
        "blog/2016-03-10.md": IDN_POST.format(title="March", day="2016-03-10", extra="")})
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    store = _store(config)
    bob = subscribers.find_subscriber(store, "bob@example.org").id
    subscribers.unsubscribe(store, bob, how="preferences page", at=datetime.now(UTC))
    request = subscribers.request_subscription(store, "bob@example.org", "Bob", (), how="form", at=datetime.now(UTC))
    assert subscribers.confirm(store, bob, how="confirmation", at=datetime.now(UTC), request=request.id)
    store.close()
    assert _waiting(config) == ["bob@example.org"]
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert _waiting(config) == []
    assert _issue(config, 2) == {"ann@example.org": "sent", "bob@example.org": "sent"}
