"""The themes a subscriber can follow: those of the project's `themes` transforms, in taxonomy order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from pipeline.config import Project

if TYPE_CHECKING:
    from pipeline.state import Store

KIND_WORDS = {"post": "blog posts", "news": "news", "job": "jobs", "event": "events"}


def taxonomy_themes(project: Project) -> list[str]:
    found: dict[str, None] = {}
    for transform in project.transforms:
        if transform.name == "themes":
            found.update(dict.fromkeys(transform.settings.taxonomy))
    return list(found)


def spelling(known: Iterable[str]) -> Callable[[str], str | None]:
    """A theme -> its spelling in the taxonomy `known`, or None for one that is not a theme of it: spellings that
    differ only in case or accents are one theme, as on the site's theme pages ("Peer Support" is "peer
    support")."""
    from pipeline.site import theme_path

    spelt = {theme_path(theme): theme for theme in known}
    return lambda theme: spelt.get(theme_path(theme))


def choice_now(chosen: Iterable[str], known: Collection[str], moved: Mapping[str, str],
               ) -> tuple[frozenset[str], list[str]]:
    """What a subscriber's `chosen` themes count as now, in the spelling of the taxonomy `known`, and those of them
    that lead nowhere. A theme the taxonomy renamed counts as the theme it became (`site.theme_left_for`, `moved`
    from `site.moved_themes`: known once items it carried are tagged again), as its page and feed lead there; one
    taken out is dropped, and a choice left with none counts as every theme, not as an issue with nothing in it for
    ever (the preferences page says so). Without a taxonomy (`known` empty) a choice counts as it is."""
    if not known:
        return frozenset(chosen), []
    from pipeline.site import theme_left_for, theme_path

    spell, live = spelling(known), {theme_path(theme) for theme in known}
    now: set[str] = set()
    gone = []
    for theme in sorted(chosen):
        found = spell(theme)
        if found is None and (became := theme_left_for(theme_path(theme), live, moved)) is not None:
            found = spell(became)
        if found is None:
            gone.append(theme)
        else:
            now.add(found)
    return frozenset(now), gone


def following(project: Project, store: Store) -> Callable[[frozenset[str]], frozenset[str]]:
    """A subscriber's stored choice of themes -> what it counts as at send time (`choice_now`), for one send."""
    from pipeline.site import moved_themes

    known, moved = taxonomy_themes(project), moved_themes(store)
    return lambda chosen: choice_now(chosen, known, moved)[0]


def always_sent(project: Project) -> list[str]:
    """What every subscriber gets whatever their themes ("jobs", "events"), from the email sinks' `always_include`."""
    kinds: dict[str, None] = {}
    for sink in project.sinks:
        for kind in getattr(sink.settings, "always_include", None) or []:
            kinds[KIND_WORDS.get(getattr(kind, "value", str(kind)), str(kind))] = None
    return list(kinds)
