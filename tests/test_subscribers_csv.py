"""The subscriber list as CSV: bad rows reported with file and line, themes, and a faithful round trip."""

from __future__ import annotations

import io

import pytest

from pipeline.errors import SubscriberError
from pipeline.subscribers.csv_io import CsvRow, read_csv, valid_address, write_csv


def test_reads_rows_and_reports_bad_ones_by_file_and_line(tmp_path):
    path = tmp_path / "subscribers.csv"
    path.write_text("\ufeffEmail, Name ,themes\n"
                    "Ann@Example.org,  Ann   Smith ,research; peer support\n"
                    ",No Address,\n"
                    "not-an-address,Bad,\n"
                    "ann@example.org,Ann again,\n"
                    "bob@example.org,Bob\n", encoding="utf-8")
    listed = read_csv(path)
    assert listed.rows == [CsvRow(2, "ann@example.org", "Ann Smith", frozenset({"research", "peer support"})),
                           CsvRow(6, "bob@example.org", "Bob")]
    assert listed.problems == [f"{path}:3: no email address in this row; add one or delete the row",
                               f"{path}:4: 'not-an-address' is not a valid email address; correct it or delete the row"]
    assert listed.rows[0].as_import() == ("ann@example.org", "Ann Smith", frozenset({"research", "peer support"}), "")


@pytest.mark.parametrize(("content", "message"), [
    (b"name,address\nAnn,ann@example.org\n", "subscribers.csv:1: the first line must be the header `email,name`"),
    (b"email,name\n\xff\xfe,bad\n", "not UTF-8 text"),
])
def test_a_file_that_cannot_be_a_list_is_one_line_error(tmp_path, content, message):
    path = tmp_path / "subscribers.csv"
    path.write_bytes(content)
    with pytest.raises(SubscriberError, match=message):
        read_csv(path)
    with pytest.raises(SubscriberError, match="cannot read the subscriber list"):
        read_csv(tmp_path / "missing.csv")


def test_export_round_trips_and_defuses_spreadsheet_formulas(tmp_path):
    rows = [CsvRow(0, "ann@example.org", "=HYPERLINK(\"http://evil\")", frozenset({"research", "space"}), "active"),
            CsvRow(0, "bob@example.org", "Bob, Jr.", frozenset(), "unsubscribed")]
    out = io.StringIO()
    assert write_csv(out, rows, with_status=True) == 2
    text = out.getvalue()
    assert text.splitlines()[0] == "email,name,themes,status,record"
    assert "'=HYPERLINK" in text  # a spreadsheet shows it as text instead of running it
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    fields = [(r.email, r.name, r.themes, r.status) for r in read_csv(path).rows]
    assert fields == [(r.email, r.name, r.themes, r.status) for r in rows]


@pytest.mark.parametrize("name", ["'=1+1", "'+44 20", "'-dash", "'@handle", "''double", "'plain", "'", "=SUM(A1)"])
def test_a_name_that_starts_with_a_quote_comes_back_exactly(tmp_path, name):
    out = io.StringIO()
    write_csv(out, [CsvRow(0, "ann@example.org", name, frozenset(), "active")], with_status=True)
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert [row.name for row in read_csv(path).rows] == [name]


def test_a_quote_before_anything_but_a_formula_or_a_quote_is_the_names_own(tmp_path):
    path = tmp_path / "subscribers.csv"  # written by hand, or by an export from before quotes were guarded
    path.write_text("email,name\nann@example.org,'Tis Ann\nbob@example.org,'=Bob\n", encoding="utf-8")
    assert [row.name for row in read_csv(path).rows] == ["'Tis Ann", "=Bob"]


@pytest.mark.parametrize(("address", "ok"), [
    ("ann@example.org", True), ("ann.o'neil+news@sub.example.co.uk", True), ("ann@example", False),
    ("ann@@example.org", False), ("ann example@example.org", False), ("<ann@example.org>", False),
    ("ann..b@example.org", False), ("a" * 250 + "@example.org", False),
    # RFC 5321 4.5.3.1.1: at most 64 characters before the @
    ("a" * 64 + "@example.org", True), ("a" * 65 + "@example.org", False),
    # an IP address after the @ reaches a mailbox only in brackets ([192.168.1.1]), which the list does not take
    ("ann@192.168.1.1", False), ("ann@10.1", False), ("ann@example.123", False), ("ann@1.2.3.example.org", True),
])
def test_valid_address(address, ok):
    assert valid_address(address) is ok


def test_a_row_too_long_before_the_at_or_with_an_ip_address_says_why(tmp_path):
    path = tmp_path / "subscribers.csv"
    path.write_text(f"email,name\n{'a' * 65}@example.org,Ann\nbob@192.168.1.1,Bob\ncy@example.org,Cy\n",
                    encoding="utf-8")
    listed = read_csv(path)
    assert listed.problems == [
        f"{path}:2: '{'a' * 65}@example.org' is not a valid email address (the part before the @ is longer than 64 "
        f"characters); correct it or delete the row",
        f"{path}:3: 'bob@192.168.1.1' is not a valid email address (mail to an IP address needs brackets, which the "
        f"list does not take: use the domain's name); correct it or delete the row"]
    assert [row.email for row in listed.rows] == ["cy@example.org"]


def test_a_row_is_reported_at_the_line_it_starts_on_when_a_quoted_cell_holds_line_breaks(tmp_path):
    path = tmp_path / "subscribers.csv"
    path.write_text('email,name,themes\nann@example.org,"Ann\nSmith",\n\n"bad\naddress","Two\r\nlines",x\n'
                    'cat@example.org,Cat,"a;\nb"\n', encoding="utf-8", newline="")
    listed = read_csv(path)
    assert listed.problems == [f"{path}:5: 'bad address' is not a valid email address; correct it or delete the row"]
    assert [(row.line, row.email) for row in listed.rows] == [(2, "ann@example.org"), (8, "cat@example.org")]


def test_a_pending_row_gives_way_to_a_later_row_for_the_same_address(tmp_path):
    """A pending row is never imported: a member's own row after it is the one read, not skipped as a repeat."""
    path = tmp_path / "list.csv"
    path.write_text("email,name,themes,status\nann@example.org,Ann,,pending\nANN@example.org,Ann B,,active\n"
                    "bob@example.org,Bob,,active\nbob@example.org,Bob,,pending\n", encoding="utf-8")
    listed = read_csv(path)
    assert [(row.email, row.name, row.status, row.line) for row in listed.rows] == [
        ("ann@example.org", "Ann B", "active", 3), ("bob@example.org", "Bob", "active", 4)]
    assert listed.problems == []


@pytest.mark.parametrize(("text", "line", "to"), [
    ('email,name\n"quinn@example.org,Quinn\nrita@example.org,Rita\nsol@example.org,Sol\n', 2, 4),  # open to the end
    ('email,name\nann@example.org,Ann\n\n"quinn@example.org,Quinn\nrita@example.org",Rita\nsol@example.org,Sol\n',
     4, 5),
])
def test_a_quote_left_open_is_named_at_the_line_it_opens_on(tmp_path, text, line, to):
    """A quote left open swallows the lines after it into one cell: the problem names the row's own first line and
    says what happened, not only that the address is invalid; the rows after it are still read."""
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    listed = read_csv(path)
    assert listed.problems == [f"{path}:{line}: a quote opened in this row runs to line {to}, so every line to there "
                               f"was read as one cell; close the quote where the cell ends (or delete it) and read "
                               f"the list again"]
    assert [row.email for row in listed.rows] == (["ann@example.org", "sol@example.org"] if line == 4 else [])


@pytest.mark.parametrize("text", [
    'email,name\nann@example.org,"Smith, Ann\nrita@example.org,Rita\nsol@example.org,Sol\n',  # in the name
    'email,name,themes\nann@example.org,Ann,"research\nrita@example.org,Rita,\nsol@example.org,Sol,\n',  # themes
])
def test_a_quote_left_open_after_the_email_cell_is_named_too(tmp_path, text):
    """Review (helper 93): a quote left open in the name or themes cell swallows every later row as well, into a
    cell that is not the address: nothing was said, rita and sol were silently not imported, and ann's name became
    'Smith, Ann rita@example.org,Rita sol@example.org,Sol'."""
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    listed = read_csv(path)
    assert any(p.startswith(f"{path}:2: a quote opened in this row") for p in listed.problems), listed.problems


def test_a_quote_left_open_after_a_blank_line_is_named_at_its_own_line(tmp_path):
    """Review (helper 93): the quote opens on line 4, after a blank line 3; the problem named line 3 (the blank
    one): `max(..., ended + 1)` makes up for the final line end only when no blank line comes before."""
    path = tmp_path / "list.csv"
    path.write_text('email,name\nann@example.org,Ann\n\n"quinn@example.org,Quinn\nrita@example.org,Rita\n',
                    encoding="utf-8")
    listed = read_csv(path)
    assert [p.partition(": ")[0] for p in listed.problems] == [f"{path}:4"], listed.problems


def test_a_quote_left_open_in_the_header_is_said(tmp_path):
    """Review (helper 93): a quote left open in the header swallows the whole list into one column name: no row,
    and no problem either, so `subscribers import` said '0 rows' and exited 0, and a run imported nobody new."""
    path = tmp_path / "list.csv"
    path.write_text('email,"name\nann@example.org,Ann\nbob@example.org,Bob\n', encoding="utf-8")
    try:
        listed = read_csv(path)
    except SubscriberError as refused:  # one line naming the file is as good
        assert "quote" in str(refused)
        return
    assert listed.rows or listed.problems


def test_a_name_over_two_lines_with_an_address_in_its_words_is_no_quote_left_open(tmp_path):
    """A hostile name in quotes ("Fay" then "Bcc: evil@example.com" on the next line) is a name, kept on one line:
    only a line holding an address alone, as a row of the list does, shows a quote left open."""
    path = tmp_path / "list.csv"
    path.write_text('email,name\nfay@example.org,"Fay\nBcc: evil@example.com"\nbob@example.org,Bob\n', encoding="utf-8")
    listed = read_csv(path)
    assert listed.problems == []
    assert [(row.email, row.name) for row in listed.rows] == [("fay@example.org", "Fay Bcc: evil@example.com"),
                                                                ("bob@example.org", "Bob")]


# -- review (helper 95) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Ann Smith\nann.smith@work.example",  # a name cell pasted from a contact card
                                  "Fay\nBcc: evil@example.com, other@example.com"])  # the hostile name, two addresses
def test_a_closed_quoted_name_whose_later_line_is_an_address_is_no_quote_left_open(tmp_path, name):
    """Review (helper 95). `_swallows` takes any later line of any cell holding an address alone between commas for
    rows swallowed by an open quote, without asking whether the quote was ever left open. A name properly quoted
    over two lines, its second line an address (or, hostile, 'Bcc: a, b'), drops a valid row and is reported as
    "a quote opened in this row runs to line 3", which is untrue: the quote closes on line 3 and the next row is
    read. Before caa949c the row was imported with its name on one line; the commit c6ef4b4 says such a name 'is a
    name'. Expected: the row is read (the name on one line) and no quote is said to be open."""
    path = tmp_path / "list.csv"
    quoted = name.replace('"', '""')
    path.write_text(f'email,name\nann@example.org,"{quoted}"\nbob@example.org,Bob\n', encoding="utf-8")
    listed = read_csv(path)
    assert not [p for p in listed.problems if "quote" in p]
    assert [row.email for row in listed.rows] == ["ann@example.org", "bob@example.org"]


@pytest.mark.parametrize("gap", ["\x0b", "\x0c", "\u2028", "\x85"])
def test_a_row_with_no_quote_at_all_is_never_said_to_hold_a_quote_left_open(tmp_path, gap):
    """Review (helper 95). `_swallows` splits a cell with str.splitlines, which breaks at a vertical tab (how
    FileMaker exports a line break inside a field), a form feed, U+2028 and NEL, none of which ends a line for
    the csv reader. A row with no quote anywhere ('ann@example.org,Ann<VT>ann@work.example') is refused as "a
    quote opened in this row runs to line 2" and Ann is not imported. Expected: the row is read."""
    path = tmp_path / "list.csv"
    path.write_text(f"email,name\nann@example.org,Ann{gap}ann@work.example\nbob@example.org,Bob\n", encoding="utf-8")
    listed = read_csv(path)
    assert not [p for p in listed.problems if "quote" in p]
    assert [row.email for row in listed.rows] == ["ann@example.org", "bob@example.org"]


def test_a_list_with_a_stray_quote_in_every_other_name_is_read_again_once_at_most(tmp_path):
    """Review (helper 95): the line a left-open quote starts on was found by reading the whole file again for
    each such row, which took time growing with the square of the list (20,000 lines: 18 s). It is read again
    once, and every problem still said."""
    path = tmp_path / "list.csv"
    path.write_text("email,name\n" + "".join(f'a{n}@example.org,"Ann {n}\n' for n in range(200)), encoding="utf-8")
    opened = []

    def open_text():
        opened.append(path)
        return path.open(encoding="utf-8-sig", newline="")

    listed = read_csv(path, open_text)
    assert len(listed.problems) == 100 and len(opened) == 2  # the reader's, and once more for the lines
    assert listed.problems[1].startswith(f"{path}:4: a quote opened in this row runs to line 5")
