"""What only the email shows: a header-safe subject line, and sections cut to a few items each.

The per-item view the email shares with the site (ItemView, JobView, EventView…) is
`pipeline/item_view.py`, below both sinks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pipeline.edition import SECTION_TITLES, Edition
from pipeline.item_view import ChangeView, ItemView, change_view, intro, item_view, shorten
from pipeline.models import Item, Kind
from pipeline.sanitize import one_line

__all__ = ["EMAIL_IMAGES", "SUBJECT_CHARS", "SectionView", "changes", "intro", "sections", "subject_line"]

SUBJECT_CHARS = 200
EMAIL_IMAGES = 6  # lead images shown in an email, the first items' (each is a request when the email is opened)


@dataclass
class SectionView:
    kind: str
    title: str
    items: list[ItemView]
    more: int = 0  # items left out of the email, shown in the web version
    more_url: str = ""  # the page of the web version where they are, at the section; "" without one

    @property
    def more_line(self) -> str:
        """'…and 12 more in the web version' under a section cut short; '' when nothing was cut."""
        if not self.more:
            return ""
        if self.items:
            return f"…and {self.more} more in the web version"
        return f"{self.more} {'item' if self.more == 1 else 'items'} in the web version"


def subject_line(title: str) -> str:
    """A header-safe subject: one line, no control characters, not absurdly long."""
    return shorten(one_line(title), SUBJECT_CHARS)


def sections(edition: Edition, tz: ZoneInfo, limit: int | None = None,
             calendar_url: Callable[[Item], str] = lambda item: "",
             url: Callable[[Item], str] = lambda item: item.url, *, cut: bool | None = None,
             also_url: Callable[[dict[str, str]], str] | None = None,
             language: Callable[[Item], str] = lambda item: "",
             web_page: Callable[[Item], str] = lambda item: "") -> list[SectionView]:
    """Non-empty sections in newsletter order (posts, news, jobs, events).

    With a `limit`, each shows its first `limit` items; without, every item. `cut` (the email; by
    default, when there is a `limit`): long fields and programmes are cut, and only the first
    `EMAIL_IMAGES` items with a lead image show it. `calendar_url(item)`: an event's .ics, or "";
    `url(item)`: where its title links; `also_url(entry)`: where an announcement merged into it links;
    `language(item)`: its language when another than the site's ("" otherwise), for the `lang` of its title and text;
    `web_page(item)`: the page of the issue's web version that shows it ("" without one), which a section cut short
    links for the rest (at the section: `#post`...), and an event whose programme is cut short for the whole of it.
    """
    cut = limit is not None if cut is None else cut
    views = []
    for kind in Kind:
        items = edition.sections.get(kind) or []
        if items:
            shown = items if limit is None else items[:limit]
            shown_views = [item_view(i, tz, whole=not cut, calendar_url=calendar_url(i), url=url(i), also_url=also_url,
                                     language=language(i)) for i in shown]
            for item, shown_view in zip(shown, shown_views, strict=True):
                if shown_view.event is not None and shown_view.event.programme_more:
                    shown_view.event.more_url = web_page(item)
            rest = items[len(shown)] if len(items) > len(shown) else None
            page = web_page(rest) if rest is not None else ""
            views.append(SectionView(kind.value, SECTION_TITLES[kind], shown_views, len(items) - len(shown),
                                     f"{page}#{kind.value}" if page else ""))
    if cut:
        with_images = [view for section in views for view in section.items if view.image]
        for view in with_images[EMAIL_IMAGES:]:
            view.image = ""
    return views


def changes(edition: Edition, tz: ZoneInfo, url: Callable[[Item], str] = lambda item: item.url, *,
            whole: bool = False, language: Callable[[Item], str] = lambda item: "") -> list[ChangeView]:
    """The jobs and events earlier issues sent that changed since, each with what changed (`pipeline/changes.py`);
    none whose change shows nothing (a zone named differently, the same times)."""
    views = [change_view(change, tz, whole=whole, url=url(change.item), language=language(change.item))
             for change in edition.changes]
    return [view for view in views if view.what]
