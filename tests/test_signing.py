"""The signing secret (environment, or a file only its owner can read) and the tokens in links."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.errors import ConfigError
from pipeline.subscribers import signing
from pipeline.subscribers.signing import BadToken, ExpiredToken, Tokens

TOML = '[serve]\nsecret_env = "TEST_PIPELINE_SECRET"\n'


@pytest.fixture
def project(project_from, monkeypatch):
    monkeypatch.delenv("TEST_PIPELINE_SECRET", raising=False)
    return project_from(TOML + '[sinks.feed]\ntype = "rss"\n')


def test_without_the_variable_a_secret_is_made_once_readable_by_its_owner_only(project):
    os.umask(0o022)
    secret = signing.signing_secret(project)
    path = project.core.state_dir / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 32 and signing.signing_secret(project) == secret
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temporary file left behind


def test_processes_started_together_agree_on_one_secret(project):
    code = ("import hashlib, sys; from pipeline.config import load_project; from pipeline.subscribers import signing; "
            "print(hashlib.sha256(signing.signing_secret(load_project(sys.argv[1]))).hexdigest())")
    started = [subprocess.Popen([sys.executable, "-c", code, str(project.config_path)], stdout=subprocess.PIPE,
                                text=True) for _ in range(4)]
    digests = {p.communicate(timeout=60)[0].strip() for p in started}
    assert len(digests) == 1 and all(p.returncode == 0 for p in started)


def test_the_variable_wins_and_a_weak_or_exposed_secret_is_refused(project, monkeypatch):
    monkeypatch.setenv("TEST_PIPELINE_SECRET", "s" * 40)
    assert signing.signing_secret(project) == b"s" * 40
    assert not (project.core.state_dir / "secret").exists()
    monkeypatch.setenv("TEST_PIPELINE_SECRET", "short")
    with pytest.raises(ConfigError, match="TEST_PIPELINE_SECRET is set but shorter than 16") as caught:
        signing.signing_secret(project)
    assert "short'" not in str(caught.value)  # never printed
    monkeypatch.delenv("TEST_PIPELINE_SECRET")
    signing.signing_secret(project)
    path = project.core.state_dir / "secret"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others; run `chmod 600"):
        signing.signing_secret(project)


def test_links_carry_a_signed_id_never_the_address(project):
    links = signing.Links(project, secret=b"k" * 32)
    url = links.unsubscribe(7)
    assert url.startswith("https://network.example.org/unsubscribe/") and "@" not in url
    assert links.preferences(7).startswith("https://network.example.org/preferences/")
    assert links.confirm(7).startswith("https://network.example.org/confirm/")
    token = url.rsplit("/", 1)[1]
    assert links.tokens.read("unsubscribe", token) == 7


def test_forged_altered_or_misused_tokens_are_refused():
    tokens = Tokens(b"k" * 32)
    good = tokens.make("unsubscribe", 7)
    payload, signature = good.split(".", 1)
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    for bad in [f"{payload}.{flipped}", f"8.{signature}", f"07.{signature}", payload, "", "x" * 500,
                f"{payload}.{signature[:-1]}\u00e9", "\u00e9",  # not ASCII, as a percent-encoded path can be
                Tokens(b"other-secret-of-32-bytes-long!!!").make("unsubscribe", 7)]:
        with pytest.raises(BadToken):
            tokens.read("unsubscribe", bad)
    with pytest.raises(BadToken):  # an unsubscribe link never confirms a request, nor the other way round
        tokens.read("confirm", good)
    with pytest.raises(BadToken):
        tokens.read("unsubscribe", tokens.make("confirm", 7))
    assert tokens.read("preferences", good) == 7  # the preferences page can leave too: one token for both


def test_confirm_tokens_expire_after_seven_days_and_the_others_never():
    tokens = Tokens(b"k" * 32)
    confirm, unsubscribe = tokens.make("confirm", 3), tokens.make("unsubscribe", 3)
    later = datetime.now(UTC) + timedelta(days=7, minutes=1)
    assert tokens.read("confirm", confirm, now=datetime.now(UTC) + timedelta(days=6)) == 3
    with pytest.raises(ExpiredToken):
        tokens.read("confirm", confirm, now=later)
    assert tokens.read("unsubscribe", unsubscribe, now=later + timedelta(days=3650)) == 3
