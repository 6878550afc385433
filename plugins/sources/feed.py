"""`feed`: partner news (or any kind) from an RSS or Atom feed, by URL or local file, via feedparser.

feedparser's own sanitiser and relative-link resolver are turned off: nh3 does both jobs,
more safely (feedparser misses SVG and `src` attacks) and several times faster.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import httpx
from pydantic import Field

from pipeline import hookimpl
from pipeline.components import Settings, Source
from pipeline.errors import SourceError
from pipeline.models import Item, Kind, item_id
from pipeline.run_context import RunContext
from pipeline.sanitize import clean_html, plain_text, safe_url
from pipeline.settings_types import UrlOrFile

OFFLOAD_BYTES = 64 * 1024  # smaller feeds parse faster than a trip to a worker process


class FeedOptions(Settings):
    """How a feed's entries are read: shared by `feed` and by `opml`, which makes `feed` sources."""

    kind: Literal["news", "post", "job", "event"] = "news"
    max_items: int | None = None
    max_megabytes: int = Field(default=20, ge=1)


class FeedSource(Source):
    name = "feed"
    sanitises = True  # every body goes through clean_html here
    description = "RSS or Atom feed by URL or file (partner news)"

    class Settings(FeedOptions):
        url: UrlOrFile

    def fetch(self, run: RunContext) -> list[Item]:
        url = self.settings.url
        if urlparse(url).scheme in ("http", "https"):
            content, headers = self._download(url, run)
            if content is None:
                return []
        else:
            content, headers = Path(url).read_bytes(), {}
        args = (content, url, headers.get("content-type", ""), self.instance, self.settings.kind)
        items, undated = run.offload(parse_feed, *args) if len(content) > OFFLOAD_BYTES else parse_feed(*args)
        if undated:  # an entry without a date keeps the date it was first seen, run after run
            known = run.store.published_dates(sorted(undated))
            seen_now = run.moment - timedelta(microseconds=1)  # "before this run's edition date", not after
            for item in items:
                if item.id in undated:
                    item.published = known.get(item.id, seen_now)
        if headers:  # remember the validators only once these items are stored
            validators = {"url": url, "etag": headers.get("etag", ""),
                          "last_modified": headers.get("last-modified", "")}
            run.after_save(lambda: run.store.set_source_state(self.instance, validators))
        return items[: self.settings.max_items] if self.settings.max_items else items

    def _download(self, url: str, run: RunContext) -> tuple[bytes | None, dict]:
        """GET with the validators from last time; None when the feed has not changed (304)."""
        state = run.store.source_state(self.instance)
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if state.get("url") == url:
            if state.get("etag"):
                headers["If-None-Match"] = state["etag"]
            if state.get("last_modified"):
                headers["If-Modified-Since"] = state["last_modified"]
        limit = self.settings.max_megabytes * 1024 * 1024
        timeout = min(run.project.core.http_timeout, max(0.1, run.time_left()))
        try:
            with run.host_slot(url), run.http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code == 304:
                    return None, {}
                if response.status_code >= 400:
                    raise SourceError(f"{url}: HTTP {response.status_code} {response.reason_phrase}; "
                                      f"check the URL in [sources.{self.instance}] or try again later")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:  # a runaway or hostile server never fills memory
                        raise SourceError(f"{url}: larger than {self.settings.max_megabytes} MB; raise "
                                          f"max_megabytes in [sources.{self.instance}] if that is expected")
                    if run.time_left() <= 0:  # a server that trickles its answer
                        raise SourceError(f"{url}: no complete answer within the source's deadline of "
                                          f"{run.project.deadline_of(self.instance):g} s")
                return bytes(body), dict(response.headers)
        except httpx.TimeoutException:
            raise SourceError(f"{url}: no answer within {timeout:g} s; the server is slow or down, "
                              f"or raise http_timeout in [pipeline]") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {_transport_problem(exc)}; check the address in [sources.{self.instance}]"
                              ) from None


def parse_feed(content: bytes, url: str, content_type: str, source: str, kind: str) -> tuple[list[Item], set[str]]:
    """Parse feed bytes into sanitised items and the ids of those with no date of their own.

    A plain function of its arguments, so a worker process can run it.
    """
    import feedparser  # here: a project without feeds (or `pipeline --help`) never pays its 10 MB

    headers = {"content-location": url if "://" in url else ""}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(content, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.version and (parsed.bozo or not parsed.entries):
        problem = parsed.get("bozo_exception")
        reason = str(problem).strip() if problem else "no RSS or Atom elements"
        raise SourceError(f"{url}: not an RSS or Atom feed ({reason}); check the address or the file")
    feed_link = parsed.feed.get("link", "") if url.startswith("file") or "://" not in url else url
    items, undated = [], set()
    for entry in parsed.entries:
        link = safe_url(entry.get("link", ""), feed_link)
        key = entry.get("id") or link or entry.get("title", "")
        if not key:
            continue
        content_list = entry.get("content") or []
        body = content_list[0].get("value", "") if content_list else entry.get("summary", "")
        published = _date(entry)
        if published is None:
            undated.add(item_id(source, key))
        items.append(Item(
            id=item_id(source, key),
            kind=Kind(kind),
            source=source,
            title=plain_text(entry.get("title", "")) or "(untitled)",
            published=published or datetime.min.replace(tzinfo=UTC),  # replaced by the caller
            url=link,
            body_html=clean_html(body, link or feed_link),
            author=plain_text(entry.get("author", "")),
        ))
    return items, undated


def _transport_problem(exc: Exception) -> str:
    """'cannot connect (Connection refused)' rather than a class name and a stack of causes."""
    cause = exc.__cause__ or exc.__context__
    detail = str(getattr(cause, "strerror", "") or cause or exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({detail})"
    return f"{type(exc).__name__} ({detail})"


def _date(node) -> datetime | None:
    parsed = node.get("published_parsed") or node.get("updated_parsed")
    return datetime(*parsed[:6], tzinfo=UTC) if parsed else None


@hookimpl
def register_sources(register):
    register(FeedSource)
