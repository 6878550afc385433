"""A relative link in a body is resolved as `safe_url` resolves it against the item's address, a path from the
root (half of all relative links) without calling it (pipeline/sanitize.py, `_absolute`); and `safe_url` gives a
plain absolute URL back without joining and parsing it, as it gave it before."""

from __future__ import annotations

import random
import re
from urllib.parse import urljoin, urlparse

import nh3
import pytest

from pipeline import sanitize
from pipeline.sanitize import clean_html, safe_url

BASES = ["https://partner.example.org/news/item-1", "HTTPS://Partner.Example.org:8443/a/b/?q=1#f",
         "http://user:pw@partner.example.org", "https://partner.example.org", "https://partner.example.org/a;p?q",
         "mailto:someone@example.org", "https://", "https:///no-host", "http://[oops/", "http://[::1]:8080/x",
         "ftp://partner.example.org/x", "javascript:alert(1)", "//partner.example.org/x", " https://h.example/x",
         "\thttps://h.example/x", "https://h.exa\tmple/x", "https://ｈ.example/x", "https://h.example:/x",
         "news:comp.lang", "https://h.example/%2e%2e/x", "https://h.example/\x01/x", "relative/path", ""]
PIECES = ["/", "//", ".", "..", "?", "#", ";", "a", "about", "governance", "882.jpg", ".x", "x.", "~u", "a:b", "@",
          "%2e", "%", ";p", "?q", "#f", "é", " ", "\t", "\n", "\x01", "\x85", "[", "]", "\\", "=", "&amp;", "'", "(",
          "+"]


def urls() -> list[str]:
    rng = random.Random(7)
    made = ["/", "//", "/about/governance", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.x", "/a//b", "/a/", "/a;p",
            "/a?q", "/a?", "/a#", "/a;", "/a#f", "/a b", " /a", "/a ", "/a\t", "/é", "/a:b", "/%2e%2e/x", "/..", "/.",
            "/~u/x.y-z_w"]
    for _ in range(6000):
        made.append("/" + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))))
        made.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))))
    return made


CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def safe_url_as_it_was(url: str, base_url: str = "") -> str:
    url = (url or "").strip()
    if CONTROL.search(url) or any(c in url for c in "\t\n\r"):
        return ""
    try:
        url = urljoin(base_url, url) if base_url else url
        return url if urlparse(url).scheme in sanitize.ALLOWED_SCHEMES else ""
    except ValueError:
        return ""


@pytest.mark.parametrize("base", BASES)
def test_safe_url_answers_as_it_did(base):
    rng = random.Random(11)
    starts = ["https://", "http://", "HTTPS://", "mailto:", "ftp://", "https:///", "javascript:", "//", ""]
    hosts = ["partner.example.org", "h-1.example", "127.0.0.1", "[::1]", "[oops", "ｈ.example", "user@h", ""]
    rest = [":8080", ":", "/", "//", "/a", "/.", "/..", "?", "?q=1", "#", "#f", ";p", "&amp;", "é", " ", "\t", "\x01",
            "%2F", "~u", "'", "=", "+"]
    made = ["https://partner.example.org/news/item-1", "https://h.example", "https://h.example?", "https://h.example/a;b",
            " https://h.example/a ", "https://h.example/a\n", None, ""] + urls()[:3000]
    made += [rng.choice(starts) + rng.choice(hosts) + "".join(rng.choice(rest) for _ in range(rng.randint(0, 5)))
             for _ in range(4000)]
    made += [rng.choice(starts[:2]) + rng.choice(hosts[:3]) + "".join(rng.choices(rest, k=rng.randint(0, 5)))
             for _ in range(4000)]
    taken = 0
    for url in made:
        assert safe_url(url, base) == safe_url_as_it_was(url, base), (base, url)
        taken += bool(sanitize.PLAIN_URL.fullmatch((url or "").strip()))
    assert taken > 500


@pytest.mark.parametrize("base", BASES)
def test_a_relative_link_resolves_as_safe_url_resolves_it(base):
    for url in urls():
        sanitize._base.url, sanitize._base.origin = base, None
        assert sanitize._absolute(url) == (safe_url(url, base) or None), (base, url)


def test_a_path_from_the_root_is_put_after_the_origin(monkeypatch):
    asked = []
    monkeypatch.setattr(sanitize, "safe_url", lambda url, base="": asked.append(url) or "")
    body = clean_html('<p><a href="/about/governance">a</a> <img src="/images/882.jpg"> <a href="/a/../b">b</a> '
                      '<a href="x.html">c</a></p>', "https://partner.example.org/news/item-1")
    assert 'href="https://partner.example.org/about/governance"' in body
    assert 'src="https://partner.example.org/images/882.jpg"' in body
    assert asked == ["/a/../b", "x.html"]  # the others did not need it


def test_bodies_are_cleaned_as_with_safe_url_alone():
    def with_safe_url_alone(fragment: str, base: str) -> str:
        cleaner = nh3.Cleaner(tags=sanitize.TAGS, clean_content_tags={"script", "style"},
                              attributes=sanitize.ATTRIBUTES, url_schemes=set(sanitize.ALLOWED_SCHEMES),
                              url_relative=lambda url: safe_url(url, base) or None, link_rel="noopener noreferrer")
        return cleaner.clean(sanitize.strip_controls(fragment)).strip() if fragment else ""

    links = urls()[:400]
    for base in BASES:
        body = "".join(f"<p><a href='{url}'>x</a><img src=\"{url}\"></p>" for url in links)
        assert clean_html(body, base) == with_safe_url_alone(body, base), base
