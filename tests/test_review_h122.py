"""Review h122: gzip members split across chunks, many tiny members; the next issue's preview; the summary's
asking sentences; Paths in settings; explain's offsets after characters whose lower case is longer."""

from __future__ import annotations

import gzip
import zlib

import pytest

from pipeline import decoding
from pipeline.decoding import bounded_body


def test_garbage_after_the_last_member_is_ignored_however_the_chunks_fall():
    """'\\x1f' then not '\\x8b' is garbage, not a damaged member, even when a chunk ends after the '\\x1f'."""
    body = b"<rss>feed</rss>"
    raw = gzip.compress(body) + b"\x1fX not gzip"
    for cut in range(len(raw) - 12, len(raw)):
        assert bounded_body([raw[:cut], raw[cut:]], "gzip", 1 << 20) == body, cut


def test_a_body_of_many_tiny_members_is_unpacked_with_each_byte_handed_to_zlib_a_bounded_number_of_times(
        monkeypatch):
    """unused_data is a copy of all that follows a member: handing it back whole made 100,000 tiny members
    quadratic. What zlib is handed in all stays within a small multiple of the body (no timing measured)."""
    fed = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args):
            self._inner = real(*args)

        def decompress(self, data, most=0):
            fed.append(len(data))
            return self._inner.decompress(data, most)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(decoding.zlib, "decompressobj", Counting)
    raw = gzip.compress(b"x", mtime=0) * 20_000 + gzip.compress(b"", mtime=0) * 100
    assert bounded_body([raw], "gzip", 1 << 20) == b"x" * 20_000
    assert sum(fed) <= 4 * len(raw)
