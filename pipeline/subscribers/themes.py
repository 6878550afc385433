"""The themes a subscriber can follow: those of the project's `themes` transforms, in taxonomy order."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pipeline.config import Project

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


def always_sent(project: Project) -> list[str]:
    """What every subscriber gets whatever their themes ("jobs", "events"), from the email sinks' `always_include`."""
    kinds: dict[str, None] = {}
    for sink in project.sinks:
        for kind in getattr(sink.settings, "always_include", None) or []:
            kinds[KIND_WORDS.get(getattr(kind, "value", str(kind)), str(kind))] = None
    return list(kinds)
