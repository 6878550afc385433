"""What the host makes sure of in every item, whatever a plugin did: first as each source gives it, then again for what
the transforms changed.

A source's items are checked whole (`host_checked`). After the transforms, only what they changed is checked again
(`as_found` before them, `checked_again` after): the built-in transforms set only the themes and the summary, and
cleaning every body a second time would cost as much as the summary transform. A body, link, title or image a
third-party transform set is checked as a source's would be, so a transform that copies HTML from elsewhere into
`body_html` cannot put a script on the site, which shows the stored body as it is. Such a body is cleaned as soon as
the transform returns (`bodies_cleaned`), so the transforms after it read sanitised HTML too.
"""

from __future__ import annotations

import dataclasses
import operator

from pipeline.models import Item, Kind, check_dates
from pipeline.sanitize import (
    Clean,
    clean_html,
    first_image,
    image_url,
    language_tag,
    one_line,
    safe_url,
    strip_controls,
)

TEXT_FIELDS = ("title", "url", "body_html", "summary", "author", "image", "image_alt", "language")
# What `checked_again` compares (equal: the same object, or a copy `undoing` put back after a transform failed),
# besides the themes and the summary, which the built-in transforms set: any of these changed, the item is checked
# whole again.
_WATCHED = ("title", "url", "body_html", "author", "image", "image_alt", "language", "kind")
_watched = operator.attrgetter(*_WATCHED)
_BODY = _WATCHED.index("body_html")
# Their types as the check leaves them. A value of another (a str subclass) counts as changed, whatever it says when
# compared: its own __eq__ could call a script the very body that was there.
_TYPES = tuple(Kind if name == "kind" else str for name in _WATCHED)
AsFound = dict[str, tuple[tuple, object]]


def as_found(items: list[Item]) -> AsFound:
    """What `checked_again` needs of `items` before the transforms change them, by item id."""
    return {item.id: (_watched(item), tuple(item.themes) if isinstance(item.themes, list) else item.themes)
            for item in items}


def checked_again(item: Item, found: AsFound) -> None:
    """Check again what the transforms changed in `item` since `as_found`: the themes and the summary as a source's
    are checked; anything else changed (or an item not found before, or one with job or event details, which may
    have been changed in place), the whole item, its body cleaned again if that changed. TypeError or ValueError
    saying what is wrong, as `host_checked`."""
    before = found.get(item.id) if isinstance(item.id, str) else None
    if before is None:
        host_checked(item)
        return
    watched, themes = before
    now = _watched(item)
    if item.job is not None or item.event is not None or now != watched or tuple(map(type, now)) != _TYPES:
        # the body compared as text (str's own comparison), not as its type would have it
        host_checked(item, clean=str.__eq__(watched[_BODY], item.body_html) is not True)
        return
    given = item.themes
    if not isinstance(given, list | set | frozenset) or isinstance(given, list) and tuple(given) != themes:
        item.themes = _themes(given)  # a name, a tuple; (a set, whose order is no one's, is left to be refused)
    if item.summary is None or isinstance(item.summary, str):
        item.summary = strip_controls(item.summary or "")
    else:
        raise TypeError(f"summary {item.summary!r} is {type(item.summary).__name__}, not text; give a str")


def bodies_cleaned(items: list, before: list) -> None:
    """After one transform, before the next: each `body_html` it set (not the very object `before` holds for that
    place) put through `clean_html`, unless it is `clean_html`'s output, so that every transform reads sanitised HTML
    (`run.text_of` and the summary's reading of paragraphs take it so: a partner's raw page would have its scripts
    read as text). A body that is not text is left for `checked_again` to refuse."""
    for item, body in zip(items, before, strict=False):
        now = getattr(item, "body_html", None)
        if now is not body and isinstance(now, str) and type(now) is not Clean:
            item.body_html = clean_html(now)


def _themes(given) -> list[str]:
    themes = [given] if isinstance(given, str) else given or []  # one name, not one per letter
    return [theme for theme in map(one_line, themes) if theme]


def host_checked(item: Item, clean: bool = True) -> Item:
    """The host's own guarantee, whatever a third-party source did: safe HTML (the body cleaned when `clean`, unless
    it is `clean_html`'s own output, a `Clean`) and URLs, a lead image that is an absolute http(s) URL (else the
    body's first), and text fields on one line with no control characters. TypeError (or ValueError) saying what
    to fix for an item it cannot take as it is."""
    if not isinstance(item, Item):
        raise TypeError(f"fetch() gave a {type(item).__name__}, not Item; yield pipeline.models.Item(...)")
    clean = clean and type(item.body_html) is not Clean  # (made plain text below, with every other str subclass)
    if not isinstance(item.id, str) or not item.id.strip():
        what = "empty" if isinstance(item.id, str) else f"{type(item.id).__name__}, not text"
        raise TypeError(f"id {item.id!r} is {what}; give id=item_id(self.instance, key)")
    for name in TEXT_FIELDS:
        value = getattr(item, name)
        if value is None:  # no text, as a CSV's empty column gives it
            setattr(item, name, "")
        elif not isinstance(value, str):
            raise TypeError(f"{name} {value!r} is {type(value).__name__}, not text; give a str")
        elif type(value) is not str:  # a subclass: its text, so none of its methods has a say in what is checked
            setattr(item, name, str.__str__(value))
    if not isinstance(item.kind, Kind):
        try:
            item.kind = Kind(item.kind)
        except ValueError:
            raise TypeError(f"item {item.id!r}: kind {item.kind!r} is not one of "
                            f"{', '.join(k.value for k in Kind)}; use pipeline.models.Kind") from None
    check_dates(item)  # saved as it came, a time with no zone would stop every later run's issue
    item.title = one_line(item.title)
    item.author = one_line(item.author)
    item.summary = strip_controls(item.summary or "")  # None, as a CSV's empty column gives it, is no summary
    item.themes = _themes(item.themes)
    if clean:  # a body clean_html made (the built-in sources') is not cleaned twice
        item.body_html = str.__str__(clean_html(item.body_html))
    item.url = safe_url(item.url)
    item.image = image_url(item.image)
    item.image_alt = one_line(item.image_alt) if item.image else ""
    item.language = language_tag(item.language)
    if not item.image:  # the source named none (or none that is safe): the body's first image
        item.image, item.image_alt = first_image(item.body_html)
    elif not item.image_alt:  # the body may show the same image, with its alt text
        item.image_alt = first_image(item.body_html, item.image)[1]
    if item.job:
        item.job = _one_line_fields(item.job)
    if item.event:
        event = _one_line_fields(item.event)
        event.booking_url = safe_url(event.booking_url)
        event.speakers = [one_line(s) for s in event.speakers]
        event.programme = [_one_line_fields(slot, speakers=tuple(map(one_line, slot.speakers)))
                           for slot in event.programme]
        event.prices = [_one_line_fields(price) for price in event.prices]
        item.event = event
    return item


def _one_line_fields(details, **changes):
    """A copy of a details dataclass with every text field on one line."""
    text = {f.name: one_line(getattr(details, f.name)) for f in dataclasses.fields(details)
            if isinstance(getattr(details, f.name), str)}
    return dataclasses.replace(details, **text, **changes)
