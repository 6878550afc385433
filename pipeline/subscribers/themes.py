"""The themes a subscriber can follow: those of the project's `themes` transforms, in taxonomy order."""

from __future__ import annotations

from pipeline.config import Project

KIND_WORDS = {"post": "blog posts", "news": "news", "job": "jobs", "event": "events"}


def taxonomy_themes(project: Project) -> list[str]:
    found: dict[str, None] = {}
    for transform in project.transforms:
        if transform.name == "themes":
            found.update(dict.fromkeys(transform.settings.taxonomy))
    return list(found)


def always_sent(project: Project) -> list[str]:
    """What every subscriber gets whatever their themes ("jobs", "events"), from the email sinks' `always_include`."""
    kinds: dict[str, None] = {}
    for sink in project.sinks:
        for kind in getattr(sink.settings, "always_include", None) or []:
            kinds[KIND_WORDS.get(getattr(kind, "value", str(kind)), str(kind))] = None
    return list(kinds)
