"""Review h138: alerts through a delivery of their own ([alerts.delivery]), feed links from the root, blog folders
per post and the plain run table."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.cli import main

ORGANISER = "fay@network.example.org"
NEWSLETTER = ('[sources.partner]\ntype = "feed"\nurl = "down.xml"\n'
              '[sinks.newsletter]\ntype = "email"\nsubscribers = "subscribers.csv"\n'
              'from_email = "news@network.example.org"\n')


def alerting_project(write_project, delivery: str):
    """A newsletter whose one source always fails, alerting `ORGANISER` at once through `delivery`."""
    toml = (NEWSLETTER + f'[alerts]\nto = ["{ORGANISER}"]\nsource_failures = 1\n'
            f'[alerts.delivery]\ntype = "outbox"\nfolder = "alerts"\n{delivery}')
    return write_project(toml, {"down.xml": "not a feed", "subscribers.csv": f"email,name\n{ORGANISER},Fay\n"})


def refresh(config) -> int:
    return main(["refresh", "-c", str(config), "--as-of", "2016-03-01"])


def test_forget_deletes_the_alerts_the_alerts_own_outbox_kept_for_that_person(write_project):
    """An organiser on the list who asks to be erased: the alerts written to them by [alerts.delivery]'s outbox go
    with the rest of their mail, as README says of `subscribers forget` (the outbox's mail to them)."""
    config = alerting_project(write_project, "")
    assert main(["subscribers", "add", ORGANISER, "--config", str(config)]) == 0
    assert refresh(config) == 3
    alerts = config.parent / "alerts" / "messages"
    assert any(alerts.glob(f"*{ORGANISER}*"))

    assert main(["subscribers", "forget", ORGANISER, "--config", str(config)]) == 0
    assert not any(alerts.glob(f"*{ORGANISER}*"))


def test_the_alerts_own_outbox_keeps_no_message_past_keep_message_days(write_project):
    """README: the files in messages/ are kept `keep_message_days`; the alerts' own outbox never sends an issue, and
    so kept every alert for ever."""
    config = alerting_project(write_project, "keep_message_days = 30\n")
    old = config.parent / "alerts" / "messages" / (
        f"{datetime.now() - timedelta(days=31):%Y%m%d-%H%M%S-%f}-{ORGANISER}-0123456789.eml")
    old.parent.mkdir(parents=True)
    old.write_text("an alert of long ago")

    assert refresh(config) == 3
    assert not old.exists()
    assert len(list(old.parent.glob("*.eml"))) == 1  # this run's alert
