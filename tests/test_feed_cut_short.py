"""A feed cut short part-way (a server that stopped mid-document, unnoticed by the transport): the entry it broke
off in is left out, the whole ones before it kept, and nothing is recorded that would stop the next run reading
it again in full."""

from __future__ import annotations

import re
from datetime import date

import pytest

from pipeline.errors import SourceError
from plugins.sources.cut_short import cut_short
from plugins.sources.feed import parse_feed
from tests.http_fixtures import Route
from tests.test_fastfeed import CORPUS, ROOT

URL = "https://p.example.org/feed.xml"
PARSERS = ("feedparser", "fast")


def rss(n: int = 3, body: str = "<p>A whole paragraph about the event.</p>") -> bytes:
    items = "".join(f"<item><title>Item {k}</title><link>https://p.example.org/{k}</link><guid>urn:p:{k}</guid>"
                    f"<pubDate>Tue, 1{k} Mar 2016 12:00:00 +0000</pubDate>"
                    f"<description><![CDATA[{body}]]></description></item>\n" for k in range(1, n + 1))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>P</title>'
            f"<link>https://p.example.org/</link><description>News</description>\n{items}</channel></rss>\n").encode()


def atom(prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    entries = "".join(f"<{p}entry><{p}title>Entry {k}</{p}title><{p}id>urn:a:{k}</{p}id>"
                      f'<{p}link href="https://a.example.org/{k}"/><{p}updated>2016-03-0{k}T09:00:00Z</{p}updated>'
                      f'<{p}content type="html">&lt;p&gt;The whole of entry {k}.&lt;/p&gt;</{p}content>'
                      f"</{p}entry>\n" for k in range(1, 4))
    xmlns = f"xmlns{':' + prefix if prefix else ''}"
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<{p}feed {xmlns}="http://www.w3.org/2005/Atom">'
            f"<{p}title>A</{p}title><{p}id>urn:a</{p}id><{p}updated>2016-03-01T00:00:00Z</{p}updated>\n"
            f"{entries}</{p}feed>\n").encode()


def rdf(prefix: str = "") -> bytes:
    """An RSS 1.0 feed, its namespace the default or bound to `prefix`."""
    p = f"{prefix}:" if prefix else ""
    items = "".join(f'<{p}item rdf:about="https://r.example.org/{k}"><{p}title>Item {k}</{p}title>'
                    f"<{p}link>https://r.example.org/{k}</{p}link><dc:date>2016-03-0{k}T09:00:00Z</dc:date>"
                    f"<{p}description>The whole of item {k}.</{p}description></{p}item>\n" for k in range(1, 4))
    xmlns = f"xmlns{':' + prefix if prefix else ''}"
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'{xmlns}="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<{p}channel rdf:about="https://r.example.org/"><{p}title>R</{p}title><{p}link>https://r.example.org/'
            f"</{p}link><{p}description>News</{p}description></{p}channel>\n{items}</rdf:RDF>\n").encode()


def extended(data: bytes, at: bytes, element: bytes) -> bytes:
    """`data` with the namespace x declared on its root and `element` (of it) before each `at`."""
    data = re.sub(rb"<((?:\w+:)?(?:rss|feed|RDF))\b", rb'<\1 xmlns:x="https://x.example.org/ns"', data, count=1)
    return data.replace(at, element + at)


def before(data: bytes, marker: bytes, nth: int = 1, extra: int = 0) -> bytes:
    """`data` up to its `nth` `marker` (and `extra` bytes more)."""
    at = -1
    for _ in range(nth):
        at = data.index(marker, at + 1)
    return data[:at + extra]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("whole, cut", [
    (rss(), before(rss(), b"whole paragraph", nth=3)),  # in the third item's CDATA
    (rss(), before(rss(), b"</title>", nth=4)),  # in the third item's title (the first </title> is the channel's)
    (atom(), before(atom(), b"The whole of entry 3")),
    (atom("atom"), before(atom("atom"), b"</atom:content>", nth=3)),  # any namespace prefix
], ids=["rss-in-cdata", "rss-in-title", "atom", "atom-prefixed"])
def test_a_feed_cut_inside_an_entry_leaves_that_entry_out(whole, cut, parser):
    full = parse_feed(whole, URL, "", "p", "news", parser)
    read = parse_feed(cut, URL, "", "p", "news", parser)
    assert read.cut_short and read.partial
    assert read.items == full.items[:2]  # the two whole entries, exactly as the whole feed gives them


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("whole, cut", [  # each cut past the third entry's <x:item> or <x:entry>
    (extended(rss(), b"<pubDate>", b"<x:item>A note</x:item>"), (b"<description>", 4)),  # 4: the channel has one
    (extended(rdf(), b"<dc:date>", b"<x:item>A note</x:item>"), (b"<description>", 4)),
    (extended(rdf("rss"), b"<dc:date>", b"<x:item>A note</x:item>"), (b"<rss:description>", 4)),
    (extended(atom(), b"<content", b"<x:entry>A note</x:entry>"), (b"<content", 3)),
    (extended(atom("atom"), b"<atom:content", b"<x:entry>A note</x:entry>"), (b"<atom:content", 3)),
], ids=["rss", "rdf", "rdf-prefixed", "atom", "atom-prefixed"])
def test_an_element_of_another_namespace_named_like_an_entry_does_not_hide_the_entry_it_is_in(whole, cut, parser):
    read = parse_feed(before(whole, *cut), URL, "", "p", "news", parser)
    assert read.cut_short and read.partial
    assert read.items == parse_feed(whole, URL, "", "p", "news", parser).items[:2]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("whole, end", [
    (rss(), b"</channel>"),
    (rdf(), b"</rdf:RDF>"),
    (atom(), b"</feed>"),
    (atom("atom"), b"</atom:feed>"),
], ids=["rss", "rdf", "atom", "atom-prefixed"])
def test_an_element_of_another_namespace_named_like_an_entry_is_not_one(whole, end, parser):
    name = b"x:entry" if b"feed" in end else b"x:item"
    data = extended(whole, end, b"<%s>A note on the feed, after every entry</%s>" % (name, name))
    read = parse_feed(before(data, b"after every entry"), URL, "", "p", "news", parser)
    assert read.cut_short and not read.partial
    assert read.items == parse_feed(whole, URL, "", "p", "news", parser).items


def test_where_the_namespace_of_entries_cannot_be_told_any_prefix_will_do():
    # as before: Atom 0.3's namespace is not Atom's, and an RSS 1.0 document may not declare its own
    assert cut_short(b'<feed xmlns="http://purl.org/atom/ns#"><entry><title>A</title></entry><x:entry><title>B'
                     ) == (True, True)
    assert cut_short(b"<rdf:RDF><item><title>A</title></item><x:item><title>B") == (True, True)


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("whole, cut", [
    # RSS 1.0 bound to rss: on the root, the items written without it (feedparser takes any <item>)
    (rdf("rss").replace(b"<rss:item ", b"<item ").replace(b"</rss:item>", b"</item>"),
     before(rdf("rss").replace(b"<rss:item ", b"<item ").replace(b"</rss:item>", b"</item>"),
            b"The whole of item 3")),
    # Atom bound to a prefix on each entry itself, not on the root
    (atom().replace(b"<entry>", b'<a:entry xmlns:a="http://www.w3.org/2005/Atom">').replace(b"</entry>", b"</a:entry>"),
     before(atom().replace(b"<entry>", b'<a:entry xmlns:a="http://www.w3.org/2005/Atom">')
            .replace(b"</entry>", b"</a:entry>"), b"The whole of entry 3")),
], ids=["rdf-unprefixed-items", "atom-declared-on-each-entry"])
def test_an_entry_whose_prefix_the_root_does_not_bind_elsewhere_is_one(whole, cut, parser):
    read = parse_feed(cut, URL, "", "p", "news", parser)
    assert read.cut_short and read.partial
    assert read.items == parse_feed(whole, URL, "", "p", "news", parser).items[:2]


def test_a_root_declaring_many_prefixes_is_judged_as_one_declaring_few():
    declared = b"".join(b' xmlns:n%d="https://n.example.org/%d"' % (k, k) for k in range(2000))
    data = rss().replace(b"<rss ", b"<rss" + declared + b" ", 1)
    assert cut_short(before(data, b"whole paragraph", nth=3)) == (True, True)
    assert cut_short(before(data, b"whole paragraph", nth=3).replace(b"<item>", b"<n7:item>")) == (True, False)


@pytest.mark.parametrize("parser", PARSERS)
def test_an_item_whose_cdata_holds_the_text_of_an_end_tag_is_still_partial(parser):
    data = rss(body="<p>Write &lt;item&gt; as <code></item></code> to close one.</p> More follows")
    read = parse_feed(before(data, b"More follows", nth=3), URL, "", "p", "news", parser)
    assert read.partial and [item.title for item in read.items] == ["Item 1", "Item 2"]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("whole, cut, kept", [
    (rss(), before(rss(), b"<item>", nth=3), 2),  # right after the second </item>
    (rss(), before(rss(), b"<item>", nth=3, extra=3), 2),  # in the third item's start tag: no entry was begun
    (rss(), before(rss(), b"</channel>", extra=5), 3),
    (rss(), before(rss(), b"</item>", nth=3, extra=6), 3),  # in the third item's end tag, after its name
    (atom(), before(atom(), b"<entry>", nth=3), 2),
])
def test_a_feed_cut_between_entries_keeps_every_whole_one(whole, cut, kept, parser):
    read = parse_feed(cut, URL, "", "p", "news", parser)
    assert read.cut_short and not read.partial
    assert read.items == parse_feed(whole, URL, "", "p", "news", parser).items[:kept]


@pytest.mark.parametrize("parser", PARSERS)
def test_a_feed_cut_inside_its_first_item_fails_as_one_cut_before_it(parser):
    with pytest.raises(SourceError, match=r"feed.xml: not well-formed XML \(.*\) before any item could be read; "
                                          r"the server may have cut it short"):
        parse_feed(before(rss(), b"whole paragraph"), URL, "", "p", "news", parser)


@pytest.mark.parametrize("parser", PARSERS)
def test_a_whole_feed_that_is_not_well_formed_keeps_every_item(parser):
    # an undefined entity in the middle, an item with no end tag last: the loose parser reads all three, as before
    data = rss().replace(b"<title>Item 2</title>", b"<title>Item&nbsp;2</title>", 1)
    data = data.replace(b"</item>\n</channel>", b"\n</channel>")
    read = parse_feed(data, URL, "", "p", "news", parser)
    assert not read.cut_short and not read.partial
    assert [item.title for item in read.items] == ["Item 1", "Item 2", "Item 3"]
    assert "whole paragraph" in read.items[2].body_html


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("whole, broken", [
    (rss(), rss().replace(b"</rss>\n", b"</rss\n")),
    (atom(), atom().replace(b"</feed>\n", b"</feed\r\n")),
    (atom("atom"), atom("atom").replace(b"</atom:feed>\n", b"</atom:feed ")),
    (rdf(), rdf().replace(b"</rdf:RDF>\n", b"</rdf:RDF")),
], ids=["rss", "atom", "atom-prefixed", "rdf"])
def test_a_feed_whose_root_end_tag_is_broken_off_at_the_very_end_is_whole(whole, broken, parser):
    read = parse_feed(broken, URL, "", "p", "news", parser)
    assert not read.cut_short and not read.partial
    assert read.items == parse_feed(whole, URL, "", "p", "news", parser).items


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("name", ["entities/hex_entity_x_lowercase.xml", "entities/hex_entity_x_uppercase.xml",
                                  "entities/query_variable_entry.xml", "illformed/rdf_channel_empty_textinput.xml",
                                  "illformed/rss_item_link_corrupted_ampersands.xml"])
def test_feedparsers_own_documents_whose_root_end_tag_is_broken_off_are_whole(name, parser):
    if not CORPUS.is_dir():
        pytest.fail(f"feedparser's test corpus is missing ({CORPUS.relative_to(ROOT)}): "
                    f"run bash scripts/feedparser_corpus.sh", pytrace=False)
    data = (CORPUS / name).read_bytes()  # each ends </rss, </feed or </rdf:RDF, then white space or nothing
    read = parse_feed(data, str(CORPUS / name), "", "p", "news", parser)
    assert not read.cut_short and not read.partial and len(read.items) == 1


@pytest.mark.parametrize("parser", PARSERS)
def test_a_well_formed_feed_is_whole(parser):
    read = parse_feed(rss(), URL, "", "p", "news", parser)
    assert not read.cut_short and not read.partial and len(read.items) == 3


def test_a_feed_cut_short_is_read_again_in_full_next_run(pipeline_project, feed_server):
    # Over 64 KB, so that it is parsed in a worker process (what it finds travels back from there).
    whole = rss(body="<p>" + "A long account of the shared work together. " * 600 + "</p>")
    cut = before(whole, b"shared work", nth=3 * 600 - 300)  # the server stopped in the third item's body
    assert len(cut) > 64 * 1024
    feed_server.routes["/feed.xml"] = Route(cut, etag='"v1"')  # served with its own length: httpx sees no fault
    url = feed_server.url("/feed.xml")
    project = pipeline_project(f'[pipeline]\nname = "N"\nworkers = 2\n[sources.p]\ntype = "feed"\nurl = "{url}"\n')

    assert project.refresh(as_of=date(2016, 5, 1), check=False).exit_code == 3  # "done, with problems"
    assert project.problems == [f"{url}: the feed ended part-way through an item (cut short by the server?); "
                                f"2 items read, the partial one left out; the next run reads it again"]
    assert sorted(item.title for item in project.items()) == ["Item 1", "Item 2"]

    feed_server.routes["/feed.xml"] = Route(whole, etag='"v1"')  # the same ETag: a 304, if it were sent
    project.refresh(as_of=date(2016, 5, 1))
    assert "if-none-match" not in feed_server.requests[-1][1]
    assert sorted(item.title for item in project.items()) == ["Item 1", "Item 2", "Item 3"]
    third = next(item for item in project.items() if item.title == "Item 3")
    assert third.body_html.count("shared work") == 600

    project.refresh(as_of=date(2016, 5, 1))  # read whole: now its ETag is recorded
    assert feed_server.requests[-1][1]["if-none-match"] == '"v1"'


@pytest.mark.parametrize("written", ["p.xml", "file://{root}/p.xml"])
def test_a_local_feed_cut_short_is_not_put_down_to_a_server(pipeline_project, tmp_path, written):
    url = written.format(root=tmp_path)
    project = pipeline_project(f'[sources.p]\ntype = "feed"\nurl = "{url}"\n',
                               {"p.xml": before(rss(), b"whole paragraph", nth=3)})
    assert project.refresh(as_of=date(2016, 5, 1), check=False).exit_code == 3
    assert project.problems == [f"{tmp_path / 'p.xml'}: the feed ended part-way through an item (the file ends "
                                f"there); 2 items read, the partial one left out; the next run reads it again"]
