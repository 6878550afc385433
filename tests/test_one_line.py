"""`one_line`: what reaches a header, a feed title or a table cell is one line of printable text."""

import pytest

from pipeline.sanitize import one_line


@pytest.mark.parametrize(("text", "expected"), [
    ("Peer support in Leeds", "Peer support in Leeds"),
    ("  Peer  support   in Leeds ", "Peer support in Leeds"),
    ("Peer\nsupport\r\nin\tLeeds", "Peer support in Leeds"),
    ("Bcc: x\r\nSubject: spam", "Bcc: x Subject: spam"),
    ("Open\u00a0Dialogue\u2028UK\u2029", "Open Dialogue UK"),  # no-break space, line and paragraph separators
    ("a\x00b\x1bc\x7fd\x85e", "a b c d e"),  # C0 and C1 controls
    ("zero\u200bwidth", "zero width"),  # a format character is not printable either
    ("Café £10 – 9.30", "Café £10 – 9.30"),
    ("", ""),
    (None, ""),
])
def test_one_line_folds_white_space_and_drops_what_is_not_printable(text, expected):
    assert one_line(text) == expected
