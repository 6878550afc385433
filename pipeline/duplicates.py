"""The same job or event once: a news item or blog post that announces a job advert or an event
from another source is shown on that record ("Also announced by …"), not on its own.

`merge_duplicates(items)` is a pure function. The edition uses it when it chooses an issue's items
(and again whenever a stored issue is re-rendered), the `rss` sink when it chooses the feed's (out of
its newest 2 × `limit` items). The
merged-away item's id stays in the issue's stored item list, so no later issue brings it back.

**The rule.** A *record* (a `job` or `event` item) and an *announcement* (a `news` or `post` item)
are the same thing when all of these hold:

1. they come from different sources;
2. the announcement was published no later than the record's own date: a job's closing date, the
   last day of an event (what is published later is a report, not an announcement);
3. for a job that names its organisation, the announcement names it too, as whole words, in its
   author, source name, link's host, title or text ("Open Dialogue UK", `open-dialogue-uk`,
   `opendialogue-uk.example.org`);
4. their titles share enough *significant words* (three letters or more, lower-cased, plurals
   folded, hyphens dropped: "co-production" is "coproduction"): the record's title words without stop words,
   words that only say what kind of thing it is (job, hiring, vacancy, conference, seminar…),
   numbers, and, for a job, the words of its organisation and location (every job of an
   organisation in one place shares those). With t such words, at least max(min(2, t), ⌈t/2⌉)
   must be in the announcement's title; a record left with no such word matches nothing;
5. something ties them beyond words: the announcement mentions the record's date (a job's
   closing date; any day of an event, in the venue's time zone; for a record without details,
   such as a `feed` of kind `job`, a date the record's own text mentions) in any usual form
   ("14 February 2016", "Sunday 14th Feb", "February 14", "14/02/2016", "2016-02-14"), or it
   links to the record's page or booking page.

An announcement of a record that is not among the items (an earlier issue sent it, or it has closed or is over)
is found by `announced_elsewhere`, and the edition leaves it out: the same thing, once, across issues too; but
only one whose title is about the record alone (`about_alone`), not a roundup naming it among other news. The site
shows it on that record, as an issue shows one merged (`announces_elsewhere`, over the news no issue sent, read whole
only for the few pairs `may_announce` finds from titles and dates,
by the step `merge_duplicates` takes first: `titles_pair`).

Two announcements of different sources that link one page (two partner feeds passing on the same news) are one:
`one_per_page` keeps the earliest, and the edition and the feed show only that one; once an issue has sent one,
that one is kept, whatever an edit does to the dates later (`copies_of_stored`, `shown_in_issues`).

An announcement that matches several records goes to the best match (a link, then more shared
words, then a larger share of the record's words); a tie leaves it on its own. A record can take
any number of announcements. Two records, or two announcements, are never merged here. Items that only
share a topic fail rule 4 or 5 and stay separate.

**Speed.** Only records are compared with announcements, across sources. Announcements are indexed
by title word; a record looks up only its rarest words (an announcement sharing at least k of the
record's t words must hold one of its t − k + 1 rarest), and dates, links and organisation names
are read only for the few candidates left. A 10,000-item issue takes well under a second.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property, lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit

from pipeline.models import Item, Kind, zone_named
from pipeline.sanitize import html_to_text

RECORD_KINDS = frozenset({Kind.JOB, Kind.EVENT})
ANNOUNCEMENT_KINDS = frozenset({Kind.NEWS, Kind.POST})
_ANNOUNCEMENT_VALUES = frozenset(kind.value for kind in ANNOUNCEMENT_KINDS)
MAX_EVENT_DAYS = 31  # the days of a longer event are not all taken as its dates

STOP_WORDS = frozenset("""
    a about after again all also am an and any are around as at be been before being but by can come
    do does during for from get got has have her here his how if in into is it its just let like make
    many me more most much my near new next no not now of off on one only or our out over own per please
    see so some such than that the their them then there these they this those through to today too
    two under until up upon us very via was we well were what when where which while who whom whose
    why will with within would yet you your
""".split())
# Words that say what kind of thing an item is, or that it is being announced, not which one it is.
GENERIC_WORDS = frozenset("""
    advert advertised advertising announce announced announcement announcing apply applicant applying
    application book booking call career chance closing conference congress date deadline event
    hire hired hiring invitation invite invited job last latest launch looking meeting news
    opportunity place position post posting recruit recruiting recruitment register registration
    reminder role save seeking seminar session start summit symposium talk ticket update vacancy
    wanted webinar week welcome workshop
""".split())

_LEFT_OUT = STOP_WORDS | GENERIC_WORDS
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_TOKEN = re.compile(r"[^\W_]+")
_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.I)
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH}\b\.?(?:,?\s+(\d{{4}})\b)?", re.I)
_MONTH_DAY = re.compile(rf"\b{_MONTH}\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?", re.I)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b")  # day first, as in en-GB
_MONTHS = {name: n for n, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")], 1) for name in names}

Mention = tuple[int | None, int, int]  # (year or None, month, day) as a text writes a date


@dataclass(frozen=True)
class Verdict:
    """Whether a record and an announcement are the same thing, and why (or why not)."""

    same: bool
    reason: str
    score: tuple[int, int, float] = (0, 0, 0.0)  # (links to the record, shared title words, their share)


@dataclass
class Merged:
    """What `merge_duplicates` decided."""

    items: list[Item]  # what to show, in the order given; a record that took announcements is a copy
    merged: list[Item] = field(default_factory=list)  # the announcements shown on a record instead
    into: dict[str, str] = field(default_factory=dict)  # merged-away id -> the id of the record showing it


def merge_duplicates(items: Sequence[Item]) -> Merged:
    """`items` with each announcement of a record (see the module's rule) moved onto that record.

    Pure: the items given are not changed. A record that takes announcements is returned as a copy
    whose `also_announced` lists them (after any it already had), oldest first.
    """
    records = [Profile(i) for i in items if i.kind in RECORD_KINDS]
    announcements = [Profile(i) for i in items if i.kind in ANNOUNCEMENT_KINDS]
    if not records or not announcements:
        return Merged(list(items))
    best: dict[int, tuple[tuple[int, int, float], list[int]]] = {}  # announcement -> (score, records)
    for r, n in titles_pair([(p.record_words, p.item.source) for p in records],
                            [(p.title_words, p.item.source) for p in announcements]):
        record, announcement = records[r], announcements[n]
        verdict = judge(record, announcement)
        if not verdict.same:
            continue
        score, holders = best.get(n, (verdict.score, []))
        if verdict.score > score:
            best[n] = (verdict.score, [r])
        elif verdict.score == score:
            best[n] = (score, [*holders, r])
    taken: dict[int, list[Item]] = {}
    into: dict[str, str] = {}
    for n, (_, holders) in best.items():
        if len(holders) == 1:  # a tie between two records: ambiguous, so shown on its own
            item, record = announcements[n].item, records[holders[0]].item
            taken.setdefault(holders[0], []).append(item)
            into[item.id] = record.id
    by_id = {}
    for r, found in taken.items():
        record = records[r].item
        known = {entry.get("id") for entry in record.also_announced}
        entries = [also_entry(i) for i in sorted(found, key=lambda i: (i.published, i.id)) if i.id not in known]
        by_id[record.id] = dataclasses.replace(record, also_announced=[*record.also_announced, *entries])
    shown = [by_id.get(item.id, item) for item in items if item.id not in into]
    return Merged(shown, [item for item in items if item.id in into], into)


def titles_pair(records: Sequence[tuple[frozenset[str], str]],
                announcements: Sequence[tuple[frozenset[str], str]]) -> Iterable[tuple[int, int]]:
    """Rules 1 and 4: of records (their `Profile.record_words`, source) and announcements (their title's significant
    words, source), each (record's index, announcement's index) of two sources whose titles share enough words,
    found through an index of the announcements' words probed with each record's rarest."""
    postings: dict[str, list[int]] = {}
    for n, (words, _) in enumerate(announcements):
        for word in words:
            postings.setdefault(word, []).append(n)
    for r, (words, source) in enumerate(records):
        need = required_words(len(words))
        if not need:
            continue
        rarest = sorted(words, key=lambda w: (len(postings.get(w, ())), w))[:len(words) - need + 1]
        for n in sorted({n for w in rarest for n in postings.get(w, ())}):
            title_words, by = announcements[n]
            if len(words & title_words) >= need and by != source:
                yield r, n


def one_per_page(items: Sequence[Item], sent: Collection[str] = frozenset()) -> tuple[list[Item], list[Item]]:
    """`items` without each news item or blog post that links the page one of another source links (`page_key`: two
    partner feeds passing on the same news, each entry linking its page): (kept, left out), each in the order given.
    Of those, one an issue sent (`sent`: ids) is kept, else the earliest published (then the lowest id), whatever
    the order given, so the email, its web version, the site's lists and the feed keep the same one. Two of one
    source are both kept (a post republished under its address: "The site"), and jobs and events are left as they
    are (`merge_duplicates` is their rule)."""
    out = copies_of_one_page((item.id, announced_page(item), item.source, (item.id not in sent, item.published,
                                                                           item.id)) for item in items)
    return [i for i in items if i.id not in out], [i for i in items if i.id in out]


def copies_of_stored(entries: Iterable[tuple[str, str, str]]) -> set[str]:
    """Of one stored issue's items, (id, page as `announced_page` gives it, source) in the order stored (those shown
    first, the copies `one_per_page` left out last), the ids of the copies it left out: each of a page one of another
    source stored before it links. So the issue re-made, its web version, the feeds and the site keep the copy it
    sent, whatever an edit does to the dates later (a copy left out whose date is put right to an earlier day)."""
    return copies_of_one_page((item_id, page, source, (position,))
                              for position, (item_id, page, source) in enumerate(entries))


def shown_in_issues(editions: Iterable[list[tuple[str, str, str, str]]]) -> set[str]:
    """The ids every issue showed (or merged onto a job or event), out of each one's stored items, (id, kind, url,
    source) in the order stored: all but the copies of one page it left out (`copies_of_stored`)."""
    shown: set[str] = set()
    for stored in editions:
        entries = [(i, page_key(url or "") if kind in _ANNOUNCEMENT_VALUES else "", source)
                   for i, kind, url, source in stored]
        shown.update({i for i, _, _ in entries} - copies_of_stored(entries))
    return shown


def announced_page(item: Item) -> str:
    """The page a news item or blog post links (`page_key`), by which `one_per_page` finds two copies; '' for a job or
    an event, or an item with no link."""
    return page_key(item.url) if item.kind in ANNOUNCEMENT_KINDS else ""


def copies_of_one_page(entries: Iterable[tuple[str, str, str, tuple]]) -> set[str]:
    """The rule of `one_per_page` on (id, page as `announced_page` gives it, source, rank): the ids left out, each
    linking the page that one of another source ranked lower (kept first) links. The site's lists keep it too."""
    entries = list(entries)
    first: dict[str, tuple[tuple, str]] = {}
    for _, page, source, rank in entries:
        if page and (page not in first or rank < first[page][0]):
            first[page] = (rank, source)
    return {item_id for item_id, page, source, _ in entries if page and first[page][1] != source}


def announced_elsewhere(items: Sequence[Item], records: Iterable[Item]) -> set[str]:
    """The ids of the announcements among `items` that `merge_duplicates` would show on one of `records` (jobs and
    events not among `items`: sent in an earlier issue, closed or over) were they all one issue's, and that are about
    that record alone (`about_alone`: not a partner's roundup naming it among other news, which would otherwise go
    out nowhere, since there is no record in the issue to link it from)."""
    return set(announces_elsewhere(items, records))


def announces_elsewhere(items: Sequence[Item], records: Iterable[Item]) -> dict[str, str]:
    """`announced_elsewhere` with the record each announces: announcement id -> the id of the job or event. The site
    shows each on that job or event as an issue shows one merged onto it (plugins/sinks/archive/builder.py)."""
    given = {item.id for item in items}
    outside = {record.id: record for record in records if record.kind in RECORD_KINDS and record.id not in given}
    if not outside:
        return {}
    by_id = {item.id: item for item in items}
    return {item_id: into for item_id, into in merge_duplicates([*items, *outside.values()]).into.items()
            if into in outside and about_alone(outside[into], by_id[item_id])}


def may_announce(records: Sequence[tuple[str, str, str, str, str, date | None]],
                 announcements: Sequence[tuple[str, str, str, date]]) -> tuple[set[str], set[str]]:
    """Of records (id, title, organisation, location, source, last day or None) and announcements (id, title, source,
    day published), the ids of those that may be the same thing by rules 1, 2 and 4 (`titles_pair`; published by the
    second day after the record's last, as each may be a day off read in UTC): (records, announcements), found from
    titles and dates alone, so that only theirs need be read whole."""
    pairs = titles_pair([(record_words(title, organisation, location), source)
                         for _, title, organisation, location, source, _ in records],
                        [(significant_words(title), source) for _, title, source, _ in announcements])
    found_records: set[str] = set()
    found: set[str] = set()
    for r, n in pairs:
        last_day, day = records[r][5], announcements[n][3]
        if last_day is None or day <= last_day + timedelta(days=2):
            found_records.add(records[r][0])
            found.add(announcements[n][0])
    return found_records, found


_DAY_WORDS = frozenset(_MONTHS) | {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                                   "spring", "summer", "autumn", "winter"}


def about_alone(record: Item, announcement: Item) -> bool:
    """Whether the announcement's title is about the record and nothing else: of its significant words, those that
    are not the record's title's, its organisation's, place's or venue's, the announcer's name or a day, month or
    season are no more than those it shares with the record ("We are hiring: administrator for our London centre";
    not "Our March news: an administrator for our centre, a peer support guide, spring seminars")."""
    known = significant_words(record.title) | _name_words(announcement.author) | _DAY_WORDS
    if record.job is not None:
        known |= _name_words(record.job.organisation) | _name_words(record.job.location)
    if record.event is not None:
        known |= _name_words(record.event.venue)
    words = significant_words(announcement.title)
    return len(words - known) <= len(words & Profile(record).record_words)


def compare(record: Item, announcement: Item) -> Verdict:
    """The rule applied to one pair (without the best-match step), with the reason: for tests and explanations."""
    if record.kind not in RECORD_KINDS or announcement.kind not in ANNOUNCEMENT_KINDS:
        return Verdict(False, "only a job or event record and a news item or blog post are compared")
    if record.source == announcement.source:
        return Verdict(False, "same source")
    first, second = Profile(record), Profile(announcement)
    words = first.record_words
    shared = words & second.title_words
    need = required_words(len(words))
    if not need or len(shared) < need:
        return Verdict(False, f"title words: {len(shared)} of {len(words)} shared "
                              f"({', '.join(sorted(shared)) or 'none'}); {max(need, 1)} needed")
    return judge(first, second)


def required_words(count: int) -> int:
    """How many of a record's `count` significant title words an announcement's title must share (0: none can)."""
    return max(min(2, count), math.ceil(count / 2)) if count else 0


def judge(record: Profile, announcement: Profile) -> Verdict:
    """Rules 2, 3 and 5 for a pair whose titles already share enough words (rules 1 and 4)."""
    item = announcement.item
    last_day = record.last_day
    if last_day is not None and item.published.date() > last_day:
        return Verdict(False, f"published after the record's date ({last_day.isoformat()}): a report, "
                              f"not an announcement")
    organisation = record.item.job.organisation if record.item.job else ""
    if squash(organisation) and not announcement.names(organisation):
        return Verdict(False, f"does not name the organisation ({organisation})")
    links = bool(record.pages & announcement.links)
    dates = [d for d in record.key_dates if mentions(announcement.dates, d)]
    if not links and not dates:
        return Verdict(False, "no date of the record is mentioned and there is no link to it")
    event = record.item.event
    if event is not None and not links and (event.venue or event.speakers):
        # A day and a topic are shared by many events (a national awareness day): an announcement of
        # this one also names where it is or who speaks.
        said = significant_words(announcement.text)
        known = _name_words(event.venue) | {significant_words(s) and sorted(significant_words(s))[-1]
                                             for s in event.speakers if significant_words(s)}
        if not said & {w for w in known if w}:
            return Verdict(False, "names neither the event's venue nor a speaker, and does not link to it")
    shared = record.record_words & announcement.title_words
    evidence = [f"title words {', '.join(sorted(shared))}"]
    if organisation:
        evidence.append(f"names {organisation}")
    if dates:
        evidence.append(f"mentions {dates[0].strftime('%-d %B %Y')}")
    if links:
        evidence.append("links to it")
    share = round(len(shared) / len(record.record_words), 6)
    return Verdict(True, "; ".join(evidence), (int(links), len(shared), share))


class Profile:
    """What the rule reads from one item, each part worked out once and only when asked for."""

    def __init__(self, item: Item):
        self.item = item

    @cached_property
    def title_words(self) -> frozenset[str]:
        return significant_words(self.item.title)

    @cached_property
    def record_words(self) -> frozenset[str]:
        """The title's words that say which job or event this is."""
        job = self.item.job
        if job is None:
            return self.title_words
        return record_words(self.item.title, job.organisation, job.location, self.title_words)

    @cached_property
    def text(self) -> str:
        return f"{self.item.title}\n{html_to_text(self.item.body_html)}"

    @cached_property
    def dates(self) -> set[Mention]:
        return date_mentions(self.text)

    @cached_property
    def links(self) -> set[str]:
        found = {page_key(url) for url in _HREF.findall(self.item.body_html)}
        found.add(page_key(self.item.url))
        found.discard("")
        return found

    @cached_property
    def pages(self) -> set[str]:
        """The record's own pages: its link, and an event's booking page."""
        urls = [self.item.url, self.item.event.booking_url if self.item.event else ""]
        return {key for key in map(page_key, urls) if key}

    @cached_property
    def key_dates(self) -> list[date]:
        item = self.item
        if item.job is not None:
            return [item.job.closing_date] if item.job.closing_date else []
        if item.event is not None:
            first, last = event_days(item)
            return [first + timedelta(days=n) for n in range(min((last - first).days, MAX_EVENT_DAYS - 1) + 1)]
        return sorted({date(y, m, d) for y, m, d in self.dates if y is not None})

    @cached_property
    def last_day(self) -> date | None:
        item = self.item
        if item.job is not None:
            return item.job.closing_date
        if item.event is not None:
            return event_days(item)[1]
        return None

    def names(self, organisation: str) -> bool:
        """Whether the organisation's name, as whole words, is in this item's author, source, host, title or text."""
        key = squash(organisation)
        item = self.item
        host = (urlsplit(item.url).hostname or "") if item.url else ""
        return any(names(key, text) for text in (item.author, item.source, host, self.text))


def significant_words(text: str) -> frozenset[str]:
    """The words of `text` that can tell one job or event from another, lower-cased and lightly stemmed."""
    found = set()
    for raw in _WORD.findall(text.lower()):
        if not raw.isalnum():  # co-production, centre's
            raw = raw.removesuffix("'s").removesuffix("’s").replace("-", "").replace("'", "").replace("’", "")
        word = stem(raw)
        if len(word) >= 3 and word not in _LEFT_OUT and not word.isdigit():
            found.add(word)
    return frozenset(found)


def record_words(title: str, organisation: str = "", location: str = "",
                 words: frozenset[str] | None = None) -> frozenset[str]:
    """The words of a record's title that say which job or event it is (rule 4): its `significant_words` (`words`, when
    known) but those of a job's organisation and location, which every job of an organisation in one place shares."""
    words = significant_words(title) if words is None else words
    return words - _name_words(organisation) - _name_words(location)


@lru_cache(maxsize=1024)
def _name_words(name: str) -> frozenset[str]:
    """`significant_words` of an organisation's or a place's name: few, and the same for many records."""
    return significant_words(name)


def stem(word: str) -> str:
    """Plurals to singular, roughly: 'centres' -> 'centre', 'vacancies' -> 'vacancy'; 'news', 'process' kept."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "news")):
        return word[:-1]
    return word


def squash(text: str) -> str:
    """Lower-case letters and digits only, '&' read as 'and': 'Open Dialogue UK' -> 'opendialogueuk'."""
    return "".join(_TOKEN.findall(text.lower().replace("&", " and ")))


def names(key: str, text: str) -> bool:
    """Whether consecutive whole words of `text`, run together, spell `key` ('opendialogue-uk.example.org'
    and 'Open Dialogue UK' both spell 'opendialogueuk'; 'reminder' does not spell 'mind')."""
    if not key or key not in squash(text):
        return False
    tokens = _TOKEN.findall(text.lower().replace("&", " and "))
    for start, token in enumerate(tokens):
        if not key.startswith(token):
            continue
        joined = ""
        for following in tokens[start:]:
            joined += following
            if joined == key:
                return True
            if not key.startswith(joined):
                break
    return False


def date_mentions(text: str) -> set[Mention]:
    """Every date `text` writes, as (year or None, month, day)."""
    found: set[Mention] = set()
    for day, month, year in _DAY_MONTH.findall(text):
        found.add((int(year) if year else None, _MONTHS[month.lower()], int(day)))
    for month, day, year in _MONTH_DAY.findall(text):
        found.add((int(year) if year else None, _MONTHS[month.lower()], int(day)))
    for year, month, day in _ISO_DATE.findall(text):
        found.add((int(year), int(month), int(day)))
    for day, month, year in _NUMERIC_DATE.findall(text):
        found.add((int(year) + (2000 if len(year) == 2 else 0), int(month), int(day)))
    return {(y, m, d) for y, m, d in found if valid(y or 2000, m, d)}  # 2000: 29 February is a day


def mentions(found: Iterable[Mention], day: date) -> bool:
    """Whether one of the dates found is `day` (a date written without its year matches any year)."""
    return any(m == day.month and d == day.day and y in (None, day.year) for y, m, d in found)


def valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def event_days(item: Item) -> tuple[date, date]:
    """The first and last day of an event, in the venue's time zone."""
    event = item.event
    zone = zone_named(event.timezone) or event.start.tzinfo
    first = event.start.astimezone(zone).date()
    finishes = event.finishes.astimezone(zone)
    last = (finishes - timedelta(microseconds=1)).date() if finishes.time() == finishes.time().min else finishes.date()
    return first, max(first, last)


# Query parameters that tag a link with who passed it on (a campaign, a click), not which page it is: two partners'
# links to one page differ in them
_TRACKING = re.compile(r"utm_[a-z]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|igshid|yclid", re.I)


def page_key(url: str) -> str:
    """A URL as a page: no scheme, 'www.', fragment, trailing slash or tracking tags (`utm_source`, `fbclid`…), the
    other query parameters in order, so two spellings match; the path keeps its case."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    if not host:
        return ""
    path = parts.path.rstrip("/")
    query = sorted((name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
                   if not _TRACKING.fullmatch(name))
    return f"{host}{path}" + (f"?{urlencode(query)}" if query else "")


def also_entry(item: Item) -> dict[str, str]:
    """What a record keeps of an announcement merged into it: shown as 'Also announced by <by>: <title>'."""
    return {"id": item.id, "source": item.source, "by": announcer(item), "title": item.title, "url": item.url}


def announcer(item: Item) -> str:
    """Who announced it, as a reader would say: the author, else the site's host, else the source's name."""
    if item.author.strip():
        return item.author.strip()
    host = (urlsplit(item.url).hostname or "").removeprefix("www.") if item.url else ""
    return host or item.source
