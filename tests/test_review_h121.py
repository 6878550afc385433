"""Review h121: Mailchimp's audience export must never bring back anyone who left, here or there, and a zip is read
only as Mailchimp writes it."""

from __future__ import annotations

import stat
import zipfile

import pytest

from tests.newsletter_network import POST
from tests.test_import_mailchimp import (
    CLEANED,
    PLACE,
    SUBSCRIBED,
    SUBSCRIBED_ROWS,
    TOML,
    UNSUBSCRIBED,
    UNSUBSCRIBED_ROWS,
    audience_zip,
    cli,
    csv_text,
    stored,
    whole_audience,
)


@pytest.fixture
def config(write_project):
    return write_project(TOML, {"blog/post.md": POST.replace("Peer support in Leeds", "Research in Leeds")})


def status(config) -> dict[str, str]:
    return {email: found[0] for email, found in stored(config).items()}


def test_who_left_here_after_the_import_stays_off_when_a_fresh_export_is_imported(config):
    """The README's advice (import a fresh export before the first issue) never re-activates who left here since:
    Mailchimp still lists them as subscribed."""
    export = audience_zip(config.parent / "audience.zip", whole_audience())
    assert cli(config, "import", str(export)) == 0
    assert cli(config, "remove", "Ann@Example.org") == 0
    fresh = audience_zip(config.parent / "fresh.zip", whole_audience())
    assert cli(config, "import", str(fresh)) == 0
    assert status(config)["ann@example.org"] == "unsubscribed"


def test_an_address_both_subscribed_and_unsubscribed_in_any_order_and_spelling_is_unsubscribed(config):
    dan = [*UNSUBSCRIBED_ROWS[0]]
    as_member = ["DAN@EXAMPLE.ORG", "Dan", "", "1", "", "", "", "", *PLACE, "2024-01-01 00:00:00", "1", "d", "", ""]
    export = audience_zip(config.parent / "audience.zip", {
        "unsubscribed_members_export_1.csv": csv_text(UNSUBSCRIBED, [dan]),
        "folder/subscribed_members_export_1.csv": csv_text(SUBSCRIBED, [*SUBSCRIBED_ROWS, as_member])})
    assert cli(config, "import", str(export)) == 3  # reported, whichever file comes first
    assert status(config)["dan@example.org"] == "unsubscribed"
    # an older export in which Dan is still a member changes nothing, nor does `add`
    older = audience_zip(config.parent / "older.zip",
                         {"subscribed_members_export_0.csv": csv_text(SUBSCRIBED, [as_member])})
    assert cli(config, "import", str(older)) == 0
    assert cli(config, "add", "dan@example.org") != 0
    assert status(config)["dan@example.org"] == "unsubscribed"


def test_a_cleaned_address_is_never_made_active_by_a_later_plain_list(config):
    export = audience_zip(config.parent / "audience.zip", whole_audience())
    assert cli(config, "import", str(export)) == 0
    plain = config.parent / "list.csv"
    plain.write_text("email,name\nFay@example.org,Fay\n", encoding="utf-8")
    assert cli(config, "import", str(plain)) == 0
    assert status(config)["fay@example.org"] == "bounced"


def test_a_symlink_member_is_refused_not_read_as_a_csv(config, capsys):
    path = config.parent / "audience.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("subscribed_members_export_1.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    assert cli(config, "import", str(path)) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "subscribed_members_export_1.csv" in err and "link" in err, err
    assert stored(config) == {}


def test_a_zip_inside_the_zip_is_refused_naming_it(config, capsys):
    export = audience_zip(config.parent / "audience.zip", {**whole_audience(), "inner.zip": "PK"})
    assert cli(config, "import", str(export)) == 2
    assert "inner.zip" in capsys.readouterr().err
    assert stored(config) == {}


def test_the_record_keeps_no_place_and_no_line_breaks_or_control_characters(config, capsys):
    row = [*UNSUBSCRIBED_ROWS[1]]
    row[UNSUBSCRIBED.index("UNSUB_REASON_OTHER")] = "=cmd|' /C calc'!A0\r\n\x1b[31mred\x07"
    export = audience_zip(config.parent / "audience.zip", {
        "unsubscribed_members_export_1.csv": csv_text(UNSUBSCRIBED, [row]),
        "cleaned_members_export_1.csv": csv_text(CLEANED, [])})
    assert cli(config, "import", str(export)) == 0
    capsys.readouterr()
    assert cli(config, "show", "eve@example.org") == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown and "53.8008" not in shown and "-1.5491" not in shown


def test_one_mailbox_spelt_in_unicode_and_in_punycode_across_files_is_unsubscribed(config):
    dan = [*UNSUBSCRIBED_ROWS[0]]
    dan[0] = "dan@xn--exmple-cua.org"
    as_member = ["Dan@Exämple.org", "Dan", "", "1", "", "", "", "", *PLACE, "2024-01-01 00:00:00", "1", "d", "", ""]
    export = audience_zip(config.parent / "audience.zip", {
        "subscribed_members_export_1.csv": csv_text(SUBSCRIBED, [as_member]),
        "unsubscribed_members_export_1.csv": csv_text(UNSUBSCRIBED, [dan])})
    assert cli(config, "import", str(export)) == 3  # the conflict is a problem to look at
    assert list(status(config).values()) == ["unsubscribed"], status(config)


def test_a_member_row_after_the_unsubscribed_row_of_its_address_is_reported_too(config, capsys):
    """Whichever file comes first in the zip, an address both subscribed and unsubscribed is a problem: before, only
    the order subscribed-then-unsubscribed said so, the other was quiet."""
    as_member = ["DAN@EXAMPLE.ORG", "Dan", "", "1", "", "", "", "", *PLACE, "2024-01-01 00:00:00", "1", "d", "", ""]
    export = audience_zip(config.parent / "audience.zip", {
        "unsubscribed_members_export_1.csv": csv_text(UNSUBSCRIBED, [UNSUBSCRIBED_ROWS[0]]),
        "subscribed_members_export_1.csv": csv_text(SUBSCRIBED, [as_member])})
    assert cli(config, "import", str(export)) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "subscribed_members_export_1.csv:2: dan@example.org is listed on" in err, err
    assert "unsubscribed_members_export_1.csv:2 too, unsubscribed; that row is the one kept" in err, err
    assert status(config) == {"dan@example.org": "unsubscribed"}


def test_a_lone_export_csv_with_a_bom_crlf_and_quoted_commas_and_line_ends_is_read(config):
    rows = [[*SUBSCRIBED_ROWS[0]], [*SUBSCRIBED_ROWS[1]]]
    rows[0][SUBSCRIBED.index("NOTES")] = "met, at the\r\nseminar"
    rows[1][SUBSCRIBED.index("First Name")] = "Bob, Jr."
    lone = config.parent / "subscribed_members_export_ü.csv"
    lone.write_bytes(b"\xef\xbb\xbf" + csv_text(SUBSCRIBED, rows).encode())
    assert cli(config, "import", str(lone)) == 0
    assert stored(config)["bob@example.org"][:2] == ("active", "Bob, Jr.")
    assert stored(config)["ann@example.org"][0] == "active"


def test_who_left_here_and_was_forgotten_is_not_added_back_by_a_fresh_export(config):
    export = audience_zip(config.parent / "audience.zip", whole_audience())
    assert cli(config, "import", str(export)) == 0
    assert cli(config, "remove", "ann@example.org") == 0
    assert cli(config, "forget", "ann@example.org") == 0
    assert cli(config, "import", str(export)) == 0
    assert status(config).get("ann@example.org") != "active", status(config)


def test_a_zip_named_as_a_csv_list_says_it_is_a_zip_not_that_it_is_not_utf8(tmp_path):
    from pipeline.errors import SubscriberError
    from pipeline.subscribers.csv_io import read_csv

    export = audience_zip(tmp_path / "audience.zip", whole_audience())
    with pytest.raises(SubscriberError, match=r"audience\.zip: a zip, not a CSV; import it with `pipeline "
                                              r"subscribers import`"):
        read_csv(export)
