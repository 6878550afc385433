"""plugins/sources/feedparser_speedups: feedparser reads through a buffered expat reader, works out each base URI
once, copies each element's parameters directly, looks plain keys up as a dict does, takes a plain absolute URL as
it is, maps ASCII characters to themselves when it maps Windows-1252's and looks each new tag up in a set: the same
results as feedparser as it comes, over its own test corpus, and each piece the same as the code it replaces."""

from __future__ import annotations

import copy
import random
import re
import warnings
from xml.sax import expatreader

import feedparser
import pytest

from plugins.sources.feed import parse_feed
from plugins.sources.feedparser_speedups import (
    base_uri_cache,
    buffered_expat,
    cp1252_table,
    params_copy,
    plain_keys,
    plain_urls,
    unique_tags,
)
from tests.test_fastfeed import CORPUS

HEADER = re.compile(rb"^Header:\s*(Content-type|Content-Location):\s*(.*?)\s*$", re.M | re.I)


def comparable(result) -> dict:
    """A parse result with its exception (which compares by identity) as its class and text."""
    result = dict(result)
    problem = result.pop("bozo_exception", None)
    result["problem"] = (type(problem).__name__, str(problem)) if problem else None
    return result


def parse_both(data: bytes, headers: dict, monkeypatch) -> tuple[dict, dict]:
    def parse():
        return comparable(feedparser.parse(data, response_headers=headers, sanitize_html=False,
                                           resolve_relative_uris=False))

    buffered_expat.use_with(feedparser)
    base_uri_cache.use_with(feedparser)
    params_copy.use_with(feedparser)
    plain_keys.use_with(feedparser)
    plain_urls.use_with(feedparser)
    cp1252_table.use_with(feedparser)
    unique_tags.use_with(feedparser)
    with monkeypatch.context() as patch:
        patch.setattr(feedparser.api, "PREFERRED_XML_PARSERS", [])
        mixin = feedparser.mixin._FeedParserMixin
        patch.setattr(mixin, "_add_tag", mixin._add_tag.original)
        patch.setattr(feedparser.mixin, "make_safe_absolute_uri", feedparser.urls.make_safe_absolute_uri)
        patch.setattr(feedparser.mixin, "copy", copy)
        patch.setattr(feedparser.mixin, "_urljoin", feedparser.urls._urljoin)
        patch.setattr(feedparser.mixin, "_cp1252", feedparser.html._cp1252)
        feedparsers_own_lookups(patch)
        plain = parse()
    return plain, parse()


def feedparsers_own_lookups(patch) -> None:
    FeedParserDict = feedparser.util.FeedParserDict  # noqa: N806
    patch.setattr(FeedParserDict, "__getitem__", FeedParserDict.__getitem__.original)
    patch.setattr(FeedParserDict, "get", FeedParserDict.get.original)
    patch.setattr(FeedParserDict, "__contains__", FeedParserDict.__contains__.original)


def test_a_text_node_reaches_feedparser_whole(monkeypatch):
    pieces: list[str] = []
    strict = feedparser.parsers.strict._StrictFeedParser
    real = strict.characters
    monkeypatch.setattr(strict, "characters", lambda self, text: (pieces.append(text), real(self, text))[1])
    body = "&lt;p&gt;Peer support &amp;amp; power&lt;/p&gt;\n" * 50
    data = f"<rss version='2.0'><channel><item><title>T</title><description>{body}</description></item>" \
           f"</channel></rss>".encode()
    plain, buffered = parse_both(data, {}, monkeypatch)
    assert plain == buffered
    assert buffered["entries"][0]["summary"].count("<p>Peer support &amp; power</p>") == 50
    unbuffered = len(pieces)
    pieces.clear()
    feedparser.parse(data)
    assert unbuffered > 250 and len(pieces) < 20, f"expat handed the text over in {len(pieces)} pieces"


def test_feedparser_reads_through_the_buffered_reader():
    buffered_expat.use_with(feedparser)
    buffered_expat.use_with(feedparser)
    assert feedparser.api.PREFERRED_XML_PARSERS.count(buffered_expat.__name__) == 1
    made = feedparser.api.xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    assert isinstance(made, buffered_expat.BufferedExpatParser)
    assert isinstance(made, expatreader.ExpatParser)
    made.reset()
    assert made._parser.buffer_text


def test_base_uris_are_worked_out_once_per_pair():
    base_uri_cache.use_with(feedparser)
    base_uri_cache.use_with(feedparser)
    wrapped = feedparser.mixin.make_safe_absolute_uri
    assert wrapped.original is feedparser.urls.make_safe_absolute_uri  # wrapped once, not twice
    cached = wrapped.cached
    cached.cache_clear()
    data = ("<feed xmlns='http://www.w3.org/2005/Atom' xml:base='https://partner.example.org/news/'><title>P</title>"
            + "".join(f"<entry><id>e{n}</id><title>T</title><link href='{n}.html'/></entry>" for n in range(30))
            + "<entry xml:base='javascript:alert(1)'><id>x</id><title>X</title><link href='x.html'/></entry>"
            + "</feed>").encode()
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    assert [e.link for e in parsed.entries[:2]] == ["https://partner.example.org/news/0.html",
                                                    "https://partner.example.org/news/1.html"]
    assert parsed.entries[-1].link == "https://partner.example.org/news/x.html"  # an unsafe base is still refused
    info = cached.cache_info()
    assert info.hits > 10 * info.misses  # element after element under the same base


def test_long_base_uris_are_not_kept():
    base_uri_cache.use_with(feedparser)
    cached = feedparser.mixin.make_safe_absolute_uri.cached
    cached.cache_clear()
    long_base = "https://partner.example.org/" + "x" * base_uri_cache.LONGEST
    data = ("<feed xmlns='http://www.w3.org/2005/Atom'><title>P</title>"
            + "".join(f"<entry xml:base='{long_base}{n}/'><id>e{n}</id><title>T</title><link href='a.html'/></entry>"
                      for n in range(50))
            + "</feed>").encode()
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    assert parsed.entries[7].link == f"{long_base}7/a.html"
    assert cached.cache_info().currsize < 10  # 50 distinct long bases, none of them kept


def test_parameters_are_copied_as_deepcopy_copies_them():
    params_copy.use_with(feedparser)
    params_copy.use_with(feedparser)
    assert feedparser.mixin.copy is params_copy and params_copy.original is copy
    assert feedparser.mixin.copy.copy is copy.copy and feedparser.mixin.copy.Error is copy.Error
    FeedParserDict = feedparser.util.FeedParserDict  # noqa: N806
    params = FeedParserDict(type="text/html", language=None, base="https://partner.example.org/", src="a", mode=1)
    made = params_copy.deepcopy(params)
    assert type(made) is FeedParserDict and made is not params
    assert list(made.items()) == list(copy.deepcopy(params).items())
    made["value"] = "x"
    assert "value" not in params  # a copy, not the same dictionary
    # anything else is copy.deepcopy's: a mutable value, a key of the keymap (renamed as it is set), a
    # key Python looks up on the object, attributes, another type, a memo
    odd = [FeedParserDict(type=["text/html"]), FeedParserDict(description="d"), FeedParserDict(__deepcopy__="x"),
           {"type": "text/html"}, FeedParserDict(type=b"x", base=1.5)]
    odd[-1].note = ["kept"]
    for value in odd:
        try:
            expected = copy.deepcopy(value)
        except TypeError as exc:
            with pytest.raises(TypeError, match=str(exc)):
                params_copy.deepcopy(value)
            continue
        made = params_copy.deepcopy(value)
        assert type(made) is type(value) and list(made.items()) == list(expected.items())
        assert getattr(made, "__dict__", None) == getattr(expected, "__dict__", None)
    assert params_copy.deepcopy(odd[0])["type"] is not odd[0]["type"]
    memo = {}
    assert params_copy.deepcopy(params, memo) == params and id(params) in memo


LOOKUPS = (lambda made, key: made[key], lambda made, key: made.get(key), lambda made, key: made.get(key, "default"),
           lambda made, key: getattr(made, key) if type(key) is str else None, lambda made, key: key in made)


def test_plain_keys_are_looked_up_as_feedparser_looks_them_up(monkeypatch):
    plain_keys.use_with(feedparser)
    plain_keys.use_with(feedparser)
    FeedParserDict = feedparser.util.FeedParserDict  # noqa: N806
    assert FeedParserDict.get.original.__module__ == "feedparser.util"  # patched, and once
    assert FeedParserDict.__getitem__.original.__module__ == "feedparser.util"
    assert FeedParserDict.__contains__.original.__module__ == "feedparser.util"
    assert not plain_keys._names_as_read(lambda self, key: key in ("category", "new"))  # another version: not patched

    class Word(str):
        def __eq__(self, other):
            return other == "category" or str.__eq__(self, other)

        __hash__ = str.__hash__

    class Own(FeedParserDict):
        def __getitem__(self, key):
            return "own " + str(key) if key == "mine" else super().__getitem__(key)

    class Missing(FeedParserDict):
        def __missing__(self, key):
            return "missing " + str(key)

    entry = {"title": "T", "summary": "S", "id": "i", "published": "P", "published_parsed": (2016,),
             "links": [FeedParserDict(rel="enclosure", href="e"), FeedParserDict(rel="license", href="l")],
             "tags": [FeedParserDict(term="t")], "value": None, 1: "one", ("a", "b"): "pair"}
    dicts = [kind(entry) for kind in (FeedParserDict, Own, Missing)] + [FeedParserDict(), Missing()]
    keys = list(FeedParserDict.keymap) + ["category", "enclosures", "license", "updated", "updated_parsed",
        "title", "summary", "value", "absent", "mine", "", Word("title"), Word("absent"), 1, 2, ("a", "b"), [], {}]

    def lookups() -> list:
        found = []
        for made in dicts:
            for key in keys:
                for look in LOOKUPS:
                    with warnings.catch_warnings(record=True) as warned:
                        warnings.simplefilter("always")
                        try:
                            answer = ("answer", look(made, key))
                        except Exception as exc:  # noqa: BLE001 (the exception is the answer)
                            answer = ("raised", type(exc).__name__, str(exc))
                    found.append((answer, [(w.category, str(w.message)) for w in warned]))
        return found

    fast = lookups()
    with monkeypatch.context() as patch:
        feedparsers_own_lookups(patch)
        assert lookups() == fast
    assert ("answer", "own mine") in [answer for answer, _ in fast]
    assert any(warned for _, warned in fast)  # the fallback of `updated` to `published` warns, as it did


def test_a_plain_absolute_url_is_joined_as_feedparser_joins_it():
    plain_urls.use_with(feedparser)
    plain_urls.use_with(feedparser)
    joined, own = feedparser.mixin._urljoin, feedparser.urls._urljoin
    assert joined.original is own  # wrapped once, not twice
    bases = ["", None, "http://127.0.0.1:8000/feed.xml", "https://partner.example.org/news/", "HTTPS://P.example/a?b#c",
             "http://[oops/", "https://[::1]:80/x", "https://ｈ.example/", "https://h.exa\tmple/", "mailto:a@b.example",
             "//h.example/x", "relative/path", " https://h.example/", b"https://h.example/"]
    pieces = ["https://", "http://", "HTTPS://", "ftp://", "https:///", "h.example", "h-1.example", ":8080", ":", "/",
              "//", "a", ".", "..", "?", "?q=1", "#", "#f", ";p", "&amp;", "é", " ", "\t", "@", "%2F", "[", "~u"]
    rng = random.Random(7)
    uris = ["https://partner.example.org/news/item-1", "https://h.example", "https://h.example/", "https://h.example?",
            "https://h.example/a?b#c", "https://h.example/a;b", "https://h.example//x", b"https://h.example/"]
    uris += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 7))) for _ in range(4000)]
    uris += [rng.choice(pieces[:5]) + "".join(rng.choice(pieces[5:]) for _ in range(rng.randint(1, 6)))
             for _ in range(4000)]
    taken = 0
    for base in bases:
        for uri in uris:
            try:
                expected = ("answer", own(base, uri))
            except Exception as exc:  # noqa: BLE001 (the exception is the answer)
                expected = ("raised", type(exc).__name__, str(exc))
            try:
                answer = ("answer", joined(base, uri))
            except Exception as exc:  # noqa: BLE001
                answer = ("raised", type(exc).__name__, str(exc))
            assert answer == expected, (base, uri)
            taken += isinstance(uri, str) and bool(plain_urls.PLAIN.fullmatch(uri))
    assert taken > 1000  # the shortcut was tried often enough to mean something


def test_text_is_translated_as_with_feedparsers_table():
    cp1252_table.use_with(feedparser)
    cp1252_table.use_with(feedparser)
    table, own = feedparser.mixin._cp1252, feedparser.html._cp1252
    assert table.original is own and own.keys() <= table.keys() and len(table) == len(own) + 128
    rng = random.Random(3)
    alphabet = [chr(code) for code in range(0x100)] + ["\u2019", "\u20ac", "\ud800", "\U0001f600"]
    texts = ["", "Peer support", "It\x92s \x93quoted\x94 \x96 ok", "Caf\xe9 \x80 5"] + alphabet
    texts += ["".join(rng.choices(alphabet[:128], k=rng.randint(1, 60))) for _ in range(2000)]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 60))) for _ in range(2000)]
    for text in texts:
        assert text.translate(table) == text.translate(own), repr(text)
    assert "It\x92s".translate(table) == "It\u2019s"


def test_the_same_results_over_feedparsers_own_corpus(monkeypatch):
    if not CORPUS.is_dir():
        pytest.fail(f"feedparser's test corpus is missing ({CORPUS}): run bash scripts/feedparser_corpus.sh",
                    pytrace=False)
    paths = sorted(CORPUS.rglob("*.xml"))
    differ, strict = [], 0
    for path in paths:
        data = path.read_bytes()
        headers = {name.decode().lower(): value.decode() for name, value in HEADER.findall(data)}
        plain, buffered = parse_both(data, headers, monkeypatch)
        strict += not plain["bozo"]
        if plain != buffered:
            differ.append(str(path.relative_to(CORPUS)))
    assert len(paths) > 2000 and strict > 1000  # the corpus is there, and most of it goes through expat
    assert not differ, f"{len(differ)} documents differ: {', '.join(differ[:10])}"


def test_the_feed_source_gives_the_same_items(monkeypatch):
    body = "".join(f"&lt;p&gt;Item {n}: co-production &amp;amp; peer support, &lt;a href='/x{n}'&gt;more&lt;/a&gt;"
                   f"&lt;/p&gt;" for n in range(200))
    data = (f"<?xml version='1.0'?><rss version='2.0'><channel><link>https://partner.example.org/</link>"
            f"<item><title>Seminar &amp;amp; more</title><link>https://partner.example.org/a</link>"
            f"<pubDate>Fri, 29 Apr 2016 01:28:21 +0000</pubDate><description>{body}</description></item>"
            f"</channel></rss>").encode()
    buffered = parse_feed(data, "https://partner.example.org/feed.xml", "application/rss+xml", "p", "news")
    with monkeypatch.context() as patch:
        patch.setattr(feedparser.api, "PREFERRED_XML_PARSERS", [])
        patch.setattr(buffered_expat, "use_with", lambda module: None)
        plain = parse_feed(data, "https://partner.example.org/feed.xml", "application/rss+xml", "p", "news")
    assert buffered == plain
    assert 'href="https://partner.example.org/x199"' in buffered[0][0].body_html


def test_what_another_plugin_replaced_first_is_left_as_it_is():
    # feedparser is the whole process's: a plugin that replaced one of these internals before the first feed was
    # read (plugins load at start-up, the speed-ups at the first parse) keeps its replacement; the speed-up
    # stands down instead of answering without it (a plain URL never reaching its _urljoin) or discarding it
    import types

    def their_join(base, uri):
        return uri.replace("http://", "https://")

    def their_absolute_uri(base, rel=None):
        return "https://mirror.example/"

    their_copy, their_table = types.SimpleNamespace(deepcopy=lambda value: value), {0x92: "'"}
    mixin = types.SimpleNamespace(_urljoin=their_join, copy=their_copy, _cp1252=their_table,
                                  make_safe_absolute_uri=their_absolute_uri)
    fake = types.SimpleNamespace(mixin=mixin, urls=feedparser.urls, html=feedparser.html)
    for speedup in (base_uri_cache, params_copy, plain_urls, cp1252_table):
        speedup.use_with(fake)
    assert mixin._urljoin("", "http://partner.example.org/1") == "https://partner.example.org/1"
    assert (mixin._urljoin, mixin.copy, mixin._cp1252, mixin.make_safe_absolute_uri) == (
        their_join, their_copy, their_table, their_absolute_uri)

    own = feedparser.util.FeedParserDict

    class Theirs(dict):  # feedparser's lookups, but a `get` of another plugin's
        keymap = own.keymap
        __getitem__ = getattr(own.__getitem__, "original", own.__getitem__)
        __contains__ = getattr(own.__contains__, "original", own.__contains__)

        def get(self, key, default=None):
            return "theirs"

    their_get = Theirs.get
    plain_keys.use_with(types.SimpleNamespace(util=types.SimpleNamespace(FeedParserDict=Theirs)))
    assert Theirs.get is their_get and Theirs(type="x").get("type") == "theirs"


TAGS = ["<category>peer support</category>", "<category>Peer support</category>", "<category></category>",
        "<category domain='https://example.org/t'>recovery</category>", "<category domain='x'></category>",
        "<dc:subject>space</dc:subject>", "<itunes:keywords>a,b,a, ,c</itunes:keywords>",
        "<media:keywords>b, d,d</media:keywords>", "<category>recovery</category>"]
ATOM_TAGS = ["<category term='peer support'/>", "<category term='peer support' scheme='s'/>",
             "<category term='x' label='X'/>", "<category scheme='s'/>", "<category label='only'/>",
             "<category term='peer support'/>", "<category/>", "<category term='x' label='X'/>"]


@pytest.mark.parametrize("seed", range(3))
def test_tags_are_kept_as_feedparser_keeps_them(seed, monkeypatch):
    """Random categories, subjects and keywords, repeated and empty, in RSS and Atom entries and their channel."""
    chance = random.Random(seed)
    for _ in range(60):
        rss = "".join(chance.choice(TAGS) for _ in range(chance.randint(0, 30)))
        items = "".join(f"<item><title>{n}</title>{''.join(chance.choice(TAGS) for _ in range(chance.randint(0, 40)))}"
                        f"</item>" for n in range(3))
        data = (f"<?xml version='1.0'?><rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/' "
                f"xmlns:itunes='http://www.itunes.com/dtds/podcast-1.0.dtd' xmlns:media='http://search.yahoo.com/mrss/'>"
                f"<channel><title>T</title>{rss}{items}</channel></rss>").encode()
        plain, faster = parse_both(data, {"content-type": "application/rss+xml"}, monkeypatch)
        assert plain == faster
        entries = "".join(f"<entry><title>{n}</title>"
                          f"{''.join(chance.choice(ATOM_TAGS) for _ in range(chance.randint(0, 40)))}</entry>"
                          for n in range(3))
        data = f"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>T</title>{entries}</feed>".encode()
        plain, faster = parse_both(data, {"content-type": "application/atom+xml"}, monkeypatch)
        assert plain == faster


def test_an_entry_with_thousands_of_categories_keeps_each_once(monkeypatch):
    categories = "".join(f"<category>topic {n % 2500}</category>" for n in range(5000))
    data = f"<?xml version='1.0'?><rss version='2.0'><channel><item><title>t</title>{categories}</item></channel></rss>"
    unique_tags.use_with(feedparser)
    entry = feedparser.parse(data.encode()).entries[0]
    assert [tag.term for tag in entry.tags] == [f"topic {n}" for n in range(2500)]


def test_an_add_tag_another_plugin_replaced_is_left_as_it_is():
    import types

    def theirs(self, term, scheme, label):
        return None

    mixin = types.SimpleNamespace(_FeedParserMixin=types.SimpleNamespace(_add_tag=theirs))
    unique_tags.use_with(types.SimpleNamespace(mixin=mixin, util=feedparser.util))
    assert mixin._FeedParserMixin._add_tag is theirs
