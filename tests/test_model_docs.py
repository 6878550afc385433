"""docs/items.md, the item model for plugin authors: generated from pipeline/models.py (pipeline/model_docs.py),
up to date, covering every field, and true: the fields it calls required are enough for the host to take an
item of each kind, and what it says each field shows in the email, the feed and the site is checked against
what the sinks write."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
import typing
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline import model_docs, models
from pipeline.config import Project, load_project
from pipeline.edition import SECTION_TITLES, Edition
from pipeline.item_checks import host_checked as _checked  # what the host does with every item a source returns
from pipeline.model_docs import COMMAND, DOCS, DOCS_FILE, Doc, render
from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, ProgrammeSlot, item_id
from pipeline.run_context import RunContext
from pipeline.state import Store

LONDON = ZoneInfo("Europe/London")
AS_OF = date(2016, 5, 1)
MOMENT = datetime(2016, 5, 1, tzinfo=UTC)
PROJECT = """
[pipeline]
name = "Test Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1

[sinks.archive]
type = "archive"
"""
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
OUTPUTS = ("email", "feed", "site")


def model_dataclasses() -> list[type]:
    return [obj for _, obj in inspect.getmembers(models, inspect.isclass)
            if dataclasses.is_dataclass(obj) and obj.__module__ == models.__name__]


# ---- the file is what the model makes ------------------------------------------------------------

def test_docs_items_md_is_generated_from_the_model_as_it_is():
    assert DOCS_FILE == Path(__file__).resolve().parent.parent / "docs" / "items.md"
    current = DOCS_FILE.read_text(encoding="utf-8") if DOCS_FILE.exists() else ""
    assert current == render(), f"docs/items.md is out of date: run `{COMMAND}` and commit the result"
    assert COMMAND in current.splitlines()[0] and "do not edit" in current.splitlines()[0]
    assert model_docs.main(["--check"]) == 0


def test_every_field_of_every_model_dataclass_has_prose_and_a_row():
    assert model_docs.problems() == []
    classes = model_dataclasses()
    assert set(classes) == set(DOCS) and {Item, JobDetails, EventDetails, ProgrammeSlot, PriceTier} <= set(classes)
    doc = sections(DOCS_FILE.read_text(encoding="utf-8"))
    for cls in classes:
        names = [f.name for f in dataclasses.fields(cls)]
        if cls is Item:
            for kind in Kind:
                listed = [row[0] for row in rows(doc[f"Kind: {kind.value}"])]
                others = {name for other, name in model_docs.DETAILS.items() if other is not kind}
                assert listed == [name for name in names if name not in others], kind
        else:
            assert [row[0] for row in rows(doc[cls.__name__])] == names, cls.__name__


def test_a_field_without_prose_or_prose_without_a_field_stops_the_generator(monkeypatch):
    docs = {**DOCS, PriceTier: {k: v for k, v in DOCS[PriceTier].items() if k != "note"}}
    docs[JobDetails] = {**DOCS[JobDetails], "grade": Doc("A field the model no longer has.")}
    monkeypatch.setattr(model_docs, "DOCS", docs)
    found = model_docs.problems()
    assert any(p.startswith("PriceTier.note:") for p in found)
    assert any(p.startswith("JobDetails.grade:") for p in found)
    with pytest.raises(ValueError, match="PriceTier.note"):
        render()


def test_the_sink_facts_the_prose_quotes_are_the_plugins_own():
    from plugins.sinks.archive.render import KIND_LABELS
    from plugins.sinks.email.view import EMAIL_IMAGES
    from plugins.sinks.rss.document import FALLBACK_DESCRIPTION_CHARS

    assert model_docs.SINK_FACTS == {"EMAIL_IMAGES": EMAIL_IMAGES,
                                     "FALLBACK_DESCRIPTION_CHARS": FALLBACK_DESCRIPTION_CHARS,
                                     "KIND_LABELS": KIND_LABELS}


# ---- reading the Markdown back -------------------------------------------------------------------

def sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return found


def rows(lines: list[str]) -> list[tuple[str, str, str]]:
    """(field, type, required or default) of each row of the section's field table."""
    found = []
    for line in lines:
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            found.append((cells[0].strip("`"), cells[1], cells[2]))
    return found


def documented(section: str) -> tuple[list[str], dict[str, object]]:
    """The fields docs/items.md says are required in a section, and the defaults it gives the others."""
    required, defaults = [], {}
    for name, _, cell in rows(sections(DOCS_FILE.read_text(encoding="utf-8"))[section]):
        if cell == "**required**":
            required.append(name)
        else:
            defaults[name] = ast.literal_eval(cell.strip("`"))
    return required, defaults


# ---- a project, and what each sink makes of items ----------------------------------------------------

@dataclass
class Rendered:
    email: str  # the email as sent: its HTML and its text part
    feed: dict[str, ET.Element]  # each item's <item>, by item id
    site: str  # every file the archive sink wrote (calendars unfolded)


def render_all(tmp: Path, items: list[Item], *, one_email_each: bool) -> tuple[Rendered, dict[str, str]]:
    """Every output for `items`; with `one_email_each`, also each item's own email, by id."""
    from plugins.sinks.email.render import render_edition
    from plugins.sinks.rss.document import build_feed, feed_bytes

    (tmp / "pipeline.toml").write_text(PROJECT, encoding="utf-8")
    project: Project = load_project(tmp / "pipeline.toml")
    store = Store(tmp / "state.sqlite")
    run = RunContext(project, store, AS_OF, MOMENT)
    try:
        def email(chosen: list[Item]) -> str:
            edition = Edition(1, AS_OF, datetime(2016, 1, 1, tzinfo=UTC), MOMENT, "Test Network: issue 1", chosen)
            rendered = render_edition(edition, run, max_per_section=10)  # as the email sink sends it
            return rendered.html + "\n" + rendered.text

        each = {item.id: email([item]) for item in items} if one_email_each else {}
        feed = {}
        for item in items:  # a feed of each, read back
            (feed[item.id],) = ET.fromstring(feed_bytes(build_feed(project, [item], MOMENT))).iter("item")
        store.save_items([(item, f"fp-{item.id}") for item in items], MOMENT)
        (sink,) = project.sinks
        sink.write(None, run)
        files = sorted(p for p in project.core.out_dir.rglob("*") if p.is_file())
        text = "\n".join(p.read_text(encoding="utf-8").replace("\r\n ", "") for p in files)
        return Rendered(email(items), feed, text), each
    finally:
        run.close()
        store.close()


def everything_in(element: ET.Element) -> str:
    return "\n".join(child.text or "" for child in element)


# ---- "required" is what the host needs -------------------------------------------------------------------

def value_for(cls: type, name: str, kind: Kind) -> object:
    """A value of the field's type, for building an item from its required fields only."""
    hint = typing.get_type_hints(cls)[name]
    values = {str: f"Minimal {kind.value} {name}", Kind: kind, datetime: datetime(2016, 4, 20, 9, tzinfo=UTC),
              Decimal: Decimal("5")}
    return values[hint]


def minimal(cls: type, section: str, kind: Kind, **extra) -> object:
    required, _ = documented(section)
    return cls(**{name: value_for(cls, name, kind) for name in required}, **extra)


def minimal_items() -> list[Item]:
    """One item of each kind from the fields docs/items.md calls required, and a job and an event with details
    made the same way."""
    items = [minimal(Item, f"Kind: {kind.value}", kind) for kind in Kind]
    event = minimal(EventDetails, "EventDetails", Kind.EVENT,
                    programme=[minimal(ProgrammeSlot, "ProgrammeSlot", Kind.EVENT)],
                    prices=[minimal(PriceTier, "PriceTier", Kind.EVENT)])
    items.append(minimal(Item, "Kind: job", Kind.JOB, job=minimal(JobDetails, "JobDetails", Kind.JOB)))
    items.append(minimal(Item, "Kind: event", Kind.EVENT, event=event))
    for n, item in enumerate(items):  # each its own id and title, as a source would give
        item.id, item.title = item_id(item.source, str(n)), f"{item.title} {n}"
    return items


@pytest.fixture(scope="module")
def minimal_outputs(tmp_path_factory) -> tuple[list[Item], Rendered]:
    items = [_checked(item) for item in minimal_items()]  # the host takes each: nothing else is needed
    rendered, _ = render_all(tmp_path_factory.mktemp("minimal"), items, one_email_each=False)
    return items, rendered


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
def test_the_fields_the_docs_call_required_make_an_item_the_host_takes(kind, minimal_outputs):
    items, rendered = minimal_outputs
    required, defaults = documented(f"Kind: {kind.value}")
    assert "kind" in required and (kind not in model_docs.DETAILS or model_docs.DETAILS[kind] in defaults)
    for item in (i for i in items if i.kind is kind):
        for name, default in defaults.items():
            if name not in model_docs.DETAILS.values() or getattr(item, name) is None:
                assert getattr(item, name) == default, name  # the defaults the docs give, after the host's checks
        assert Item.from_dict(json.loads(json.dumps(item.to_dict()))) == item  # the state database keeps it
        assert item.title in rendered.email and item.title in rendered.site
        assert item.title == rendered.feed[item.id].findtext("title")
    assert SECTION_TITLES[kind] in rendered.email
    assert model_docs.SINK_FACTS["KIND_LABELS"][kind.value] in rendered.site


@pytest.mark.parametrize("cls", [Item, JobDetails, EventDetails, ProgrammeSlot, PriceTier], ids=lambda c: c.__name__)
def test_each_field_the_docs_call_required_is(cls):
    section = "Kind: post" if cls is Item else cls.__name__
    required, defaults = documented(section)
    kind = Kind.EVENT if cls in (EventDetails, ProgrammeSlot, PriceTier) else Kind.POST
    values = {name: value_for(cls, name, kind) for name in required}
    for name in required:
        with pytest.raises(TypeError, match=name):
            cls(**{k: v for k, v in values.items() if k != name})
    made = cls(**values)
    assert {name: getattr(made, name) for name in defaults} == defaults


# ---- "email", "feed" and "site" say where each field shows -------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """A value for one field (`change` sets it on an item of `kind`) and the text it shows as (`marker`, or one
    per output): the text must be in an output the docs say shows the field, and in no other."""

    kind: Kind
    change: Callable[[Item], None]
    marker: str | dict[str, str]

    def marker_in(self, output: str) -> str:
        return self.marker if isinstance(self.marker, str) else self.marker[output]


def on_item(**changes) -> Callable[[Item], None]:
    def change(item: Item) -> None:
        for name, value in changes.items():
            setattr(item, name, value)

    return change


def on_job(**changes) -> Callable[[Item], None]:
    return lambda item: setattr(item, "job", dataclasses.replace(item.job, **changes))


def on_event(**changes) -> Callable[[Item], None]:
    return lambda item: setattr(item, "event", dataclasses.replace(item.event, **changes))


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


J, E, P = Kind.JOB, Kind.EVENT, Kind.POST
SAMPLES: dict[str, Sample] = {
    "Item.id": Sample(E, on_item(id="0123456789abcdefd0c5", url=""), "0123456789abcdefd0c5"),
    "Item.source": Sample(P, on_item(source="zqsourcemarker"), "zqsourcemarker"),
    "Item.title": Sample(P, on_item(title="Zqtitlemarker"), "Zqtitlemarker"),
    "Item.published": Sample(P, on_item(published=datetime(2016, 1, 13, 10, tzinfo=UTC)),
                             {"email": "13 January 2016", "feed": "Wed, 13 Jan 2016 10:00:00 GMT",
                              "site": "13 January 2016"}),
    "Item.url": Sample(P, on_item(url="https://zqurl.example.net/story"), "zqurl.example.net/story"),
    "Item.body_html": Sample(P, on_item(body_html="<p>Zqbodymarker opens the body.</p>"), "Zqbodymarker"),
    "Item.summary": Sample(P, on_item(summary="Zqsummarymarker sums it up."), "Zqsummarymarker"),
    "Item.author": Sample(P, on_item(author="Zqauthormarker"), "Zqauthormarker"),
    "Item.image": Sample(P, on_item(image="https://images.example.net/zqimage.jpg"), "zqimage.jpg"),
    "Item.image_alt": Sample(P, on_item(image="https://images.example.net/lead.jpg", image_alt="Zqaltmarker"),
                             "Zqaltmarker"),
    "Item.language": Sample(P, on_item(language="zqx-Zqlang1"), "zqx-Zqlang1"),
    "Item.themes": Sample(P, on_item(themes=["Zqthememarker"]), "Zqthememarker"),
    "Item.theme_evidence": Sample(P, on_item(theme_evidence={"Zqevidencemarker": {"score": 1.0}}),
                                  "Zqevidencemarker"),
    "Item.also_announced": Sample(J, on_item(also_announced=[{"id": "n1", "source": "partner", "by": "Zqbymarker",
                                                              "title": "We are hiring", "url": ""}]), "Zqbymarker"),
    "JobDetails.organisation": Sample(J, on_job(organisation="Zqorgmarker"), "Zqorgmarker"),
    "JobDetails.location": Sample(J, on_job(location="Zqlocationmarker"), "Zqlocationmarker"),
    "JobDetails.hours": Sample(J, on_job(hours="Zqhoursmarker"), "Zqhoursmarker"),
    "JobDetails.contract": Sample(J, on_job(contract="Zqcontractmarker"), "Zqcontractmarker"),
    "JobDetails.salary": Sample(J, on_job(salary="Zqsalarymarker"), "Zqsalarymarker"),
    "JobDetails.closing_date": Sample(J, on_job(closing_date=date(2016, 2, 19)), "19 February 2016"),
    "JobDetails.how_to_apply": Sample(J, on_job(how_to_apply="Zqapplymarker"), "Zqapplymarker"),
    "EventDetails.start": Sample(E, on_event(start=london(2016, 2, 17, 9, 30)), "Wednesday 17 February 2016"),
    "EventDetails.end": Sample(E, on_event(end=london(2016, 3, 22, 20, 45)), "–20:45"),
    "EventDetails.timezone": Sample(E, on_event(timezone="America/New_York"), "14:00 EDT"),
    "EventDetails.all_day": Sample(E, on_event(start=london(2016, 3, 22), end=london(2016, 3, 24), all_day=True),
                                   "Tue 22 – Thu 24 March 2016"),
    "EventDetails.venue": Sample(E, on_event(venue="Zqvenuemarker"), "Zqvenuemarker"),
    "EventDetails.speakers": Sample(E, on_event(speakers=["Zqspeakermarker"]), "Zqspeakermarker"),
    "EventDetails.programme": Sample(E, on_event(programme=[ProgrammeSlot("10.30", "Zqprogrammemarker")]),
                                     "Zqprogrammemarker"),
    "EventDetails.prices": Sample(E, on_event(prices=[PriceTier("Zqpricesmarker", Decimal("9"))]), "Zqpricesmarker"),
    "EventDetails.booking_url": Sample(E, on_event(booking_url="https://book.example.net/zqbook",  # an event to come:
                                                   start=london(2016, 6, 2, 18, 0)),  # a past one's page offers none
                                       "book.example.net/zqbook"),
    "ProgrammeSlot.time": Sample(E, on_event(programme=[ProgrammeSlot("Zqtimemarker", "Registration")]),
                                 "Zqtimemarker"),
    "ProgrammeSlot.title": Sample(E, on_event(programme=[ProgrammeSlot("10.30", "Zqslotmarker")]), "Zqslotmarker"),
    "ProgrammeSlot.speakers": Sample(E, on_event(programme=[ProgrammeSlot("10.30", "Talk", ("Zqslotspeaker",))]),
                                     "Zqslotspeaker"),
    "PriceTier.label": Sample(E, on_event(prices=[PriceTier("Zqlabelmarker", Decimal("9"))]), "Zqlabelmarker"),
    "PriceTier.amount": Sample(E, on_event(prices=[PriceTier("Adults", Decimal("123.45"))]), "£123.45"),
    "PriceTier.currency": Sample(E, on_event(prices=[PriceTier("Adults", Decimal("7"), "CHF")]), "7 CHF"),
    "PriceTier.note": Sample(E, on_event(prices=[PriceTier("Adults", Decimal("7"), note="Zqnotemarker")]),
                             "Zqnotemarker"),
}
NOT_SAMPLED = {
    "Item.kind": "no text of its own; each kind's section title and label are checked with the minimal items",
    "Item.job": "a container: each field of JobDetails is sampled",
    "Item.event": "a container: each field of EventDetails is sampled",
}
FIELDS = [f"{cls.__name__}.{name}" for cls, docs in DOCS.items() for name in docs]


def base_item(key: str, kind: Kind) -> Item:
    """An item of `kind` whose own texts and dates share nothing with any sample's marker."""
    item = Item(id=item_id("samples", key), kind=kind, source="samples", title=f"Sample {FIELDS.index(key)}",
                published=datetime(2016, 3, 1, 10, tzinfo=UTC), url=f"https://partner.example.org/{kind.value}/"
                f"{FIELDS.index(key)}", body_html="<p>Some body text.</p>")
    if kind is Kind.JOB:
        item.job = JobDetails(organisation="Base Organisation")
    if kind is Kind.EVENT:
        item.event = EventDetails(start=london(2016, 3, 22, 18, 0))
    return item


def sample_item(key: str) -> Item:
    sample = SAMPLES[key]
    item = base_item(key, sample.kind)
    sample.change(item)
    return _checked(item)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory) -> tuple[Rendered, dict[str, str], dict[str, Item]]:
    items = {key: sample_item(key) for key in SAMPLES}
    rendered, emails = render_all(tmp_path_factory.mktemp("samples"), list(items.values()), one_email_each=True)
    return rendered, emails, items


def test_every_documented_field_is_sampled_or_says_why_not():
    assert set(SAMPLES) | set(NOT_SAMPLED) == set(FIELDS) and not set(SAMPLES) & set(NOT_SAMPLED)


def claim(key: str, output: str) -> str:
    cls_name, name = key.split(".")
    (cls,) = [cls for cls in DOCS if cls.__name__ == cls_name]
    return DOCS[cls][name].column(output, SAMPLES[key].kind)


def shown(text: str) -> bool:
    return not text.lower().startswith("not shown")


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_a_field_shows_in_an_output_exactly_when_the_docs_say_so(key, output, sampled):
    rendered, emails, items = sampled
    item, marker, says = items[key], SAMPLES[key].marker_in(output), claim(key, output)
    found = {"email": emails[item.id], "feed": everything_in(rendered.feed[item.id]), "site": rendered.site}[output]
    if shown(says):
        assert marker in found, f"docs/items.md says {key} shows in the {output} ({says!r}); {marker!r} is not there"
    else:
        assert marker not in found, f"docs/items.md says {key} is not shown in the {output}, but {marker!r} is there"


FEED_ELEMENTS = re.compile(r"<([a-zA-Z]+(?::[a-zA-Z]+)?)[ >]")
NAMESPACES = {"content": CONTENT, "dc": DC}


@pytest.mark.parametrize("key", sorted(key for key in SAMPLES if shown(claim(key, "feed"))))
def test_the_feed_elements_the_docs_name_are_where_the_value_is(key, sampled):
    rendered, _, items = sampled
    marker = SAMPLES[key].marker_in("feed")
    named = set()
    for name in FEED_ELEMENTS.findall(claim(key, "feed")):
        prefix, _, local = name.rpartition(":")
        named.add(NAMESPACES[prefix] + local if prefix else local)
    holding = {child.tag for child in rendered.feed[items[key].id] if marker in (child.text or "")}
    assert holding, f"{marker!r} is in no element of the item"
    assert holding <= named, f"{key} is in {sorted(holding)}; the docs name only {sorted(named)}"
