"""Item.to_dict / from_dict: what the state database stores must round-trip exactly."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, ProgrammeSlot, _encode

LONDON = ZoneInfo("Europe/London")


def _full_items() -> list[Item]:
    evidence = {"peer support": {"score": 4.5, "needed": 1.0, "kept": True, "why": "kept", "count": 2,
                                 "matches": [["peer support", "title", 0], ["peer-led", "body", 40]], "more": 0}}
    job = Item("j1", Kind.JOB, "jobs", "Peer Worker", datetime(2016, 3, 1, 9, tzinfo=LONDON),
               url="https://example.org/jobs/1", body_html="<p>Apply by email.</p>", author="Trust",
               image="https://example.org/jobs/1/team.jpg", image_alt="The peer support team",
               themes=["peer support"], theme_evidence=evidence,
               job=JobDetails("Mind", "Leeds", "30 hours", "fixed term", "£24,000", date(2016, 4, 8), "email"))
    event = Item("e1", Kind.EVENT, "events", "Co-production seminar", datetime(2016, 4, 2, tzinfo=UTC),
                 also_announced=[{"id": "n1", "source": "odu", "by": "Open Dialogue UK", "title": "t", "url": ""}],
                 event=EventDetails(datetime(2016, 5, 13, 10, 30, tzinfo=LONDON),
                                    datetime(2016, 5, 13, 16, tzinfo=LONDON), "Europe/London", False,
                                    "Leeds", ["A. Speaker"], [ProgrammeSlot("10.30", "Welcome", ("A. Speaker",))],
                                    [PriceTier("Service user", Decimal("12.50"))], "https://example.org/book"))
    return [job, event, Item("p1", Kind.POST, "blog", "Plain", datetime(2016, 1, 5, tzinfo=UTC))]


def test_to_dict_is_the_dataclass_encoding_and_round_trips():
    for item in _full_items():
        data = item.to_dict()
        # the fast encoder leaves nothing out, but a language not known (so rows stored before it stay as they were)
        assert data == {key: value for key, value in _encode(dataclasses.asdict(item)).items()
                        if key != "language" or value}
        assert Item.from_dict(json.loads(json.dumps(data))) == item


def test_to_dict_does_not_share_the_items_lists():
    item = _full_items()[0]
    data = item.to_dict()
    data["themes"].append("space")
    data["theme_evidence"]["space"] = {}
    assert item.themes == ["peer support"] and "space" not in item.theme_evidence


def test_a_row_stored_before_lead_images_still_loads():
    for item in _full_items():
        data = json.loads(json.dumps(item.to_dict()))
        del data["image"], data["image_alt"]
        loaded = Item.from_dict(data)
        assert (loaded.image, loaded.image_alt) == ("", "")
        assert dataclasses.replace(loaded, image=item.image, image_alt=item.image_alt) == item


def test_a_language_is_stored_when_known_and_left_out_when_not():
    """An item stored before `language` existed has the same JSON (and fingerprint) as one without it now."""
    item = _full_items()[0]
    assert "language" not in item.to_dict()
    item.language = "cy"
    assert item.to_dict()["language"] == "cy" and Item.from_dict(json.loads(json.dumps(item.to_dict()))) == item


@pytest.mark.parametrize(("given", "kept"), [
    ("cy", "cy"), (" en-GB ", "en-GB"), ("zh-Hant-TW", "zh-Hant-TW"), ("", ""), ("e", ""), ("english", ""),
    ('en" onmouseover="x', ""), ("en_GB", ""), ("de-" + "x" * 9, ""), ("a" * 40, ""),
])
def test_only_a_language_tag_is_kept(given, kept):
    from pipeline.sanitize import language_tag

    assert language_tag(given) == kept
