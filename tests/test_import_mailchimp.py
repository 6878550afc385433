"""Moving from Mailchimp: `pipeline subscribers import` of its audience export (the zip, or one of its CSV files),
through the real CLI on tmp_path projects, and the next issue through the outbox."""

from __future__ import annotations

import csv
import io
import re
import resource
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.state import Store
from pipeline.state import subscribers as subs
from plugins.deliveries.outbox import file_name
from tests.newsletter_network import POST

TOML = """
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1

[sources.blog]
type = "blog"
path = "blog"

[transforms.themes]
type = "themes"

[transforms.themes.taxonomy]
"research" = ["research*"]
"peer support" = ["peer support*"]

[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"
"""

# Mailchimp's columns, in the order its audience export writes them (its own fields after the audience's)
START = ["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME",
         "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION"]
END = ["LEID", "EUID", "NOTES", "TAGS"]
SUBSCRIBED = [*START, "LAST_CHANGED", *END]
UNSUBSCRIBED = [*START, "UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON",
                "UNSUB_REASON_OTHER", *END]
CLEANED = [*START, "CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID", *END]
PLACE = ["53.8008", "-1.5491", "0", "1", "Europe/London", "GB", "ENG"]

SUBSCRIBED_ROWS = [
    ["ann@example.org", "Ann", "Smith", "4", "2019-03-04 10:15:00", "198.51.100.7", "2019-03-04 10:20:11",
     "198.51.100.7", *PLACE, "2023-01-10 09:00:00", "11111111", "aaaa1111", "", '"Research"'],
    ["bob@example.org", "Bob", "", "2", "", "", "2020-05-06 12:00:00", "203.0.113.9", *PLACE,
     "2020-05-06 12:00:00", "22222222", "bbbb2222", "met at the seminar", ""],
    ["Cat@Example.org", "Cat", "Jones", "3", "2021-01-02 08:30:00", "192.0.2.44", "2021-01-02 08:31:00",
     "192.0.2.44", *PLACE, "2021-01-02 08:31:00", "33333333", "cccc3333", "", '"VIP","Peer support"'],
]
UNSUBSCRIBED_ROWS = [
    ["dan@example.org", "Dan", "Brown", "1", "2018-02-01 09:00:00", "198.51.100.20", "2018-02-01 09:05:00",
     "198.51.100.21", *PLACE, "2022-06-01 08:00:00", "Spring news 2022", "c0ffee0001", "NORMAL", "", "44444444",
     "dddd4444", "", ""],
    ["eve@example.org", "Eve", "", "1", "2018-03-01 09:00:00", "198.51.100.30", "", "", *PLACE,
     "2023-02-01 18:45:00", "Winter news 2023", "c0ffee0002", "OTHER", "too many emails", "55555555", "eeee5555",
     "", ""],
]
CLEANED_ROWS = [
    ["fay@example.org", "Fay", "Green", "1", "2017-07-07 07:07:07", "192.0.2.70", "2017-07-07 07:10:00",
     "192.0.2.70", *PLACE, "2021-11-30 23:59:00", "Autumn news 2021", "c0ffee0003", "66666666", "ffff6666", "",
     ""],
]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # Mailchimp's line ends: \r\n
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def audience_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def whole_audience() -> dict[str, str]:
    return {"subscribed_members_export_8d2f1a.csv": csv_text(SUBSCRIBED, SUBSCRIBED_ROWS),
            "unsubscribed_members_export_8d2f1a.csv": csv_text(UNSUBSCRIBED, UNSUBSCRIBED_ROWS),
            "cleaned_members_export_8d2f1a.csv": csv_text(CLEANED, CLEANED_ROWS)}


@pytest.fixture
def config(write_project) -> Path:
    return write_project(TOML, {"blog/post.md": POST.replace("Peer support in Leeds", "Research in Leeds")})


def cli(config: Path, *args: str) -> int:
    return main(["subscribers", *args, "--config", str(config)])


def stored(config: Path) -> dict[str, tuple[str, str, frozenset[str]]]:
    path = config.parent / "state" / "pipeline.sqlite"
    if not path.exists():
        return {}
    store = Store(path)
    try:
        return {s.email: (s.status, s.name, s.themes) for s, _ in subs.listing(store)}
    finally:
        store.close()


def everything(config: Path) -> tuple[list, list]:
    """Every subscriber row and every entry of every consent record, as the database holds them."""
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return (store._rows("SELECT * FROM subscribers ORDER BY id", ()),
                store._rows("SELECT * FROM subscriber_events ORDER BY id", ()))
    finally:
        store.close()


def test_the_audience_zip_takes_each_file_as_its_status_with_what_mailchimp_recorded(config, capsys):
    """Subscribed members become active, with their names joined; the unsubscribed and the cleaned (bounced) are
    stored as such, their address alone, so no list adds them back and the next issue mails only the members; each
    record says what Mailchimp recorded, `show` prints it and `export` carries it; a second import changes nothing."""
    export = audience_zip(config.parent / "audience.zip", whole_audience())

    assert cli(config, "import", str(export)) == 0

    out = capsys.readouterr().out
    assert "6 rows; 3 newly active" in out and "3 suppressed; 0 problems" in out, out
    assert stored(config) == {
        "ann@example.org": ("active", "Ann Smith", frozenset()),  # Mailchimp's tags are not themes: every theme
        "bob@example.org": ("active", "Bob", frozenset()),
        "cat@example.org": ("active", "Cat Jones", frozenset()),
        "dan@example.org": ("unsubscribed", "", frozenset()),
        "eve@example.org": ("unsubscribed", "", frozenset()),
        "fay@example.org": ("bounced", "", frozenset()),
    }

    assert cli(config, "show", "ann@example.org") == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert (f"active csv import {export} (record where the list came from: Mailchimp export "
            "subscribed_members_export_8d2f1a.csv: subscribed; opted in 2019-03-04 10:15:00 from 198.51.100.7; "
            "confirmed 2019-03-04 10:20:11 from 198.51.100.7; last changed 2023-01-10 09:00:00)") in shown, shown
    assert cli(config, "show", "eve@example.org") == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert ("unsubscribed_members_export_8d2f1a.csv: unsubscribed 2023-02-01 18:45:00 (reason: OTHER, other reason: "
            "too many emails, campaign: Winter news 2023); opted in 2018-03-01 09:00:00 from 198.51.100.30)") in shown
    assert cli(config, "show", "fay@example.org") == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert ("cleaned_members_export_8d2f1a.csv: cleaned (bounced) 2021-11-30 23:59:00 (campaign: Autumn news 2021); "
            "opted in 2017-07-07 07:07:07 from 192.0.2.70; confirmed 2017-07-07 07:10:00 from 192.0.2.70") in shown

    assert cli(config, "export", "--status", "all", str(config.parent / "list.csv")) == 0
    with (config.parent / "list.csv").open(encoding="utf-8", newline="") as handle:
        exported = {row["email"]: row for row in csv.DictReader(handle)}
    assert exported["dan@example.org"]["status"] == "unsubscribed"
    assert "unsubscribed 2022-06-01 08:00:00 (reason: NORMAL, campaign: Spring news 2022)" in \
        exported["dan@example.org"]["record"]
    assert "confirmed 2020-05-06 12:00:00 from 203.0.113.9" in exported["bob@example.org"]["record"]

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0
    mailed = sorted(p.name for p in (config.parent / "outbox" / "issue-1").iterdir())
    assert mailed == sorted(file_name(e) for e in ("ann@example.org", "bob@example.org", "cat@example.org"))

    before = everything(config)
    capsys.readouterr()
    assert cli(config, "import", str(export)) == 0
    assert "0 newly active, 0 left off" in capsys.readouterr().out
    assert everything(config) == before


def test_a_lone_unsubscribed_file_suppresses_and_no_later_list_adds_them_back(config, capsys):
    lone = config.parent / "unsubscribed_members_export_8d2f1a.csv"
    lone.write_text(csv_text(UNSUBSCRIBED, UNSUBSCRIBED_ROWS), encoding="utf-8")
    renamed = config.parent / "people.csv"  # its columns say what it holds, whatever its name
    renamed.write_text(csv_text(CLEANED, CLEANED_ROWS), encoding="utf-8")

    assert cli(config, "import", str(lone)) == 0
    assert cli(config, "import", str(renamed)) == 0
    plain = config.parent / "plain.csv"
    plain.write_text("email,name\ndan@example.org,Dan\nfay@example.org,Fay\ngil@example.org,Gil\n", encoding="utf-8")
    assert cli(config, "import", str(plain)) == 0

    assert {email: status for email, (status, _, _) in stored(config).items()} == {
        "dan@example.org": "unsubscribed", "eve@example.org": "unsubscribed", "fay@example.org": "bounced",
        "gil@example.org": "active"}
    assert "1 newly active, 2 left off" in capsys.readouterr().out


@pytest.mark.parametrize("header", ["Email", "E-mail", "Email Address", "email_address", "EMAIL", " e-mail "])
def test_the_common_spellings_of_an_email_column_are_read(config, header):
    path = config.parent / "list.csv"
    path.write_text(f"{header},First Name,Last Name\nann@example.org,Ann,Smith\nbob@example.org,Bob,\n",
                    encoding="utf-8")

    assert cli(config, "import", str(path)) == 0

    assert stored(config) == {"ann@example.org": ("active", "Ann Smith", frozenset()),
                              "bob@example.org": ("active", "Bob", frozenset())}


def test_a_csv_without_an_email_column_is_refused_naming_the_header_found(config, capsys):
    path = config.parent / "list.csv"
    path.write_text("Address,First Name\nann@example.org,Ann\n", encoding="utf-8")

    assert cli(config, "import", str(path)) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"{path}:1: the first line must be the header `email,name`" in line
    assert line.endswith("found Address,First Name")
    assert stored(config) == {}


def test_two_email_columns_are_refused(config, capsys):
    path = config.parent / "list.csv"
    path.write_text("Email,Email Address\nann@example.org,bob@example.org\n", encoding="utf-8")

    assert cli(config, "import", str(path)) == 2

    assert "two email columns (email, email address)" in capsys.readouterr().err
    assert stored(config) == {}


@pytest.mark.parametrize(("member", "said"), [
    ("../subscribed_members_export_8d2f1a.csv", "a path outside the zip"),
    ("/tmp/subscribed_members_export_8d2f1a.csv", "a path outside the zip"),
    ("export/../../subscribed_members_export_8d2f1a.csv", "a path outside the zip"),
    ("notes.txt", "is not one of the files of Mailchimp's audience export"),
    ("subscribed_members_export_8d2f1a.csv.exe", "is not one of the files of Mailchimp's audience export"),
])
def test_a_zip_with_a_member_outside_the_export_is_refused_whole(config, capsys, member, said):
    files = whole_audience()
    files[member] = csv_text(SUBSCRIBED, SUBSCRIBED_ROWS[:1])
    export = audience_zip(config.parent / "audience.zip", files)

    assert cli(config, "import", str(export)) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {export}: ") and said in line, line
    assert stored(config) == {}


APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 60  # a `._name` file's start


def test_a_zip_repacked_on_macos_is_read_leaving_out_its_apple_double_files_and_ds_store(config, capsys):
    """Finder's "Compress" of the unpacked export adds `__MACOSX/` (a `._name` file for each) and `.DS_Store`."""
    export = config.parent / "audience.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in whole_audience().items():
            archive.writestr(f"export/{name}", text)
            archive.writestr(f"__MACOSX/export/._{name}", APPLE_DOUBLE)
        archive.writestr("export/.DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
        archive.writestr("__MACOSX/export/._.DS_Store", APPLE_DOUBLE)
        archive.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1")

    assert cli(config, "import", str(export)) == 0

    assert "6 rows; 3 newly active" in capsys.readouterr().out
    assert {email: status for email, (status, _, _) in stored(config).items()} == {
        "ann@example.org": "active", "bob@example.org": "active", "cat@example.org": "active",
        "dan@example.org": "unsubscribed", "eve@example.org": "unsubscribed", "fay@example.org": "bounced"}


@pytest.mark.parametrize(("member", "said"), [
    ("__MACOSX/../._subscribed_members_export_8d2f1a.csv", "a path outside the zip"),
    ("__MACOSX/../../.DS_Store", "a path outside the zip"),
    ("/__MACOSX/._subscribed_members_export_8d2f1a.csv", "a path outside the zip"),
    ("__MACOSX/notes.txt", "is not one of the files of Mailchimp's audience export"),
    ("export/._subscribed_members_export_8d2f1a.csv", "is not one of the files of Mailchimp's audience export"),
    ("DS_Store", "is not one of the files of Mailchimp's audience export"),
    ("link: __MACOSX/._subscribed_members_export_8d2f1a.csv", "is a symbolic link"),
    ("link: export/.DS_Store", "is a symbolic link"),
])
def test_a_name_macos_gives_lets_nothing_else_the_checks_refuse_through(config, capsys, member, said):
    export = audience_zip(config.parent / "audience.zip", whole_audience())
    with zipfile.ZipFile(export, "a") as archive:
        info = zipfile.ZipInfo(member.removeprefix("link: "))
        if member.startswith("link: "):
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd" if member.startswith("link: ") else APPLE_DOUBLE)

    assert cli(config, "import", str(export)) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {export}: ") and said in line, line
    assert stored(config) == {}


def test_a_zip_that_unpacks_to_more_than_the_bound_is_refused(config, capsys, monkeypatch):
    from pipeline.subscribers import archive

    monkeypatch.setattr(archive, "MAX_UNPACKED", 4096)
    rows = [[f"reader{n}@example.org", "Reader", str(n), *[""] * (len(SUBSCRIBED) - 3)] for n in range(200)]
    export = audience_zip(config.parent / "audience.zip",
                          {"subscribed_members_export_8d2f1a.csv": csv_text(SUBSCRIBED, rows)})

    assert cli(config, "import", str(export)) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert "would unpack to" in line and "more than the 4,096" in line, line
    assert stored(config) == {}


def test_a_member_that_hides_its_size_is_stopped_as_it_unpacks(config, capsys):
    """A zip bomb's member says it holds a few bytes and unpacks to far more: what it gives is bounded, so it is
    refused (as damaged) and nothing is imported."""
    big = csv_text(SUBSCRIBED, SUBSCRIBED_ROWS) + "x" * 1_000_000
    export = audience_zip(config.parent / "audience.zip", {"subscribed_members_export_8d2f1a.csv": big})
    data = bytearray(export.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        at = data.index(signature)
        struct.pack_into("<I", data, at + offset, 100)  # uncompressed size: 100 bytes
    export.write_bytes(bytes(data))

    assert cli(config, "import", str(export)) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {export}: not a zip file that can be read"), line
    assert stored(config) == {}


def limit_memory(megabytes: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, resource.RLIM_INFINITY))
    return limit


def test_an_export_near_the_unpacked_bound_is_read_as_it_unpacks_not_held_whole(config):
    """About 200 MB of CSV (2,000 members, each with 100 KB of notes, a cell `csv` still takes), imported in a
    process held to 256 MB of address space: a member read whole into memory (and its copies) needs far more."""
    notes = "n" * 100_000
    row = ",".join(["reader{}@example.org", "Reader", "", *[""] * (len(SUBSCRIBED) - 5), notes, ""]) + "\r\n"
    export = config.parent / "audience.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("subscribed_members_export_8d2f1a.csv", "w") as member:
            member.write(csv_text(SUBSCRIBED, []).encode())
            for n in range(2_000):
                member.write(row.replace("{}", str(n), 1).encode())
    assert 190_000_000 < zipfile.ZipFile(export).getinfo("subscribed_members_export_8d2f1a.csv").file_size

    done = subprocess.run([sys.executable, "-m", "pipeline", "subscribers", "import", str(export), "--config",
                           str(config)], capture_output=True, text=True, timeout=300, preexec_fn=limit_memory(256))

    assert done.returncode == 0, done.stderr
    assert f"{export}: 2000 rows; 2000 newly active" in " ".join(done.stdout.split())
    assert len(stored(config)) == 2_000 and stored(config)["reader1999@example.org"][0] == "active"


def test_a_file_whose_columns_say_another_kind_than_its_name_is_refused(config, capsys):
    files = whole_audience()
    files["subscribed_members_export_8d2f1a.csv"] = csv_text(UNSUBSCRIBED, UNSUBSCRIBED_ROWS)
    export = audience_zip(config.parent / "audience.zip", files)

    assert cli(config, "import", str(export)) == 2

    line = capsys.readouterr().err
    assert ("subscribed_members_export_8d2f1a.csv is named as Mailchimp's subscribed file, but its columns are "
            "those of Mailchimp's unsubscribed file") in " ".join(line.split())
    assert stored(config) == {}


def test_non_subscribed_contacts_are_counted_and_not_imported(config, capsys):
    files = whole_audience()
    files["nonsubscribed_members_export_8d2f1a.csv"] = csv_text(
        SUBSCRIBED, [["gil@example.org", "Gil", "", *[""] * (len(SUBSCRIBED) - 3)]])
    export = audience_zip(config.parent / "audience.zip", files)

    assert cli(config, "import", str(export)) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert "audience.zip: 1 contact Mailchimp held as non-subscribed not imported: it never opted in" in out, out
    assert "gil@example.org" not in stored(config) and len(stored(config)) == 6


def test_a_column_named_as_a_theme_gives_the_theme_and_tags_never_do(config):
    header = [*SUBSCRIBED[:3], "Peer Support", *SUBSCRIBED[3:]]
    rows = [[*row[:3], ticked, *row[3:]] for row, ticked in zip(SUBSCRIBED_ROWS, ["Yes", "", "No"], strict=True)]
    path = config.parent / "subscribed_members_export_8d2f1a.csv"
    path.write_text(csv_text(header, rows), encoding="utf-8")

    assert cli(config, "import", str(path)) == 0

    assert {email: themes for email, (_, _, themes) in stored(config).items()} == {
        "ann@example.org": frozenset({"peer support"}),  # its TAGS say Research: not a theme
        "bob@example.org": frozenset(), "cat@example.org": frozenset()}


def test_a_bad_row_in_a_file_of_the_zip_is_a_problem_naming_that_file_and_line(config, capsys):
    files = whole_audience()
    rows = [*SUBSCRIBED_ROWS, ["not-an-address", "Nobody", "", *[""] * (len(SUBSCRIBED) - 3)],
            ["=cmd@example.org", "=HYPERLINK(\"x\")", "", *[""] * (len(SUBSCRIBED) - 3)]]
    files["subscribed_members_export_8d2f1a.csv"] = csv_text(SUBSCRIBED, rows)
    export = audience_zip(config.parent / "audience.zip", files)

    assert cli(config, "import", str(export)) == 3

    err = " ".join(capsys.readouterr().err.split())
    assert re.search(rf"problem: {re.escape(str(export))}/subscribed_members_export_8d2f1a\.csv:5: "
                     r"'not-an-address' is not a valid email address", err), err
    assert stored(config)["=cmd@example.org"][1] == '=HYPERLINK("x")'
    assert cli(config, "export", "--status", "all", str(config.parent / "list.csv")) == 0
    with (config.parent / "list.csv").open(encoding="utf-8", newline="") as handle:
        assert ["'=cmd@example.org", "'=HYPERLINK(\"x\")"] in [row[:2] for row in csv.reader(handle)]


def test_a_quote_left_open_in_a_file_of_the_zip_names_the_line_it_starts_on(config, capsys):
    """The file is opened a second time, as it unpacks, to find that line."""
    text = csv_text(SUBSCRIBED, SUBSCRIBED_ROWS[:2]) + '\r\n"eve@example.org,Eve\r\n' + \
        csv_text(SUBSCRIBED, SUBSCRIBED_ROWS[2:]).split("\r\n", 1)[1]
    export = audience_zip(config.parent / "audience.zip", {"subscribed_members_export_8d2f1a.csv": text})

    assert cli(config, "import", str(export)) == 3

    err = " ".join(capsys.readouterr().err.split())
    assert f"problem: {export}/subscribed_members_export_8d2f1a.csv:5: a quote opened in this row runs to line 6" \
        in err, err


def test_a_run_whose_list_is_a_file_of_mailchimps_export_takes_it_by_its_columns_too(write_project, caplog):
    """The run's `subscribers` list is read as `import` reads a CSV: Mailchimp's unsubscribed file, whatever its
    name, suppresses, and its non-subscribed contacts are a warning, never members."""
    config = write_project(TOML.replace('from_email = "news@network.example.org"',
                                        'from_email = "news@network.example.org"\nsubscribers = "people.csv"'),
                           {"blog/post.md": POST, "people.csv": csv_text(UNSUBSCRIBED, UNSUBSCRIBED_ROWS),
                            "nonsubscribed_members_export_8d2f1a.csv": csv_text(SUBSCRIBED, SUBSCRIBED_ROWS)})

    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0

    assert {email: status for email, (status, _, _) in stored(config).items()} == {
        "dan@example.org": "unsubscribed", "eve@example.org": "unsubscribed"}
    assert not (config.parent / "outbox" / "issue-1").exists()

    text = config.read_text().replace('subscribers = "people.csv"',
                                      'subscribers = "nonsubscribed_members_export_8d2f1a.csv"')
    config.write_text(text)
    assert main(["run", "-c", str(config), "--as-of", "2016-03-01"]) == 0

    assert len(stored(config)) == 2
    assert "3 contacts Mailchimp held as non-subscribed not imported" in caplog.text


def test_a_list_of_another_tool_is_read_as_a_list_of_our_own_with_its_status(config):
    """Only Mailchimp's own columns make a file its export: another list with `Email Address` and a `last_changed`
    column keeps its `status` column, so a row saying unsubscribed is never made active."""
    path = config.parent / "list.csv"
    path.write_text("Email Address,First Name,Last Name,status,last_changed\n"
                    "ann@example.org,Ann,Smith,active,2023-01-01\ndan@example.org,Dan,,unsubscribed,2023-02-01\n",
                    encoding="utf-8")

    assert cli(config, "import", str(path)) == 0

    assert stored(config) == {"ann@example.org": ("active", "Ann Smith", frozenset()),
                              "dan@example.org": ("unsubscribed", "Dan", frozenset())}
