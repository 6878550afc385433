"""`opml`: many partner feeds from one OPML file (what feed readers export), each its own `feed` source.

    [sources.partners]
    type = "opml"
    path = "partners.opml"     # <outline type="rss" xmlUrl="..." text="..."/> entries, nested or not
    kind = "news"

Each feed becomes the source `partners/<name>` (its `text` or `title`, made safe), so it is fetched,
reported and identified as if it had a table of its own, and one failing feed fails alone.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.errors import ConfigError
from pipeline.settings_types import ExistingFile
from plugins.sources.feed import FeedOptions

_UNSAFE = re.compile(r"[^a-z0-9]+")


class OpmlSource(Source):
    name = "opml"
    description = "Every feed listed in an OPML file, each as its own feed source"

    class Settings(FeedOptions):
        path: ExistingFile

    def expand(self) -> list[Source]:
        where = f"{self.project.config_path.name}: [sources.{self.instance}]"
        sources, seen = [], set()
        for title, url in feeds_in(self.settings.path, where):
            name = f"{self.instance}/{_UNSAFE.sub('-', title.lower()).strip('-') or 'feed'}"
            base, n = name, 2
            while name in seen:  # two feeds of one name
                name, n = f"{base}-{n}", n + 1
            seen.add(name)
            table = {"type": "feed", "url": url, "kind": self.settings.kind,
                     "max_megabytes": self.settings.max_megabytes, "parser": self.settings.parser}
            if self.settings.max_items:
                table["max_items"] = self.settings.max_items
            source = self.project.build_component("source", f"{where} {url}", table)
            source.instance = name
            sources.append(source)
        if not sources:
            raise ConfigError(f"{where}: {self.settings.path.name} lists no feeds (no <outline> with an "
                              f"http(s) xmlUrl); export the list again from your feed reader")
        return sources

    def fetch(self, run):  # never runs: expand() stands in for it
        return []


def feeds_in(path, where: str) -> list[tuple[str, str]]:
    """(title, URL) of every feed outline in an OPML file, in order."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise ConfigError(f"{where}: {path.name} is not an OPML file ({exc}); export it again") from None
    found, seen = [], set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url.startswith(("http://", "https://")) and url not in seen:  # a feed filed in two folders is one
            seen.add(url)
            found.append(((outline.get("text") or outline.get("title") or url).strip(), url))
    return found


@hookimpl
def register_sources(register):
    register(OpmlSource)
