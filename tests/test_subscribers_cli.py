"""`pipeline subscribers …` and `pipeline serve` from the command line, on tmp_path projects."""

from __future__ import annotations

import csv
import os
import re
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipeline.cli import main
from pipeline.config import load_project
from pipeline.errors import ConfigError
from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.serve_fixtures import SERVE_TOML, serving_port

LIST = "email,name,themes\nann@example.org,Ann,research\nbob@example.org,Bob,\nbad-row,Nobody,\n"


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    (tmp_path / "list.csv").write_text(LIST, encoding="utf-8")
    path = tmp_path / "pipeline.toml"
    path.write_text(SERVE_TOML, encoding="utf-8")
    return path


def pipeline(config: Path, *args: str) -> int:
    return main(["subscribers", *args, "--config", str(config)])


def statuses(config: Path) -> dict[str, str]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return {s.email: s.status for s, _ in subs.listing(store)}
    finally:
        store.close()


def everyone(config: Path) -> dict[str, tuple[str, str, frozenset[str]]]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return {s.email: (s.status, s.name, s.themes) for s, _ in subs.listing(store)}
    finally:
        store.close()


def test_import_reports_bad_rows_and_never_brings_back_who_left(config, capsys):
    assert pipeline(config, "import", str(config.parent / "list.csv")) == 3  # a row was skipped
    out, err = capsys.readouterr()
    assert "list.csv:4: 'bad-row' is not a valid email address" in err
    assert "2 newly active" in out
    one = config.parent / "one.csv"
    one.write_text("email,name\ndee@example.org,Dee\n", encoding="utf-8")
    assert pipeline(config, "import", str(one)) == 0
    assert "one.csv: 1 row; 1 newly active" in capsys.readouterr().out
    assert pipeline(config, "remove", "ann@example.org") == 0
    assert "ann@example.org: now unsubscribed" in capsys.readouterr().out
    pipeline(config, "import", str(config.parent / "list.csv"))
    assert "0 newly active, 1 left off" in capsys.readouterr().out
    assert statuses(config) == {"ann@example.org": "unsubscribed", "bob@example.org": "active",
                              "dee@example.org": "active"}


def test_add_list_show_themes_and_the_refusals(config, capsys):
    assert pipeline(config, "add", "Cat@Example.org", "--name", "Cat", "--theme", "research") == 0
    assert pipeline(config, "themes", "cat@example.org", "Peer Support", "open dialogue") == 0  # as on the site
    assert pipeline(config, "list") == 0
    out = capsys.readouterr().out
    assert "cat@example.org" in out and "Open Dialogue; peer support" in out and "1 subscriber" in out
    assert pipeline(config, "show", "cat@example.org") == 0
    shown = capsys.readouterr().out
    assert "active       cli" in shown and "themes: Open Dialogue; peer support" in shown

    assert pipeline(config, "add", "dan@example.org", "--theme", "gardening") == 2
    assert pipeline(config, "remove", "cat@example.org") == 0
    assert pipeline(config, "add", "cat@example.org") == 2
    assert pipeline(config, "show", "nobody@example.org") == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("error: --theme 'gardening': not a theme of this newsletter; use one of: research")
    assert errors[1].startswith("error: cat@example.org: unsubscribed on ")
    assert errors[2] == "error: nobody@example.org: not on the list; `pipeline subscribers list` shows who is"


def test_a_name_with_emoji_codes_or_markup_prints_as_typed(config, capsys):
    """Anyone can type a name into the form: rich's ':warning:' codes and '[bold]' markup stay text."""
    assert pipeline(config, "add", "fay@example.org", "--name", ":warning: Fay [bold]Admin[/bold]") == 0
    assert pipeline(config, "list") == 0
    assert pipeline(config, "show", "fay@example.org") == 0
    out = capsys.readouterr().out
    assert out.count(":warning: Fay [bold]Admin[/bold]") == 2 and "\u26a0" not in out


def test_invite_sends_a_confirmation_instead(config, capsys):
    assert pipeline(config, "add", "eve@example.org", "--invite") == 0
    assert "eve@example.org: pending; confirmation sent" in capsys.readouterr().out
    [message] = (config.parent / "outbox" / "messages").glob("*.eml")
    assert "https://network.example.org/confirm/" in message.read_text()
    assert statuses(config) == {"eve@example.org": "pending"}


def test_export_then_import_elsewhere_keeps_who_left_off_the_list(config, tmp_path, capsys):
    pipeline(config, "import", str(config.parent / "list.csv"))
    pipeline(config, "remove", "bob@example.org")
    capsys.readouterr()
    assert pipeline(config, "export") == 0
    assert capsys.readouterr().out == "email,name,themes\nann@example.org,Ann,research\n"
    exported = tmp_path / "all.csv"
    assert pipeline(config, "export", str(exported), "--status", "all") == 0
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600  # personal data: the owner's eyes only
    nowhere = tmp_path / "no-such-folder" / "all.csv"
    capsys.readouterr()
    assert pipeline(config, "export", str(nowhere)) == 1  # the folder, not the command's input: as `backup`
    assert f"{nowhere}: cannot write the export (No such file or directory)" in capsys.readouterr().err
    pipeline(config, "add", "cy@example.org", "--name", "Cy", "--theme", "research")
    pipeline(config, "remove", "cy@example.org")
    assert pipeline(config, "export", str(exported), "--status", "all") == 0
    rows = list(csv.reader(exported.read_text().splitlines()))
    assert rows[0] == ["email", "name", "themes", "status", "record"]
    assert [row[:4] for row in rows[1:]] == [["ann@example.org", "Ann", "research", "active"],
                                             ["bob@example.org", "", "", "unsubscribed"],  # (only the address is kept)
                                             ["cy@example.org", "", "", "unsubscribed"]]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = elsewhere / "pipeline.toml"
    other.write_text(SERVE_TOML, encoding="utf-8")
    assert pipeline(other, "import", str(exported)) == 0
    assert statuses(other) == {"ann@example.org": "active", "bob@example.org": "unsubscribed",
                               "cy@example.org": "unsubscribed"}
    assert everyone(other) == everyone(config)  # who left keeps the name and themes the export gives too


def test_pending_requests_in_an_export_are_said_once_for_the_file_and_are_no_problem(config, tmp_path, capsys):
    """Nobody confirmed them, and their links name the old database's ids: not imported, and said once with how many,
    not once a row as a problem; the exit status is still that of the real problems."""
    pipeline(config, "add", "ann@example.org", "--name", "Ann")
    for invited in ("cy@example.org", "dee@example.org", "eve@example.org"):
        assert pipeline(config, "add", invited, "--invite") == 0
    exported = tmp_path / "all.csv"
    assert pipeline(config, "export", str(exported), "--status", "all") == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = elsewhere / "pipeline.toml"
    other.write_text(SERVE_TOML, encoding="utf-8")
    capsys.readouterr()

    assert pipeline(other, "import", str(exported)) == 0

    out, err = capsys.readouterr()
    out = " ".join(out.split())
    assert err == ""
    assert out.count("pending request") == 1 and (f"{exported}: 3 pending requests not imported: they have not "
                                                  f"confirmed; they can ask again on the form") in out
    assert f"{exported}: 1 row; 1 newly active, 0 left off" in out and "0 problems" in out
    assert statuses(other) == {"ann@example.org": "active"}

    with_a_bad_row = tmp_path / "bad.csv"
    with_a_bad_row.write_text(exported.read_text() + "not-an-address,,,active\n", encoding="utf-8")
    assert pipeline(other, "import", str(with_a_bad_row)) == 3  # a real problem still says so
    out, err = capsys.readouterr()
    assert " ".join(err.split()) == (f"problem: {with_a_bad_row}:6: 'not-an-address' is not a valid email address; "
                                     f"correct it or delete the row")
    assert "1 problem" in out and "3 pending requests not imported" in " ".join(out.split())


def test_a_name_added_from_the_command_line_is_kept_as_the_form_and_the_list_keep_one(config, tmp_path, capsys):
    """One rule for names everywhere (one line, no control characters, at most 200 characters), so the list's
    export read back in changes nothing and records nothing."""
    assert pipeline(config, "add", "ann@example.org", "--name", "Ann\x07\x1b[31m Smith\u2028" + "x" * 300) == 0
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        ann = subs.find_subscriber(store, "ann@example.org")
        assert ann.name == ("Ann [31m Smith " + "x" * 300)[:200]
        before = subs.history(store, ann.id)
    finally:
        store.close()
    exported = tmp_path / "all.csv"
    assert pipeline(config, "export", str(exported), "--status", "all") == 0
    assert pipeline(config, "import", str(exported)) == 0
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        again = subs.find_subscriber(store, "ann@example.org")
        assert (again.name, subs.history(store, ann.id)) == (ann.name, before)
    finally:
        store.close()


@pytest.mark.parametrize(("table", "message"), [
    ('[serve]\nsecret = "abc"', "unknown key 'secret'"),
    ('[serve]\nsecret_env = "my secret value"', "must be the name of an environment variable"),
    ('[serve]\ntrusted_proxies = ["proxy.local"]', "'proxy.local' is not an IP address or network"),
    ('[serve]\nport = 0', "[serve]: port:"),
])
def test_serve_settings_are_checked(tmp_path, table, message):
    path = tmp_path / "pipeline.toml"
    path.write_text(f'[pipeline]\nname = "Test"\n{table}\n[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_project(path)


def test_pipeline_serve_runs_the_app_on_the_free_port_it_names(config):
    env = {k: v for k, v in os.environ.items() if k != "TEST_SERVE_SECRET"}
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--config", str(config), "--host",
                               "127.0.0.1", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
    said = []
    try:
        while not said or not said[-1].startswith("serving"):
            said.append(server.stderr.readline())
            assert said[-1], said  # it ended without serving
        port = serving_port(said[-1])  # it listens before it says so
        assert port != 0
        response = httpx.get(f"http://127.0.0.1:{port}/subscribe", timeout=20)
        assert response.status_code == 200
        assert "Subscribe to the newsletter" in response.text
        for _ in range(2):
            foreign = httpx.get(f"http://127.0.0.1:{port}/subscribe", headers={"Host": "attacker.example"})
            assert foreign.status_code == 400
        secret = config.parent / "state" / "secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    finally:
        server.send_signal(signal.SIGINT)
        err = "".join(said) + server.communicate(timeout=20)[1]
    assert server.returncode == 130 and "Finished server process" in err  # Ctrl-C: a clean stop, as `schedule`
    assert secret.read_text().strip() not in err  # the secret is never printed
    refused = [line for line in err.splitlines() if "refused a request for host 'attacker.example'" in line]
    assert len(refused) == 1 and "add it to [serve] allowed_hosts" in refused[0]  # said once, on the terminal


def _joined_through_the_form(config: Path, email: str, name: str, asked: datetime, confirmed: datetime) -> None:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        request = subs.request_subscription(store, email, name, ["research"], how="form", at=asked)
        assert subs.confirm(store, request.subscriber.id, how="confirmation", at=confirmed, request=request.id)
    finally:
        store.close()


def test_a_moved_list_keeps_each_address_consent_record(config, tmp_path, capsys):
    """`export --status all` carries when and how each address joined and left; a new address imported from it
    keeps that in its own record, so moving a list loses no proof of consent (an address the other database has
    keeps its own record)."""
    _joined_through_the_form(config, "ann@example.org", "Ann", datetime(2016, 1, 5, 10, 0, tzinfo=UTC),
                             datetime(2016, 1, 5, 10, 30, tzinfo=UTC))
    _joined_through_the_form(config, "bob@example.org", "Bob", datetime(2016, 2, 1, 9, 0, tzinfo=UTC),
                             datetime(2016, 2, 1, 9, 5, tzinfo=UTC))
    assert pipeline(config, "remove", "bob@example.org") == 0
    capsys.readouterr()
    assert pipeline(config, "export", "--status", "all") == 0
    exported = tmp_path / "all.csv"
    exported.write_text(capsys.readouterr().out, encoding="utf-8")
    rows = {row["email"]: row for row in csv.DictReader(exported.read_text(encoding="utf-8").splitlines())}
    assert rows["ann@example.org"]["record"] == ("2016-01-05 10:00:00 UTC pending form; "
                                                 "2016-01-05 10:30:00 UTC active confirmation (themes: research)")
    assert rows["bob@example.org"]["record"].endswith("UTC unsubscribed cli")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = elsewhere / "pipeline.toml"
    other.write_text(SERVE_TOML, encoding="utf-8")
    assert pipeline(other, "add", "ann@example.org", "--name", "Ann") == 0  # already there: keeps its own record
    assert pipeline(other, "import", str(exported)) == 0
    capsys.readouterr()
    assert pipeline(other, "show", "bob@example.org") == 0
    shown = capsys.readouterr().out
    assert "unsubscribed csv import" in shown
    assert "(record where the list came from: 2016-02-01 09:00:00 UTC pending form; 2016-02-01 09:05:00 UTC " \
           "active confirmation (themes: research); " in shown
    assert pipeline(other, "show", "ann@example.org") == 0
    assert "record where the list came from" not in capsys.readouterr().out


def test_a_record_cell_is_kept_on_one_line_and_bounded(config, tmp_path, capsys):
    """Whatever a `record` cell holds (line breaks, control characters, rich markup, any length), the imported
    address's record keeps it as one line of text of at most RECORD_CHARS characters, and `show` prints it as is."""
    listed = tmp_path / "moved.csv"
    record = "2016-01-05 10:00:00 UTC active form\r\nBcc: evil@example.com\x1b[31m [bold]x[/bold] " + "y" * 9000
    with listed.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([["email", "name", "themes", "status", "record"],
                                   ["cy@example.org", "Cy", "", "active", record]])
    assert pipeline(config, "import", str(listed)) == 0
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        [event] = subs.history(store, subs.find_subscriber(store, "cy@example.org").id)
    finally:
        store.close()
    assert event.detail.startswith("record where the list came from: 2016-01-05 10:00:00 UTC active form "
                                   "Bcc: evil@example.com [31m [bold]x[/bold] yyy")
    assert len(event.detail) == len("record where the list came from: ") + subs.RECORD_CHARS
    assert event.detail.isprintable()
    capsys.readouterr()
    assert pipeline(config, "show", "cy@example.org") == 0
    assert "[bold]x[/bold]" in capsys.readouterr().out


def test_forget_of_an_address_not_on_the_list_names_a_command_that_runs(config, capsys):
    """The state layer's advice named `subscribers list --status all`, which `list` refuses (its --status takes one
    status): each command a refusal names must run."""
    assert pipeline(config, "forget", "nobody@example.org") == 2
    advice = re.search(r"`pipeline subscribers ([^`]+)`", capsys.readouterr().err)
    assert advice, "no command named"
    assert pipeline(config, *advice[1].split()) == 0
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        with pytest.raises(subs.SubscriberError) as refused:
            subs.forget(store, "nobody@example.org", at=datetime.now(UTC))
    finally:
        store.close()
    advice = re.search(r"`pipeline subscribers ([^`]+)`", str(refused.value))
    assert advice and pipeline(config, *advice[1].split()) == 0


def test_forget_erases_a_person_and_keeps_the_address_as_a_suppression(config, capsys):
    """`subscribers forget` (UK GDPR art. 17): the name, themes, consent record, open request, journal rows and the
    outbox's mail to them go; the address stays, unsubscribed, so a list imported later does not add it back."""
    pipeline(config, "import", str(config.parent / "list.csv"))
    assert pipeline(config, "add", "cy@example.org", "--invite") == 0  # a confirmation in the outbox
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        cy = subs.find_subscriber(store, "cy@example.org")
        subs.request_subscription(store, "ann@example.org", "Ann Again", ["peer support"], how="form",
                                  at=datetime.now(UTC))  # an open request of Ann's too
    finally:
        store.close()
    capsys.readouterr()

    assert pipeline(config, "forget", "ann@example.org") == 0
    assert pipeline(config, "forget", "cy@example.org") == 0

    out = capsys.readouterr().out
    assert "ann@example.org: erased" in out and "1 files of mail to it" in out  # cy's confirmation
    assert not list((config.parent / "outbox").rglob("*cy@example.org*"))
    everything = b"".join(path.read_bytes() for path in (config.parent / "state").iterdir() if path.is_file())
    assert b"Ann Again" not in everything and b"research" not in everything  # (not in a free page or the log)
    assert statuses(config) == {"ann@example.org": "unsubscribed", "bob@example.org": "active",
                                "cy@example.org": "unsubscribed"}
    pipeline(config, "import", str(config.parent / "list.csv"))  # the same list again (its bad row: exit 3)
    assert statuses(config)["ann@example.org"] == "unsubscribed"  # not added back
    assert pipeline(config, "show", "ann@example.org") == 0
    shown = capsys.readouterr().out
    assert "erased at their request" in shown and "Ann" not in shown.replace("ann@", "")
    assert cy.id


def _asked_days_ago(config: Path, email: str, days: int) -> None:
    """Date `email`'s open request `days` back, as if it had been made then."""
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        with store.transaction() as db:
            at = (datetime.now(UTC) - timedelta(days=days)).isoformat()
            db.execute("UPDATE subscribers SET requested_at = ? WHERE email = ?", (at, email))
            db.execute("UPDATE subscription_requests SET at = ? WHERE subscriber = "
                       "(SELECT id FROM subscribers WHERE email = ?)", (at, email))
    finally:
        store.close()


@pytest.mark.parametrize("then", [("subscribers", "add", "eve@example.org"), ("run",)])
def test_a_request_nobody_confirmed_is_forgotten_with_its_confirmation_in_the_outbox(config, then):
    """After 7 days an unconfirmed address is not kept (UK GDPR art. 5(1)(e)): the next command that ends old requests
    (an add, an import, the form, a run) deletes its row and the confirmation the outbox kept, whose link no longer
    works. A request still within its 7 days keeps both."""
    assert pipeline(config, "add", "cy@example.org", "--invite") == 0
    assert pipeline(config, "add", "dee@example.org", "--invite") == 0
    _asked_days_ago(config, "cy@example.org", 8)
    messages = config.parent / "outbox" / "messages"
    assert len(list(messages.glob("*cy@example.org*"))) == 1

    assert main([*then, "--config", str(config)]) == 0

    assert "cy@example.org" not in statuses(config)
    assert list(messages.glob("*cy@example.org*")) == []
    assert statuses(config)["dee@example.org"] == "pending"
    assert len(list(messages.glob("*dee@example.org*"))) == 1


def test_show_gives_the_wording_each_consent_was_given_under_once(config, capsys):
    """`subscribers show` (a subject access request) lists each wording the person was shown, once, and marks the
    entries given under it; `forget` erases their entries, and with them which wording they saw."""
    pipeline(config, "show", "nobody@example.org")  # makes the state database
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        at = datetime.now(UTC) - timedelta(days=1)
        first = subs.request_subscription(store, "gil@example.org", "Gil", [], how="form", at=at,
                                          wording="Privacy: the old wording.")
        assert subs.confirm(store, first.subscriber.id, how="confirmation", at=at, request=first.id,
                            wording="Privacy: the new wording.")
        subs.request_subscription(store, "hal@example.org", "", [], how="form", at=at,
                                  wording="Privacy: the new wording.")
    finally:
        store.close()
    capsys.readouterr()

    assert pipeline(config, "show", "gil@example.org") == 0

    shown = capsys.readouterr().out
    assert re.search(r"pending\s+form \[shown wording 1\]", shown), shown
    assert re.search(r"active\s+confirmation \(themes: all\) \[shown wording 2\]", shown), shown
    assert "wording 1: Privacy: the old wording." in shown and "wording 2: Privacy: the new wording." in shown
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        assert store._rows("SELECT COUNT(*) FROM consent_wordings") == [(2,)]  # the new one kept once for both
        assert pipeline(config, "forget", "gil@example.org") == 0
        assert store._rows("SELECT COUNT(*) FROM consent_shown") == [(1,)]  # hal's alone
    finally:
        store.close()
