"""The `rss` sink: writes the main feed and a feed per theme on every run, a refresh included.

Every feed is written atomically, and only when its bytes changed (a feed's `lastBuildDate` is its
newest item's date, so the same items give the same bytes). A theme's feed exists while some item
published before the run carries the theme, even when none of them is current any more (the feed is
then empty, and the theme's page still links to it); when no item carries it, the file stays, as a feed whose one
item says where the theme went (`write_left_theme_feeds`): a feed a reader subscribed to never goes missing, out/
made anew included (the themes items lost are kept in the state database, `site.themes_lost`).
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path

from pydantic import Field

from pipeline import components, current, duplicates, item_view, models, sanitize, site
from pipeline.components import Sink, SinkResult
from pipeline.edition import Edition
from pipeline.files import write_atomic, write_if_changed
from pipeline.models import Item
from pipeline.run_context import RunContext
from pipeline.state.site import pages_written, record_pages
from plugins.sinks.rss.choose import choose
from plugins.sinks.rss.document import build_feed, feed_bytes, left_feed, left_guid, main_channel, theme_channel
from plugins.sinks.rss.guids import Guids

# The files of what the feeds say, and when an item leaves them (`EventDetails.finishes`), besides this folder's code;
# and of how their addresses are written (`site.uri`: `header_link`, named by its file: a refresh that writes no feed
# does not load the mail code).
FEED_CODE = (*(Path(module.__file__) for module in (site, item_view, sanitize, duplicates, current, models)),
             Path(site.__file__).parent / "mail" / "message.py")


class RssSink(Sink):
    """Writes the site's RSS feeds: `feed.xml` and `themes/SLUG/feed.xml`."""

    name = "rss"
    single = "both would write out_dir/feed.xml and the theme feeds, the second over the first"
    description = "RSS 2.0 feeds of the newest items (out_dir/feed.xml) and of each theme's (themes/SLUG/feed.xml)"

    class Settings(components.Settings):
        limit: int = Field(default=50, ge=1, le=1000)  # items in each feed
        title: str | None = None  # default: the network's name; a theme's feed is "<title>: <Theme>"
        description: str | None = None  # default: the network's description

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        made_from = self._made_from(run)
        if self._unchanged(run, made_from):
            return SinkResult("unchanged: no item changed, closed or ended since the last run")
        project, limit = self.project, self.settings.limit
        moment = run.moment
        today = moment.astimezone(project.tz).date()
        # Every item a run has published, even under an earlier --as-of (an issue made again): as the archive's pages
        until = run.store.site_horizon(moment, keep=not run.dry_run)
        index = run.store.recent_themes(until=until)  # (id, published, themes), newest first
        published = {item_id: when for item_id, when, _ in index}
        loaded: dict[str, Item] = {}

        def load(ids: list[str]) -> list[Item]:
            missing = [i for i in ids if i not in loaded]
            loaded.update((item.id, item) for item in run.store.get_items(missing))
            return [loaded[i] for i in ids if i in loaded]

        written: list[str] = []
        memo: dict = {}  # each item's text, made once for all the feeds it is in
        # Which item has the page an own URL names (two items may name one): the page the archive gives each.
        owners = site.own_pages(project, run.store) if site.publishes(project, "archive") else {}

        horizon = current.horizons(project)
        # Of two partners' copies of one page, the one an issue showed stays in the feeds
        sent = duplicates.shown_in_issues(run.store.stored_with_editions())
        items = choose([item_id for item_id, _, _ in index], load, limit, moment, today, horizon, sent)
        channel = main_channel(project, self.settings.title, self.settings.description)
        main = site.file(project, site.FEED_FILE)
        newest = index[0][1] if index else moment  # dates an empty feed, the same each run
        guids = Guids.load(run.store)
        if write_if_changed(main, feed_bytes(build_feed(project, items, newest, channel, memo, owners, guids))):
            written.append(str(main))

        themes = by_theme(index)
        for path, (theme, carrying) in themes.items():
            chosen = choose(carrying, load, limit, moment, today, horizon, sent)
            root = build_feed(project, chosen, published[carrying[0]],
                              theme_channel(project, theme, self.settings.title), memo, owners, guids)
            if write_if_changed(site.file(project, path), feed_bytes(root)):
                written.append(str(site.file(project, path)))
        guids.save(run.store)
        left = write_left_theme_feeds(project, run.store, themes, moment, self.settings.title)
        stale_at = min((when for item in loaded.values()
                        if (when := current.stops_being_current(item, project.tz, horizon)) > moment), default=None)
        # Valid from this run's moment until the first item leaves (a run as of an earlier day makes them again).
        key = f"{made_from} {moment.isoformat()} {stale_at.isoformat() if stale_at else ''}"
        record_pages(run.store, self.instance, [(site.FEED_FILE, key, feeds_digest(project))])

        summary = (f"{len(items)} item{'s' if len(items) != 1 else ''} in {main.name}; "
                   f"{len(themes)} theme feed{'s' if len(themes) != 1 else ''}; "
                   f"{len(written)} written, {len(themes) + 1 - len(written)} unchanged"
                   + (f"; {len(left)} of themes no item carries now say where to go" if left else ""))
        return SinkResult(summary, written + left)


    def _made_from(self, run: RunContext) -> str:
        """What the feeds are made of: every item before the run (as stored), the sink's settings and the project's
        (`[pipeline]`: the language every feed says, the days an undated job or event stays in them), this code,
        and whether an archive sink writes the pages they link."""
        code = hashlib.sha256(b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py"))))
        for file in FEED_CODE:
            code.update(file.read_bytes())
        core = self.project.core
        parts = [self.settings.model_dump(mode="json"), core.model_dump(mode="json"), code.hexdigest(),
                 run.store.items_digest(run.store.site_horizon(run.moment, keep=not run.dry_run)),
                 site.publishes(self.project, "archive")]  # whether items and themes have pages to link
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _unchanged(self, run: RunContext, made_from: str) -> bool:
        """True when the feeds on disk were made from exactly this, and nothing in them has closed or ended since."""
        key, digest = pages_written(run.store, self.instance).get(site.FEED_FILE, ("", ""))
        recorded, built_at, stale_at = (key.split(" ") + ["", ""])[:3]
        if recorded != made_from or not built_at or run.moment < datetime.fromisoformat(built_at):
            return False
        if stale_at and datetime.fromisoformat(stale_at) <= run.moment:
            return False
        return digest == feeds_digest(self.project)


def feeds_digest(project) -> str:
    """A digest of every feed file on disk: the main feed and every theme's."""
    digest = hashlib.sha256()
    example = Path(site.theme_feed_path("x"))
    for path in [site.file(project, site.FEED_FILE),
                 *sorted((project.core.out_dir / example.parent.parent).glob(f"*/{example.name}"))]:
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except FileNotFoundError:
            digest.update(b"missing")
    return digest.hexdigest()


def by_theme(index: list[tuple[str, object, list[str]]]) -> dict[str, tuple[str, list[str]]]:
    """Feed path -> (the theme's name, the ids of the items carrying it, newest first), for every theme in
    `index` ((id, published, themes), newest first). Themes spelt differently but with one slug ('Peer
    support', 'peer support') share a feed, named by the commonest spelling (the first in alphabetical
    order on a tie), as the theme's page is."""
    found: dict[str, list[str]] = {}
    spellings: dict[str, Counter[str]] = {}
    paths: dict[str, str] = {}  # theme -> its feed's path, worked out once per spelling
    for item_id, _, item_themes in index:
        seen = set()
        for theme in dict.fromkeys(item_themes):
            if theme not in paths:
                paths[theme] = site.theme_feed_path(theme) if theme.strip() else ""
            path = paths[theme]
            if not path:
                continue
            spellings.setdefault(path, Counter())[theme] += 1
            if path not in seen:
                seen.add(path)
                found.setdefault(path, []).append(item_id)
    return {path: (min(spellings[path], key=lambda t: (-spellings[path][t], t)), carrying)
            for path, carrying in found.items()}


def write_left_theme_feeds(project, store, themes: dict[str, tuple[str, list[str]]], moment: datetime,
                           network: str | None) -> list[str]:
    """Every theme feed under out_dir whose theme no item carries any more (not in `themes`) is kept, saying where
    the theme went (`document.left_feed`: the theme most of its items took instead, `site.moved_themes`; the long
    themes that shared it, `site.split_theme`; else that it ended), so no feed a reader subscribed to goes missing.
    Written once for each place it leads to; the files written."""
    example = site.theme_feed_path("x")  # themes/x/feed.xml: the pattern of every theme's feed
    folder, name = Path(example).parent.parent, Path(example).name
    live = {site.file(project, path) for path in themes}
    carried = [theme for theme, _ in themes.values()]
    found = set((project.core.out_dir / folder).glob(f"*/{name}"))  # and those no longer in out/ (made again):
    found |= {site.file(project, page + name) for page in site.themes_lost(store, carried)}
    left = [path for path in sorted(found) if path not in live]
    if not left:
        return []
    moved = site.moved_themes(store, carried)
    pages = {path.removesuffix(name) for path in themes}
    written = []
    for path in left:
        feed = path.relative_to(project.core.out_dir).as_posix()
        theme = site.theme_left_for(feed.removesuffix(name), pages, moved)
        split = [] if theme else site.split_theme(feed.removesuffix(name), carried)
        guid = left_guid(project, feed, theme, split)
        try:
            before = ET.fromstring(path.read_bytes()) if path.is_file() else None
        except ET.ParseError:
            before = None
        if before is not None and guid in [each.text for each in before.iterfind("channel/item/guid")]:
            continue  # says so already (as parsed: the file has "&amp;" where the guid has "&")
        title = (before.findtext("channel/title") if before is not None else "") or ""
        title = title or network or project.core.name
        write_atomic(path, feed_bytes(left_feed(project, feed, title, theme, moment, split)))
        written.append(str(path))
    return written
