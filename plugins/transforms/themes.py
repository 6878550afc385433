"""`themes`: tags items with the network's themes, from a taxonomy kept in pipeline.toml.

Each theme lists phrases; a phrase matches whole words, case-insensitively, with spaces and
hyphens interchangeable ("peer support" finds "peer-support"), and a trailing `*` matches any
ending ("co-produc*" finds co-production, co-produced, coproducing).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from pipeline import hookimpl
from pipeline.components import Settings, Transform
from pipeline.models import Item
from pipeline.run_context import RunContext


def phrase_pattern(phrase: str) -> str:
    stem = phrase.endswith("*")
    words = re.split(r"[\s\-]+", phrase.rstrip("*").strip())
    body = r"[\s\-]?".join(re.escape(w) for w in words if w)
    return rf"\b{body}\w*" if stem else rf"\b{body}\b"


class ThemesTransform(Transform):
    name = "themes"
    description = "Tags items with themes from a taxonomy of phrases"

    class Settings(Settings):
        taxonomy: dict[str, list[str]] = Field(min_length=1)
        min_matches: int = Field(default=1, ge=1)  # phrase hits needed before a theme is given

        @field_validator("taxonomy")
        @classmethod
        def _phrases(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
            for theme, phrases in value.items():
                if not phrases or not all(isinstance(p, str) and p.strip("* ") for p in phrases):
                    raise ValueError(f"theme {theme!r} needs a list of non-empty phrases")
            return value

    def __init__(self, *args):
        super().__init__(*args)
        # Text is lower-cased once per item; cheaper than IGNORECASE in every pattern.
        self.patterns = {
            theme: re.compile("|".join(phrase_pattern(p.lower()) for p in phrases))
            for theme, phrases in self.settings.taxonomy.items()
        }

    def themes_of(self, text: str) -> list[str]:
        text = text.lower()
        need = self.settings.min_matches
        return [theme for theme, pattern in self.patterns.items()
                if (len(pattern.findall(text)) >= need if need > 1 else pattern.search(text))]

    def apply(self, items: list[Item], run: RunContext) -> None:
        for item in items:
            found = self.themes_of(f"{item.title}\n{run.text_of(item)}")
            item.themes = list(dict.fromkeys([*item.themes, *found]))


@hookimpl
def register_transforms(register):
    register(ThemesTransform)
