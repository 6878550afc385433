"""Review h148: holes found in h141/h145/h146's changes."""

from __future__ import annotations

import html

import pytest

SECRET = "tok_4f9a/2c+e&d"


@pytest.mark.parametrize("spelling", [
    "tok&lowbar;4f9a/2c+e&d",  # HTML5 named references, which html.unescape (and every browser) reads as the key
    "tok_4f9a&sol;2c&plus;e&amp;d",
    "tok_4f9a/2c+e&AMP;d",
    "tok_4f9a&#x2F;2c&#43;e&amp;d",
])
def test_a_value_spelt_with_named_html_references_is_masked(spelling, monkeypatch):
    """Before: only the five references html.escape makes (&amp; &lt; &gt; &quot; &#x27;) were recognised, so a
    feed or message spelling the key with `&lowbar;` or `&sol;` showed it, though decoded it is the key."""
    from pipeline import redact

    assert html.unescape(spelling) == SECRET
    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f/${T}/rss.xml", {"T": SECRET})
    said = redact.redact_text(f"<p>see {spelling} here</p>")
    assert said == "<p>see *** here</p>", said
    assert redact.redact_text("<p>see tok&lowbar;4f9a&sol;2c&plus;e&amp;x here</p>") == \
        "<p>see tok&lowbar;4f9a&sol;2c&plus;e&amp;x here</p>"  # another value: not masked


@pytest.mark.parametrize("code, status", [(False, 0), (True, 1), (0, 0), (3, 3), (None, None)])
def test_an_exit_with_only_a_status_still_ends_the_process_with_it(code, status):
    """Before: only an int (or None) was taken for a status; `sys.exit(False)` (a status, which Python ends with
    exit 0) became "error: unexpected SystemExit: False", exit 1."""
    from types import SimpleNamespace

    from pipeline.cli import _call

    def command(args):
        raise SystemExit(code)

    with pytest.raises(SystemExit) as raised:
        _call(SimpleNamespace(command=command))
    assert raised.value.code == code and raised.value.code == status


def test_a_database_replaced_under_an_open_connection_is_not_said_to_be_another_user_s(tmp_path):
    """Before: SQLite's "attempt to write a readonly database" for a file moved or replaced while the process had it
    open (a backup put back with mv under a running `pipeline serve`: SQLITE_READONLY_DBMOVED) was said as a folder
    of another user or a read-only mount (exit 2, `chown`), though every file is this user's and writable: what
    helps is starting the process again, on the file now in place."""
    import os
    import sqlite3

    from pipeline.state.access import unwritable

    path = tmp_path / "state.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("create table t (x)")
    connection.commit()
    os.replace(path, tmp_path / "moved.sqlite3")
    sqlite3.connect(path).close()  # another file put in its place
    with pytest.raises(sqlite3.OperationalError) as raised:
        connection.execute("insert into t values (1)")
    connection.close()
    error = unwritable(path, raised.value)
    assert error is not None, "the operator should be told what happened"
    said = str(error)
    assert "chown" not in said and "mounted read-write" not in said and "belong to" not in said, said
    assert "moved or replaced" in said and "again" in said, said
