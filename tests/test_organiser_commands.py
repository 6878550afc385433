"""What organisers use around a send: `preview`, `send-test`, `run --dry-run` and `deliveries`."""

from __future__ import annotations

import email
import time
from datetime import UTC, datetime
from email import policy

from pipeline.cli import main
from pipeline.state import Store, journal
from tests.newsletter_network import POST, newsletter_toml

READERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"


def project(write_project):
    return write_project(newsletter_toml(), {"blog/post.md": POST, "subscribers.csv": READERS})


def sent_files(config) -> list[str]:
    return sorted(p.name for p in (config.parent / "outbox").rglob("*.eml"))


def counts(config):
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return journal.counts(store)
    finally:
        store.close()


def test_dry_run_does_everything_but_send_and_record(write_project, capsys):
    config = project(write_project)

    code = main(["run", "-c", str(config), "--as-of", "2016-03-01", "--dry-run"])

    out = capsys.readouterr().out
    assert code == 0
    assert ("dry run: issue 1 would go to 0 active subscribers in 0 version(s), and 2 new from subscribers.csv; "
            "nothing sent or recorded") in out
    assert (config.parent / "out" / "newsletter" / "issue-1.html").is_file()
    assert sent_files(config) == [] and counts(config) == {}
    store = Store(config.parent / "state" / "pipeline.sqlite")
    assert store.editions() == [] and store.count_items() == 1  # fetched and saved, no issue stored
    store.close()

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # the real run then sends it
    assert len(sent_files(config)) == 2


def test_a_dry_run_of_an_issue_sent_already_counts_only_those_a_run_would_send_it_to(write_project, capsys):
    config = project(write_project)
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # Ann and Bob get issue 1
    capsys.readouterr()

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01", "--dry-run"]) == 0

    assert ("dry run: issue 1 would go to 0 active subscribers in 0 version(s), 2 already sent; "
            "nothing sent or recorded") in capsys.readouterr().out


def test_preview_writes_the_issue_and_prints_its_path_without_recording(write_project, capsys):
    config = project(write_project)
    main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])
    capsys.readouterr()

    code = main(["preview", "-c", str(config), "--as-of", "2016-03-01"])

    printed = capsys.readouterr().out.strip()
    assert code == 0 and printed.endswith("issue-1.html")
    html = open(printed, encoding="utf-8").read()
    assert "Peer support in Leeds" in html and "%token%" not in html
    assert "https://network.example.org/unsubscribe/example" in html
    assert sent_files(config) == [] and counts(config) == {}


def _refreshed_with_an_old_template(write_project, capsys):
    """A project without an archive whose own copy of the email template links to one, refreshed."""
    config = write_project(newsletter_toml(), {"blog/post.md": POST, "subscribers.csv": READERS,
                                              "templates/email/issue.mjml": (
                                                  '<mjml><mj-body><mj-section><mj-column><mj-text><p><a href="'
                                                  '{{ archive_url }}">Past issues</a></p></mj-text></mj-column>'
                                                  '</mj-section></mj-body></mjml>')})
    main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])
    capsys.readouterr()
    return config


LATER_POST = """---
title: "Recovery college open day"
date: 2016-03-10
---

The recovery college opens its doors to service users, carers and staff for a day of taster sessions.
"""


def test_preview_without_a_date_shows_the_next_issue_once_the_latest_is_made(write_project, capsys):
    """An organiser looks at what is coming before it goes out: once the issue of the latest newsletter day is made,
    `preview` (and `send-test`) show the next one as it stands, not the one already sent; before, that one."""
    from zoneinfo import ZoneInfo

    from pipeline.commands.mail import _edition
    from pipeline.config import load_project

    config = project(write_project)
    tz = ZoneInfo("UTC")
    main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])
    loaded = load_project(config)
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        before = _edition(loaded, store, None, now=datetime(2016, 3, 5, 12, tzinfo=tz))
    finally:
        store.close()
    assert (before.number, before.as_of.isoformat()) == (1, "2016-03-01")

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # issue 1 made and sent
    (config.parent / "blog" / "later.md").write_text(LATER_POST, encoding="utf-8")
    main(["refresh", "-c", str(config), "--as-of", "2016-03-15"])
    capsys.readouterr()
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        after = _edition(loaded, store, None, now=datetime(2016, 3, 20, 12, tzinfo=tz))
        assert [e.number for e in store.editions()] == [1]  # nothing recorded
    finally:
        store.close()
    titles = [item.title for items in after.sections.values() for item in items]
    assert (after.number, after.as_of.isoformat(), titles) == (2, "2016-04-01", ["Recovery college open day"])


def test_preview_of_a_new_project_shows_what_was_posted_since_its_latest_newsletter_day(write_project, capsys):
    """A new project's latest newsletter day was never made and holds nothing: what the organiser posted since is
    in the next issue, and `preview` (and `send-test`) show that one, as "Your own project" says."""
    from zoneinfo import ZoneInfo

    from pipeline.commands.mail import _edition
    from pipeline.config import load_project

    config = write_project(newsletter_toml(), {"blog/later.md": LATER_POST, "subscribers.csv": READERS})
    main(["refresh", "-c", str(config), "--as-of", "2016-03-15"])
    capsys.readouterr()
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        coming = _edition(load_project(config), store, None, now=datetime(2016, 3, 20, 12, tzinfo=ZoneInfo("UTC")))
        assert store.editions() == []  # nothing recorded
    finally:
        store.close()
    titles = [item.title for items in coming.sections.values() for item in items]
    assert (coming.number, coming.as_of.isoformat(), titles) == (1, "2016-04-01", ["Recovery college open day"])


def test_preview_may_look_at_a_date_to_come_but_a_run_may_not(write_project, capsys):
    from datetime import date

    from pipeline.edition import month_after

    today = date.today()
    coming = month_after(today.replace(day=1))  # the first of next month: its period is this month
    post = POST.replace("2016-02-15", today.isoformat())
    config = write_project(newsletter_toml(), {"blog/post.md": post, "subscribers.csv": READERS})
    main(["refresh", "-c", str(config)])
    capsys.readouterr()

    assert main(["preview", "-c", str(config), "--as-of", coming.isoformat()]) == 0
    html = open(capsys.readouterr().out.strip(), encoding="utf-8").read()
    assert "Peer support in Leeds" in html
    assert main(["run", "-c", str(config), "--as-of", coming.isoformat()]) == 2
    assert f"{coming} is in the future" in capsys.readouterr().err
    assert sent_files(config) == [] and counts(config) == {}


def test_preview_names_a_template_whose_link_leads_nowhere(write_project, capsys):
    # An own copy of the email template linking to the archive, in a project without one: what a run would
    # report as a problem, preview says too (exit 3, as a run with problems), and still writes the issue.
    config = _refreshed_with_an_old_template(write_project, capsys)

    code = main(["preview", "-c", str(config), "--as-of", "2016-03-01"])

    captured = capsys.readouterr()
    assert code == 3 and captured.out.strip().endswith("issue-1.html")
    assert f"template {config.parent / 'templates' / 'email' / 'issue.mjml'}: a link of the issue has no address" \
        in " ".join(captured.err.split())


def test_preview_with_nothing_stored_says_what_to_do(write_project, capsys):
    config = project(write_project)

    assert main(["preview", "-c", str(config), "--as-of", "2016-03-01"]) == 1
    assert "run `pipeline refresh`" in capsys.readouterr().err


def test_send_test_marks_the_subject_and_records_nothing(write_project, capsys):
    config = project(write_project)
    main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])

    code = main(["send-test", "-c", str(config), "--to", "Editor@Example.org", "--as-of", "2016-03-01"])

    assert code == 0 and "nothing recorded" in capsys.readouterr().out
    [path] = (config.parent / "outbox" / "messages").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Subject"] == "[TEST] Test Network: issue 1, March 2016"
    assert message["To"].addresses[0].addr_spec == "editor@example.org"
    assert counts(config) == {}
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0  # the list still gets it
    assert len(list((config.parent / "outbox" / "issue-1").glob("*.eml"))) == 2


def test_send_test_names_a_template_whose_link_leads_nowhere_and_still_sends(write_project, capsys):
    # The test email is how an organiser looks at the issue in a real mail client: what the run would report of
    # it, and preview says, it says too (exit 3), after sending it.
    config = _refreshed_with_an_old_template(write_project, capsys)

    code = main(["send-test", "-c", str(config), "--to", "editor@example.org", "--as-of", "2016-03-01"])

    captured = capsys.readouterr()
    assert code == 3 and "nothing recorded" in captured.out
    assert f"template {config.parent / 'templates' / 'email' / 'issue.mjml'}: a link of the issue has no address" \
        in " ".join(captured.err.split())
    assert len(list((config.parent / "outbox" / "messages").glob("*.eml"))) == 1


def test_send_test_refuses_a_bad_address(write_project, capsys):
    config = project(write_project)
    assert main(["send-test", "-c", str(config), "--to", "not an address"]) == 2
    assert "is not an email address" in capsys.readouterr().err


def test_deliveries_lists_each_issue_and_the_recipients_not_sent(write_project, capsys):
    config = project(write_project)
    main(["run", "-c", str(config), "--as-of", "2016-03-01"])
    store = Store(config.parent / "state" / "pipeline.sqlite")
    now = datetime.now(UTC)
    journal.begin_batch(store, batch="b1", edition=1, channel="outbox", recipients=["cat@example.org"],
                        send_at=None, at=now)
    journal.settle_batch(store, batch="b1", edition=1, at=now,
                         outcomes=[journal.Outcome("cat@example.org", journal.UNKNOWN, error="lost after DATA")])
    store.close()
    capsys.readouterr()

    code = main(["deliveries", "-c", str(config), "--issue", "1"])

    out = capsys.readouterr().out
    assert code == 3  # something needs the organiser
    assert out.splitlines()[1].split() == ["1", "2", "0", "1", "0"]
    assert "unknown: cat@example.org: lost after DATA" in out



def test_deliveries_can_be_watched_while_a_send_holds_the_run_lock_but_resend_waits(write_project, capsys):
    """`pipeline deliveries` took the run lock to count, so during a send (the very time an organiser watches it)
    it said 'another run is in progress' (exit 1). Counting now reads only, as `status` does; `--resend`, which
    changes the journal and sends, still needs the lock."""
    import fcntl

    config = project(write_project)
    main(["run", "-c", str(config), "--as-of", "2016-03-01"])
    capsys.readouterr()
    with open(config.parent / "state" / "pipeline.lock", "w") as lock:  # a send in another process
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        watched = main(["deliveries", "-c", str(config)])
        out = capsys.readouterr().out
        resent = main(["deliveries", "-c", str(config), "--resend", "failed"])
        err = capsys.readouterr().err

    assert watched == 0 and out.splitlines()[1].split() == ["1", "2", "0", "0", "0"], out
    assert resent == 1 and "another run is in progress" in err, err

def test_an_outbox_batch_left_in_flight_is_settled_by_the_files_it_wrote(write_project):
    from pipeline.config import load_project
    from pipeline.mail.sending import settle_open_batches

    config = project(write_project)
    deliverer = load_project(config).sinks[0].deliverer
    store = Store(config.parent / "state" / "pipeline.sqlite")
    now = datetime.now(UTC)
    store.create_edition(datetime(2016, 3, 1).date(), now, now, lambda n: "Issue 1", [], now)
    journal.begin_batch(store, batch="killed", edition=1, channel="outbox",
                        recipients=["ann@example.org", "bob@example.org"], send_at=None, at=now)
    written = deliverer.path_for(1, "ann@example.org")  # the run was killed after writing ann's file
    written.parent.mkdir(parents=True)
    written.write_bytes(b"Subject: issue 1\r\n\r\nbody")

    lines = settle_open_batches(store, deliverer, lambda: now)

    assert lines == ["issue 1: batch killed left in flight by an interrupted run: 1 sent, 1 to send again, 0 unknown"]
    assert journal.counts(store) == {1: {"sent": 1}} and journal.open_batches(store) == []
    store.close()


def test_resend_without_issue_sends_the_latest_issue_again(write_project, capsys):
    from plugins.deliveries.outbox import file_name

    config = project(write_project)
    blocked = config.parent / "outbox" / "issue-1" / file_name("bob@example.org")
    blocked.mkdir(parents=True)  # bob's file cannot be written: bob is failed
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 1
    blocked.rmdir()
    capsys.readouterr()

    code = main(["deliveries", "-c", str(config), "--resend", "failed"])

    assert code == 0 and "issue 1: 1 recipient(s) (failed) will be sent again" in capsys.readouterr().out
    assert blocked.is_file()
    assert counts(config) == {1: {"sent": 2}}
    assert main(["deliveries", "-c", str(config), "--issue", "2", "--resend", "failed"]) == 2  # no issue 2
    store = Store(config.parent / "state" / "pipeline.sqlite")
    now = datetime.now(UTC)
    store.create_edition(datetime(2016, 4, 1).date(), now, now, lambda n: "Issue 2", [], now)
    store.close()
    capsys.readouterr()
    assert main(["deliveries", "-c", str(config), "--issue", "1", "--resend", "failed"]) == 2  # not the latest
    assert "--resend needs --issue 2, or no --issue" in capsys.readouterr().err

    # Nobody failed issue 2 (nobody had it yet): nothing is sent, though the sink would send it to everyone.
    assert main(["deliveries", "-c", str(config), "--resend", "failed"]) == 0
    assert "issue 2: no recipient is failed; nothing sent" in capsys.readouterr().out
    assert counts(config) == {1: {"sent": 2}}


def test_resend_sends_to_those_it_names_only_not_to_who_joined_since(write_project, capsys):
    """`--resend failed` sends the latest issue again to its failed recipients; someone who joined after it went
    out is not sent last month's issue by it (as the scheduler's resume leaves them too)."""
    from plugins.deliveries.outbox import file_name

    config = project(write_project)
    blocked = config.parent / "outbox" / "issue-1" / file_name("bob@example.org")
    blocked.mkdir(parents=True)  # bob's file cannot be written: bob is failed
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 1
    blocked.rmdir()
    assert main(["subscribers", "add", "cy@example.org", "-c", str(config)]) == 0  # joins after issue 1
    capsys.readouterr()

    assert main(["deliveries", "-c", str(config), "--resend", "failed"]) == 0

    out = capsys.readouterr().out
    assert "issue 1: 1 recipient(s) (failed) will be sent again" in out and "1 sent via outbox" in out
    assert blocked.is_file() and counts(config) == {1: {"sent": 2}}
    assert not list((config.parent / "outbox").rglob("*cy@example.org*"))


def test_deliveries_refuses_an_issue_that_does_not_exist(write_project, capsys):
    config = project(write_project)
    assert main(["deliveries", "-c", str(config), "--issue", "7"]) == 2
    assert "--issue 7: there is no issue 7; no issue has been made yet" in capsys.readouterr().err
    main(["run", "-c", str(config), "--as-of", "2016-03-01"])
    capsys.readouterr()

    assert main(["deliveries", "-c", str(config), "--issue", "7"]) == 2
    assert "--issue 7: there is no issue 7; the latest is issue 1" in capsys.readouterr().err
    assert main(["deliveries", "-c", str(config), "--issue", "1"]) == 0


SLOW_DELIVERY = """
import threading

from pipeline import hookimpl
from pipeline.components import Deliverer


class Never(Deliverer):
    name = "never"

    def send(self, messages, run):
        threading.Event().wait()  # never set: as a socket whose server never answers


@hookimpl
def register_deliveries(register):
    register(Never)
"""


def test_send_test_through_a_delivery_that_never_returns_stops_at_the_sinks_deadline(write_project, capsys):
    config = write_project('[pipeline]\nname = "Test Network"\nsite_url = "https://network.example.org"\n'
                           'plugins_dir = "local"\n' + newsletter_toml(sink="deadline = 1", delivery='type = "never"'),
                           {"blog/post.md": POST, "subscribers.csv": READERS, "local/never.py": SLOW_DELIVERY})
    main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])
    capsys.readouterr()

    started = time.monotonic()
    code = main(["send-test", "-c", str(config), "--to", "editor@example.org", "--as-of", "2016-03-01"])

    assert code == 1 and time.monotonic() - started < 10  # it waited for ever
    assert "send-test: the never delivery did not return within 1 s; nothing was recorded" in \
        " ".join(capsys.readouterr().err.split())
    assert main(["deliveries", "-c", str(config)]) == 0  # nothing recorded, and the state folder is free
