"""Review h199: what "Changed since issue N" (h197) and the provider alerts (h198) got wrong."""

from __future__ import annotations

import re

from pipeline.cli import main
from tests.test_review_h197 import issue, project, seminar, web_version


def test_a_venue_respelt_only_in_case_tells_nothing(write_project, feed_server):
    """Seminar 4's venue is typed again as 'Leeds Beckett university': the same place, nothing for anyone to act
    on, as a venue only spaced differently is. April's issue said it had moved."""
    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    (config.parent / "events.toml").write_text(
        seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "LEEDS BECKETT  University")
        + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    text, html = issue(config, "2016-04-01", 2)["fay@example.org"]
    assert "Seminar 6" in text
    assert "Changed since" not in text and "CHANGED SINCE" not in text and "Changed since" not in html


def test_a_cancelled_events_link_is_to_no_missing_page(write_project, feed_server):
    """Seminar 5 (no URL of its own: its page on the site) is cancelled: the email's 'cancelled' line links its page,
    which the site keeps, saying it was withdrawn."""
    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    (config.parent / "events.toml").write_text(
        seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds Beckett University")
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    text, html = issue(config, "2016-04-01", 2)["fay@example.org"]
    changed = text[text.index("CHANGED SINCE"):]
    assert "cancelled" in changed
    site = config.parent / "out"
    for link in re.findall(r"https://net\.example\.org/(\S+)", changed.split("EVENTS")[0]):
        path = link.split("?")[0].split("#")[0]
        assert "withdrawn by the organisers" in (site / path / "index.html").read_text(), link
    assert "cancelled" in web_version(config, 2)


def test_the_upgrade_takes_an_event_corrected_under_a_new_id_as_on_not_cancelled(write_project, feed_server):
    """Before the upgrade, seminar 5's `id` was corrected in events.toml: its old id is withdrawn, the same event on
    under the new one. The upgrade step took every withdrawn item of an issue as told cancelled, so the next issue
    said seminar 5 was 'on again', of an event no issue ever said was cancelled."""
    import sqlite3

    config = project(write_project, feed_server)
    issue(config, "2016-03-01", 1)
    folder = config.parent
    (folder / "events.toml").write_text(
        seminar(4, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds Beckett University")
        + seminar(5, "2016-05-18T10:00:00", "2016-05-18T16:00:00", "St Catherine's").replace(
            'id = "seminar-5"', 'id = "seminar-5-leeds"'))
    assert main(["refresh", "-c", str(config), "--as-of", "2016-03-15"]) == 0  # as the version before did
    (database,) = folder.glob("**/pipeline.sqlite")
    with sqlite3.connect(database) as db:  # as the version before left it
        db.execute("DROP TABLE told")
        db.execute("DROP TABLE edition_changes")
        db.execute("PRAGMA user_version = 17")
    (folder / "events.toml").write_text(
        (folder / "events.toml").read_text()
        + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    text, html = issue(config, "2016-04-01", 2)["fay@example.org"]
    assert "Seminar 6" in text
    assert "on again" not in text and "CHANGED SINCE" not in text
    assert "Seminar 5" not in text, text


def test_a_serve_started_after_the_issue_went_is_given_a_day_before_the_webhook_is_called_silent(
        fake, write_project, monkeypatch):
    """Issue 1 went out through SendGrid two days ago; `pipeline serve` was only started now. The alert
    `webhook:silent` opened at the next run, before SendGrid had had a moment to post anything to it: a day of
    listening is what tells a wrong Post URL from a quiet one."""
    import sqlite3

    from tests.test_review_h198 import _open_alerts, _reporting_project, _webhook

    config, key = _reporting_project(fake, write_project, monkeypatch)
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")  # the issue went out two days ago
    with db:
        db.execute("UPDATE deliveries SET updated_at = datetime(updated_at, '-2 days') || '+00:00'")
    db.close()
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" not in _open_alerts(config)  # no serve listens

    _webhook(config, key, [])  # serve started now, with its key
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" not in _open_alerts(config), _open_alerts(config)

    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")  # it has listened for two days: silent
    with db:
        db.execute("UPDATE counters SET value = value - 2 * 86400 WHERE name = 'sendgrid webhook: listening'")
    db.close()
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" in _open_alerts(config), _open_alerts(config)


def test_a_change_that_shows_nothing_sends_no_empty_issue(write_project, feed_server):
    """Hal follows peer support (events follow themes here). The peer support drop-in March's issue sent him is
    written again with its zone named Europe/Jersey, the same times (a change `changes.py` records, that shows
    nothing). April's issue has nothing new for him: he was sent an issue with nothing in it."""
    config = project(write_project, feed_server)
    config.write_text(config.read_text().replace('always_include = ["event"]', "always_include = []"))
    (config.parent / "subscribers.csv").write_text("email,name,themes\nfay@example.org,Fay,\n"
                                                   "hal@example.org,Hal,peer support\n")
    drop_in = seminar(9, "2016-06-23T13:30:00", "2016-06-23T16:00:00", "Leeds").replace(
        'venue = "Leeds"', 'venue = "Leeds"\nthemes = ["peer support"]')
    events = config.parent / "events.toml"
    events.write_text(drop_in)
    assert "Seminar 9" in issue(config, "2016-03-01", 1)["hal@example.org"][0]
    events.write_text(drop_in.replace('timezone = "Europe/London"', 'timezone = "Europe/Jersey"')
                      + seminar(6, "2016-07-06T10:00:00", "2016-07-06T16:00:00", "York", posted="2016-03-10"))
    second = issue(config, "2016-04-01", 2)
    assert "Seminar 6" in second["fay@example.org"][0]
    assert "Changed since" not in second["fay@example.org"][1]
    assert "hal@example.org" not in second, second.get("hal@example.org", ("",))[0]


def test_a_serve_restarted_every_day_does_not_put_off_the_silent_webhook_alert_for_ever(
        fake, write_project, monkeypatch):
    """The day of grace a serve started after the issue went is given is counted from when it began listening, not
    from its latest restart: a serve restarted daily (a deploy, a reboot) would otherwise never be called silent."""
    import sqlite3

    from tests.test_review_h198 import _open_alerts, _reporting_project, _webhook

    config, key = _reporting_project(fake, write_project, monkeypatch)
    _webhook(config, key, [])  # serve started with its key
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")  # two days ago, as the issue went
    with db:
        db.execute("UPDATE deliveries SET updated_at = datetime(updated_at, '-2 days') || '+00:00'")
        db.execute("UPDATE counters SET value = value - 2 * 86400 WHERE name = 'sendgrid webhook: listening'")
    db.close()
    _webhook(config, key, [])  # restarted now
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "webhook:silent" in _open_alerts(config), _open_alerts(config)


def test_a_spam_report_on_a_small_list_is_told_once_and_closes_with_the_next_issue(fake, write_project, monkeypatch):
    """One spam report of four reached (25%) opens `complaints:1`, told once however many runs follow; the next
    issue, which no one reports, closes it; a report of that issue opens `complaints:2`, told once more."""
    from tests.test_review_h152 import IDN_POST
    from tests.test_review_h198 import _event, _open_alerts, _reporting_project, _webhook

    config, key = _reporting_project(fake, write_project, monkeypatch)

    def told() -> int:
        return len([body for body in fake.accepted if "org@example.org" in str(body.get("personalizations"))])

    _webhook(config, key, [_event("spamreport", "bob@example.org")])
    for _ in range(2):
        assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    assert "complaints:1" in _open_alerts(config) and told() == 1
    (config.parent / "blog" / "2016-03-10.md").write_text(IDN_POST.format(title="March", day="2016-03-10", extra=""))
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not [key for key in _open_alerts(config) if key.startswith("complaints:")], _open_alerts(config)
    _webhook(config, key, [_event("spamreport", "cy@example.org")])
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert "complaints:2" in _open_alerts(config) and told() == 2
