"""The item model documented for plugin authors: docs/items.md, generated from pipeline/models.py.

The per-field facts (name, type, required or default, order) are read from the dataclasses themselves
(`dataclasses.fields`, `typing.get_type_hints`), so they cannot drift. What a field means and how the
email, the feed and the site show it is prose, kept here in `DOCS` (one entry per field of every
dataclass in pipeline/models.py): `render` refuses to run while a field has no entry or an entry names
a field that no longer exists, and tests/test_model_docs.py checks that docs/items.md is up to date and
that the "email", "feed" and "site" columns agree with what the sinks really write.

    python -m pipeline.model_docs            # print the Markdown
    python -m pipeline.model_docs --write    # write docs/items.md
    python -m pipeline.model_docs --check    # exit 1 if docs/items.md is out of date

A column that starts with "not shown" means the value appears nowhere in that output.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import dates, item_view, models, sanitize
from pipeline.duplicates import ANNOUNCEMENT_KINDS, RECORD_KINDS
from pipeline.edition import SECTION_TITLES
from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, ProgrammeSlot
from pipeline.site import KIND_FOLDERS
from pipeline.templating import CURRENCY_SYMBOLS

COMMAND = "python -m pipeline.model_docs --write"
DOCS_FILE = Path(__file__).resolve().parent.parent / "docs" / "items.md"
NOT_SHOWN = "Not shown."
COLUMNS = ("meaning", "email", "feed", "site")
_CODE = re.compile(r"(`[^`]*`)")

# Facts about the shipped sinks that the prose quotes. They live in plugins/, which pipeline/ never
# imports; tests/test_model_docs.py checks each against its source.
SINK_FACTS: dict[str, Any] = {
    "EMAIL_IMAGES": 6,  # plugins/sinks/email/view.py
    "FALLBACK_DESCRIPTION_CHARS": 300,  # plugins/sinks/rss/document.py
    "KIND_LABELS": {"post": "Blog post", "news": "Partner news", "job": "Job", "event": "Event"},  # archive/render.py
}


@dataclass(frozen=True)
class Doc:
    """What one field means and how each output shows it.

    `email`: the email as sent (its HTML and its plain-text part). `feed`: the item's `<item>` in the RSS
    feeds (name every element the value lands in). `site`: the `archive` sink's files (the item's page,
    the issue's web version, the lists, the search index, an event's .ics). "not shown" when it is not.
    `qualifier`: what the type alone does not say ("aware", "plain text"). `per_kind`: text added to a
    column in that kind's section only.
    """

    meaning: str
    email: str = NOT_SHOWN
    feed: str = NOT_SHOWN
    site: str = NOT_SHOWN
    qualifier: str = ""
    per_kind: Mapping[Kind, Mapping[str, str]] = field(default_factory=dict)

    def column(self, name: str, kind: Kind | None = None) -> str:
        text = getattr(self, name)
        extra = self.per_kind.get(kind, {}).get(name, "") if kind is not None else ""
        return f"{text} {extra}".strip() if extra else text



# The details field each kind has; the other kinds leave it None.
DETAILS: dict[Kind, str] = {Kind.JOB: "job", Kind.EVENT: "event"}

KIND_DOCS: dict[Kind, str] = {
    Kind.POST: (
        "A post of the network's own blog (the `blog` source). Its page on the site shows it in full; when its "
        "`url` is an address on the site (`<site_url>/blog/<slug>/`), the page is written there."),
    Kind.NEWS: (
        "A partner's news item, usually from a `feed` source (`news` is that source's default kind). Its page "
        "on the site shows what the source gave and links out to the partner's own page."),
    Kind.JOB: (
        "A job advert (the `jobs` source). Give its particulars in `job`: the closing date orders the Jobs "
        "section and takes the job out of issues and feeds once it has passed. `job` is not required: a "
        "`feed` source with `kind = \"job\"` gives none, and such a job has no closing date: it is open in "
        "issues, feeds and on the site for 90 days after the day it was posted (`pipeline/current.py`), and "
        "comes after the jobs with one in the Jobs section, as on the site's list."),
    Kind.EVENT: (
        "A conference, seminar or other event (the `events` source). Give its particulars in `event`: its start "
        "orders the Events section, and the event leaves issues and feeds once it is over. `event` is not "
        "required: a `feed` source with `kind = \"event\"` gives none, and such an event has no date in the "
        "email or the feed and is over 45 days after it was posted (`pipeline/current.py`): until then it stays "
        "in the feed (unless newer items push it out), in the email's Events section after those with a date, "
        "and on the site among the upcoming events (after those with a date), with no calendar file."),
}

DOCS: dict[type, dict[str, Doc]] = {
    Item: {
        "id": Doc(
            qualifier="`item_id(source, key)`",
            meaning=(
                "Stable identity: the same item seen again by the same source, in a later run, must get the same "
                "id, so use `item_id(self.instance, key)` with the key the source knows it by. The state database "
                "keeps one row per id, an id is in at most one issue, and of two items with one id in a run the "
                "first is kept."),
            feed="`<guid isPermaLink=\"false\">` when the item has no `url` (or another item in the feed has the "
                 "same URL).",
            site="The first 8 characters end the address of its page (`<kind folder>/<title slug>-<id[:8]>/`) unless "
                 "`url` is a page of the site; an event's `.ics` has `UID:<id>@<site host>`.",
        ),
        "kind": Doc(
            meaning="What the item is; see [Kinds](#kinds). Use the enum (`Kind.NEWS`), not the string.",
            email="Its section: " + ", ".join(f"{kind.value} in \"{SECTION_TITLES[kind]}\"" for kind in Kind)
                  + ", in that order.",
            feed="Not shown: every kind is in the same feed (an item without `url` links to its page in its "
                 "kind's folder).",
            site="The label on its page (" + ", ".join(f"\"{label}\"" for label in SINK_FACTS["KIND_LABELS"].values())
                 + "), its page's folder (" + ", ".join(f"`{folder}/`" for folder in KIND_FOLDERS.values())
                 + "); jobs and events have lists of their own (`jobs/`, `events/`).",
        ),
        "source": Doc(
            meaning=(
                "The name of the source instance in `pipeline.toml` (`self.instance`); a source whose item names "
                "another source of the project fails, since its ids would take that source's items. "
                "Two items from the same source are never merged as duplicates. Reports and `pipeline explain` "
                "show it."),
            email="Not shown: the byline never names a source. (It names an item merged into a job or event, in "
                  "\"Also announced by\", only when that item has neither `author` nor `url`.)",
            feed=NOT_SHOWN,
            site=NOT_SHOWN,
        ),
        "title": Doc(
            qualifier="plain text, one line",
            meaning="The headline, as plain text: put a source's HTML through `plain_text`. The host folds it "
                    "to one line.",
            email=f"The item's heading (cut to {item_view.TITLE_CHARS} characters), linked to `url`; the text part's "
                  "`* <title>` line.",
            feed="`<title>` (\"(untitled)\" when empty).",
            site="Its page's `<h1>` and `<title>`, its entry in the issue's web version, the lists and the "
                 "search index; the slug in its page's address when it has no page of its own; an event's `.ics` "
                 "SUMMARY.",
        ),
        "published": Doc(
            qualifier="aware",
            meaning=(
                "When the item was published (for a job or event: when it was posted, not when it closes or "
                "happens). Must be timezone-aware (`aware`): a naive one fails the source. It decides which issue "
                "the item is in (the one whose period holds it), and an item dated after a run waits until "
                "then to reach an issue, the feed or the site."),
            email="The byline's date in the project's zone: `Posted 15 January 2016`, or "
                  "`<author> · 15 January 2016`.",
            feed="`<pubDate>` (RFC 822, in GMT); the feed lists items newest first by it.",
            site="The byline's date on its page and in the issue's web version, in the project's zone; the "
                 "month it is listed under (`months/`); the search index's date.",
            per_kind={Kind.POST: {"email": "Posts are listed newest first."},
                      Kind.NEWS: {"email": "News items are listed newest first."}},
        ),
        "url": Doc(
            qualifier="absolute http(s) or mailto URL",
            meaning=(
                "The item's own page (the post, the partner's story, the advert, the event's page). The host "
                "keeps it only if it is an absolute http, https or mailto URL (`safe_url`), else \"\". An issue "
                "never links a page an earlier issue linked: an item whose `url` an earlier issue had is left out."),
            email="The title links to it; the text part prints it under the byline.",
            feed="`<link>` and `<guid isPermaLink=\"true\">` (without it: the item's page on the site, and the "
                 "id as guid); relative links in the body are resolved against it.",
            site="A link out at the end of its page when it is elsewhere; when it is an address on the site, "
                 "the item's page is written there instead.",
            per_kind={Kind.POST: {"site": "The link reads \"Read it on <host>\"."},
                      Kind.NEWS: {"site": "The link reads \"Read the whole story on <host>\"."},
                      Kind.JOB: {"site": "The link reads \"The advert on <host>\"."},
                      Kind.EVENT: {"site": "The link reads \"The event's own page on <host>\"."}},
        ),
        "body_html": Doc(
            qualifier="sanitised HTML",
            meaning=(
                "The whole text, as HTML sanitised by `clean_html` (the host cleans it again unless it is "
                "`clean_html`'s output as it returned it). The transforms read it (themes, summary), and its first "
                "http(s) `<img>` becomes the lead image when `image` is empty."),
            email=f"Never whole: the start of its text (up to {item_view.EXCERPT_CHARS} characters) is the excerpt "
                  "when there is no `summary`.",
            feed="`<content:encoded>`, whole, with every link made absolute; the start of its first paragraph (up "
                 f"to {SINK_FACTS['FALLBACK_DESCRIPTION_CHARS']} characters) is the `<description>` when there is "
                 "no `summary`.",
            site="Its page shows it whole (its headings moved under the page's `<h1>`: the first an `<h2>`, none "
                 "more than a level below the one it comes under, none with nothing to read in it); the start of its "
                 "text stands in for `summary` when there is none (lists, search index, an event's `.ics`).",
        ),
        "summary": Doc(
            qualifier="plain text",
            meaning=(
                "A short summary, as plain text. The `summary` transform writes one from the body unless the "
                "source gave one (its `overwrite` setting). The host removes control characters."),
            email=f"The excerpt under the title, on one line, cut to {item_view.EXCERPT_CHARS} characters.",
            feed="`<description>` (after a job's or event's key facts); in `<content:encoded>` only when there "
                 "is no body.",
            site="The excerpt in the issue's web version, the lists and the search index; its page's meta "
                 "description (on the page itself only when there is no body); an event's `.ics` DESCRIPTION.",
        ),
        "author": Doc(
            qualifier="plain text, one line",
            meaning=(
                "Who wrote it: a person or an organisation. The host folds it to one line. It names the item "
                "when it is merged into a job or event (\"Also announced by <author>\"), and matching duplicates "
                "looks for a job's organisation in it."),
            email=f"The byline, `<author> · <date>` (cut to {item_view.FIELD_CHARS} characters); without it "
                  "`Posted <date>`.",
            feed="`<dc:creator>`.",
            site="The byline on its page and in the issue's web version.",
            per_kind={Kind.POST: {"site": "The lists show it too."}, Kind.NEWS: {"site": "The lists show it too."},
                      Kind.JOB: {"site": "Lists show the organisation instead."},
                      Kind.EVENT: {"site": "Lists show the date and venue instead."}},
        ),
        "image": Doc(
            qualifier="absolute http(s) URL",
            meaning=(
                "The lead image. The host keeps it only if it is an absolute http(s) URL with a host "
                "(`image_url`); when it is empty the host takes the body's first such `<img>` that is not a "
                "1-pixel tracker, with its alt text."),
            email=f"Above the title, 560 px wide, for the first {SINK_FACTS['EMAIL_IMAGES']} items of the email that "
                  "have one.",
            feed="At the top of `<content:encoded>`, unless the body already shows it.",
            site="Above the body on its page, unless the body already shows it; the page's `og:image`. Not in "
                 "the issue's web version or the lists.",
        ),
        "image_alt": Doc(
            qualifier="plain text, one line",
            meaning=(
                "The lead image's alt text; \"\" when unknown (the image is then decorative). The host folds it "
                "to one line, empties it when there is no image, and when it is empty takes the alt text the "
                "body gives the same image."),
            email="The lead image's `alt`.",
            feed="The lead image's `alt`, at the top of `<content:encoded>` (unless the body already shows it).",
            site="The lead image's `alt` on its page.",
        ),
        "language": Doc(
            qualifier="a BCP 47 tag, or \"\"",
            meaning=(
                "The language of the item's title and text (`cy`, `fr-CA`), when the source knows it: the `feed` "
                "source takes the feed's own (RSS `<language>`, Atom `xml:lang`). \"\" when unknown, or the "
                "site's. The host keeps it only in that shape (letters, then parts after hyphens), else \"\"."),
            email="The `lang` of its title, text and lead image, when its language is another than the site's "
                  "(with `dir=\"rtl\"` or `\"ltr\"` when it is written the other way).",
            feed="Not shown.",
            site="The `lang` of the title and text on its page and in the issue's web version, when its language "
                 "is another than the site's (`[pipeline] language`; `en-US` on an `en-GB` site is not), as WCAG "
                 "2.1's 3.1.2 asks; with `dir` when it is written the other way (`he` on an `en-GB` site).",
        ),
        "themes": Doc(
            qualifier="plain text each",
            meaning=(
                "The network's themes the item is about. A source may give some; the `themes` transform adds "
                "those it finds. The host folds each to one line and drops empty ones. A subscriber who follows "
                "themes gets the posts and news carrying one of them (jobs and events whatever their themes: the "
                "email sink's `always_include`, by default)."),
            email=f"Tags at the end of the item (at most {item_view.THEMES_SHOWN}, each cut to {item_view.FIELD_CHARS} "
                  "characters); the text part's `Themes:` line.",
            feed="A `<category>` each; the item is also in each theme's feed (`themes/<slug>/feed.xml`).",
            site="\"Themes:\" links to each theme's page, which lists the item; the search index.",
        ),
        "theme_evidence": Doc(
            meaning=(
                "Why each theme was given (its score, what was needed, the phrases that matched and where), set "
                "by the `themes` transform; a source leaves it empty. JSON values only: it is stored as it is. "
                "`pipeline explain` shows it."),
            email=NOT_SHOWN, feed=NOT_SHOWN, site=NOT_SHOWN,
        ),
        "also_announced": Doc(
            meaning=(
                "Not for sources: when an issue or a feed is made, a news item or post (from another source) "
                "that announces a job or event of the same issue or feed (or, on the site's page of the job or "
                "event, one that a later issue left out because an earlier one sent the job) is shown once, on that "
                "job or event, and listed in its `also_announced` as "
                "`{\"id\", \"source\", \"by\", \"title\", \"url\"}` "
                "(`pipeline/duplicates.py`). The host does not clear what a source puts here."),
            email="`Also announced by <by>: <title>` under the item, linked to its `url`.",
            feed="`Also announced by <by>: <title>` at the end of `<content:encoded>`.",
            site="`Also announced by <by>: <title>` on its page and in the issue's web version.",
        ),
        "job": Doc(
            meaning="A job's particulars; see [JobDetails](#jobdetails). `None` on every other kind: the host "
                    "does not check, but details on another kind are shown, and take it out of issues and feeds "
                    "once they close, while it stays out of the Jobs list.",
            email="See [JobDetails](#jobdetails).",
            feed="See [JobDetails](#jobdetails).",
            site="See [JobDetails](#jobdetails).",
        ),
        "event": Doc(
            meaning="An event's particulars; see [EventDetails](#eventdetails). `None` on every other kind: the "
                    "host does not check, but details on another kind are shown, and take it out of issues and "
                    "feeds once it is over, while it stays out of the Events list.",
            email="See [EventDetails](#eventdetails).",
            feed="See [EventDetails](#eventdetails).",
            site="See [EventDetails](#eventdetails).",
        ),
    },
    JobDetails: {
        "organisation": Doc(
            qualifier="plain text, one line",
            meaning="Who is hiring. A news item or post is taken for an announcement of this job only if it "
                    "names the organisation.",
            email=f"In bold before the location: `<organisation> · <location>` (cut to {item_view.FIELD_CHARS} "
                  "characters).",
            feed="The `<description>`'s key facts, and `Organisation:` in `<content:encoded>`.",
            site="\"Organisation\" on its page and in the issue's web version; its entry in the lists.",
        ),
        "location": Doc(
            qualifier="plain text, one line",
            meaning="Where the job is.",
            email="After the organisation.",
            feed="The `<description>`'s key facts, and `Location:` in `<content:encoded>`.",
            site="\"Where\" on its page and in the issue's web version.",
        ),
        "hours": Doc(
            qualifier="plain text, one line",
            meaning="Working hours: `22.5 hours a week`.",
            email="`<hours> · <contract>` under the organisation.",
            feed="`Hours:` in `<content:encoded>`.",
            site="\"Hours and contract\" on its page and in the issue's web version.",
        ),
        "contract": Doc(
            qualifier="plain text, one line",
            meaning="The kind of contract: `Fixed term, 12 months`.",
            email="`<hours> · <contract>` under the organisation.",
            feed="`Contract:` in `<content:encoded>`.",
            site="\"Hours and contract\" on its page and in the issue's web version.",
        ),
        "salary": Doc(
            qualifier="plain text, one line",
            meaning="As the advert gives it: `£18,000 pro rata`.",
            email="`Salary: <salary>`.",
            feed="`Salary:` in `<content:encoded>`.",
            site="\"Salary\" on its page and in the issue's web version.",
        ),
        "closing_date": Doc(
            qualifier="a day, no time",
            meaning=(
                "The last day to apply. The job is left out of an issue dated (or made) after it, and out of the "
                "feed from the next day. The Jobs section is in closing-date order."),
            email="`Closing date: Sunday 14 February 2016`, highlighted, above the organisation.",
            feed="The `<description>`'s key facts, and `Closing date:` in `<content:encoded>`.",
            site="\"Closing date\" on its page and in the issue's web version; the Jobs list (open jobs, the "
                 "soonest to close first, then closed ones); \"This job closed on …\" on its page once it has. "
                 "Without one, the job is open for 90 days after the day it was posted, on the site as in issues and "
                 "feeds.",
        ),
        "how_to_apply": Doc(
            qualifier="plain text, one line",
            meaning="How to apply, as plain text.",
            email=f"`How to apply: …` after the excerpt (cut to {item_view.HOW_TO_APPLY_CHARS} characters).",
            feed="`How to apply:` in `<content:encoded>`.",
            site="A \"How to apply\" heading on its page until the job has closed, and in the issue's web version.",
        ),
    },
    EventDetails: {
        "start": Doc(
            qualifier="aware",
            meaning=(
                "When it starts; for an all-day event, midnight at the venue (`aware(day, venue zone)`). The "
                "Events section is in start order."),
            email="The highlighted \"when\" line, in the venue's zone: `Tuesday 2 February 2016, 09:30–17:00 GMT`.",
            feed="The `<description>`'s key facts, and `Date:` in `<content:encoded>`.",
            site="\"When\" on its page and in the issue's web version; its entry in the lists (the Events list: "
                 "upcoming ones, the soonest first, then past ones); the `.ics` DTSTART.",
        ),
        "end": Doc(
            qualifier="aware",
            meaning=(
                "When it ends; `None` when the notice does not say. The event is over at its end, or, for an "
                "all-day event or one without an end, at the end of its last day: then it leaves issues, "
                "feeds and the site's \"Coming up\" (`EventDetails.finishes`). An end not after the start counts "
                "for none, as in the calendar."),
            email="In the \"when\" line: `09:30–17:00`; without it, `from 09:30`.",
            feed="The `<description>`'s key facts, and `Date:` in `<content:encoded>`.",
            site="\"When\" on its page and in the issue's web version; the `.ics` DTEND (without an end: the start "
                 "of the programme's last slot, if it has times, else none).",
        ),
        "timezone": Doc(
            qualifier="IANA zone name",
            meaning=(
                "The venue's time zone (`Europe/London`), so times are shown as the venue keeps them; \"\" (or a "
                "name the zone database does not know) means the project's zone."),
            email="The times and the zone's abbreviation in the \"when\" line.",
            feed="The times in the `<description>`'s key facts and in `Date:` in `<content:encoded>`.",
            site="The times in \"When\"; the `.ics` TZID, with its VTIMEZONE.",
        ),
        "all_day": Doc(
            meaning="The notice gives dates but no times: `start` (and `end`) are midnight at the venue on the "
                    "first (and last) day.",
            email="The \"when\" line has dates only: `Tuesday 2 February 2016`, `Tue 2 – Thu 4 February 2016`.",
            feed="Dates only in the `<description>`'s key facts and in `Date:` in `<content:encoded>`.",
            site="Dates only in \"When\"; the `.ics` has dates (`VALUE=DATE`), no times.",
        ),
        "venue": Doc(
            qualifier="plain text, one line",
            meaning="Where it is held.",
            email=f"Under the \"when\" line (cut to {item_view.FIELD_CHARS} characters); the text part's `Where:`.",
            feed="The `<description>`'s key facts, and `Venue:` in `<content:encoded>`.",
            site="\"Venue\" on its page and in the issue's web version; its entry in the lists; the `.ics` "
                 "LOCATION.",
        ),
        "speakers": Doc(
            qualifier="plain text, one line each",
            meaning="Who speaks, a name (and affiliation) each.",
            email=f"`Speakers: <a>, <b>` (cut to {item_view.SPEAKERS_CHARS} characters in all).",
            feed="`Speakers:` in `<content:encoded>`.",
            site="\"Speakers\" on its page and in the issue's web version; the `.ics` DESCRIPTION.",
        ),
        "programme": Doc(
            meaning="The programme, a slot each; see [ProgrammeSlot](#programmeslot).",
            email=f"\"Programme\", a line a slot; a programme of more than {item_view.PROGRAMME_SHORT} slots shows its "
                  f"first {item_view.PROGRAMME_SHOWN} and \"…and N more in the web version\".",
            feed="A \"Programme\" paragraph in `<content:encoded>`, every slot.",
            site="\"Programme\" on its page and in the issue's web version, every slot; the `.ics` DESCRIPTION.",
        ),
        "prices": Doc(
            meaning="What it costs, a tier each; see [PriceTier](#pricetier).",
            email="A line a tier: `<label>: £125 (<note>)`.",
            feed="`Prices:` in `<content:encoded>`.",
            site="\"Prices\" on its page and in the issue's web version; the `.ics` DESCRIPTION.",
        ),
        "booking_url": Doc(
            qualifier="absolute http(s) or mailto URL",
            meaning=(
                "Where to book. The host keeps it only if it is safe (`safe_url`). A news item or post linking "
                "it is taken for an announcement of this event."),
            email="A \"Book a place\" link; the text part's `Book: <url>`.",
            feed="A \"Book a place\" link in `<content:encoded>`.",
            site="\"Book a place\" on its page until the event is over, and in the issue's web version; the `.ics` "
                 "DESCRIPTION.",
        ),
    },
    ProgrammeSlot: {
        "time": Doc(
            qualifier="plain text, one line",
            meaning="As the notice gives it: `10.30`, `10:30`. For an event without an `end`, the latest slot "
                    "time of the form `HH:MM` or `HH.MM` (if after the start) is its `.ics` DTEND.",
            email="The start of the slot's line: `10:30 Opening — <speakers>`.",
            feed="The start of the slot's line in `<content:encoded>`.",
            site="The start of the slot's line on its page and in the issue's web version; the `.ics` "
                 "DESCRIPTION.",
        ),
        "title": Doc(
            qualifier="plain text, one line",
            meaning="What happens in the slot.",
            email="The slot's line, after the time.",
            feed="The slot's line in `<content:encoded>`.",
            site="The slot's line on its page and in the issue's web version; the `.ics` DESCRIPTION.",
        ),
        "speakers": Doc(
            qualifier="plain text, one line each",
            meaning="Who speaks in the slot.",
            email="After ` — ` in the slot's line, separated by semicolons.",
            feed="After ` — ` in the slot's line in `<content:encoded>`.",
            site="After ` — ` in the slot's line on its page and in the issue's web version; the `.ics` "
                 "DESCRIPTION.",
        ),
    },
    PriceTier: {
        "label": Doc(
            qualifier="plain text, one line",
            meaning="Who pays this price: `Students`.",
            email="`<label>: <amount>`.",
            feed="`Prices: <label> <amount>; …` in `<content:encoded>`.",
            site="`<label>: <amount>` under \"Prices\" on its page and in the issue's web version; the `.ics` "
                 "DESCRIPTION.",
        ),
        "amount": Doc(
            meaning="The price, in `currency`; `0` for free.",
            email="Whole amounts without pence: `£125`, `£112.50`.",
            feed="`£125`, `£112.50` in `Prices:` in `<content:encoded>`.",
            site="`£125`, `£112.50` under \"Prices\"; the `.ics` DESCRIPTION.",
        ),
        "currency": Doc(
            qualifier="ISO 4217 code",
            meaning="The amount's currency. Shown as a symbol for "
                    + ", ".join(f"{code} ({symbol})" for code, symbol in CURRENCY_SYMBOLS.items())
                    + "; any other code after the amount: `125 CHF`.",
            email="With the amount.",
            feed="With the amount, in `Prices:` in `<content:encoded>`.",
            site="With the amount under \"Prices\"; the `.ics` DESCRIPTION.",
        ),
        "note": Doc(
            qualifier="plain text, one line",
            meaning="A condition: `limited places`.",
            email="`(<note>)` after the amount.",
            feed="`(<note>)` after the amount in `Prices:` in `<content:encoded>`.",
            site="`(<note>)` after the amount; the `.ics` DESCRIPTION.",
        ),
    },
}


# ---- reading the model -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldFacts:
    """One field as the model defines it."""

    owner: type
    name: str
    type: Any
    required: bool
    default: Any  # the default value (a factory's value), when not required


def model_classes() -> list[type]:
    """Every dataclass defined in pipeline/models.py, in the order the module defines them."""
    return [obj for obj in vars(models).values()
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == models.__name__]


def fields_of(cls: type) -> list[FieldFacts]:
    hints = typing.get_type_hints(cls)
    facts = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            required, default = False, f.default
        elif f.default_factory is not dataclasses.MISSING:
            required, default = False, f.default_factory()
        else:
            required, default = True, None
        facts.append(FieldFacts(cls, f.name, hints[f.name], required, default))
    return facts


def fields_for_kind(kind: Kind) -> list[FieldFacts]:
    """The fields of `Item` an item of `kind` uses: all but the other kinds' details."""
    others = {name for other, name in DETAILS.items() if other is not kind}
    return [f for f in fields_of(Item) if f.name not in others]


def problems() -> list[str]:
    """What `DOCS` and `DETAILS` lack or name wrongly, compared with the model."""
    found = []
    classes = model_classes()
    for cls in classes:
        if cls not in DOCS:
            found.append(f"{cls.__name__}: a dataclass of pipeline/models.py with no entry in DOCS")
    for cls, docs in DOCS.items():
        if cls not in classes:
            found.append(f"{cls.__name__}: in DOCS but not a dataclass of pipeline/models.py")
            continue
        names = [f.name for f in dataclasses.fields(cls)]
        found += [f"{cls.__name__}.{name}: a field with no entry in DOCS" for name in names if name not in docs]
        found += [f"{cls.__name__}.{name}: in DOCS but not a field" for name in docs if name not in names]
        for name, doc in docs.items():
            for kind, columns in doc.per_kind.items():
                found += [f"{cls.__name__}.{name}: per_kind[{kind}] names no column {column!r}"
                          for column in columns if column not in COLUMNS]
    item_fields = {f.name for f in dataclasses.fields(Item)}
    found += [f"DETAILS: Item has no field {name!r}" for name in DETAILS.values() if name not in item_fields]
    return found


# ---- writing Markdown ------------------------------------------------------------------------------

def type_name(tp: Any) -> str:
    """A type as Python spells it: `list[str]`, `dict[str, dict[str, Any]]`, `tuple[str, ...]`."""
    if tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is not None:
        inner = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return tp.__name__


def _documented(tp: Any) -> list[type]:
    """The documented types (`Kind` and the model's dataclasses) a type refers to."""
    if tp is Kind or tp in DOCS:
        return [tp]
    return [found for arg in typing.get_args(tp) for found in _documented(arg)]


def _anchor(cls: type) -> str:
    return "#kinds" if cls is Kind else f"#{cls.__name__.lower()}"


def type_cell(facts: FieldFacts) -> str:
    """`datetime` (aware); `JobDetails` or `None`, linked to its section."""
    tp = facts.type
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        text = " or ".join(type_cell(dataclasses.replace(facts, type=arg)) for arg in typing.get_args(tp))
    elif tp is Kind or tp in DOCS:
        text = f"[`{type_name(tp)}`]({_anchor(tp)})"
    else:
        text = f"`{type_name(tp)}`"
        links = _documented(tp)
        if links:
            text += " (" + ", ".join(f"[{cls.__name__}]({_anchor(cls)})" for cls in links) + ")"
    return text


def default_cell(facts: FieldFacts) -> str:
    if facts.required:
        return "**required**"
    value = facts.default
    return f"`\"{value}\"`" if isinstance(value, str) else f"`{value!r}`"


def _markdown(text: str) -> str:
    """Prose as Markdown: "<host>" outside code spans is escaped, or it would be taken for an HTML tag."""
    parts = _CODE.split(text)
    return "".join(part if part.startswith("`") else part.replace("<", "&lt;") for part in parts)


def _cell(text: str) -> str:
    return _markdown(" ".join(text.split())).replace("|", "\\|")


def table(facts: list[FieldFacts], kind: Kind | None = None) -> list[str]:
    lines = ["| Field | Type | Required or default | Meaning | Email | Feed | Site |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for f in facts:
        doc = DOCS[f.owner][f.name]
        kind_type = type_cell(f) + (f" ({doc.qualifier})" if doc.qualifier else "")
        cells = [f"`{f.name}`", kind_type, default_cell(f), *(doc.column(c, kind) for c in COLUMNS)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _signature(function: Callable) -> str:
    """`name(a: str, b: str = "") -> str`, as the source spells the annotations."""
    sig = inspect.signature(function)
    params = []
    for p in sig.parameters.values():
        text = p.name + (f": {p.annotation}" if p.annotation is not p.empty else "")
        if p.default is not p.empty:
            text += f" = {p.default!r}" if p.annotation is p.empty else f" = {_literal(p.default)}"
        params.append(text)
    returns = f" -> {sig.return_annotation}" if sig.return_annotation is not sig.empty else ""
    return f"{function.__module__}.{function.__name__}({', '.join(params)}){returns}"


def _literal(value: Any) -> str:
    return f"\"{value}\"" if isinstance(value, str) else repr(value)


def _function(function: Callable) -> list[str]:
    doc = " ".join((inspect.getdoc(function) or "").split())
    return [f"- `{_signature(function)}`: {doc}"]


def _intro() -> list[str]:
    tags = ", ".join(f"`{tag}`" for tag in sorted(sanitize.TAGS))
    attributes = "; ".join(f"`{tag}`: " + ", ".join(f"`{a}`" for a in sorted(names))
                           for tag, names in sorted(sanitize.ATTRIBUTES.items()))
    schemes = ", ".join(sorted(sanitize.ALLOWED_SCHEMES))
    return [
        "A source's `fetch(run)` returns or yields `Item`s (`pipeline/models.py`): one dataclass for every kind "
        "of content, with a details dataclass for jobs (`JobDetails`) and events (`EventDetails`). Build them "
        "with keywords; every field not marked **required** has a default. Each kind's section below lists "
        "the fields it uses: its type, whether it is required, what it means, and how the email (as sent, HTML "
        "and text part), the RSS feed (the item's `<item>`) and the site (the `archive` sink: the item's page, "
        "the issue's web version, the lists, the search index, an event's `.ics`) show it. \"Not shown\" means "
        "it appears nowhere in that output.",
        "",
        "## Ids",
        "",
        *_function(models.item_id),
        "",
        "Give the key the source itself knows the item by (a feed entry's guid, a file's slug, a record's id), "
        "never something that changes when the item is edited: a new id is a new item, which a later issue "
        "would carry again. The instance name is part of the id: a source renamed in `pipeline.toml` keeps its ids "
        "only with `renamed_from = \"old-name\"` in its new table, and then the host hands the source a "
        "`self.instance` (a `SourceName`) that makes them under the old name, in a worker process too; so always "
        "pass `self.instance` itself to `item_id`, never a string made from it.",
        "",
        "## Dates and time zones",
        "",
        *_function(dates.aware),
        "",
        "Every `datetime` in an item must be timezone-aware. `aware(value, tz)` makes one: a `date` becomes "
        "midnight in `tz`, a naive `datetime` is taken as wall-clock time in `tz` (not converted), and an "
        "aware one is returned unchanged. Pass the project's zone (`self.project.tz`, from `[pipeline] "
        "timezone`) for `published`, and the venue's zone for an event's `start` and `end` (then set "
        "`EventDetails.timezone` to it). Bylines, issue periods and closing dates are read in the project's "
        "zone; an event's times are shown in its venue's. `JobDetails.closing_date` is a `date`, not a "
        "`datetime`.",
        "",
        "## HTML, text and links",
        "",
        *_function(sanitize.clean_html),
        *_function(sanitize.plain_text),
        *_function(sanitize.safe_url),
        *_function(sanitize.image_url),
        "",
        f"`clean_html` keeps only these tags: {tags}; these attributes: {attributes}; and links with the "
        f"schemes {schemes}. `<script>` and `<style>` go with their content, and links get "
        "`rel=\"noopener noreferrer\"`. Pass the page's address as `base_url` so relative links and images "
        "are kept (made absolute); without it they are dropped. Only `body_html` holds HTML: every other "
        "text field is plain text, which every output escapes itself.",
        "",
        "## What the host does with each item",
        "",
        "Before anything else sees an item, the host (`host_checked` in `pipeline/item_checks.py`) makes sure, "
        "whatever the source did, that:",
        "",
        "- `title`, `author`, `image_alt`, each theme and every text field of `job`, `event`, its programme "
        "slots and price tiers are on one line with no control characters (empty themes are dropped); "
        "`summary` has no control characters;",
        "- `body_html` is put through `clean_html`, unless it is `clean_html`'s own output as it returned it (a "
        "`pipeline.sanitize.Clean`: any change to that gives a plain `str`, which is cleaned);",
        "- `url` and `event.booking_url` are safe (`safe_url`: absolute http, https or mailto, else \"\");",
        "- `image` is an absolute http(s) URL (`image_url`), else the body's first image; `image_alt` is "
        "\"\" without an image, and taken from the body when the source gave none.",
        "",
        "It skips the item, on a line naming the source, the item and what to fix (the source's other items are "
        "saved; a source none of whose items it can take fails), for what it cannot mend: something that is not "
        "an `Item`, an `id` that is empty or not text, a text field (`title`, `url`, ...) that is not text "
        "(`None` is taken as empty), a `kind` that is not one of `Kind`'s values (`\"news\"` is taken as "
        "`Kind.NEWS`), a `published`, `event.start` or `event.end` that is not a timezone-aware datetime (a bare "
        "date too) or is past the year 9999 in UTC, a `job.closing_date` that is not a day (a datetime; a string "
        "is taken only in ISO form, "
        "`2016-04-20`), a value that is not JSON; it fails the source for a `source` naming another source of the "
        "project (or, for a `complete` source, not its own name). An item a transform leaves unfit to save is "
        "saved as its source gave it, and the transforms fail. "
        "It does not check the rest: that a job has `job` details (or only a job has them), or that "
        "`theme_evidence` and `also_announced` are empty.",
        "",
        "After the transforms, it checks again what they changed, in the same way: the themes and the summary as "
        "above, and an item with any other checked field set anew (or with `job` or `event` details, which may have "
        "been changed in place) whole, its `body_html` put through `clean_html` again if a transform set it (and as "
        "soon as that transform returns, so the transforms after it read sanitised HTML too). So a "
        "transform that copies HTML from elsewhere into `body_html`, or sets a `javascript:` link, cannot put a "
        "script on the site. A text field of a `str` subclass counts as set anew, whatever its comparison says, "
        "and is taken as its text (so for a source's too). A field it cannot mend (a title that is not text) leaves "
        "the item unfit to save: it is saved as its source gave it, and the transforms fail.",
        "",
    ]


def _kinds() -> list[str]:
    roles = {**{k: "record (takes announcements)" for k in RECORD_KINDS},
             **{k: "announcement (may be merged into a job or event)" for k in ANNOUNCEMENT_KINDS}}
    lines = ["## Kinds", "",
             "`Kind` is a string enum; the newsletter has one section per kind, in this order.", "",
             "| Kind | Value | Section in the email | Label and folder on the site | Details | Duplicates |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind in Kind:
        details = f"`{DETAILS[kind]}`" if kind in DETAILS else "none"
        label = f"\"{SINK_FACTS['KIND_LABELS'][kind.value]}\", `{KIND_FOLDERS[kind]}/`"
        lines.append(f"| [`Kind.{kind.name}`](#kind-{kind.value}) | `\"{kind.value}\"` | "
                     f"\"{SECTION_TITLES[kind]}\" | {label} | {details} | {roles.get(kind, '')} |")
    return [*lines, ""]


def _kind_section(kind: Kind) -> list[str]:
    facts = fields_for_kind(kind)
    required = ", ".join(f"`{f.name}`" for f in facts if f.required)
    others = [name for other, name in DETAILS.items() if other is not kind]
    lines = [f"## Kind: {kind.value}", "", _markdown(KIND_DOCS[kind]), "",
             f"Required: {required}, with `kind=Kind.{kind.name}`."]
    if others:
        lines[-1] += " Leave " + " and ".join(f"`{name}`" for name in others) + " as `None`."
    return [*lines, "", *table(facts, kind), ""]


def _details_section(cls: type) -> list[str]:
    doc = " ".join((inspect.getdoc(cls) or "").split())
    generated = doc.startswith(f"{cls.__name__}(")  # a dataclass without a docstring gets its signature
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    users = [f"`{owner.__name__}.{f.name}`" for owner in DOCS for f in fields_of(owner) if cls in _documented(f.type)]
    intro = []
    if doc and not generated:
        intro.append(doc)
    intro.append("Used by " + ", ".join(users) + "." if users else "")
    if frozen:
        intro.append("Frozen: build a new one rather than changing it.")
    for name, value in vars(cls).items():
        if isinstance(value, property):
            intro.append(f"`{name}` (a property): " + " ".join((inspect.getdoc(value) or "").split()))
    return [f"## {cls.__name__}", "", " ".join(filter(None, intro)), "", *table(fields_of(cls)), ""]


def render() -> str:
    """docs/items.md, as it should be."""
    found = problems()
    if found:
        raise ValueError("pipeline/model_docs.py does not match pipeline/models.py:\n" + "\n".join(found))
    lines = [
        f"<!-- Generated from pipeline/models.py and pipeline/model_docs.py by `{COMMAND}`; do not edit. -->",
        "",
        "# Items: the data model for plugin authors",
        "",
        f"> Generated from `pipeline/models.py` (names, types, defaults) and `pipeline/model_docs.py` (what "
        f"each field means and how it is shown) by `{COMMAND}`. Do not edit this file: change those and run "
        "the command again (`tests/test_model_docs.py` fails while it is out of date).",
        "",
        *_intro(),
        *_kinds(),
    ]
    for kind in Kind:
        lines += _kind_section(kind)
    for cls in DOCS:
        if cls is not Item:
            lines += _details_section(cls)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args == ["--write"]:
        DOCS_FILE.parent.mkdir(parents=True, exist_ok=True)
        DOCS_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {DOCS_FILE}", file=sys.stderr)
        return 0
    if args == ["--check"]:
        current = DOCS_FILE.read_text(encoding="utf-8") if DOCS_FILE.exists() else ""
        if current != text:
            print(f"{DOCS_FILE} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if args:
        print("usage: python -m pipeline.model_docs [--write | --check]", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
