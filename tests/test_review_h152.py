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
