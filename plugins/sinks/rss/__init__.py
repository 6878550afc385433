"""The `rss` sink: RSS 2.0 feeds of the newest items: the main feed (`feed.xml`) and one per theme
(`themes/SLUG/feed.xml`), where `pipeline/site.py` puts them.

- `choose.py`: which items a feed lists (duplicates merged; closed jobs and past events left out);
- `document.py`: the RSS document, shared by every feed (full content, summary, categories);
- `sink.py`: the sink, which writes the files, rewrites only those that changed and removes the feed
  of a theme that no longer has items.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline import hookimpl
from pipeline.components import Sink
from plugins.sinks.rss.choose import choose, feed_items, is_current
from plugins.sinks.rss.document import (
    Channel,
    build_feed,
    describe,
    feed_bytes,
    full_content,
    main_channel,
    rfc822,
    theme_channel,
    xml_safe,
)
from plugins.sinks.rss.sink import RssSink

__all__ = ["Channel", "RssSink", "build_feed", "choose", "describe", "feed_bytes", "feed_items", "full_content",
           "is_current", "main_channel", "rfc822", "theme_channel", "xml_safe"]


@hookimpl
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    register(RssSink)
