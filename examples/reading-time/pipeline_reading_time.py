"""`reading-time`: gives each item that takes a while to read a theme of its own ("long read" unless set), so it
is marked in the email and the feed, and readers find every long read on one theme page with its own feed."""
from math import ceil

from pydantic import Field

from pipeline import hookimpl
from pipeline.components import Settings, Transform


class ReadingTime(Transform):
    name = "reading-time"
    in_workers = True  # needs only run.text_of and its settings: applied a chunk at a time, in workers if worth it

    class Settings(Settings):
        words_per_minute: int = Field(default=200, ge=50)
        minutes: int = Field(default=5, ge=1)  # an item that takes at least this long gets the theme
        theme: str = "long read"

    def apply(self, items, run):
        for item in items:  # the new and changed items of this run
            minutes = ceil(len(run.text_of(item).split()) / self.settings.words_per_minute)
            if minutes >= self.settings.minutes and self.settings.theme not in item.themes:
                item.themes.append(self.settings.theme)


@hookimpl
def register_transforms(register):
    register(ReadingTime)
