"""Review h198: SendGrid's invalid emails list, and what SendGrid reports reaching the organiser."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.cli import main
from pipeline.state import Store
from tests.test_review_h152 import _come_back_through_serve, _sendgrid_project


def _store(config) -> Store:
    return Store(config.parent / "state" / "pipeline.sqlite")


# -- 1. SendGrid's invalid emails list and someone who comes back ---------------------------------------------------

def test_someone_on_sendgrids_invalid_emails_list_who_comes_back_gets_the_confirmation_and_the_issues(
        fake, write_project, monkeypatch):
    """Before: bob's address was once judged invalid by SendGrid (its mailbox did not exist then; SendGrid put it on
    its invalid emails list, and its webhook, "dropped: Invalid", marked him bounced here). He asked again through the
    form: the confirmation went past the bounce list and the global unsubscribes (bypass filters), but no bypass
    filter but bypass_list_management passes the invalid emails list, so SendGrid dropped it, and its webhook marked
    him bounced again; had he confirmed, `readmit` deleted him from the bounce list and the global unsubscribes only,
    so every issue was dropped too. Now the delivery deletes the address from the invalid emails list before it
    mails a confirmation, and `readmit` deletes it from that list too (404: not on it, fine)."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    fake.suppress("bob@example.org", "invalid_emails")
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: dropped", at=datetime.now(UTC),
                         detail="Invalid")
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    assert "bob@example.org" not in fake.dropped  # the confirmation reached him

    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0

    assert not fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped
    assert fake.delivered()["bob@example.org"] == 3  # issue 1, the confirmation, issue 2
    deletes = [r.path for r in fake.log if r.method == "DELETE"]
    assert "/v3/suppression/invalid_emails/bob@example.org" in deletes


def test_a_failure_to_take_someone_off_the_invalid_emails_list_is_said_and_tried_again(fake, write_project,
                                                                                      monkeypatch, capsys):
    """As for the bounce list: SendGrid refusing the delete from its invalid emails list is said by the run, naming
    the address; he is left out of that send, and the next run asks again, then sends."""
    from pipeline.state import subscribers

    monkeypatch.setenv("TEST_SECRET_H152", "a-secret-long-enough-for-links")
    config = _sendgrid_project(fake, write_project, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    assert main(["run", "--as-of", "2016-03-01", "-c", str(config)]) == 0
    store = _store(config)
    subscribers.suppress(store, "bob@example.org", "bounced", how="sendgrid webhook: dropped", at=datetime.now(UTC))
    store.close()
    _come_back_through_serve(fake, config, "bob@example.org")
    fake.suppress("bob@example.org", "invalid_emails")  # (listed again after his confirmation went out)
    real = fake._delete_suppression

    def refuse_invalid(entry, headers, raw, where):
        if where[0] == "invalid_emails":
            from tests.fake_sendgrid import _error
            return _error(403, "access forbidden")
        return real(entry, headers, raw, where)

    fake._delete_suppression = refuse_invalid
    capsys.readouterr()
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 1
    said = capsys.readouterr()
    line = [x for x in (said.out + said.err).splitlines() if "subscriber bob@example.org" in x]
    assert line and "invalid emails" in line[0], said
    assert fake.suppressed("bob@example.org") and "bob@example.org" not in fake.dropped

    fake._delete_suppression = real
    assert main(["run", "--as-of", "2016-04-01", "-c", str(config)]) == 0
    assert not fake.suppressed("bob@example.org") and fake.delivered()["bob@example.org"] == 3
