"""parser = "fast": lxml reads the common feeds exactly as feedparser does, and declines the rest.

The differential test runs both parsers over feedparser's own test corpus (`bash scripts/feedparser_corpus.sh`
fetches it), then over feeds like the benchmark's, encodings and element orders the corpus leaves out.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import random
import re
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import plugins.sources
from pipeline.errors import ConfigError, SourceError
from plugins.sources import fastfeed
from plugins.sources.feed import parse_feed
from tests.http_fixtures import Route, start_feed_server
from tests.test_lead_image import ATOM_MEDIA, MEDIA_RSS
from tests.test_sources import ATOM, RSS, SINK

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".cache" / "feedparser-corpus" / f"feedparser-{importlib.metadata.version('feedparser')}" / "tests"
HEADER = re.compile(rb"^Header:\s*(Content-type|Content-Location):\s*(.*?)\s*$", re.M | re.I)


def both(data: bytes, url: str, content_type: str = "") -> tuple[object, object, bool]:
    """(feedparser's items, the fast parser's items, whether fastfeed read the document itself)."""
    def parse(parser):
        try:
            return parse_feed(data, url, content_type, "p", "news", parser)
        except SourceError as exc:
            return str(exc)
    return parse("feedparser"), parse("fast"), fastfeed.read(data, url, content_type) is not None


def load_bench_corpus():
    spec = importlib.util.spec_from_file_location("bench_corpus", ROOT / "bench" / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.fail(f"feedparser's test corpus is missing ({CORPUS.relative_to(ROOT)}): "
                    f"run bash scripts/feedparser_corpus.sh", pytrace=False)
    return sorted(CORPUS.rglob("*.xml"))


# -- the differential test over feedparser's corpus ------------------------------------------------

def test_the_fast_parser_gives_feedparsers_items_over_its_own_corpus(corpus):
    compared, accepted, differ = 0, Counter(), []
    for path in corpus:
        data = path.read_bytes()
        headers = {name.lower(): value.decode() for name, value in HEADER.findall(data)}
        served = (headers.get(b"content-location") or f"http://example.org/feeds/{path.name}",
                  headers.get(b"content-type", ""))
        for url, content_type in (served, (str(path), "")):  # as if served over HTTP, and as a local file
            slow, fast, read = both(data, url, content_type)
            if not read:
                continue  # fastfeed declined: feedparser read it on both paths
            compared += 1
            accepted[(path.parent.name, url == str(path))] += 1
            if fast != slow:
                differ.append(f"{path.relative_to(CORPUS)} ({'file' if url == str(path) else url})")
    total = Counter((path.parent.name, local) for path in corpus for local in (False, True))
    shares = ", ".join(f"{folder} {accepted[(folder, False)]}/{total[(folder, False)]}"
                       for folder in ("rss", "atom10", "itunes", "sanitize", "chardet"))
    print(f"\nfastfeed read {compared} of {2 * len(corpus)} parses of feedparser's corpus itself ({shares})")
    assert not differ, f"fast and feedparser differ on {len(differ)} of {compared}: {', '.join(differ)}"
    # It must not decline too much: most of the well-formed RSS 2.0 and Atom 1.0 tests are read.
    assert accepted[("rss", False)] >= 155 and accepted[("atom10", False)] >= 215, shares
    assert compared >= 1750


# -- feeds like ours, and what the corpus leaves out -----------------------------------------------

def test_it_reads_the_kind_of_feeds_the_benchmark_and_the_demo_use(tmp_path):
    feeds = load_bench_corpus().generate(tmp_path, feeds=8, items=12, as_of=date(2016, 5, 1))
    documents = [path.read_bytes() for path in feeds]
    documents += [path.read_bytes() for path in sorted((ROOT / "content" / "feeds").glob("*.xml"))]
    documents += [RSS.encode(), ATOM.encode(), MEDIA_RSS.encode(), ATOM_MEDIA.encode()]
    for n, data in enumerate(documents):
        for url in (f"https://partner.example.org/feed-{n}.xml", str(tmp_path / f"feed-{n}.xml")):
            slow, fast, read = both(data, url, "application/rss+xml; charset=utf-8" if "://" in url else "")
            assert read, f"fastfeed declined document {n} ({url})"
            assert fast == slow and slow[0], f"document {n} ({url})"


RSS_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom"
 xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:media="http://search.yahoo.com/mrss/"
 xmlns:x="https://example.org/unknown-namespace">
<channel><title>Partner</title><link>https://partner.example.org/</link>{channel}<item>{item}</item></channel></rss>"""
ATOM_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0" xml:lang="en"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:x="https://example.org/x"
 xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
 xmlns:media="http://search.yahoo.com/mrss/">
<title>Partner</title><id>tag:partner.example.org,2016:feed</id>{channel}<entry>{item}</entry></feed>"""
# Element orders and repeats where feedparser's rules decide which value wins.
CASES = {
    "link with &amp;amp; and a bare reference": (RSS_TEMPLATE, "", "<title>x</title>"
                                                 "<link>https://p.example.org/?a=1&amp;amp;b=2&amp;c;</link>"),
    "a second description is content": (RSS_TEMPLATE, "", "<title>x</title><guid>g</guid><description>one"
                                        "</description><description>two</description><description>three"
                                        "</description>"),
    "content after two descriptions": (RSS_TEMPLATE, "", "<guid>g</guid><description>one</description>"
                                       "<description>two</description><content:encoded>enc</content:encoded>"),
    "content, then description": (RSS_TEMPLATE, "", "<guid>g</guid><content:encoded><![CDATA[<p>full</p>]]>"
                                  "</content:encoded><description>short</description>"),
    "the channel's summary and description": (RSS_TEMPLATE, "<itunes:summary>s</itunes:summary><description>d"
                                              "</description>", "<guid>g</guid><description>one</description>"
                                              "<description>two</description><description>3</description>"),
    "the last date of each kind wins": (RSS_TEMPLATE, "", "<guid>g</guid><pubDate>Tue, 15 Mar 2016 12:00:00 "
                                        "+0000</pubDate><dcterms:issued>not a date</dcterms:issued><dc:date>"
                                        "2016-01-01T00:00:00Z</dc:date>"),
    "two pubDates": (RSS_TEMPLATE, "", "<guid>g</guid><pubDate>Tue, 15 Mar 2016 12:00:00 EST</pubDate>"
                     "<pubDate>16 Mar 16 12:00 PDT</pubDate>"),
    "odd dates": (RSS_TEMPLATE, "", "<guid>g</guid><pubDate>2016-03-15 12:00:00+05:30</pubDate>"
                  "<dc:date>Sun Jan  4 16:29:06 PST 2004</dc:date>"),
    "a guid that is not a permalink": (RSS_TEMPLATE, "", "<title>x</title><guid isPermaLink=\"false\">abc</guid>"),
    "a relative guid": (RSS_TEMPLATE, "", "<title>x</title><guid>12345</guid>"),
    "guid, then link": (RSS_TEMPLATE, "", "<guid>https://p.example.org/g</guid><link>https://p.example.org/l"
                        "</link>"),
    "link, then guid": (RSS_TEMPLATE, "", "<link>https://p.example.org/l</link><guid>https://p.example.org/g"
                        "</guid>"),
    "an empty link after the guid": (RSS_TEMPLATE, "", "<title>x</title><guid>https://p.example.org/g</guid>"
                                     "<link/>"),
    "atom:link in RSS, relative": (RSS_TEMPLATE, "", "<title>x</title><atom:link href=\"/relative\" "
                                   "rel=\"alternate\"/><guid isPermaLink=\"false\">k</guid>"),
    "author and dc:creator": (RSS_TEMPLATE, "", "<guid>g</guid><author>a@example.org (A)</author>"
                              "<dc:creator>Bee</dc:creator>"),
    "atom:author in RSS": (RSS_TEMPLATE, "", "<guid>g</guid><atom:author><atom:name>N</atom:name><atom:email>"
                           "e@example.org</atom:email></atom:author>"),
    "UTF-8 read as Latin-1, and C1 controls": (RSS_TEMPLATE, "", "<title>caf\u00c3\u00a9 \u0080 a\u0093b\u0094"
                                               "</title><guid>g</guid><dc:creator>Jos\u00c3\u00a9</dc:creator>"),
    "no-break spaces around a title": (RSS_TEMPLATE, "", "<title>\u00a0 x \u00a0</title><guid>g</guid>"),
    "markup in the title, escaped": (RSS_TEMPLATE, "", "<title>&lt;b&gt;Bold&lt;/b&gt; &amp;amp; more</title>"
                                     "<guid>g</guid>"),
    "plain text that looks like HTML": (RSS_TEMPLATE, "", "<title>x</title><guid>g</guid><description>1 &lt; 2 "
                                        "&amp;&amp; 3 &gt; 2 &lt;br&gt;</description>"),
    "enclosure, category, media and unknown elements": (
        RSS_TEMPLATE, "<image><url>https://p.example.org/logo.png</url><title>P</title><link>https://p.example."
        "org/</link></image>", "<title>x</title><guid>g</guid><enclosure url=\"https://e.org/a.mp3\" "
        "type=\"audio/mpeg\" length=\"1\"/><category domain=\"d\">c</category><comments>/c</comments><media:"
        "group><media:content url=\"https://e.org/v.mp4\"/></media:group><x:extra a=\"1\">e</x:extra>"),
    "Atom: html title, summary and content, two links": (
        ATOM_TEMPLATE, "<link href=\"https://partner.example.org/\"/>",
        "<title type=\"html\">A &lt;em&gt;title&lt;/em&gt;</title><id>urn:uuid:1</id><link rel=\"replies\" "
        "href=\"https://p.example.org/c\" thr:count=\"2\"/><link rel=\"alternate\" type=\"text/html\" href=\""
        "entry/1\"/><published>2016-03-02T09:00:00+01:00</published><updated>2016-03-03T09:00:00Z</updated>"
        "<summary>short</summary><content type=\"html\">&lt;p&gt;long&lt;/p&gt;</content><thr:total>2"
        "</thr:total><author><name>Ann</name><email>ann@example.org</email><uri>/ann</uri></author>"),
    "Atom: no alternate link, so the id": (ATOM_TEMPLATE, "", "<title>t</title><id>https://p.example.org/1</id>"
                                           "<link rel=\"self\" href=\"https://p.example.org/self\"/><content>"
                                           "plain &lt;text&gt;</content>"),
    "Atom: a source, and a dc:creator after the author": (
        ATOM_TEMPLATE, "",
        "<title>t</title><id>tag:x,2016:1</id><author><name>A</name><email>a@example.org</email></author>"
        "<dc:creator>D</dc:creator><source><id>tag:y</id><title>Elsewhere</title><link href=\""
        "https://y.example.org/\"/><updated>2016-01-01T00:00:00Z</updated></source><updated>2016-02-01T00:00:00Z"
        "</updated>"),
    "Atom: an author's name is neither repaired nor folded": (ATOM_TEMPLATE, "", "<title>t</title><id>1</id>"
                                                               "<author><name> Jos\u00c3\u00a9\u0093 </name>"
                                                               "</author>"),
    "links with too many slashes": (ATOM_TEMPLATE, "", "<title>t</title><id>1</id><link href=\"https:////p.example"
                                    ".org/a\"/>"),
    "an RSS link with too many slashes": (RSS_TEMPLATE, "", "<title>t</title><link>https:///p.example.org/b</link>"),
    "a known prefix for an unknown namespace": (RSS_TEMPLATE.replace('xmlns:x=', 'xmlns:slash='), "",
                                                "<title>t</title><guid>g</guid><slash:comments>3</slash:comments>"),
    # The lead image: the first media:content that is an image, else a thumbnail, else an image enclosure.
    "media:content: a video, then an image in a group": (
        RSS_TEMPLATE, "", "<title>t</title><link>https://p.example.org/n/1</link><media:content url=\"https://m."
        "example.org/v.mp4\" medium=\"video\"/><media:thumbnail url=\"t.jpg\"/><media:group><media:content url="
        "\"pics/p.JPG?w=600\"/><media:content url=\"https://m.example.org/q.png\" type=\"image/png\"/>"
        "</media:group>"),
    "media:content: medium is Image, type is not": (
        RSS_TEMPLATE, "", "<title>t</title><guid>g</guid><media:content url=\"https://m.example.org/p\" "
        "medium=\" Image \" type=\"application/octet-stream\"/>"),
    "media:content: javascript, then a thumbnail": (
        RSS_TEMPLATE, "", "<title>t</title><guid>g</guid><media:content url=\"javascript:alert(1)\" medium="
        "\"image\"/><media:thumbnail url=\"https://m.example.org/t.png\" width=\"72\"/>"),
    "an image enclosure after an audio one": (
        RSS_TEMPLATE, "", "<title>t</title><link>https://p.example.org/n/2</link><enclosure url=\"https://e.org/"
        "a.mp3\" type=\"audio/mpeg\" length=\"1\"/><enclosure url=\"/img/b.webp\" type=\"image/webp\" "
        "length=\"1\"/>"),
    "an enclosure given by href, and one with an empty url": (
        RSS_TEMPLATE, "", "<title>t</title><guid>g</guid><enclosure url=\"\" href=\"https://e.org/h.gif\" "
        "type=\"image/gif\"/><enclosure href=\"https://e.org/i.gif\" type=\"image/gif\"/>"),
    "media inside an unknown element, and in the entry's source": (
        RSS_TEMPLATE, "", "<title>t</title><guid>g</guid><source url=\"https://s.example.org/\">S</source><x:wrap>"
        "<media:thumbnail url=\"https://m.example.org/w.avif\"/></x:wrap>"),
    "Atom: a relative image enclosure link": (
        ATOM_TEMPLATE, "", "<title>t</title><id>1</id><link href=\"https://p.example.org/1\"/><link rel=\""
        "enclosure\" type=\"audio/mpeg\" href=\"a.mp3\"/><link rel=\"enclosure\" type=\"image/jpeg\" "
        "href=\"/media/a.jpg\" length=\"1\"/>"),
    "Atom: a thumbnail in the source only": (
        ATOM_TEMPLATE, "", "<title>t</title><id>1</id><source><id>s</id><media:thumbnail url=\"https://s.example."
        "org/t.jpg\"/></source><content type=\"html\">&lt;img src=\"https://p.example.org/b.png\"&gt;</content>"),
}


@pytest.mark.parametrize("template, channel, item", CASES.values(), ids=list(CASES))
def test_element_orders_and_repeats(template, channel, item):
    data = template.format(channel=channel, item=item).encode("utf-8")
    for url in ("https://partner.example.org/feeds/news.xml", "/srv/feeds/news.xml"):
        slow, fast, read = both(data, url)
        assert read and fast == slow and slow[0], url


# Parts of entries and feeds, put together at random below: feedparser's rules must hold in any order.
ENTRY_PARTS = [
    "<title>T &amp; t</title>", '<title type="html">&lt;b&gt;B&lt;/b&gt;</title>', "<title></title>",
    "<dc:title>D</dc:title>", "<link>https://p.example.org/a?x=1&amp;y=2</link>", "<link>rel/a</link>", "<link/>",
    '<link href="https://p.example.org/h"/>', '<link rel="alternate" type="text/html" href="/alt"/>',
    '<link rel="enclosure" href="https://e.example.org/x.mp3"/>', '<link rel="self" href="https://s.example.org/"/>',
    '<link rel="alternate" type="application/xhtml+xml" href="x.xhtml"/>', '<atom:link href="https://p.example.org/al"/>',
    "<guid>https://p.example.org/g</guid>", '<guid isPermaLink="false">np</guid>', "<guid>rel-guid</guid>",
    "<id>tag:x,2016:1</id>", "<id></id>", "<description>desc</description>",
    "<description><![CDATA[<p>cd</p>]]></description>", "<summary>sum</summary>",
    '<summary type="html">&lt;i&gt;s&lt;/i&gt;</summary>', "<content:encoded><![CDATA[<p>enc</p>]]></content:encoded>",
    "<content>plain</content>", '<content type="html">&lt;p&gt;h&lt;/p&gt;</content>',
    "<itunes:summary>its</itunes:summary>", "<dc:description>dcd</dc:description>",
    "<media:description>md</media:description>", "<pubDate>Tue, 15 Mar 2016 12:00:00 +0000</pubDate>",
    "<pubDate>bogus</pubDate>", "<published>2016-03-01T10:00:00Z</published>",
    "<updated>2016-03-02T10:00:00+02:00</updated>", "<dc:date>2016-03-03</dc:date>",
    "<dcterms:modified>2016-03-04T00:00:00Z</dcterms:modified>", "<lastBuildDate>Wed, 16 Mar 2016 12:00:00 GMT"
    "</lastBuildDate>", "<author>a@example.org (A)</author>", "<dc:creator>Creator</dc:creator>",
    "<author><name>N</name></author>", "<author><name>N2</name><email>n2@example.org</email></author>",
    "<author><email>e@example.org</email><uri>/u</uri></author>", "<category>c</category>",
    '<enclosure url="https://e.example.org/a.mp3" length="1" type="audio/mpeg"/>', "<comments>/c</comments>",
    '<source url="https://s.example.org/">S</source>', '<media:content url="https://m.example.org/v.mp4"/>',
    '<media:group><media:thumbnail url="https://m.example.org/t.jpg"/></media:group>', "<x:foo>f</x:foo>",
    '<x:bar a="1">b</x:bar>', "<x:nest><x:inner>i</x:inner></x:nest>", "<unknown>u</unknown>",
    '<rights type="html">&lt;b&gt;r&lt;/b&gt;</rights>', "<contributor><name>C</name></contributor>",
    "<itunes:duration>1:00</itunes:duration>", "<!-- a comment -->", "<?pi x?>",
    '<source><title>st</title><id>sid</id><link href="https://src.example.org/"/></source>',
    '<media:content url="https://m.example.org/p.jpg" medium="image"/>', '<media:content url="rel/p.png"/>',
    '<media:content url="https://m.example.org/p.webp" type="image/webp"/>', '<media:thumbnail url="/t.png"/>',
    '<enclosure url="pic.jpg" type="image/jpeg" length="1"/>', '<link rel="enclosure" type="image/png" href="e.png"/>',
    '<x:wrap><media:content url="https://m.example.org/w.gif"/></x:wrap>', '<media:content url="javascript:x" '
    'medium="image"/>', '<source><title>s</title><media:thumbnail url="https://s.example.org/t.jpg"/></source>',
]
FEED_PARTS = [
    "<title>F</title>", "<link>https://p.example.org/</link>", '<link href="https://p.example.org/atom"/>',
    "<id>tag:feed</id>", "<guid>https://p.example.org/fg</guid>", "<description>fd</description>",
    "<itunes:summary>fs</itunes:summary>", "<summary>fsum</summary>", "<content:encoded>fce</content:encoded>",
    "<image><url>https://i.example.org/</url><link>https://i.example.org/link</link><title>i</title></image>",
    "<category>fc</category>", "<author><name>FA</name></author>", "<updated>2016-01-01T00:00:00Z</updated>",
    "<x:meta>m</x:meta>",
]


def test_random_element_orders_read_the_same():
    rng, read = random.Random(2016), 0
    for _ in range(500):
        atom = rng.random() < 0.4
        parts = [part.replace("atom:", "") for part in ENTRY_PARTS] if atom else ENTRY_PARTS
        entries = "".join(("<entry>{}</entry>" if atom else "<item>{}</item>").format(
            "".join(rng.choices(parts, k=rng.randint(1, 7)))) for _ in range(3))
        feed = "".join(rng.choices(FEED_PARTS, k=rng.randint(0, 4)))
        template = ATOM_TEMPLATE.replace("<entry>{item}</entry>", "{item}") if atom else \
            RSS_TEMPLATE.replace("<item>{item}</item>", "{item}")
        data = template.format(channel=feed, item=entries).encode()
        for url in ("https://partner.example.org/feeds/news.xml", "/srv/feeds/news.xml"):
            slow, fast, took = both(data, url)
            assert fast == slow, data.decode()
            read += took
    assert read >= 500


SAMPLE = ("<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n<rss version=\"2.0\"><channel><title>Réseau</title>"
          "<link>https://réseau.example.org/</link><item><title>Café “co-production” — 5 €</title>"
          "<link>https://réseau.example.org/café</link><author>José Núñez</author><description>&lt;p&gt;Naïve "
          "ﬁne 日本&lt;/p&gt;</description><pubDate>Tue, 15 Mar 2016 12:00:00 +0000</pubDate></item>"
          "</channel></rss>")


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1", "windows-1252", "utf-16", "koi8-r", "none"])
def test_encodings_and_content_types(encoding):
    text = SAMPLE.format(encoding=encoding)
    if encoding == "none":  # no declaration: read as ISO-8859-1 (a local file) or per the content type
        data = text.replace(' encoding="none"', "").encode("utf-8")
    else:
        data = text.encode(encoding, errors="xmlcharrefreplace")
    read = 0
    for content_type in ("", "application/rss+xml", "application/xml; charset=utf-8", "text/xml",
                         "text/xml; charset=iso-8859-1", "text/html; charset=utf-8", "application/octet-stream"):
        for url in ("https://partner.example.org/feed.xml", "/srv/feeds/feed.xml"):
            slow, fast, took = both(data, url, content_type if "://" in url else "")
            assert fast == slow, (content_type, url)
            read += took
    assert read >= 13  # fastfeed read the document itself (all but UTF-16 taken for ISO-8859-1)


# -- what it declines ------------------------------------------------------------------------------

LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY lol0 "lol">'
          + "".join(f'<!ENTITY lol{n} "{{}}">'.format(f"&lol{n - 1};" * 10) for n in range(1, 10))
          + ']>\n<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>'
            '<link>https://p.example.org/1</link></item></channel></rss>')
DECLINED = {
    "billion laughs (DOCTYPE and entities)": LAUGHS,
    "a DOCTYPE alone": '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape'
                       '.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel><item><title>t</title>'
                       '</item></channel></rss>',
    "an entity declaration": '<!DOCTYPE rss [<!ENTITY c "©">]><rss version="2.0"><channel><item><title>&c;'
                             '</title><link>https://p.example.org/1</link></item></channel></rss>',
    "malformed: a bare & and an unclosed tag": '<rss version="2.0"><channel><item><title>Fish & chips</title>'
                                               '<description><p>open</description><link>https://p.example.org/1'
                                               '</link></item></channel></rss>',
    "an HTML entity without a DTD": '<rss version="2.0"><channel><item><title>a&nbsp;b</title></item>'
                                    '</channel></rss>',
    "xml:base": '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://elsewhere.example.org/"><entry>'
                '<id>1</id><link href="a"/></entry></feed>',
    "a bare base attribute": '<rss version="2.0"><channel><item base="https://b.example.org/"><link>a</link>'
                             '</item></channel></rss>',
    "xhtml content": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><content type="xhtml"><div '
                     'xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content></entry></feed>',
    "markup inside a title": '<rss version="2.0"><channel><item><title>a <b>b</b></title></item></channel></rss>',
    "base64 content": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><content type="image/png">'
                      'aGVsbG8=</content></entry></feed>',
    "RSS 1.0 (RDF)": '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/'
                     'rss/1.0/"><channel rdf:about="x"><title>t</title></channel><item rdf:about="https://p.'
                     'example.org/1"><title>i</title></item></rdf:RDF>',
    "Atom 0.3": '<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><id>1</id><title>t</title>'
                '</entry></feed>',
    "an unknown default namespace": '<rss version="2.0"><channel><item><title>t</title><foo xmlns="https://'
                                    'x.example.org/"><title>u</title></foo></item></channel></rss>',
    "dc bound to dcterms": '<rss version="2.0" xmlns:dc="http://purl.org/dc/terms/"><channel><item><dc:creator>'
                           'x</dc:creator><title>t</title></item></channel></rss>',
    "a second Atom author": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><author><name>A</name>'
                            '</author><author><email>b@example.org</email></author></entry></feed>',
    "a prefix bound twice": '<rss version="2.0" xmlns:a="https://one.example.org/"><channel><item xmlns:a="https:'
                            '//two.example.org/"><title>1</title></item><item><a:title>from a:title</a:title><link>'
                            'https://p.example.org/2</link></item></channel></rss>',
    "one namespace, two prefixes": '<rss version="2.0" xmlns:a="https://x.example.org/" xmlns:b="https://x.example.'
                                   'org/"><channel><item><title>t</title><b:c>1</b:c></item></channel></rss>',
    "a link with url and href": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><link url="https://a.'
                                'example.org/" href="https://b.example.org/"/></entry></feed>',
    "an image that feedparser stops reading half-way": '<rss version="2.0"><channel><link>https://p.example.org/'
                                                       '</link><image><foo/><link>https://elsewhere.example.org/'
                                                       '</link></image><item><link>news/1</link></item></channel>'
                                                       '</rss>',
    "a CDF href on an item": '<rss version="2.0"><channel><item href="https://cdf.example.org/1"><title>t</title>'
                             '</item></channel></rss>',
    "a prefix of an unknown namespace, then the same prefix for dc": '<rss version="2.0" xmlns:dc="https://x.'
                                                                     'example.org/" xmlns:d="http://purl.org/dc/'
                                                                     'elements/1.1/"><channel><item><title>t</title>'
                                                                     '<dc:link>https://wrong.example.org/</dc:link>'
                                                                     '</item></channel></rss>',
    "a prefix of an unknown namespace that is dc's but for case": '<rss version="2.0" xmlns:foo="http://purl.org/'
                                                                  'dc/elements/1.1/" xmlns:Foo="https://x.example.'
                                                                  'org/"><channel><item><title>t</title><Foo:'
                                                                  'creator>x</Foo:creator></item></channel></rss>',
    "a date inside rights": '<rss version="2.0"><channel><item><title>t</title><pubDate>Tue, 15 Mar 2016 12:00:00'
                            ' +0000</pubDate><rights type="html">All <pubDate>x</pubDate></rights></item>'
                            '</channel></rss>',
    "an author's own text beside a uri": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><author>Ann'
                                         '<uri>https://a.example.org/</uri></author></entry></feed>',
    "an author's text after a uri": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><author><uri>'
                                    'https://a.example.org/</uri>Ann</author></entry></feed>',
    "an author's itunes:name": '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
                               '<channel><item><title>t</title><author><itunes:name>X</itunes:name></author></item>'
                               '</channel></rss>',
    "content in base64 mode": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><content type="html" '
                              'mode="base64">PHA+aGk8L3A+</content></entry></feed>',
    "an attribute twice, in two namespaces": '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:x="https://x.example.'
                                             'org/"><entry><id>1</id><link href="https://a.example.org/" x:href='
                                             '"https://b.example.org/"/></entry></feed>',
    "two titles": '<rss version="2.0"><channel><item><title>one</title><title>two</title></item></channel></rss>',
    "a thumbnail whose address is its text": '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
                                              '<channel><item><title>t</title><media:thumbnail>https://p.example.'
                                              'org/t.jpg</media:thumbnail></item></channel></rss>',
    "an enclosure link whose address is its text": '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
                                                   '<channel><item><title>t</title><atom:link rel="enclosure" type='
                                                   '"image/png">https://p.example.org/e.png</atom:link></item>'
                                                   '</channel></rss>',
    "a caption inside media:content": '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
                                      '<item><title>t</title><description>d</description><media:content url="'
                                      'https://p.example.org/i.jpg" medium="image"><media:description>A caption'
                                      '</media:description></media:content></item></channel></rss>',
    "an image inside an item": '<rss version="2.0"><channel><item><title>t</title><image><link>https://p.'
                               'example.org/i</link></image><link>https://p.example.org/1</link></item>'
                               '</channel></rss>',
}


@pytest.mark.parametrize("document", DECLINED.values(), ids=list(DECLINED))
def test_what_it_cannot_match_goes_to_feedparser(document):
    data = document.encode("utf-8")
    for url in ("https://p.example.org/feed.xml", "/srv/feeds/feed.xml"):
        slow, fast, read = both(data, url)
        assert not read and fast == slow


def test_an_element_named_like_a_parsed_date_goes_to_feedparser():
    data = b'<rss version="2.0"><channel><item><title>t</title><date_parsed>x</date_parsed></item></channel></rss>'
    assert fastfeed.read(data, "https://p.example.org/feed.xml", "") is None  # feedparser files it as a date


def test_a_malformed_feed_still_gives_feedparsers_items():
    data = DECLINED["malformed: a bare & and an unclosed tag"].encode()
    items = parse_feed(data, "https://p.example.org/feed.xml", "", "p", "news", "fast").items
    assert [(item.title, item.url) for item in items] == [("Fish & chips", "https://p.example.org/1")]


# -- setting it up ---------------------------------------------------------------------------------

def test_without_lxml_the_fast_parser_is_a_clear_error(monkeypatch, project_from):
    monkeypatch.setitem(sys.modules, "lxml", None)  # `import lxml` now fails, as if it were not installed
    monkeypatch.setitem(sys.modules, "lxml.etree", None)
    monkeypatch.delitem(sys.modules, "plugins.sources.fastfeed")
    monkeypatch.delattr(plugins.sources, "fastfeed")
    fix = "pip install 'newsletter-pipeline[fast]'"
    with pytest.raises(SourceError, match=re.escape(fix)) as raised:
        parse_feed(RSS.encode(), "https://p.example.org/feed.xml", "", "partners", "news", "fast")
    assert "[sources.partners]" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        project_from('[sources.p]\ntype = "feed"\nurl = "https://p.example.org/feed.xml"\nparser = "fast"\n' + SINK)
    assert raised.value.lines == [f'pipeline.toml: [sources.p] (feed): parser: "fast" needs lxml, which is not '
                                  f'installed; {fix}, or set parser = "feedparser"']
    parse_feed(RSS.encode(), "https://p.example.org/feed.xml", "", "partners", "news")  # feedparser still works


def test_a_large_feed_is_read_the_fast_way_in_a_worker_process(project_from, run_context, tmp_path):
    (path,) = load_bench_corpus().generate(tmp_path, feeds=1, items=40, as_of=date(2016, 5, 1))
    assert path.stat().st_size > 64 * 1024 and fastfeed.read(path.read_bytes(), str(path), "") is not None
    project = project_from(f'[pipeline]\nname = "N"\nworkers = 2\n[sources.p]\ntype = "feed"\nurl = "{path}"\n'
                           f'parser = "fast"\n' + SINK)
    run = run_context(project)
    items = project.sources[0].fetch(run)
    assert run._pool is not None and items == parse_feed(path.read_bytes(), str(path), "", "p", "news").items


def test_a_pipeline_run_with_the_fast_parser_stores_the_same_items(write_project, monkeypatch, tmp_path):
    from pipeline.config import load_project
    from pipeline.runner import run, state_path
    from pipeline.state import Store

    server_state, server = start_feed_server()
    read = []
    fast_read = fastfeed.read
    monkeypatch.setattr(fastfeed, "read", lambda *args: read.append(fast_read(*args)) or read[-1])
    try:
        bench = load_bench_corpus().generate(tmp_path / "bench", feeds=4, items=10, as_of=date(2016, 5, 1))
        bodies = [RSS.encode(), ATOM.encode(), MEDIA_RSS.encode()] + [path.read_bytes() for path in bench]
        for n, body in enumerate(bodies):
            server_state.routes[f"/f{n}.xml"] = Route(body, etag=f'"e{n}"')
        stored = {}
        for parser in ("feedparser", "fast"):
            tables = "".join(f'[sources.f{n}]\ntype = "feed"\nurl = "{server_state.url(f"/f{n}.xml")}"\n'
                             f'parser = "{parser}"\n' for n in range(len(bodies)))
            project = load_project(write_project(f'[pipeline]\nname = "N"\nworkers = 1\nstate_dir = "state-{parser}"\n'
                                                 + tables + SINK))
            report = run(project, as_of=date(2016, 5, 1), mode="refresh")
            assert report.exit_code == 0 and report.failed("source") == []
            store = Store(state_path(project))
            items = store.items_published(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
            store.close()
            stored[parser] = sorted((i.id, i.source, i.kind, i.title, i.url, i.published, i.body_html, i.author,
                                     i.image, i.image_alt) for i, _ in items)
    finally:
        server.shutdown()
        server.server_close()
    assert len(stored["fast"]) == 2 + 1 + 6 + 4 * 10 and stored["fast"] == stored["feedparser"]
    assert sum(bool(row[-2]) for row in stored["fast"]) >= 5  # the media feed: from its media, enclosures, body
    assert len(read) == len(bodies) and all(read)  # every feed went the fast way


def test_a_feed_element_named_like_a_parsed_date_leaves_the_entry_undated():
    data = (b'<rss version="2.0"><channel><item><title>t</title><link>https://p.example.org/1</link>'
            b'<published_parsed>x</published_parsed></item></channel></rss>')
    for parser in ("feedparser", "fast"):
        read = parse_feed(data, "https://p.example.org/feed.xml", "", "p", "news", parser)
        assert [item.title for item in read.items] == ["t"] and read.undated == {read.items[0].id}
