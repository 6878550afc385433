"""[alerts.delivery]: the organisers' alerts through a delivery of their own, so that they hear when the newsletter's
delivery is what fails (a SendGrid key revoked, a relay down), and with no email sink at all; and, without one, an
alert the newsletter's delivery could not send said plainly, kept and sent after a later run."""

from __future__ import annotations

import email
from email import policy

import pytest

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.errors import ConfigError
from pipeline.state import Store, alerts
from tests.mail_fixtures import HeldPortController, Inbox, held_port
from tests.newsletter_network import POST, project_toml, readers_csv

ORGANISER = "fay@network.example.org"


def smtp_table(port: int, table: str = "[alerts.delivery]") -> str:
    return f'{table}\ntype = "smtp"\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\ntimeout = 5\n'


def sendgrid_network(write_project, fake, alerts_table: str):
    """The newsletter through the SendGrid stand-in, `[alerts]` told at once, and `alerts_table` after it."""
    toml = project_toml(fake.url) + f'\n[alerts]\nto = ["{ORGANISER}"]\nsource_failures = 1\n' + alerts_table
    return write_project("\n".join(line.strip() for line in toml.splitlines()),
                         {"subscribers.csv": readers_csv(), "blog/post.md": POST})


def run(config, *args: str) -> int:
    return main(["run", "-c", str(config), "--as-of", "2016-03-01", *args])


def bodies(messages) -> list[str]:
    return [" ".join(m.get_body(("plain",)).get_content().split()) for m in messages]


def untold_keys(config) -> list[str]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return [alert.key for alert in alerts.open_alerts(store) if alert.notified_at is None]
    finally:
        store.close()


@pytest.fixture
def inbox():
    """(a real SMTP server's inbox on 127.0.0.1, its port), stopped after the test."""
    box = Inbox()
    controller = HeldPortController(box)
    controller.start()
    yield box, controller.port
    controller.stop()


def test_a_revoked_sendgrid_key_reaches_the_organisers_through_the_alerts_own_smtp(write_project, fake, inbox):
    box, port = inbox
    config = sendgrid_network(write_project, fake, smtp_table(port))
    fake.api_key = "SG.rotated-since"  # the key the pipeline holds is revoked: SendGrid answers 401 to everything

    assert run(config) == 1
    assert fake.delivered() == {}  # neither the issue nor the alert went through SendGrid
    [alert] = [received["message"] for received in box.received]
    assert str(alert["To"]) == ORGANISER and str(alert["From"]).endswith("<news@network.example.org>")
    assert str(alert["Subject"]) == "[Test Network] issue 1: 120 failed (and 1 more)"
    [body] = bodies([alert])
    assert "2. A run failed (sink newsletter)" in body
    assert "SendGrid answered 401" in body and "SENDGRID_API_KEY" in body  # the failure, named
    assert untold_keys(config) == []

    assert run(config) == 1  # the same problem: not told again
    assert len(box.received) == 1


def test_without_it_an_alert_the_newsletters_delivery_cannot_send_is_said_with_what_to_do_and_kept(
        write_project, fake, capsys):
    config = sendgrid_network(write_project, fake, "")
    key = fake.api_key
    fake.api_key = "SG.rotated-since"

    assert run(config) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "alerts: the organisers could not be told (" in out and "SendGrid answered 401" in out
    assert "through [sinks.newsletter.delivery] of pipeline.toml; tried again after the next run" in out
    assert "give the alerts a delivery of their own, [alerts.delivery]" in out  # what to do about it
    assert "skipped: alerts" not in out  # not a record skipped: the organisers not told
    assert "run:run" in untold_keys(config)
    assert main(["status", "-c", str(config)]) == 0
    assert "organisers not told yet" in capsys.readouterr().out

    assert run(config) == 1
    assert "alerts: the organisers could not be told (" in capsys.readouterr().out  # tried after each run, said again

    fake.api_key = key  # the key put right: the issue goes out, and the problems it raised close
    assert run(config) == 0
    assert untold_keys(config) == []


def test_a_project_with_no_email_sink_alerts_through_its_own_delivery_from_its_own_sender(write_project, inbox):
    box, port = inbox
    config = write_project(
        '[sources.partner]\ntype = "feed"\nurl = "down.xml"\n[sinks.feed]\ntype = "rss"\n'
        f'[alerts]\nto = ["{ORGANISER}"]\nsource_failures = 1\nfrom_email = "alerts@network.example.org"\n'
        + smtp_table(port), {"down.xml": "not a feed"})

    assert main(["refresh", "-c", str(config), "--as-of", "2016-03-01"]) == 3
    [alert] = [received["message"] for received in box.received]
    assert str(alert["From"]) == "Test Network <alerts@network.example.org>" and str(alert["To"]) == ORGANISER
    assert str(alert["Subject"]) == "[Test Network] the source 'partner' has failed 1 run in a row"


def test_its_own_outbox_keeps_the_alerts_apart_from_the_newsletters(write_project, fake):
    config = sendgrid_network(write_project, fake, '[alerts.delivery]\ntype = "outbox"\nfolder = "alerts"\n')
    fake.api_key = "SG.rotated-since"
    assert run(config) == 1
    [written] = (config.parent / "alerts" / "messages").glob("*.eml")
    alert = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert "SendGrid answered 401" in bodies([alert])[0]


@pytest.mark.parametrize(("table", "said"), [
    ('[alerts.delivery]\ntype = "smtp"\nhost = "127.0.0.1"\npassword = "hunter2"\n',
     r"pipeline\.toml: \[alerts\.delivery\] \(smtp\): .*password"),
    ('[alerts.delivery]\nhost = "127.0.0.1"\n',
     r"pipeline\.toml: \[alerts\.delivery\]: missing `type`; one of: .*smtp"),
    ('[alerts.delivery]\ntype = "sendgrid"\napi_key_env = "ALERTS_SENDGRID_KEY"\n',
     r"pipeline\.toml: \[alerts\.delivery\]: sendgrid delivery: environment variable ALERTS_SENDGRID_KEY is not set"),
    ('[alerts.delivery]\ntype = "rss"\n', r"\[alerts\.delivery\]: 'rss' is a sink type, not a delivery one"),
])
def test_its_table_is_checked_at_start_as_a_sinks_delivery_is(write_project, capsys, table, said):
    config = write_project('[sources.partner]\ntype = "feed"\nurl = "down.xml"\n[sinks.newsletter]\ntype = "email"\n'
                           f'from_email = "news@network.example.org"\n[alerts]\nto = ["{ORGANISER}"]\n' + table)
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    with pytest.raises(ConfigError, match=said):
        load_project(config)


def test_with_no_email_sink_its_sender_must_be_given(write_project):
    config = write_project('[sources.partner]\ntype = "feed"\nurl = "down.xml"\n[sinks.feed]\ntype = "rss"\n'
                           f'[alerts]\nto = ["{ORGANISER}"]\n[alerts.delivery]\ntype = "outbox"\n',
                           {"down.xml": "not a feed"})
    with pytest.raises(ConfigError, match=r"pipeline\.toml: \[alerts\] from_email: there is no email sink"):
        load_project(config)


def test_send_test_alerts_tries_the_alert_path_and_says_when_it_fails(write_project, fake, capsys):
    held = held_port()  # refused until the server starts on it
    box = Inbox()
    config = sendgrid_network(write_project, fake, smtp_table(held.getsockname()[1]))
    controller = HeldPortController(box, held)
    try:
        assert main(["send-test", "-c", str(config), "--alerts"]) == 1
        err = " ".join(capsys.readouterr().err.split())
        assert "test alert not sent: " in err and "via smtp through [alerts.delivery] of pipeline.toml" in err

        controller.start()
        assert main(["send-test", "-c", str(config), "--alerts"]) == 0
        assert f"test alert sent to {ORGANISER} via smtp" in " ".join(capsys.readouterr().out.split())
    finally:
        controller.stop(no_assert=True)  # not started, when the first send did not fail as it should
    [test] = [received["message"] for received in box.received]
    assert str(test["Subject"]).startswith("[TEST] [Test Network]") and str(test["To"]) == ORGANISER
    assert fake.delivered() == {}  # not through the newsletter's delivery
    assert not (config.parent / "state" / "pipeline.sqlite").exists()  # nothing recorded


def test_a_damaged_state_database_is_told_through_it_too(write_project, fake, inbox):
    box, port = inbox
    config = sendgrid_network(write_project, fake, smtp_table(port))
    fake.api_key = "SG.rotated-since"
    state = config.parent / "state"
    state.mkdir()
    (state / "pipeline.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)

    assert run(config) == 2
    [alert] = [received["message"] for received in box.received]
    assert "the state database is damaged" in str(alert["Subject"]) and str(alert["To"]) == ORGANISER
    assert fake.statuses == []  # SendGrid was never asked
