"""Search across every item from static files: search/index.json (title, url, date, kind, themes,
summary of every item, the same news passed on by two sources once as the lists have it, with the themes of both
(`Site.kept_for`); a job's organisation and closing date, an event's time and venue, which its result
shows as the lists do, and its speakers), the same as search/index.js for a page opened from a folder (file://, where
a browser will not fetch a file), and a small script on search/index.html. Without JavaScript the
search page says so and links the lists by issue, theme and month.
"""

from __future__ import annotations

import json
from datetime import datetime

from pipeline import site
from plugins.sinks.archive.builder import Site
from plugins.sinks.archive.facts import Facts
from plugins.sinks.archive.render import KIND_LABELS, Head
from plugins.sinks.archive.writer import Planned, key

SCRIPT_TEMPLATE = "site/search.js"


def plan_search(built: Site) -> list[Planned]:
    entries = list(reversed(built.listed.values()))  # newest first: the facts are oldest first
    # The same news passed on by two sources once, as the lists have it, found by the themes of both
    copies: dict[str, list[Facts]] = {}
    for copy_id, kept in built.kept_for.items():
        copies.setdefault(kept.id, []).append(built.facts[copy_id])
    made_from = key(built.version, "search index 5", built.prints(entries),
                    *(f"{kept}<{built.prints(found)}" for kept, found in sorted(copies.items())))
    tz = built.project.tz

    def themes(entry: Facts) -> list[str]:
        return list(dict.fromkeys([*entry.themes, *(t for copy in copies.get(entry.id, []) for t in copy.themes)]))

    def records() -> list[dict]:  # each item's date as its pages give it: in the project's zone
        return [{"title": e.title, "url": site.url(built.project, e.path), "path": e.path,
                 "date": datetime.fromisoformat(e.published).astimezone(tz).date().isoformat(),
                 "day": e.day, "kind": e.kind, "label": KIND_LABELS[e.kind], "themes": themes(e),
                 "summary": e.summary, **_particulars(e), **_language(built, e)} for e in entries]

    def as_json() -> str:
        return json.dumps(records(), ensure_ascii=False, separators=(",", ":"))

    script = built.renderer.asset(SCRIPT_TEMPLATE)
    return [
        Planned(site.SEARCH, key(built.version, "search page"), lambda: built.renderer.page(
            "search.html", site.SEARCH, Head("Search", f"Search every blog post, news item, job and event of "
                                                       f"{built.project.core.name}."),
            script=site.SEARCH_SCRIPT, index=site.SEARCH_INDEX, index_script=site.SEARCH_INDEX_SCRIPT)),
        Planned(site.SEARCH_INDEX, made_from, as_json, listed=False),
        # The same list as a script: the only way a page opened from a folder can read it.
        Planned(site.SEARCH_INDEX_SCRIPT, made_from, lambda: f"window.siteSearchIndex = {as_json()};\n", listed=False),
        Planned(site.SEARCH_SCRIPT, key(script), lambda: script, listed=False),
    ]


def _particulars(entry: Facts) -> dict[str, str]:
    """What a list says of a job (organisation, closing day) or an event (when, venue) beside its kind
    (templates/site/macros.html, `entry`): its search result says the same, and a search finds it by them, and by an
    event's speakers."""
    if entry.kind == "job":
        return {"organisation": entry.organisation, "closing_day": entry.closing_day}
    if entry.kind == "event":
        return {"when": entry.when, "venue": entry.venue, "speakers": entry.speakers}
    return {}


def _language(built: Site, entry: Facts) -> dict[str, str]:
    """An item's language when another than the site's, and its direction when that is another too: its result's
    title and summary are marked with them, as the lists mark them (templates/site/macros.html, `lang`)."""
    if not entry.language:
        return {}
    written = site.direction(entry.language)
    other_way = written != site.direction(built.project.core.language)
    return {"lang": entry.language, **({"dir": written} if other_way else {})}
