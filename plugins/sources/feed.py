"""`feed`: partner news (or any kind) from an RSS or Atom feed, by URL or local file, via feedparser.

feedparser's own sanitiser and relative-link resolver are turned off: nh3 does both jobs,
more safely (feedparser misses SVG and `src` attacks) and several times faster. With
`parser = "fast"` (the `fast` extra), `fastfeed` reads the common documents with lxml, giving
exactly what feedparser gives, and leaves the rest to feedparser.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Literal, NamedTuple
from urllib.parse import quote, urlparse, urlsplit

from pydantic import Field, field_validator

from pipeline import __version__, hookimpl, redact
from pipeline.components import Settings, Source
from pipeline.errors import SourceError
from pipeline.http_client import PUBLIC_ONLY
from pipeline.models import Item, Kind, item_id
from pipeline.redact import (
    MissingVariable,
    credentials_in,
    holds_credential,
    literal_credentials,
    mask_in,
    variables_in,
    without_credentials,
)
from pipeline.run_context import RunContext
from pipeline.sanitize import (
    PLAIN_URL,
    clean_html,
    escaped_once,
    image_url,
    language_tag,
    one_line,
    plain_text,
    safe_url,
)
from pipeline.settings_types import UrlOrFile

log = logging.getLogger("pipeline.sources.feed")

OFFLOAD_BYTES = 64 * 1024  # smaller feeds parse faster than a trip to a worker process
_UNDATED = datetime.min.replace(tzinfo=UTC)
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)$", re.I)
_WARNED: set[tuple[str, str, str]] = set()  # (pipeline.toml, source, url) said to hold a credential: once a process


class FeedOptions(Settings):
    """How a feed's entries are read: shared by `feed` and by `opml`, which makes `feed` sources."""

    kind: Literal["news", "post", "job", "event"] = "news"
    max_items: int | None = Field(default=None, ge=1)  # only the first this many entries (none: every one)
    max_megabytes: int = Field(default=20, ge=1)
    parser: Literal["feedparser", "fast"] = "feedparser"  # "fast": lxml first, feedparser for what it declines

    @field_validator("parser")
    @classmethod
    def _lxml_installed(cls, parser: str) -> str:
        if parser == "fast" and importlib.util.find_spec("lxml") is None:
            raise ValueError("\"fast\" needs lxml, which is not installed; pip install "
                             "'newsletter-pipeline[fast]', or set parser = \"feedparser\"")
        return parser


class FeedSource(Source):
    name = "feed"
    description = "RSS or Atom feed by URL or file (partner news)"

    class Settings(FeedOptions):
        url: UrlOrFile

    # True for a feed of someone else's list (`opml`): it is never sent, by a redirect either, to localhost or
    # an address that is not public, as written or as its name resolves when connecting (pipeline/public_only.py)
    public_only = False

    def uses_http(self) -> bool:
        return urlparse(self.settings.url).scheme in ("http", "https")

    def fetch(self, run: RunContext) -> list[Item]:
        url = self.settings.url
        if urlparse(url).scheme in ("http", "https"):
            reading = self._reading(run)
            state = run.store.source_state(self.instance)
            # Validators count only for a read made the same way: this URL, these settings, these transforms
            # (a changed taxonomy reads every feed again, so its items are transformed again).
            last = state if state.get("url") == url and state.get("reading") == reading else {}
            content, headers = self._download(url, self._address(), run, last)
            if content is None:
                run.note("unchanged since the last run (HTTP 304)")
                return []
            # A server that ignores conditional requests sends the same bytes again: read them as a 304.
            seen = hashlib.sha256(content).hexdigest()
            if last.get("content") == seen:
                log.debug("%s: the same %d bytes as last time", url, len(content))
                self._remember(run, url, headers, reading, seen)
                run.note("unchanged since the last run (the same bytes)")
                return []
        else:
            content, headers, reading, seen = Path(url).read_bytes(), {}, "", ""
        # (a private feed repeats its token in its entries' ids and links: masked before an item's id is made of them)
        args = (content, url, headers.get("content-type", ""), self.instance, self.settings.kind, self.settings.parser,
                tuple(credentials_in(url)) if self.uses_http() else (), self._values_read() if self.uses_http() else ())
        items, undated, cut_short, partial, unresolved, moved = (run.offload(parse_feed, *args)
                                                                 if len(content) > OFFLOAD_BYTES else parse_feed(*args))
        if moved:
            undated, unresolved = _keep_ids(run, items, moved, undated, unresolved)
        self._say_left_out(run, url, unresolved, items)
        if cut_short:  # no validators kept: the next run reads the whole feed, not a 304 or these bytes again
            where = "part-way through an item" if partial else "after an item, before the end of the document"
            left = "the partial one left out" if partial else "any after them missing"
            why = "cut short by the server?" if self.uses_http() else "the file ends there"
            run.problem(url, f"the feed ended {where} ({why}); {len(items)} items read, {left}; "
                             f"the next run reads it again")
        if undated:  # an entry without a date keeps the date it was first seen, run after run
            known = run.store.published_dates(sorted(undated))
            seen_now = run.moment - timedelta(microseconds=1)  # "before this run's edition date", not after
            for item in items:
                if item.id in undated:
                    item.published = known.get(item.id, seen_now)
        if headers and not cut_short:
            self._remember(run, url, headers, reading, seen)
        return items[: self.settings.max_items] if self.settings.max_items else items

    def _say_left_out(self, run: RunContext, url: str, unresolved: tuple[tuple[str, int], ...],
                      items: list[Item]) -> None:
        """Say how many relative links were left out of the items this run stores for the first time: one already
        stored lost them when it was, and was said then (a feed read again, its other items changed, says nothing)."""
        given = {item.id for item in (items[: self.settings.max_items] if self.settings.max_items else items)}
        counts = {ident: count for ident, count in unresolved if ident in given}
        stored = run.store.published_dates(sorted(counts)) if counts else {}
        new = {ident: count for ident, count in counts.items() if ident not in stored}
        if new:
            run.problem(url, f"{sum(new.values())} relative links in {len(new)} new item{'s' * (len(new) > 1)} could "
                             f"not be resolved and were left out (their text kept): its address has ${{NAME}} in the "
                             f"path, which no link may publish, and the feed declares no base of its own (xml:base, "
                             f"or the channel's link); ask its owner for absolute links", skipped=False)

    def origin(self) -> str:
        return str(self.settings.url)  # as written: `${NAME}` kept, and any credential written out masked in messages

    def expand(self) -> list[Source]:
        """Itself; a credential written out in its URL is said once, at start-up (it works: existing configs run)."""
        found = literal_credentials(self.settings.url) if self.uses_http() else []
        key = (str(self.project.config_path), self.instance, self.settings.url)
        if found and key not in _WARNED:
            _WARNED.add(key)
            log.warning("%s: [sources.%s] url: a credential is written out (%s), and secrets belong in the "
                        "environment: put it in a variable and write ${NAME} in its place (README, \"A feed's "
                        "credential\")", self.project.config_path.name, self.instance, ", ".join(found))
        return [self]

    def _address(self) -> str:
        """The URL to request: `${NAME}` read from the environment now, each value percent-encoded (never kept)."""
        try:
            return redact.expand(self.settings.url)
        except MissingVariable as missing:
            raise SourceError(f"{self._table()} url: environment variable {missing.name} {missing.why}; export "
                              f"{missing.name} with the value to send, or add it to the service's environment file "
                              f"(/etc/newsletter-pipeline/env), never to pipeline.toml") from None

    def _values_read(self) -> tuple[str, ...]:
        """Each value the address reads through `${NAME}` (of 4 characters or more), as read and percent-encoded:
        none may be in the base a feed declares for its links, however short (`credentials_in` leaves out one under 8
        characters, which in a feed's text may be its own words)."""
        values = [value for name in variables_in(self.settings.url) if len(value := os.environ.get(name, "")) >= 4]
        return tuple(dict.fromkeys(form for value in values for form in (value, quote(value, safe=""))))

    def _table(self) -> str:
        """The table holding this feed's settings: its own, or that of the OPML list it is listed in."""
        return f"[sources.{self.project.listed_in.get(self.instance, self.instance)}]"

    def _address_at(self) -> str:
        """Where this feed's address is written: its table, or its outline in an OPML list's file."""
        listed_in = self.project.listed_in.get(self.instance)
        return f"its outline in the OPML file of [sources.{listed_in}]" if listed_in else self._table()

    def _reading(self, run: RunContext) -> str:
        """How this source reads and what follows: the pipeline's version, the source's settings and the
        transforms' (`RunContext.transforms_key`)."""
        made = f"{__version__} {self.settings.model_dump_json()} {run.transforms_key}"
        return hashlib.sha256(made.encode()).hexdigest()

    def _remember(self, run: RunContext, url: str, headers: dict, reading: str, content: str) -> None:
        """The validators and the digest of what was read, recorded only once these items are stored."""
        validators = {"url": url, "etag": headers.get("etag", ""), "last_modified": headers.get("last-modified", ""),
                      "reading": reading, "content": content}
        run.after_save(lambda: run.store.set_source_state(self.instance, validators))

    def _download(self, url: str, address: str, run: RunContext, state: dict) -> tuple[bytes | None, dict]:
        """GET `address` (`url` with its `${NAME}` read) with the validators from last time (`state`); None when the
        feed has not changed (304). Every message names `url`, as written."""
        from pipeline.decoding import ACCEPT_ENCODING, TooLarge, UnknownEncoding, bounded_body

        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
                   "Accept-Encoding": ACCEPT_ENCODING}
        # httpx sends header values as ASCII: a validator a server wrote with other bytes cannot be sent back
        if state.get("etag") and state["etag"].isascii():
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified") and state["last_modified"].isascii():
            headers["If-Modified-Since"] = state["last_modified"]
        limit = self.settings.max_megabytes * 1024 * 1024
        timeout = min(run.project.core.http_timeout, max(0.1, run.time_left()))
        try:
            extensions = {PUBLIC_ONLY: True} if self.public_only else None
            with run.host_slot(url), run.http.stream("GET", address, headers=headers, timeout=timeout,
                                                     extensions=extensions) as response:
                if response.status_code == 304:
                    response.read()  # nothing to read, but now the connection goes back to the pool
                    log.debug("%s: 304 Not Modified", url)
                    return None, {}
                if response.status_code >= 400:
                    raise SourceError(f"{url}: HTTP {response.status_code} {response.reason_phrase}; "
                                      f"check the URL in {self._address_at()} or try again later")
                try:  # unpacked a piece at a time: a runaway or hostile server (a gzip bomb) never fills memory
                    body = bounded_body(response.iter_raw(), response.headers.get("content-encoding", ""), limit,
                                        lambda: run.time_left() > 0)
                except TooLarge:
                    raise SourceError(f"{url}: larger than {self.settings.max_megabytes} MB; raise "
                                      f"max_megabytes in {self._table()} if that is expected") from None
                except UnknownEncoding as exc:
                    raise SourceError(f"{url}: sent packed as {exc}, which is not read here (only "
                                      f"{ACCEPT_ENCODING} are asked for, a few layers at most); the server is "
                                      f"misconfigured") from None
                except ValueError as exc:
                    raise SourceError(f"{url}: {exc}") from None
                if body is None:  # a server that trickles its answer
                    raise SourceError(f"{url}: no complete answer within the source's deadline of "
                                      f"{run.project.deadline_of(self.instance):g} s")
                log.debug("%s: %d, %d bytes", url, response.status_code, len(body))
                return body, dict(response.headers)
        except httpx_errors().TimeoutException:
            raise SourceError(f"{url}: no answer within {timeout:g} s; the server is slow or down, "
                              f"or raise http_timeout in [pipeline]") from None
        except httpx_errors().HTTPError as exc:
            raise SourceError(f"{url}: {_transport_problem(exc)}; check the address in {self._address_at()}"
                              ) from None
        except httpx_errors().InvalidURL as exc:  # (not an HTTPError): a port that is no number, a line break
            raise SourceError(f"{one_line(repr(url))}: not an address that can be fetched "
                              f"({str(exc).replace(address, url)}); correct it in {self._address_at()}") from None
        except UnicodeError as exc:  # a host name the resolver cannot encode: a redirect's (the URL's is checked)
            raise SourceError(f"{url}: cannot connect: a host name it leads to cannot be looked up ({exc}); check "
                              f"the address in {self._address_at()}") from None


class Entry(NamedTuple):
    """What parse_feed reads from a feed entry, as feedparser gives it (and as `fastfeed` gives it too)."""

    id: str | None
    link: str
    title: str
    body: str  # the first content, else the summary
    date: tuple | None  # published_parsed, else updated_parsed: a UTC time tuple
    author: str
    images: tuple[str, ...]  # the entry's own images, best first (`lead_images`), as the feed has them


class ParsedFeed(NamedTuple):
    """What parse_feed reads from a feed's bytes."""

    items: list[Item]  # sanitised
    undated: set[str]  # the ids of the items with no date of their own
    cut_short: bool = False  # the document ended before its root element closed (`cut_short.py`)
    partial: bool = False  # ... and inside an entry, which is left out of `items`
    # (item id, how many of its relative links were left out): the address has a `${NAME}` in its path, the feed no base
    unresolved: tuple[tuple[str, int], ...] = ()
    # (item id, the ids it had before its site moved to or from https or "www.") of each item keyed by an address
    moved: tuple[tuple[str, tuple[str, ...]], ...] = ()


_BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")  # UTF-8, -16, -32


def parse_feed(content: bytes, url: str, content_type: str, source: str, kind: str,
               parser: str = "feedparser", credentials: tuple[str, ...] = (), values_read: tuple[str, ...] = ()
               ) -> ParsedFeed:
    """Parse feed bytes into sanitised items, the ids of those with no date of their own, and whether the
    document was cut short (then the entry it broke off in is left out). Each of `credentials` (what the address
    sent: `redact.credentials_in`) is masked in every entry before its id is made, so none is stored or published
    and a new token keeps each item's id. No base a feed declares is used that holds one of `values_read` (what its
    address reads through `${NAME}`); with none (a `${NAME}` in the path), links from the root are read from the
    address's origin (`_origin`), and any other relative link is left out, counted by item (`unresolved`).

    A plain function of its arguments, so a worker process can run it. With parser="fast", lxml reads
    the documents it can read exactly as feedparser does, and feedparser the rest: the items are the same.
    """
    if not content.strip():
        raise SourceError(f"{url}: empty, with no feed in it; check the address or the file"
                          if "://" not in url else f"{url}: answered with nothing, no feed; the server or the feed "
                          f"is down, or the feed has moved: check the address or try again later")
    if not content_type and content.startswith(_BYTE_ORDER_MARKS):
        content_type = "application/xml"  # so the mark tells the encoding, as XML's rules say (feedparser: only then)
    location = _document_base(url)
    read = _read_fast(content, location, content_type, source) if parser == "fast" else None
    if read is None:
        feed_link, entries, cut, partial, language = _read_with_feedparser(content, url, content_type, location)
    else:  # lxml reads only well-formed documents, which are whole
        (feed_link, entries, language), cut, partial = read, False, False
    language = language_tag(language)
    unresolvable, rooted = False, _Rooted("", ())  # (a `${NAME}` in the path, and no base of the feed's own)
    if "://" in url and not url.startswith("file"):
        feed_link = location or _declared_base(feed_link, credentials + values_read)
        unresolvable = not feed_link
        if unresolvable:
            rooted = _Rooted(_origin(url, credentials + values_read), credentials + values_read)
    items, undated, seen, unresolved, moved = [], set(), set(), [], []
    kind = Kind(kind)
    for entry in entries:
        if credentials:
            entry = _masked(entry, credentials)
        own = safe_url(entry.link, feed_link)  # (its id's key: as before links from the root were read from `origin`)
        keyless = unresolvable and not own  # its relative links are read by `rooted`, or left out and counted
        link = own or (rooted.read(entry.link) if keyless else "")
        base = link or feed_link
        left_out = []
        if keyless:
            left_out += [found for found in (entry.link, *entry.images) if _relative(found)
                         and not rooted.read(found, link)]
        key = entry.id or own or entry.title
        if not key:
            continue
        ident = item_id(source, key)
        if ident in seen:  # an entry listed again, or updated below the first: someone else's feed, kept once
            continue
        seen.add(ident)
        if earlier := _moved_from(key):
            moved.append((ident, tuple(item_id(source, form) for form in earlier)))
        published = _moment(entry.date)
        if published is None:
            undated.add(ident)
        images = ((rooted.read(image, link) if _relative(image) else image for image in entry.images)
                  if unresolvable else entry.images)
        title, body = _once(entry.title, credentials), _once(entry.body, credentials)
        items.append(Item(
            id=ident,
            kind=kind,
            source=source,
            title=plain_text(title) or "(untitled)",  # (the key above: the title as it was)
            published=published or _UNDATED,  # undated: replaced by the caller
            url=link,
            body_html=(clean_html(body, "", rooted.reader(link, left_out, own=not keyless))
                       if unresolvable else clean_html(body, base)),
            author=plain_text(entry.author),
            image=next(filter(None, (image_url(image, base) for image in images)), ""),
            language=language,
        ))
        if left_out:
            unresolved.append((ident, len(left_out)))
    return ParsedFeed(items, undated, cut, partial, tuple(unresolved), tuple(moved))


_WEB_ADDRESS = re.compile(r"(https?)://(www\.)?(?=[^/?#])(.*)", re.I | re.S)


def _moved_from(key: str) -> list[str]:
    """The forms an entry's key (its guid, else its link) had before its site moved to or from https, or "www.", when
    it is an http(s) address: `http://p.example.org/news/1` of `https://p.example.org/news/1`, and with "www."."""
    found = _WEB_ADDRESS.match(key)
    if not found:
        return []
    forms = [f"{scheme}://{www}{found[3]}" for scheme in ("https", "http") for www in ("", "www.")]
    return [form for form in forms if form != key]


def _keep_ids(run: RunContext, items: list[Item], moved: tuple[tuple[str, tuple[str, ...]], ...], undated: set[str],
              unresolved: tuple[tuple[str, int], ...]) -> tuple[set[str], tuple[tuple[str, int], ...]]:
    """Give back its stored id to each item whose key (guid, else link) moved to or from https or "www." with its
    site (`moved`: each such item's id, and the ids it had before): an item not stored under its own id takes the one
    stored under an earlier form of its address, if no other item of the feed has it. Otherwise every entry still in
    the feed would be stored again, twice on the site and sent again as a late arrival of the last issue's month.
    Returns `undated` and `unresolved` under the ids kept."""
    stored = run.store.published_dates(sorted(ident for ident, _ in moved))
    earlier = {ident: forms for ident, forms in moved if ident not in stored}
    if not earlier:
        return undated, unresolved
    stored = run.store.published_dates(sorted({form for forms in earlier.values() for form in forms}))
    given, kept = {item.id for item in items}, {}
    for item in items:
        old = next((form for form in earlier.get(item.id, ()) if form in stored and form not in given), None)
        if old is not None:
            kept[item.id] = old
            item.id = old
            given.add(old)
    return ({kept.get(ident, ident) for ident in undated},
            tuple((kept.get(ident, ident), count) for ident, count in unresolved))


def _moment(when: tuple | None) -> datetime | None:
    """An entry's date (a UTC time tuple) as a moment; None for none, and for one outside the years 1 to 9999, which
    feedparser gives for `0000-01-01T00:00:00Z`, or 23:00 on 31 December 9999 at -05:00: no date, not an entry (and
    with it the whole feed) that cannot be read."""
    if not when:
        return None
    try:
        return datetime(*when[:6], tzinfo=UTC)
    except (ValueError, OverflowError, TypeError):
        return None


def _document_base(url: str) -> str:
    """The address a feed's relative links are read from: its URL as written, without a credential
    (`without_credentials`); "" for a file path, and when a `${NAME}` is left in it (in the path): read from it, a
    link would say `${NAME}` (a dead link), and read from the address sent, publish the key."""
    location = without_credentials(url) if "://" in url else ""
    return "" if "${" in location else location


def _declared_base(link: str, credentials: tuple[str, ...]) -> str:
    """The base a feed declares for itself (its channel's link, else its xml:base), if links may be read from it:
    an absolute http(s) address holding no `${` and none of `credentials` (what its address sends as a credential,
    and each value it reads through `${NAME}`: a channel's link often repeats the feed's own address, key and all)."""
    link = image_url(link)  # (an absolute http(s) address with a host, or "")
    return "" if not link or "${" in link or holds_credential(link, credentials) else link


def _origin(url: str, secrets: tuple[str, ...]) -> str:
    """"scheme://host:port" of a feed's http(s) address, what its links from the root (`/about/`) are read from when
    it declares no base: never its user name or password, and "" when it holds `${` or one of `secrets` (each
    value its address reads through `${NAME}`, and what it sends as a credential)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    origin = f"{parts.scheme}://{host}" if parts.scheme in ("http", "https") and host else ""
    return "" if "${" in origin or holds_credential(origin, secrets) else origin


class _Rooted(NamedTuple):
    """How the relative links of a feed with a `${NAME}` in its path and no base of its own are read: from its
    origin ("" when that holds a secret) when from the root, else from the item's own link so read; never one that
    holds one of `secrets` (each value its address reads through `${NAME}`, and what it sends as a credential), as
    a link from the root repeating the feed's path (`/feeds/KEY/news.html`) does."""

    origin: str
    secrets: tuple[str, ...]

    def read(self, reference: str, link: str = "") -> str:
        """`reference` read from the origin when it is a path from the root (`/about/`) or an address without its
        scheme (`//cdn.example.org/a.png`), else from `link` (the item's own, itself read so) when there is one;
        "" when it holds a secret, or when it needs the feed's path (`news/a.html`, `../a`, `?page=2`)."""
        reference = (reference or "").strip()
        if not reference or self.holds_secret(reference):
            return ""
        if reference.startswith("/") and self.origin:
            return safe_url(reference, self.origin)
        return safe_url(reference, link) if link else ""

    def reader(self, link: str, left_out: list[str], own: bool = False):
        """For `clean_html`: each relative link of an item's text `read` (from `link` alone when it is the item's
        own, as a feed with a base reads its text), or added to `left_out` (and dropped)."""
        if own:  # read as any feed's text is, but for one holding a secret
            return lambda reference: (left_out.append(reference) if self.holds_secret(reference)
                                      else safe_url(reference, link) or None)
        return lambda reference: self.read(reference, link) or left_out.append(reference)

    def holds_secret(self, reference: str) -> bool:
        return holds_credential(reference, self.secrets)


def _relative(url: str) -> bool:
    """Whether `url` is a relative reference (no scheme): one a base is needed for."""
    url = (url or "").strip()
    return bool(url) and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url)


def _once(text: str, credentials: tuple[str, ...]) -> str:
    """`text` with each entity its feed escaped twice escaped once (`escaped_once`), masked again where one was: a
    credential spelt "&amp;#115;…" is no spelling `_masked` looks for, and would be the credential itself now."""
    once = escaped_once(text)
    return mask_in(once, credentials) if once is not text else once


def _masked(entry: Entry, credentials: tuple[str, ...]) -> Entry:
    """`entry` with each of `credentials` shown as `***` in its text and addresses."""
    return entry._replace(id=entry.id and mask_in(entry.id, credentials), link=mask_in(entry.link, credentials),
                          title=mask_in(entry.title, credentials), body=mask_in(entry.body, credentials),
                          author=mask_in(entry.author, credentials),
                          images=tuple(mask_in(image, credentials) for image in entry.images))


# Sources read their feeds each on a thread of its own, and feedparser (and the fast reader, which imports its
# modules one by one) is imported at the first: two threads importing it at once can each hold an import lock of
# its modules that the other needs, and Python then gives up on one of them (that source fails with
# "_DeadlockError", or with a half-made module), and may make `feedparser` again without its submodules as
# attributes, so that every feed read after it in the process fails ("no attribute 'urls'"). One at a time, then.
_IMPORTING = threading.Lock()


def _load(name: str) -> ModuleType:
    """feedparser with its speed-ups applied ("feedparser"), or the fast reader ("fastfeed"), imported by one
    thread at a time (`_IMPORTING`)."""
    with _IMPORTING:
        if name == "fastfeed":
            from plugins.sources import fastfeed

            return fastfeed
        import feedparser

        from plugins.sources import feedparser_speedups

        feedparser_speedups.use_with(feedparser)  # under the lock too: two threads would each wrap the original
        return feedparser


def _read_fast(content: bytes, url: str, content_type: str, source: str) -> tuple[str, list[Entry], str] | None:
    try:
        fastfeed = _load("fastfeed")
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "lxml":
            raise
        raise SourceError(f"[sources.{source}]: parser = \"fast\" needs lxml, which is not installed; "
                          f"pip install 'newsletter-pipeline[fast]', or set parser = \"feedparser\"") from None
    return fastfeed.read(content, url, content_type)


def _read_with_feedparser(content: bytes, url: str, content_type: str,
                          location: str) -> tuple[str, list[Entry], bool, bool, str]:
    """(the feed's link, else the base it declares (xml:base), its entries, whether it was cut short, whether
    inside an entry, which is left out, its language); `location` is the address its relative links are read from
    (`_document_base`)."""
    from xml.sax import SAXParseException

    feedparser = _load("feedparser")  # here: a project without feeds (or `pipeline --help`) never pays its 10 MB
    from feedparser.encodings import convert_to_utf8

    from plugins.sources.cut_short import cut_short

    headers = {"content-location": location}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(content, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    except (UnicodeError, ValueError, OverflowError) as exc:  # feedparser's loose parser, on "&#xD800;" and the like
        raise SourceError(f"{url}: not a feed that can be read ({type(exc).__name__}: {exc}); it is not well-formed "
                          f"XML and holds a character that cannot be: tell the feed's owner") from None
    if not parsed.version and (parsed.bozo or not parsed.entries):
        if page := _web_page(content):
            found = [address for link in page  # a stranger's page: only plain http(s) addresses are repeated
                     if PLAIN_URL.fullmatch(address := safe_url(link, location)) and len(address) <= 200]
            named = f"; it names {' and '.join(found[:2])}" if found else ""
            raise SourceError(f"{url}: a web page, not an RSS or Atom feed; give the address of its feed{named}")
        problem = parsed.get("bozo_exception")
        reason = str(problem).strip() if problem else "no RSS or Atom elements"
        raise SourceError(f"{url}: not an RSS or Atom feed ({reason}); check the address or the file")
    broken = isinstance(parsed.get("bozo_exception"), SAXParseException)
    cut, partial = cut_short(convert_to_utf8(headers, content, {})) if broken else (False, False)
    kept = parsed.entries[:-1] if partial else parsed.entries
    if not kept and broken:
        # a feed cut short (or broken) before its first item, or inside it: "0 items" would hide it
        why = ("the server may have cut it short: try again later, or tell the feed's owner" if "://" in url
               else "the file may end part-way: check it, or copy it again")
        raise SourceError(f"{url}: not well-formed XML ({str(parsed.bozo_exception).strip()}) before any item could "
                          f"be read; {why}")
    get = dict.get  # plain lookups: FeedParserDict.get goes through its table of aliases every time
    entries = []
    for entry in kept:
        contents = get(entry, "content")
        body = contents[0].get("value", "") if contents else get(entry, "summary", "")
        date = get(entry, "published_parsed") or get(entry, "updated_parsed")
        if not isinstance(date, time.struct_time):  # a feed's own <date_parsed> element lands here as text
            date = None
        images = lead_images(get(entry, "media_content") or (), get(entry, "media_thumbnail") or (),
                             get(entry, "links") or ())
        entries.append(Entry(get(entry, "id"), get(entry, "link", ""), get(entry, "title", ""), body, date,
                             get(entry, "author", ""), images))
    link, base = parsed.feed.get("link", ""), (parsed.feed.get("title_detail") or {}).get("base", "")
    declared = link if image_url(link) or not base else base  # (an Atom id taken for the link: `urn:…`)
    return declared, entries, cut, partial, str(parsed.feed.get("language") or "")


def _web_page(content: bytes) -> list[str] | None:
    """None unless `content` is an HTML page; then the feeds its `<link rel="alternate">` tags name (RSS or Atom),
    as written. Only a document that is no feed is read so: a page given where its feed belongs."""
    head = content[:1024].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if not (head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head[:256]):
        return None
    from html.parser import HTMLParser

    feeds: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found = {name: value or "" for name, value in attrs}
            if (tag == "link" and "alternate" in found.get("rel", "").lower().split()
                    and found.get("type", "").lower() in ("application/rss+xml", "application/atom+xml")
                    and found.get("href")):
                feeds.append(found["href"].strip())

    Links().feed(content[:65536].decode("utf-8", "replace"))
    return list(dict.fromkeys(feeds))


def lead_images(contents, thumbnails, links) -> tuple[str, ...]:
    """The entry's own images from feedparser's attribute lists, best first: each `media:content` that is
    an image, then each `media:thumbnail`, then each enclosure (`links` with rel="enclosure") of an image
    type. No alt text: feedparser files a media element's `media:title` and `media:description` as the
    entry's own title and summary, so they cannot be told apart."""
    found = [attrs.get("url") for attrs in contents
             if _is_image(attrs.get("medium") or "", attrs.get("type") or "", attrs.get("url") or "")]
    found += [attrs.get("url") for attrs in thumbnails]
    found += [attrs.get("href") for attrs in links
              if attrs.get("rel") == "enclosure" and (attrs.get("type") or "").startswith("image/")]
    return tuple(url for url in found if url)


def _is_image(medium: str, kind: str, url: str) -> bool:
    if medium or kind:
        return medium.strip().lower() == "image" or kind.startswith("image/")
    return bool(_IMAGE_FILE.search(url.partition("#")[0].partition("?")[0]))  # no type given: by its name


def httpx_errors():
    """httpx, for its exception classes: loaded with the HTTP client, when a feed is first downloaded."""
    from pipeline.http_client import load_httpx

    return load_httpx()


def _transport_problem(exc: Exception) -> str:
    """'cannot connect (Connection refused)' rather than a class name and a stack of causes."""
    cause = exc.__cause__ or exc.__context__
    detail = str(getattr(cause, "strerror", "") or cause or exc).strip() or type(exc).__name__
    if isinstance(exc, httpx_errors().ConnectError):
        return f"cannot connect ({detail})"
    return f"{type(exc).__name__} ({detail})"


@hookimpl
def register_sources(register):
    register(FeedSource)
