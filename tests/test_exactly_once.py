"""Exactly once through `sendgrid`, whatever goes wrong: each fault injected by the fake SendGrid, a real
`pipeline run` killed with SIGKILL at many points, and re-runs. The fake's ledger says who receives what."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date

import pytest

from pipeline.runner import run, state_path
from pipeline.state import Store
from tests.newsletter_network import SUBSCRIBERS, everyone, statuses

AS_OF = date(2016, 3, 1)


def run_in_process(config):
    from pipeline.config import load_project
    return run(load_project(config), as_of=AS_OF)


@pytest.mark.parametrize("fault", ["fail_after", "drop_after", "fail_before", "drop_before"])
def test_a_request_in_doubt_is_cancelled_and_sent_again_once(fake, network, fault):
    config = network()
    getattr(fake, fault)()  # the first send answers badly, whether or not SendGrid took it

    report = run_in_process(config)

    assert report.exit_code == 0, report.results
    assert fake.delivered() == everyone()
    assert len(fake.cancelled_batches()) == 1
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


def test_an_address_sendgrid_refuses_fails_alone_and_everyone_else_gets_one_copy(fake, network):
    config = network()
    fake.refuse_addresses("reader7@example.org")  # in the first request of 20

    report = run_in_process(config)

    assert report.exit_code == 3 and not report.failed("sink")  # a hard bounce to tell; the send itself went well
    assert any("reader7@example.org bounced" in p for p in report.problems)
    assert fake.delivered() == everyone() - Counter({"reader7@example.org": 1})
    assert statuses(config) == Counter(sent=SUBSCRIBERS - 1, failed=1) and not fake.cancelled_batches()


def test_a_client_timeout_is_cancelled_and_sent_again_once(fake, network):
    config = network(extra="timeout = 0.5")
    fake.delay(1.5)  # accepted, but the answer comes after the client gave up

    assert run_in_process(config).exit_code == 0
    assert fake.delivered() == everyone()
    assert statuses(config) == Counter(sent=SUBSCRIBERS)


def test_rate_limits_are_waited_out_without_a_cancel(fake, network):
    config = network()
    fake.fail_before(429, times=2)

    assert run_in_process(config).exit_code == 0
    assert fake.delivered() == everyone() and not fake.cancelled_batches()


def test_a_cancel_that_comes_too_late_leaves_those_recipients_unknown_and_never_resent(fake, network):
    config = network()
    fake.fail_after(500)  # the first request's 20 recipients are in doubt...
    fake.cancel_too_late()  # ...and SendGrid will not cancel

    report = run_in_process(config)

    [sink] = report.failed("sink")
    assert "20 unknown" in sink.summary and "pipeline deliveries --issue 1" in sink.summary
    assert report.exit_code == 1
    assert statuses(config) == Counter(sent=SUBSCRIBERS - 20, unknown=20)
    assert fake.delivered() == everyone()  # in truth they got it: SendGrid kept the batch

    again = run_in_process(config)  # a re-run never sends the unknown ones blindly, and says so again

    assert fake.delivered() == everyone()
    assert statuses(config) == Counter(sent=SUBSCRIBERS - 20, unknown=20)
    assert again.exit_code == 3
    assert any("20 recipient(s) may or may not have the issue" in p for p in again.problems)


def test_the_organiser_can_resend_the_unknown_ones(fake, network, capsys):
    from pipeline.cli import main
    config = network()
    fake.fail_after(500)
    fake.cancel_too_late()
    run_in_process(config)

    code = main(["deliveries", "--config", str(config), "--issue", "1", "--resend", "unknown"])

    assert code == 0 and "20 recipient(s) (unknown) will be sent again" in capsys.readouterr().out
    assert statuses(config) == Counter(sent=SUBSCRIBERS)
    assert sorted(Counter(fake.delivered().values()).items()) == [(1, SUBSCRIBERS - 20), (2, 20)]  # as warned


def test_two_runs_racing_send_once(fake, network):
    config = network()
    fake.delay(1.5)  # the first send is slow to answer, so whichever run gets the lock is still sending
    procs = [subprocess.Popen(_pipeline_run(config), env=_env(fake), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0].decode() for p in procs]

    assert sorted(p.returncode for p in procs) == [0, 1]  # the second is told another run is in progress
    assert any("another run is in progress" in out for out in outputs)
    assert fake.delivered() == everyone()


# Kill points: (which request, how many of that kind so far, when). 120 readers in batches of 40 (two requests of 20)
# make 3 batch ids and 6 sends.
KILL_POINTS = [
    ("/v3/mail/batch", 1, "received"),  # before anything was journalled or sent
    ("/v3/mail/batch", 2, "accepted"),  # a batch id made, nothing sent with it
    ("/v3/mail/send", 1, "received"),  # in flight, SendGrid has not taken it
    ("/v3/mail/send", 1, "accepted"),  # SendGrid took half a batch, the answer never arrived
    ("/v3/mail/send", 2, "accepted"),  # a whole batch taken, not yet recorded as sent
    ("/v3/mail/send", 4, "accepted"),
    ("/v3/mail/send", 6, "accepted"),  # the last request
]


@pytest.mark.parametrize(("path", "nth", "phase"), KILL_POINTS)
def test_a_run_killed_at_any_point_then_run_again_sends_each_reader_exactly_once(fake, network, path, nth, phase):
    config = network()
    seen: Counter = Counter()
    victim: list[subprocess.Popen] = []

    def kill_at_the_point(n: int, request_path: str, request_phase: str) -> None:
        if request_phase == phase and request_path.startswith(path):
            seen[path] += 1
            if seen[path] == nth and victim:
                os.kill(victim[0].pid, signal.SIGKILL)
                victim[0].wait()

    fake.on_request(kill_at_the_point)
    victim.append(subprocess.Popen(_pipeline_run(config), env=_env(fake), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL))
    assert victim[0].wait(timeout=60) == -signal.SIGKILL
    fake.on_request(lambda *args: None)

    again = subprocess.run(_pipeline_run(config), env=_env(fake), capture_output=True, text=True, timeout=60)

    assert again.returncode == 0, again.stdout + again.stderr
    assert fake.delivered() == everyone()
    assert statuses(config) == Counter(sent=SUBSCRIBERS)
    assert not fake.errors


def _pipeline_run(config) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", "--config", str(config), "--as-of", AS_OF.isoformat()]


def _env(fake) -> dict[str, str]:
    return {**os.environ, "SENDGRID_API_KEY": fake.api_key, "NO_PROXY": "127.0.0.1,localhost"}


def test_state_path_is_where_the_tests_look(network):
    from pipeline.config import load_project
    config = network()
    assert state_path(load_project(config)) == config.parent / "state" / "pipeline.sqlite"


def test_an_outage_costs_few_cancellations_and_leaves_nobody_unknown(fake, network):
    config = network()
    fake.fail_before(503, times=1000)  # SendGrid refuses everything for a while; nothing is accepted

    first = run_in_process(config)

    assert first.exit_code == 1 and statuses(config) == Counter(failed=SUBSCRIBERS)
    assert len(fake.cancelled_batches()) <= 5  # a probe at a time once in doubt, well under SendGrid's 10
    fake.heal()
    again = run_in_process(config)  # the outage is over
    assert again.exit_code == 0 and fake.delivered() == everyone()


def test_someone_who_changes_themes_during_a_send_gets_one_copy(fake, network):
    from datetime import UTC, datetime

    from pipeline.state import subscribers as subscriber_state
    config = network()
    store = Store(config.parent / "state" / "pipeline.sqlite")
    reader = subscriber_state.import_rows(store, [("late@example.org", "Late", ("research",))], how="test",
                                          at=datetime.now(UTC))
    assert reader == 1
    moved = []

    def move_her(n, path, phase):  # while the main group is being sent, she changes her choice to everything
        if path.startswith("/v3/mail/send") and phase == "accepted" and not moved:
            late = subscriber_state.find_subscriber(store, "late@example.org")
            subscriber_state.set_themes(store, late.id, [], how="preferences page", at=datetime.now(UTC))
            moved.append(True)

    fake.on_request(move_her)
    report = run_in_process(config)
    store.close()

    assert report.exit_code == 0 and moved
    assert fake.delivered()["late@example.org"] == 1
