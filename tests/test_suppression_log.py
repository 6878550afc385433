"""The suppression log: whoever left after a backup was made stays off the list when that backup is put back.

Real projects on disk, the real CLI (`pipeline backup`, `subscribers`, `run`, `status`), `pipeline serve` for the
one-click unsubscribe and the SendGrid webhook, and the README's "Restoring" steps done as written.
"""

from __future__ import annotations

import base64
import email
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.state.subscribers import REAPPLIED
from tests.serve_fixtures import SERVE_TOML, LiveServer

SECRET = "a-long-enough-secret-for-the-suppression-log"
POSTS = ("from datetime import UTC, datetime\nfrom pipeline import hookimpl\nfrom pipeline.components import Source\n"
         "from pipeline.models import Item, Kind\n"
         "class Monthly(Source):\n    name = 'monthly'\n"
         "    def fetch(self, run):\n"
         "        return [Item(id=f'post-{m}', kind=Kind.POST, source='posts', title=f'Peer support news {m}',\n"
         "                     url=f'https://example.org/{m}', published=datetime(2016, m, 10, tzinfo=UTC),\n"
         "                     summary='News.', themes=['peer support']) for m in (2, 3, 4, 5)]\n"
         "@hookimpl\ndef register_sources(register):\n    register(Monthly)\n")
WEBHOOK_ENV = "TEST_SENDGRID_WEBHOOK_KEY"


def write_project(tmp_path: Path, monkeypatch) -> Path:
    """`serve`'s settings and a monthly source of posts, in `tmp_path`; its pipeline.toml."""
    monkeypatch.setenv("TEST_SERVE_SECRET", SECRET)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "posts.py").write_text(POSTS, encoding="utf-8")
    toml = SERVE_TOML.replace("workers = 1\n", 'workers = 1\nplugins_dir = "plugins"\n')
    (tmp_path / "pipeline.toml").write_text(toml + '\n[sources.posts]\ntype = "monthly"\n', encoding="utf-8")
    return tmp_path / "pipeline.toml"


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    return write_project(tmp_path, monkeypatch)


def cli(config: Path, *args: str) -> int:
    return main([*args, "--config", str(config)])


def add(config: Path, *addresses: str) -> None:
    for address in addresses:
        assert cli(config, "subscribers", "add", address, "--name", address.split("@")[0].title()) == 0


def run_issue(config: Path, as_of: str) -> None:
    assert main(["run", "--config", str(config), "--as-of", as_of]) == 0


def backup(config: Path) -> Path:
    copy = config.parent / "backups" / "state.sqlite3"
    copy.parent.mkdir(exist_ok=True)
    assert cli(config, "backup", str(copy)) == 0
    return copy


def restore(config: Path, copy: Path) -> None:
    """README, "Restoring": the database and its -wal and -shm moved aside, the copy put in its place; the rest of
    the state folder (the secret, the suppression log) stays as it is."""
    state = config.parent / "state"
    (state / "aside").mkdir(exist_ok=True)
    for name in ("pipeline.sqlite", "pipeline.sqlite-wal", "pipeline.sqlite-shm"):
        if (state / name).exists():
            (state / name).rename(state / "aside" / name)
    shutil.copyfile(copy, state / "pipeline.sqlite")


def issue_to(config: Path, number: int) -> set[str]:
    folder = config.parent / "outbox" / f"issue-{number}"
    return {email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"].addresses[0].addr_spec
            for p in folder.glob("*.eml")}


def row(config: Path, address: str) -> tuple | None:
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        return db.execute("SELECT id, status, name, themes FROM subscribers WHERE email = ?", (address,)).fetchone()
    finally:
        db.close()


def record(config: Path, address: str) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        return db.execute("SELECT e.status, e.how, e.detail FROM subscriber_events e JOIN subscribers s "
                          "ON s.id = e.subscriber WHERE s.email = ? ORDER BY e.id", (address,)).fetchall()
    finally:
        db.close()


def deliveries_to(config: Path, address: str) -> int:
    db = sqlite3.connect(config.parent / "state" / "pipeline.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM deliveries WHERE recipient = ?", (address,)).fetchone()[0]
    finally:
        db.close()


def one_click(config: Path, address: str, issue: int) -> str:
    """The path of `address`'s one-click link in the issue's message to them."""
    [path] = (config.parent / "outbox" / f"issue-{issue}").glob(f"{address}*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return re.match(r"<https://network\.example\.org(/unsubscribe/[^>]+)>", message["List-Unsubscribe"]).group(1)


def log_path(config: Path) -> Path:
    return config.parent / "state" / "suppressions.log"


def test_who_left_by_one_click_or_the_cli_after_a_backup_gets_nothing_once_it_is_put_back(config, capsys):
    add(config, "ann@example.org", "bob@example.org", "cy@example.org")
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"ann@example.org", "bob@example.org", "cy@example.org"}
    copy = backup(config)

    server = LiveServer(load_project(config)).start()  # `pipeline serve`: Ann leaves with the button in her mail
    try:
        left = httpx.post(server.url + one_click(config, "ann@example.org", 1), content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert left.status_code == 200
    finally:
        server.stop()
    assert cli(config, "subscribers", "remove", "bob@example.org") == 0  # Bob writes to the organiser
    capsys.readouterr()

    restore(config, copy)
    assert row(config, "ann@example.org")[1] == "active"  # the copy knows nothing of it
    assert cli(config, "status") == 0  # it only reads: it says what the next command will do
    assert "suppression log: 2 entries of people who left not yet checked" in capsys.readouterr().out
    assert row(config, "ann@example.org")[1] == "active"
    run_issue(config, "2016-04-01")
    assert issue_to(config, 2) == {"cy@example.org"}
    for address in ("ann@example.org", "bob@example.org"):
        assert row(config, address)[1:3] == ("unsubscribed", "")
        status, how, detail = record(config, address)[-1]
        assert (status, how) == ("unsubscribed", REAPPLIED) and "after the copy" in detail
    assert "2 addresses who left after this database's copy was made taken off the list again (2 unsubscribed)" \
        in capsys.readouterr().err
    run_issue(config, "2016-05-01")  # nothing more to do: no second entry
    assert [how for _, how, _ in record(config, "ann@example.org")].count(REAPPLIED) == 1

    assert cli(config, "status") == 0
    assert "re-applied 2 from the suppression log" in capsys.readouterr().out


def test_a_person_forgotten_after_the_backup_is_erased_again_leaving_only_the_suppression(config):
    add(config, "dan@example.org", "cy@example.org")
    run_issue(config, "2016-03-01")
    copy = backup(config)
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0

    restore(config, copy)
    assert deliveries_to(config, "dan@example.org") == 1 and len(record(config, "dan@example.org")) == 1
    assert cli(config, "subscribers", "list") == 0  # any command that writes replays the log
    dan_id, status, name, themes = row(config, "dan@example.org")
    assert (status, name, themes) == ("unsubscribed", "", "[]")
    [(status, how, detail)] = record(config, "dan@example.org")
    assert how == "erased at their request" and REAPPLIED in detail
    assert deliveries_to(config, "dan@example.org") == 0
    run_issue(config, "2016-04-01")
    assert issue_to(config, 2) == {"cy@example.org"}
    assert len(record(config, "dan@example.org")) == 1


def test_a_person_forgotten_after_the_backup_loses_their_outbox_mail_again_once_it_is_put_back(config):
    add(config, "dan@example.org", "cy@example.org")
    run_issue(config, "2016-03-01")
    run_issue(config, "2016-04-01")
    for address in ("dan@example.org", "cy@example.org"):  # a message each in outbox/messages/
        assert cli(config, "send-test", "--to", address, "--as-of", "2016-04-01") == 0
    copy = backup(config)
    outbox = config.parent / "outbox"
    shutil.copytree(outbox, config.parent / "backups" / "outbox")  # the outbox's files, as the backup had them
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0
    assert not list(outbox.rglob("*dan@example.org*"))

    restore(config, copy)
    shutil.rmtree(outbox)
    shutil.copytree(config.parent / "backups" / "outbox", outbox)
    assert len(list(outbox.glob("*/*dan@example.org*.eml"))) == 3
    assert cli(config, "subscribers", "list") == 0  # any command that writes replays the log
    assert row(config, "dan@example.org")[1:3] == ("unsubscribed", "")
    assert not list(outbox.rglob("*dan@example.org*"))
    assert issue_to(config, 1) == issue_to(config, 2) == {"cy@example.org"}
    assert len(list(outbox.glob("messages/*cy@example.org*.eml"))) == 1


def test_mail_that_cannot_be_deleted_after_a_replayed_erasure_is_one_warning_naming_no_address(config, capsys):
    from plugins.deliveries.outbox import file_name

    add(config, "dan@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0
    restore(config, copy)
    (config.parent / "outbox" / "issue-1" / file_name("dan@example.org")).mkdir(parents=True)  # cannot be unlinked
    capsys.readouterr()

    assert cli(config, "subscribers", "list") == 0
    warning = capsys.readouterr().err
    assert "the mail kept for 1 address erased again could not all be deleted" in warning
    assert "dan@" not in warning
    assert row(config, "dan@example.org")[1:3] == ("unsubscribed", "")


def webhook_headers(key: ec.EllipticCurvePrivateKey, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}


def test_a_bounce_and_a_complaint_from_the_sendgrid_webhook_after_the_backup_hold_after_it_is_put_back(
        config, monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setenv(WEBHOOK_ENV, base64.b64encode(public).decode("ascii"))
    add(config, "gone@example.org", "spam@example.org", "cy@example.org")
    run_issue(config, "2016-03-01")
    copy = backup(config)
    body = json.dumps([{"email": "gone@example.org", "event": "bounce", "timestamp": int(time.time())},
                       {"email": "spam@example.org", "event": "spamreport", "timestamp": int(time.time())}]).encode()
    server = LiveServer(load_project(config)).start()
    try:
        answer = httpx.post(server.url + "/webhooks/sendgrid", content=body, headers=webhook_headers(key, body))
        assert answer.status_code == 200, answer.text
    finally:
        server.stop()

    restore(config, copy)
    run_issue(config, "2016-04-01")
    assert issue_to(config, 2) == {"cy@example.org"}
    assert row(config, "gone@example.org")[1] == "bounced" and row(config, "spam@example.org")[1] == "complained"
    assert record(config, "spam@example.org")[-1][:2] == ("complained", REAPPLIED)


def test_who_left_and_came_back_before_the_backup_stays_subscribed(config):
    add(config, "eve@example.org", "fay@example.org")
    assert cli(config, "subscribers", "remove", "eve@example.org") == 0  # a line in the log for Eve
    server = LiveServer(load_project(config)).start()
    try:  # Eve comes back through the form and confirms
        with httpx.Client(base_url=server.url) as browser:
            form = browser.get("/subscribe").text
            token = re.search(r'name="form" value="([^"]+)"', form).group(1)
            assert browser.post("/subscribe", data={"form": token, "email": "eve@example.org"}).status_code == 200
        confirmation = server.wait_for_message("eve@example.org")
        link = re.search(r"https://network\.example\.org(/confirm/\S+)",
                         confirmation.get_body(("plain",)).get_content()).group(1)
        assert httpx.post(server.url + link).status_code == 200
    finally:
        server.stop()
    assert row(config, "eve@example.org")[1] == "active"
    copy = backup(config)
    forget_marker(copy)  # as a copy an earlier version made would be: every line of the log is checked against it
    assert cli(config, "subscribers", "remove", "fay@example.org") == 0  # Fay leaves after the backup

    restore(config, copy)
    assert cli(config, "status") == 0  # read as it is: without the marker's table
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"eve@example.org"}
    assert row(config, "fay@example.org")[1] == "unsubscribed"
    assert REAPPLIED not in [how for _, how, _ in record(config, "eve@example.org")]


def forget_marker(copy: Path) -> None:
    db = sqlite3.connect(copy)
    try:
        db.execute("DROP TABLE suppression_log")
        db.commit()
    finally:
        db.close()


def test_an_open_with_nothing_new_in_the_log_hashes_no_address_but_a_copy_put_back_does(config, monkeypatch):
    from pipeline.state import suppression_log

    add(config, "ann@example.org", "bob@example.org", "cy@example.org")
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "bob@example.org") == 0
    hashed = []
    digest = suppression_log.Key.digest
    monkeypatch.setattr(suppression_log.Key, "digest", lambda key, address: hashed.append(address) or
                        digest(key, address))
    assert cli(config, "subscribers", "list") == 0
    run_issue(config, "2016-03-01")
    assert hashed == []  # each leave kept the database's marker at the log's end
    assert issue_to(config, 1) == {"cy@example.org"}

    restore(config, copy)  # its marker is at Ann's line: Bob's is checked, against every address
    assert cli(config, "subscribers", "list") == 0
    assert sorted(set(hashed)) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    assert row(config, "bob@example.org")[1] == "unsubscribed"
    hashed.clear()
    assert cli(config, "subscribers", "list") == 0
    assert hashed == []


def test_a_dry_run_changes_no_subscriber_and_the_next_run_takes_them_off(config):
    add(config, "ann@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    restore(config, copy)
    assert main(["run", "--config", str(config), "--as-of", "2016-03-01", "--dry-run"]) == 0
    assert row(config, "ann@example.org")[1] == "active"
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_the_log_holds_no_address_and_is_its_owners_alone(config):
    add(config, "zoe.walker@sunnyvale-trust.org")
    assert cli(config, "subscribers", "remove", "zoe.walker@sunnyvale-trust.org") == 0
    add(config, "quinn@sunnyvale-trust.org")
    assert cli(config, "subscribers", "forget", "quinn@sunnyvale-trust.org") == 0
    data = log_path(config).read_bytes()
    assert len(data.splitlines()) == 2
    for part in (b"zoe.walker@sunnyvale-trust.org", b"zoe.walker", b"zoe", b"walker", b"sunnyvale", b"quinn",
                 "zoe.walker@sunnyvale-trust.org".upper().encode(), base64.b64encode(b"zoe.walker")):
        assert part.lower() not in data.lower()
    assert [line.split()[1] for line in data.splitlines()] == [b"unsubscribed", b"forgotten"]
    assert log_path(config).stat().st_mode & 0o777 == 0o600


def test_a_damaged_line_is_skipped_with_a_warning_naming_the_file_and_line_and_the_rest_applied(config, capsys):
    add(config, "ann@example.org", "bob@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    with open(log_path(config), "ab") as log:
        log.write(b"2026-13-45 unsubscribed nonsense\n")
    assert cli(config, "subscribers", "remove", "bob@example.org") == 0
    capsys.readouterr()

    restore(config, copy)
    assert cli(config, "subscribers", "list") == 0
    err = capsys.readouterr().err
    assert f"{log_path(config)}: line 2: not a line of this log" in err and "skipped" in err
    assert len([line for line in err.splitlines() if "line 2" in line]) == 1
    assert row(config, "ann@example.org")[1] == row(config, "bob@example.org")[1] == "unsubscribed"
    assert row(config, "cy@example.org")[1] == "active"


def test_a_missing_secret_is_one_line_and_nothing_is_lost_until_it_is_back(config, monkeypatch, capsys):
    monkeypatch.delenv("TEST_SERVE_SECRET")  # the secret is state/secret, made on first use
    add(config, "ann@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    secret = config.parent / "state" / "secret"
    assert secret.exists()
    secret.rename(config.parent / "secret-kept-elsewhere")
    capsys.readouterr()

    restore(config, copy)
    assert cli(config, "subscribers", "list") == 0
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "suppressions.log" in line]
    assert "1 entry not checked against the list" in line and "secret" in line and "nothing is lost" in line
    assert row(config, "ann@example.org")[1] == "active"  # not yet: the log cannot be matched without it
    assert not secret.exists()  # and no new secret was made for it
    assert len(log_path(config).read_bytes().splitlines()) == 1

    (config.parent / "secret-kept-elsewhere").rename(secret)
    assert cli(config, "subscribers", "list") == 0
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_a_missing_log_is_one_line(config, capsys):
    add(config, "ann@example.org")
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    assert cli(config, "subscribers", "list") == 0  # checked up to its end
    log_path(config).rename(config.parent / "moved.log")
    capsys.readouterr()
    assert cli(config, "subscribers", "list") == 0
    [line] = [line for line in capsys.readouterr().err.splitlines() if "suppressions.log" in line]
    assert "is missing" in line


KILLED_AFTER_THE_LINE = """
import os, signal, sys
from pipeline.cli import main
from pipeline.state import suppression_log

append = suppression_log.SuppressionLog._append

def dies_after_writing(log, lines):
    written = append(log, lines)
    os.kill(os.getpid(), signal.SIGKILL)  # the line is on the disk; the change is not committed yet
    return written

suppression_log.SuppressionLog._append = dies_after_writing
sys.exit(main(sys.argv[1:]))
"""


def test_the_line_is_on_disk_before_the_change_commits_so_a_crash_between_leaves_a_line_not_a_silent_leave(config):
    add(config, "ann@example.org", "cy@example.org")
    checkout = str(Path(__file__).resolve().parents[1])
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_THE_LINE, "subscribers", "remove", "ann@example.org",
                             "--config", str(config)], env={**os.environ, "PYTHONPATH": checkout},
                            capture_output=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(log_path(config).read_bytes().splitlines()) == 1
    assert row(config, "ann@example.org")[1] == "active"  # never committed
    run_issue(config, "2016-03-01")  # the line is applied before the send: she asked to leave
    assert issue_to(config, 1) == {"cy@example.org"}
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_a_log_that_cannot_be_written_is_one_warning_and_the_person_still_leaves(config, monkeypatch, capsys):
    from pipeline.state import suppression_log

    add(config, "ann@example.org")

    def disk_full(log, line):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(suppression_log.SuppressionLog, "_append", disk_full)
    capsys.readouterr()
    assert cli(config, "subscribers", "remove", "ann@example.org") == 0
    [line] = [line for line in capsys.readouterr().err.splitlines() if "suppressions.log" in line]
    assert "No space left on device" in line and "backup put back would not know" in line
    assert row(config, "ann@example.org")[1] == "unsubscribed"


def test_a_list_imported_with_statuses_after_the_backup_is_logged_in_one_write_and_holds_after_it_is_put_back(
        config, monkeypatch):
    from pipeline.state import suppression_log

    add(config, "ann@example.org", "bob@example.org", "cy@example.org")
    copy = backup(config)
    listed = config.parent / "left.csv"
    listed.write_text("email,name,status\nann@example.org,,unsubscribed\nbob@example.org,,bounced\n"
                      "new@example.org,,complained\n", encoding="utf-8")
    writes = []
    append = suppression_log.SuppressionLog._append
    monkeypatch.setattr(suppression_log.SuppressionLog, "_append",
                        lambda log, lines: writes.append(lines) or append(log, lines))
    assert cli(config, "subscribers", "import", str(listed)) == 0
    assert len(writes) == 1 and len(writes[0].splitlines()) == 3  # one write, one fsync, for the whole list

    restore(config, copy)
    run_issue(config, "2016-03-01")
    assert issue_to(config, 1) == {"cy@example.org"}
    assert (row(config, "ann@example.org")[1], row(config, "bob@example.org")[1]) == ("unsubscribed", "bounced")


def test_a_hard_bounce_of_the_smtp_delivery_after_the_backup_holds_after_it_is_put_back(config, smtp_server):
    from tests.mail_fixtures import Inbox

    inbox = Inbox(refuse=("gone@example.org",))
    port = smtp_server(inbox)
    text = config.read_text(encoding="utf-8").replace(
        'from_email = "news@network.example.org"\n', 'from_email = "news@network.example.org"\n'
        f'delivery = {{ type = "smtp", host = "127.0.0.1", port = {port}, starttls = false, timeout = 5 }}\n')
    config.write_text(text, encoding="utf-8")
    add(config, "gone@example.org", "cy@example.org")
    copy = backup(config)
    assert main(["run", "--config", str(config), "--as-of", "2016-03-01"]) == 3  # the refusal is reported
    assert row(config, "gone@example.org")[1] == "bounced"
    assert [m["to"] for m in inbox.received] == [["cy@example.org"]]

    restore(config, copy)
    inbox.received.clear()
    run_issue(config, "2016-04-01")
    assert [m["to"] for m in inbox.received] == [["cy@example.org"]]
    assert record(config, "gone@example.org")[-1][:2] == ("bounced", REAPPLIED)
