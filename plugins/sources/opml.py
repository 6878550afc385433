"""`opml`: many partner feeds from one OPML file (what feed readers export), each its own `feed` source.

    [sources.partners]
    type = "opml"
    path = "partners.opml"     # <outline type="rss" xmlUrl="..." text="..."/> entries, nested or not
    kind = "news"
    allow_private = false      # true: fetch feeds at localhost or private addresses too

Each feed becomes the source `partners/<name>` (its `text` or `title`, made safe), so it is fetched,
reported and identified as if it had a table of its own, and one failing feed fails alone; one feed
listed twice (in two folders, its address written alike or moved to https, "www." or a final "/") is
read once: as the first outline of an address names it, and of two addresses, as the one whose name
(then address) comes first, wherever each is. A source's
name is part of its items' ids, so it must not change when nothing about the feed did. When several
feeds share a name ("News"), none is told apart by its place in the file, which another export
changes: the one whose address comes first (without its scheme and "www.", in order) keeps the plain
name, and each other adds its host (`partners/news-p-example-org`), and a piece of its address's
digest when another feed of that name is on its host. So a list exported in another order, or a feed
moved to https or to "www.", keeps every name, and so does one moved to another path on a host no
other feed of that name is on. Removing or adding a feed of that name can pass the plain name to
another; adding one to a host where a single feed of that name was gives that one a digest, and
removing one of two there takes the other's away. (Each such new name stores that feed's items
again, once.) Addresses are compared by host, then port, path and query, then as written.

The file is someone else's export, so no more than `MAX_BYTES` of it is read, and an outline is
never fetched when its xmlUrl is not an http(s) address (a local path, `ftp:`, `javascript:`: it
must not read this machine's files), nor, unless the table says `allow_private = true`, when its
host is `localhost` or an IP address that is not public (loopback, private, link-local such as a
cloud's metadata service at 169.254.169.254: it must not reach services of this machine or its
network; `pipeline/hosts.py`), nor when it holds `${` (the environment is read only for addresses
written in pipeline.toml: someone else's file must not send this machine's variables anywhere). The
file's addresses are judged as written; then a name is looked up once, as the connection for such a
feed is opened, and a request to a name that gives such an address,
or a redirect to either, is refused (its feed fails, saying so), since the feed's server is someone
else's as well; the connection is made to the address judged, so a name's owner cannot answer a public
address to the check and a private one to the connection (DNS rebinding; `pipeline/public_only.py`,
which also says what holds through a proxy). The list itself then stays a source (`partners`) that
gives no items and reports each outline not fetched as a problem on every run (exit 3), until the
file gives its public http(s) address.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ElementTree
from urllib.parse import urlparse

from pydantic import field_validator

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.errors import ConfigError
from pipeline.hosts import is_private
from pipeline.redact import redact_url
from pipeline.settings_types import ExistingFile, host_problem
from plugins.sources.feed import FeedOptions

MAX_BYTES = 5 * 1024 * 1024  # a list of thousands of feeds is well under 1 MB
_UNSAFE = re.compile(r"[^a-z0-9]+")


class OpmlSource(Source):
    name = "opml"
    description = "Every feed listed in an OPML file, each as its own feed source"

    class Settings(FeedOptions):
        path: ExistingFile
        allow_private: bool = False  # fetch feeds at localhost or non-public addresses, by IP or by name

        @field_validator("allow_private", mode="before")
        @classmethod
        def _true_or_false(cls, value):
            if not isinstance(value, bool):  # not "yes", nor 1: a guard is turned off only in so many words
                raise ValueError(f"must be true or false, without quotes, not {value!r}")
            return value

    # (title, xmlUrl, why: "private", "not web" or what is wrong with its host name) of each outline not fetched,
    # set by expand()
    skipped: tuple[tuple[str, str, str], ...] = ()

    def expand(self) -> list[Source]:
        where = f"{self.project.config_path.name}: [sources.{self.instance}]"
        sources = []
        feeds, skipped = feeds_in(self.settings.path, where, allow_private=self.settings.allow_private)
        self.skipped = tuple(skipped)
        for (_, url), name in zip(feeds, _names(self.instance, feeds), strict=True):
            table = {"type": "feed", "url": url, "kind": self.settings.kind,
                     "max_megabytes": self.settings.max_megabytes, "parser": self.settings.parser}
            if self.settings.max_items:
                table["max_items"] = self.settings.max_items
            source = self.project.build_component("source", f"{where} {url}", table)
            source.instance = name
            source.public_only = not self.settings.allow_private  # nor redirected there
            sources.append(source)
        if not sources and not self.skipped:
            raise ConfigError(f"{where}: {self.settings.path.name} lists no feeds (no <outline> with an "
                              f"xmlUrl); export the list again from your feed reader")
        return sources + [self] if self.skipped else sources  # the list itself, to report what it skipped

    def fetch(self, run):
        """Runs only when the list has outlines it does not fetch: reports each; the feeds are their own sources."""
        for title, url, why in self.skipped:
            if why == "private":
                said = (f"is at localhost or an address that is not public, so it is never fetched; give the feed's "
                        f"public address in the OPML file (or remove the outline), or set allow_private = true in "
                        f"[sources.{self.instance}] if feeds there are meant to be read")
            elif why == "not web":
                said = ("is not an http(s) address, so it is never fetched; give the feed's http(s) address in the "
                        "OPML file (or remove the outline)")
            else:
                said = f"is never fetched: {why}; correct the address in the OPML file (or remove the outline)"
            run.problem(f"{self.settings.path} <outline> {_short(title)}", f"xmlUrl {_short(redact_url(url))} {said}; "
                        f"outline skipped")
        return []


def _names(instance: str, feeds: list[tuple[str, str]]) -> list[str]:
    """Each feed's source name (see the module's docstring), in the order of `feeds`; no two the same."""
    bases = [f"{instance}/{_slug(title) or 'feed'}" for title, _ in feeds]
    sharing: dict[str, list[int]] = {}
    for n, base in enumerate(bases):
        sharing.setdefault(base, []).append(n)
    keys = [_address_key(url) for _, url in feeds]
    order = [(*_address_parts(url), url) for _, url in feeds]  # host, port, path and query apart; then the URL
    names = list(bases)
    for base, places in sharing.items():
        if len(places) == 1:
            continue
        places.sort(key=order.__getitem__)
        hosts = [_host(feeds[n][1]) for n in places]
        for n, host in zip(places[1:], hosts[1:], strict=True):  # the first by address keeps the plain name
            names[n] = f"{base}-{_slug(host) or 'host'}"
            if hosts.count(host) > 1:  # another feed of that name on that host: its address tells them apart
                names[n] += "-" + hashlib.sha256(keys[n].encode()).hexdigest()[:6]
    taken: set[str] = set()
    for n in sorted(range(len(names)), key=lambda n: (names[n], order[n])):
        name, k = names[n], 2
        while name in taken:  # no two sources share a name (a title that reads like another's host-named one):
            name, k = f"{names[n]}-{k}", k + 1  # the later by address takes a number, whatever the file's order
        taken.add(name)
        names[n] = name
    return names


def _slug(text: str) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")


def _host(url: str) -> str:
    host = (urlparse(url).hostname or "").lower().rstrip(".")
    return host.removeprefix("www.")


def _address_parts(url: str) -> tuple[str, int, str, str]:
    """The address as it stays when a feed moves to https or to "www.": host, port, path (no final "/"), query."""
    parts = urlparse(url)
    return _host(url), _port(parts) or 0, parts.path.rstrip("/"), parts.query


def _address_key(url: str) -> str:
    host, port, path, query = _address_parts(url)
    return f"{host}{f':{port}' if port else ''}{path}{'?' + query if query else ''}"


def _port(parts) -> int | None:
    try:
        return parts.port if parts.port not in (80, 443) else None
    except ValueError:
        return None


def feeds_in(path, where: str, *, allow_private: bool = False
             ) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(title, URL) of every feed outline in an OPML file, in order; and (title, URL, why) of every outline
    not to be fetched, why being "not web" (not an http(s) address), "private" (not a public address,
    unless `allow_private`) or what is wrong with its host name (`host_problem`)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)  # one byte more tells a file too large
        if len(data) > MAX_BYTES:
            raise ConfigError(f"{where}: {path.name} is larger than {MAX_BYTES // 2**20} MB, the most an OPML "
                              f"list may be; export a smaller list, or split it between two [sources.*] tables")
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, OSError) as exc:
        raise ConfigError(f"{where}: {path.name} is not an OPML file ({exc}); export it again") from None
    # One feed filed in two folders is one, read at the place of its first outline. Its address written alike, it is
    # named as the first such outline names it (as ever); written apart (moved to https or "www.", a final "/"), as
    # the address whose name, then address, comes first, wherever each is in the file: another export changes their
    # order, and a source's name is part of its items' ids (each such address was a source of its own before)
    outlines: dict[str, dict[str, str]] = {}  # feed -> {its address as written: the title its first outline gives}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url:  # else not a feed
            outlines.setdefault(_feed_key(url), {}).setdefault(url, outline.get("text") or outline.get("title") or "")
    found, skipped = [], []
    for written in outlines.values():
        url, title = min(written.items(), key=lambda pair: (_slug((pair[1] or pair[0]).strip()) or "feed", pair[0]))
        if not _is_web_address(url):
            why = "not web"
        elif "${" in url:  # someone else's file must not send this machine's environment to a server of its choosing
            why = ("it holds '${', and environment variables are read only for an address written in pipeline.toml "
                   "(a [sources.NAME] table of type \"feed\")")
        elif problem := host_problem(url):
            why = problem
        else:
            why = "" if allow_private or not is_private(url) else "private"
        if not why:
            found.append(((title or url).strip(), url))
        else:
            skipped.append((title.strip() or "(no title)", url, why))
    return found, skipped


def _feed_key(url: str) -> str:
    """What tells one feed's outline from another's: its address read as `_address_key` reads it (not its scheme, nor
    "www.", nor a final "/"), when that reads all of it; else the address as written (not http(s), with a user name, a
    port that is no number, or a character that urlparse would drop: a line break)."""
    if not _is_web_address(url) or "@" in urlparse(url).netloc or any(
            char.isspace() or not char.isprintable() for char in url):
        return url
    try:
        port = urlparse(url).port
    except ValueError:  # a port that is no number
        port = -1
    return url if port == -1 else _address_key(url)


def _is_web_address(url: str) -> bool:
    try:
        parts = urlparse(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _short(text: str, most: int = 120) -> str:
    """Text from the file, quoted on one line and cut short: the file is someone else's."""
    return repr(text if len(text) <= most else text[:most] + "…")


@hookimpl
def register_sources(register):
    register(OpmlSource)
