"""Review h138: alerts through a delivery of their own ([alerts.delivery]), feed links from the root, blog folders
per post and the plain run table."""

from __future__ import annotations

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

