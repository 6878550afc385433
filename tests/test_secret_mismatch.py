"""Which secret signs the mailed links: `pipeline serve` says which it checks them with, and warns when the mail
sent so far was signed with another (a run given PIPELINE_SECRET by its service, serve started by hand without it),
since it would refuse every link in that mail; a run that signs with another secret than the mail before it warns
too. Only a fingerprint of the secret is kept (`state/links-signed-with`), never the secret."""

from __future__ import annotations

import logging
import os
from datetime import UTC, date, datetime

from pipeline.cli import main
from pipeline.runner import run
from tests.conftest import make_item
from tests.serve_fixtures import ServeProcess, serve_project
from tests.test_email_sink import Fixed

SECRET = "a-secret-the-service-sets-0123456789"


def _serve(config, env: dict[str, str]) -> list[str]:
    """What `pipeline serve` says on standard error until it serves."""
    with ServeProcess(config, env) as serving:
        return serving.lines


def test_serve_warns_when_the_mail_sent_so_far_was_signed_with_another_secret(tmp_path, monkeypatch):
    project = serve_project(tmp_path / "p")
    monkeypatch.setenv("TEST_SERVE_SECRET", SECRET)
    assert main(["subscribers", "add", "ann@example.org", "--invite", "-c", str(project.config_path)]) == 0
    kept = (project.core.state_dir / "links-signed-with").read_text()
    assert SECRET not in kept and "TEST_SERVE_SECRET" in kept

    without = {k: v for k, v in os.environ.items() if k != "TEST_SERVE_SECRET"}
    lines = _serve(project.config_path, without)
    [warning] = [line for line in lines if line.startswith("warning:")]
    assert ("the links mailed so far were signed with the secret from the environment variable TEST_SERVE_SECRET, "
            f"and this server checks them with the one from {project.core.state_dir / 'secret'}") in warning
    assert SECRET not in "".join(lines)

    lines = _serve(project.config_path, {**without, "TEST_SERVE_SECRET": SECRET})
    assert not [line for line in lines if line.startswith("warning:")], lines
    assert "links are signed and checked with the secret from the environment variable TEST_SERVE_SECRET\n" in lines


def test_a_run_signing_with_another_secret_than_the_mail_before_warns(project_from, monkeypatch, caplog):
    plugin = Fixed([make_item(title="Peer support in Leeds", published=datetime(2016, 1, 20, tzinfo=UTC))])
    project = project_from("""
        [serve]
        secret_env = "TEST_SERVE_SECRET"
        [sources.fixed]
        type = "fixed"
        [sinks.newsletter]
        type = "email"
        subscribers = "subscribers.csv"
        from_email = "news@network.example.org"
        """, {"subscribers.csv": "email,name\nann@example.org,Ann\n"}, plugins=[("fixed", plugin)])
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    _invite(project, "bob@example.org")  # as `subscribers add --invite` or the form: signed with state/secret
    monkeypatch.setenv("TEST_SERVE_SECRET", SECRET)

    with caplog.at_level(logging.WARNING, logger="pipeline.sinks.email"):
        report = run(project, as_of=date(2016, 2, 1))

    assert report.exit_code == 0
    [warning] = [r.getMessage() for r in caplog.records if "signed with" in r.getMessage()]
    assert warning.startswith("this issue's links are signed with the secret from the environment variable "
                              f"TEST_SERVE_SECRET, the mail before it with the one from "
                              f"{project.core.state_dir / 'secret'}: a `pipeline serve` still using that one")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.sinks.email"):
        run(project, as_of=date(2016, 2, 1))  # the same issue again, signed as the last mail was: nothing to say
    assert not [r for r in caplog.records if "signed with" in r.getMessage()]


def _invite(project, email: str) -> None:
    from pipeline.runner import state_path
    from pipeline.state import Store
    from pipeline.subscribers.confirmation import ask_to_subscribe, send_confirmation
    from pipeline.subscribers.signing import Links

    store = Store(state_path(project))
    try:
        request = ask_to_subscribe(store, email, "", [], how="test", at=datetime.now(UTC), deliverer=None)
        send_confirmation(project, request, Links(project))
    finally:
        store.close()
