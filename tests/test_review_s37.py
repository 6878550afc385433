"""Stop 37: holes left open by earlier reviews."""

from __future__ import annotations

import html

import pytest

SECRET = "tok_4f9a/2c+e&d"


@pytest.mark.parametrize("spelling", [
    "tok_4f9a/2c+e&ampd",  # a legacy reference with no semicolon: html.unescape and browsers read "&amp" as "&"
    "tok_4f9a/2c+e&AMPd",
    "to&#107_4f9a/2c+e&d",  # a numeric one with no semicolon, before a character that is no digit
    "to&#x6B_4f9a/2c+e&d",
    "tok_4f9a/2c&#43e&d",
])
def test_a_value_spelt_with_references_missing_their_semicolon_is_masked(spelling, monkeypatch):
    """Before: `&amp` with no `;` (which every browser and html.unescape read as `&`) and `&#47` with no `;` showed
    the key in a feed or a printed line, though decoded it is the key."""
    from pipeline import redact

    assert html.unescape(spelling) == SECRET, html.unescape(spelling)
    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f/${T}/rss.xml", {"T": SECRET})
    said = redact.redact_text(f"<p>see {spelling} here</p>")
    assert said == "<p>see *** here</p>", said


def test_a_numeric_reference_without_semicolon_is_not_read_into_the_next_digit(monkeypatch):
    """`&#470` is one character (U+01D6), not "/" then "0": masking must not take it for the key's "/"."""
    from pipeline import redact

    monkeypatch.setattr(redact, "_remembered", set())
    redact.expand("https://h.example/f/${T}/rss.xml", {"T": "tok_4f9a/02c+e&d"})
    other = "tok_4f9a&#4702c+e&d"
    assert html.unescape(other) != "tok_4f9a/02c+e&d"
    assert redact.redact_text(f"<p>{other}</p>") == f"<p>{other}</p>"


@pytest.mark.parametrize("on_main_thread", [True, False])
def test_a_deadline_that_passes_inside_a_nested_one_is_reported_as_its_own(on_main_thread):
    """Before: the inner call caught the outer deadline's interrupt as its own, and said "inner: did not finish
    within 30 s" after 0.3 s; the outer call's code then went on as after any ordinary error."""
    import threading
    import time

    from pipeline.time_limits import OutOfTime, call_within

    went_on = []

    def inner():
        for _ in range(100):  # (short sleeps: on another thread the interrupt lands between two)
            time.sleep(0.05)

    def outer():
        try:
            call_within(30, "inner: did not finish within 30 s", inner)
        except OutOfTime:
            went_on.append("caught the inner's deadline")
            raise

    said: list[str] = []

    def run():
        try:
            call_within(0.3, "outer: did not finish within 0.3 s", outer)
        except OutOfTime as exc:
            said.append(str(exc))

    if on_main_thread:
        run()
    else:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(10)
    assert said == ["outer: did not finish within 0.3 s"]
    assert went_on == []
