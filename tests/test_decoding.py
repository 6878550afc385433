"""Bodies unpacked with a bound (pipeline/decoding.py): gzip members one after another, and what follows them."""

from __future__ import annotations

import gzip
import zlib
from datetime import date

import pytest

from pipeline.decoding import TooLarge, bounded_body
from pipeline.runner import run
from tests.http_fixtures import Route

ITEM = ("<item><title>News {n}</title><link>https://p.example.org/{n}</link>"
        "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item>")
HEAD = "<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d</description>"


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[n:n + size] for n in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_gzip_members_one_after_another_are_all_unpacked_in_any_chunking(size):
    first, second = b"<rss>" + b"a" * 5000, b"b" * 70000 + b"</rss>"  # the second larger than one unpacked piece
    raw = gzip.compress(first) + gzip.compress(second)
    assert gzip.decompress(raw) == first + second  # (the standard library reads both, as gzip(1) does)
    assert bounded_body(_pieces(raw, size), "gzip", 1 << 20) == first + second


def test_zero_padding_and_garbage_after_the_last_member_are_ignored():
    body = b"<rss>feed</rss>"
    assert bounded_body([gzip.compress(body) + b"\0" * 512], "gzip", 1 << 20) == body
    assert bounded_body([gzip.compress(body) + b"\0\0not gzip at all"], "gzip", 1 << 20) == body


def test_a_damaged_first_member_or_a_damaged_later_member_is_an_error():
    body = b"<rss>" + b"x" * 3000 + b"</rss>"
    packed = gzip.compress(body)
    damaged = packed[:20] + bytes(b ^ 0xFF for b in packed[20:40]) + packed[40:]
    with pytest.raises(ValueError, match="damaged"):
        bounded_body([damaged], "gzip", 1 << 20)
    with pytest.raises(ValueError, match="damaged"):
        bounded_body([packed + damaged], "gzip", 1 << 20)  # it began as a member: its damage is the body's


def test_the_limit_counts_every_member():
    member = gzip.compress(b"z" * 600_000)
    assert bounded_body([member], "gzip", 1_000_000) == b"z" * 600_000
    with pytest.raises(TooLarge):
        bounded_body([member, member], "gzip", 1_000_000)


def test_many_small_members_stay_bounded_by_the_limit():
    """A hostile server's endless run of tiny members: each adds to the body, and the limit ends it."""
    member = gzip.compress(b"y" * 1000)
    with pytest.raises(TooLarge):
        bounded_body((member for _ in range(10_000)), "gzip", 100_000)


def test_deflate_inside_gzip_members_still_unpacks_each_layer():
    body = b"<rss>layered</rss>" * 100
    deflated = zlib.compress(body)
    raw = gzip.compress(deflated[:50]) + gzip.compress(deflated[50:])  # one deflate stream split over two members
    assert bounded_body(_pieces(raw, 5), "deflate, gzip", 1 << 20) == body


def test_a_feed_served_as_two_gzip_members_keeps_every_item(project_from, feed_server):
    """A server that writes its feed in two gzip members (a cache that appends, `gzip -c head items`): the
    items in the second member were lost, and the document looked cut short."""
    first = (HEAD + ITEM.format(n=1)).encode()
    second = (ITEM.format(n=2) + ITEM.format(n=3) + "</channel></rss>").encode()
    feed_server.routes["/f.xml"] = Route(gzip.compress(first) + gzip.compress(second),
                                         content_type="application/rss+xml\r\nContent-Encoding: gzip")
    project = project_from(f'[sources.p]\ntype = "feed"\nurl = "{feed_server.url("/f.xml")}"\n'
                           '[sinks.feed]\ntype = "rss"\n')
    report = run(project, mode="refresh", as_of=date(2016, 2, 1))
    result = next(r for r in report.results if r.name == "p")
    assert (result.ok, result.count) == (True, 3), result.summary
