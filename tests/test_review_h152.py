"""Review h152: sending and subscriber gaps left open by the last review."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.cli import main
from pipeline.state import Store, journal
from tests.newsletter_network import POST, newsletter_toml

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

