"""Review h133: a person's erasure and the Mailchimp import, from the commits e099a55 to 5af7279.

Real projects on disk and the real CLI, as tests/test_suppression_log.py has them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_project
from tests.test_suppression_log import add, backup, cli, restore, row, write_project


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    return write_project(tmp_path, monkeypatch)


def mail_to(config: Path, address: str, *editions: int | None) -> list[Path]:
    """A file of mail to `address` in the outbox for each of `editions` (None: one in messages/), as it writes them."""
    deliverer = load_project(config).sinks[0].deliverer
    files = [deliverer.path_for(edition, address) for edition in editions]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(f"To: {address}\r\nSubject: News\r\n\r\nbody\r\n".encode())
    return files


def stuck(file: Path) -> None:
    """`file` made something the outbox cannot delete (a folder in its place)."""
    file.unlink()
    file.mkdir()


def test_a_file_that_cannot_be_deleted_leaves_none_of_the_rest_of_a_replayed_erasures_mail(config, capsys):
    add(config, "dan@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0
    restore(config, copy)
    first, *rest = mail_to(config, "dan@example.org", 1, 2, None)
    stuck(first)  # issue-1's comes before messages/ in what the outbox deletes
    capsys.readouterr()

    assert cli(config, "subscribers", "list") == 0  # the log replayed
    assert row(config, "dan@example.org")[1:3] == ("unsubscribed", "")
    assert [file for file in rest if file.exists()] == []
    warning = capsys.readouterr().err
    assert "the mail kept for 1 address erased again could not all be deleted" in warning and "dan@" not in warning


def test_forget_deletes_all_the_mail_it_can_and_says_in_one_line_what_is_left(config, capsys):
    add(config, "dan@example.org", "cy@example.org")
    first, *rest = mail_to(config, "dan@example.org", 1, 2, None)
    stuck(first)
    others = mail_to(config, "cy@example.org", 1, None)
    capsys.readouterr()

    assert cli(config, "subscribers", "forget", "dan@example.org") != 0
    assert row(config, "dan@example.org")[1:3] == ("unsubscribed", "")  # erased in the database all the same
    assert [file for file in rest if file.exists()] == []
    assert all(file.exists() for file in others)
    out = capsys.readouterr()
    error = " ".join(out.err.split())
    assert "unexpected" not in error and "Traceback" not in error
    assert "dan@example.org: erased" in " ".join(out.out.split())
    assert len(out.err.strip().splitlines()) == 1
    assert "could not all be deleted (Is a directory)" in error and "subscribers forget EMAIL" in error
    assert "dan@" not in error  # nor in the log: the person asked to be forgotten


def test_a_delivery_that_fails_to_forget_after_a_restore_is_one_warning_and_the_start_goes_on(config, capsys,
                                                                                              monkeypatch):
    from plugins.deliveries.outbox import Outbox

    def failing(self, address: str) -> int:
        raise RuntimeError(f"the provider refused to delete the copies for {address}")

    add(config, "dan@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0
    restore(config, copy)
    monkeypatch.setattr(Outbox, "forget", failing)
    capsys.readouterr()

    assert cli(config, "subscribers", "list") == 0
    warning = capsys.readouterr().err
    assert "could not all be deleted (RuntimeError: the provider refused" in warning and "dan@" not in warning


def test_forget_deletes_a_test_send_mailed_to_another_spelling_of_the_address(config):
    """`send-test --to` a subscriber's address as its domain's IDNA form (xn--) or in capitals: the copy the outbox
    keeps is found by the address's one spelling, as every other message to it."""
    from tests.test_suppression_log import run_issue

    add(config, "dan@bücher.de", "cy@example.org")
    run_issue(config, "2016-03-01")
    for spelling in ("dan@xn--bcher-kva.de", "Dan@BÜCHER.de", "cy@example.org"):
        assert cli(config, "send-test", "--to", spelling, "--as-of", "2016-03-01") == 0
    messages = config.parent / "outbox" / "messages"
    assert len(list(messages.iterdir())) == 3

    assert cli(config, "subscribers", "forget", "dan@bücher.de") == 0
    assert [path.name.split("-", 3)[3] for path in messages.iterdir()] == [path.name.split("-", 3)[3] for path in
                                                                           messages.glob("*cy@example.org*")]
    assert len(list(messages.iterdir())) == 1


def test_a_replayed_erasure_stopped_before_its_mail_was_deleted_deletes_it_at_the_next_start(config, monkeypatch):
    """Killed between the erasure's commit and the deletion of the mail (Ctrl-C here): the log's entry is read again
    at the next start, since its mark did not move, and the person's mail goes then."""
    from pipeline.subscribers import suppressions

    add(config, "dan@example.org", "cy@example.org")
    copy = backup(config)
    assert cli(config, "subscribers", "forget", "dan@example.org") == 0
    restore(config, copy)
    files = mail_to(config, "dan@example.org", 1, None)
    others = mail_to(config, "cy@example.org", 1)

    def stopped(*args) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(suppressions, "_forget_mail", stopped)
        assert cli(config, "subscribers", "list") == 130
    assert row(config, "dan@example.org")[1:3] == ("unsubscribed", "")  # the erasure was committed
    assert all(file.exists() for file in files)

    assert cli(config, "subscribers", "list") == 0
    assert [file for file in files if file.exists()] == []
    assert all(file.exists() for file in others)
    assert cli(config, "subscribers", "list") == 0  # and once only: nothing more to do


def _old_one_line(text, limit: int = 200, *, keep_end: bool = False) -> str:
    """`addresses.one_line` as it was before its fast path (af52541^), to compare with."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(text) <= limit or not keep_end:
        return text[:limit]
    head = limit // 4
    return f"{text[:head]} … {text[len(text) - (limit - head - 3):]}"


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # the same error, or none, from both
        return type(exc)


def test_one_line_gives_what_it_gave_before_its_fast_path_for_every_input():
    """Line and paragraph separators, NEL, tabs, NUL, soft hyphens, bidi marks, lone surrogates, long texts; and what
    a third-party source may put in a text field (a list of names, None): the same text, or the same error."""
    import random
    from functools import partial

    from pipeline.subscribers.addresses import one_line

    odd = "\u2028\u2029\x85\r\n\t\x00\u00ad\u200b\ufeff\u3000\u00a0\ud800\U0001f600\u0301\u202e\u2066\x1c\x1f\x7f "
    alphabet = [*odd, *"aZé€ß…", *(chr(c) for c in range(0x20, 0x250, 7))]
    rng = random.Random(133)
    texts: list = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(20_000)]
    texts += [chr(c) for c in range(0x3000)] + ["a" * 500, "a\u2028" * 300]
    texts += [["Ann", "Bob"], ("Ann", "\tBob"), ["Ann\u2028"], [], None, 42]  # not str: a plugin's item
    for text in texts:
        for limit, keep_end in ((200, False), (12, True), (5, False), (40, True)):
            assert _outcome(partial(one_line, text, limit, keep_end=keep_end)) == \
                _outcome(partial(_old_one_line, text, limit, keep_end=keep_end)), (text, limit, keep_end)


def test_forget_right_after_the_upgrade_deletes_the_mail_in_the_outbox_an_earlier_version_left_in_out(config):
    """Earlier versions wrote the outbox to out/outbox/, published with the site; the first command holding the
    lock moves it to outbox/, but `subscribers forget` (and a replayed erasure) may come first: the mail to the
    person there goes too, and none of it is moved into outbox/ afterwards."""
    add(config, "dan@example.org", "cy@example.org")
    files = mail_to(config, "dan@example.org", 1, None)
    others = mail_to(config, "cy@example.org", 1)
    old = config.parent / "out" / "outbox"
    old.parent.mkdir(exist_ok=True)
    (config.parent / "outbox").rename(old)

    assert cli(config, "subscribers", "forget", "dan@example.org") == 0
    assert sorted(path.name for path in old.rglob("*.eml")) == [others[0].name]
    assert cli(config, "preview", "--as-of", "2016-03-01") in (0, 1)  # holds the lock: the old outbox is moved
    assert not old.exists() and others[0].exists()
    assert not any(file.exists() for file in files)


def test_a_list_with_a_line_that_is_not_utf8_is_refused_in_one_line_naming_that_line(tmp_path):
    """One name saved as Latin-1 among thousands of rows (a file, and a file of Mailchimp's zip, read as it unpacks,
    the byte far past the first chunk): the error names the file and the line to correct, and nothing is read."""
    import zipfile

    from pipeline.errors import SubscriberError
    from pipeline.subscribers.archive import read_list
    from tests.test_import_mailchimp import SUBSCRIBED, SUBSCRIBED_ROWS, csv_text

    rows = "".join(f"u{n}@example.org,Member {n}\r\n" for n in range(2, 3000))
    plain = tmp_path / "list.csv"
    plain.write_bytes(b"email,name\r\n" + rows.encode() + "zoe@example.org,Zoé\r\n".encode("latin-1"))
    text = csv_text(SUBSCRIBED, SUBSCRIBED_ROWS * 400).encode()
    bad = text + csv_text(SUBSCRIBED, [[SUBSCRIBED_ROWS[0][0].replace("@", "x@"), "Zoé", *SUBSCRIBED_ROWS[0][2:]]]
                          ).split("\n", 1)[1].encode("latin-1")
    audience = tmp_path / "audience.zip"
    with zipfile.ZipFile(audience, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subscribed_members_export_8d2f1a.csv", bad)
    line = text.count(b"\n") + 1
    member = f"{audience}/subscribed_members_export_8d2f1a.csv:{line}"
    for path, where in ((plain, f"{plain}:3000"), (audience, member)):
        with pytest.raises(SubscriberError) as raised:
            read_list(path)
        message = str(raised.value)
        assert message.startswith(f"{where}: not UTF-8 text") and "\n" not in message and "save" in message
