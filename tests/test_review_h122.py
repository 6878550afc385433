"""Review h122: gzip members split across chunks, many tiny members; the next issue's preview; the summary's
asking sentences; Paths in settings; explain's offsets after characters whose lower case is longer."""

from __future__ import annotations

import gzip
import zlib

import pytest

from pipeline import decoding
from pipeline.decoding import bounded_body


def test_garbage_after_the_last_member_is_ignored_however_the_chunks_fall():
    """'\\x1f' then not '\\x8b' is garbage, not a damaged member, even when a chunk ends after the '\\x1f'."""
    body = b"<rss>feed</rss>"
    raw = gzip.compress(body) + b"\x1fX not gzip"
    for cut in range(len(raw) - 12, len(raw)):
        assert bounded_body([raw[:cut], raw[cut:]], "gzip", 1 << 20) == body, cut


def test_a_body_of_many_tiny_members_is_unpacked_with_each_byte_handed_to_zlib_a_bounded_number_of_times(
        monkeypatch):
    """unused_data is a copy of all that follows a member: handing it back whole made 100,000 tiny members
    quadratic. What zlib is handed in all stays within a small multiple of the body (no timing measured)."""
    fed = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args):
            self._inner = real(*args)

        def decompress(self, data, most=0):
            fed.append(len(data))
            return self._inner.decompress(data, most)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(decoding.zlib, "decompressobj", Counting)
    raw = gzip.compress(b"x", mtime=0) * 20_000 + gzip.compress(b"", mtime=0) * 100
    assert bounded_body([raw], "gzip", 1 << 20) == b"x" * 20_000
    assert sum(fed) <= 4 * len(raw)


LONG_FIRST = ("<p>" + "The network's annual report, published this week after a year of consultation with members, "
              "trusts, carers and people who use services across the four nations, sets out " * 2 + "much.</p>")


@pytest.mark.parametrize("sentence", [
    "Read Bay Trust announced a new peer support service for the county on Monday.",
    "Share Community Leeds has opened a drop-in centre for carers in Armley.",
    "Visit England reported that day trips to the coast rose by a fifth this summer.",
    "Follow-up care after discharge is now offered within seven days in every ward.",
    "Book sales on mental health rose by a third in the year to March.",
    "Share prices of the care home groups fell sharply after the announcement.",
    "Phone companies will now zero-rate calls to the crisis line.",
    "Contact tracing ended in the spring, and the teams were redeployed.",
    "Email scams aimed at carers rose sharply last year, the police said.",
    "Buy-to-let landlords will have to register with the council from April.",
])
def test_a_real_sentence_that_starts_with_an_asking_word_as_a_name_or_noun_may_lead(sentence):
    from plugins.transforms.summary import ASKING, summarise_html

    assert not ASKING.match(sentence)
    assert summarise_html(LONG_FIRST + f"<p>{sentence}</p>", 300, 3) == sentence


@pytest.mark.parametrize("sentence", [
    "Please book a place on the network's website before the end of January.",
    "To book, write to the office with your name and the session you want.",
    "Tickets are available from the conference page, with rates for carers.",
    "Booking is essential, as places in the hall are limited to sixty.",
    "Don't miss the last session, on peer work in crisis teams.",
    "Don’t miss the last session, on peer work in crisis teams.",
    "Join us in Leeds on 4 March for a day on Open Dialogue.",
])
def test_a_sentence_asking_the_reader_to_act_in_other_words_never_leads(sentence):
    from plugins.transforms.summary import ASKING, summarise_html

    assert ASKING.match(sentence)
    assert summarise_html(LONG_FIRST + f"<p>{sentence}</p>", 300, 3) == ""


def test_paths_in_a_named_tuple_a_nested_model_and_an_ordered_dict_are_taken_from_pipeline_toml():
    from collections import OrderedDict
    from pathlib import Path
    from typing import NamedTuple

    from pydantic import BaseModel, ConfigDict, ValidationError

    from pipeline.components import Settings

    class Pair(NamedTuple):
        folder: Path
        label: str

    class Inner(BaseModel):
        model_config = ConfigDict(frozen=True)
        folder: Path

    class Own(Settings):
        pair: Pair | None = None
        inner: Inner | None = None
        inners: list[Inner] = []
        ordered: OrderedDict[str, Path] = OrderedDict()
        labels: dict[Path, str] | None = None
        same: tuple[Path, ...] = ()

    base = Path("/base")
    own = Own.model_validate({"pair": ["a", "x"], "inner": {"folder": "b"}, "inners": [{"folder": "c"}],
                              "ordered": {"k": "d", "j": "/abs"}, "labels": {"e": "E"}, "same": ["/x"]},
                             context={"base_dir": base})
    assert own.pair == Pair(base / "a", "x") and isinstance(own.pair, Pair)
    assert own.inner == Inner(folder=base / "b")
    assert own.inners == [Inner(folder=base / "c")]
    assert own.ordered == OrderedDict([("k", base / "d"), ("j", Path("/abs"))]) and type(own.ordered) is OrderedDict
    assert own.labels == {base / "e": "E"}
    with pytest.raises(ValidationError, match="same file"):  # not one of the two dropped without a word
        Own.model_validate({"labels": {"f": "1", "/base/f": "2"}}, context={"base_dir": base})


def test_preview_without_a_date_shows_the_next_issue_after_one_made_on_another_day(write_project, capsys):
    """The latest issue made with --as-of on a day that is not the newsletter day (the 15th, the day being the 1st):
    without --as-of, preview shows the next newsletter day's issue, not an error that the 1st would overlap it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from pipeline.commands.mail import _edition
    from pipeline.config import load_project
    from pipeline.state import Store
    from tests.test_organiser_commands import LATER_POST, main, project

    config = project(write_project)
    assert main(["run", "-c", str(config), "--as-of", "2016-03-15"]) == 0  # issue 1, on the 15th
    (config.parent / "blog" / "later.md").write_text(LATER_POST.replace("2016-03-10", "2016-03-18"),
                                                     encoding="utf-8")
    main(["refresh", "-c", str(config), "--as-of", "2016-03-19"])
    capsys.readouterr()
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        after = _edition(load_project(config), store, None, now=datetime(2016, 3, 20, 12, tzinfo=ZoneInfo("UTC")))
        assert [e.number for e in store.editions()] == [1]
    finally:
        store.close()
    assert (after.number, after.as_of.isoformat()) == (2, "2016-04-01")


@pytest.mark.parametrize("text", [
    "İİİ İstanbul ΟΔΟΣ peer\u00adsupport İ\u2060İ work Σ here",
    "ΣΊΣΥΦΟΣ İİ co\u00adoperation\u2060s İ final word",
    "Ǆemal İİ ﬁnance İ word, a İ-b c.İd e",
])
def test_explain_offsets_find_each_word_after_characters_whose_lower_case_is_longer(text):
    """'İ' is the one character whose lower case is longer (checked), mixed with final sigmas, soft hyphens and word
    joiners: each word of the normalised text is found where it starts in the text."""
    from pipeline.phrases import WORD, normalise, original_offset

    assert [c for c in map(chr, range(0x110000)) if len(c.lower()) != 1] == ["İ"]
    for match in WORD.finditer(normalise(text)):
        at = original_offset(text, match.start())
        assert text[at].lower()[0] == match.group()[0], (match.group(), text[at:])


def test_layers_of_several_members_each_in_one_byte_chunks():
    inner = gzip.compress(b"<rss>x") + gzip.compress(b"") + gzip.compress(b"y</rss>") + b"\0\0"
    outer = gzip.compress(inner[:20]) + b"\0" + gzip.compress(inner[20:])
    assert bounded_body([outer[n:n + 1] for n in range(len(outer))], "gzip, gzip", 1 << 20) == b"<rss>xy</rss>"
    deflated = zlib.compress(b"<rss>z</rss>" * 50)
    members = gzip.compress(deflated[:9]) + gzip.compress(deflated[9:])
    assert bounded_body([members[n:n + 1] for n in range(len(members))], "deflate, gzip", 1 << 20) == (
        b"<rss>z</rss>" * 50)


def test_the_deadline_ends_a_body_of_many_members_between_them():
    calls = []
    raw = gzip.compress(b"a") * 1000
    assert bounded_body([raw], "gzip", 1 << 20, lambda: calls.append(1) or len(calls) < 10) is None
