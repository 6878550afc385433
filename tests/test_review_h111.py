"""Review h111: failing tests for the fixes in ed80a9d (OPML names settled by address, the consent record's
"[shown: as above]" in an export, and the tighter `_PARTICULAR` / `_prices` tests of summary sentences)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

# -- plugins/sources/opml.py `_names` -----------------------------------------------------------------------------


def test_a_feed_moved_to_another_path_on_its_own_host_keeps_its_name_whatever_the_other_hosts():
    """opml.py and the README promise that a feed "moved to another path on a host no other feed of that name is on"
    keeps every name. But "comes first by address" compares `_address_key` as one string (host + path), so the
    path's first character is compared with the other host's next one: `mind.org` (a feed at the site's root)
    sorts before `mind.org.uk/feed`, while `mind.org/feed` sorts after it ('/' > '.'). Moving the mind.org feed from
    `/` to `/feed` swaps the two feeds' names, and both feeds' items are stored again under new ids."""
    from plugins.sources.opml import _names

    other = ("News", "https://mind.org.uk/feed")
    before = _names("partners", [("News", "https://mind.org/"), other])
    after = _names("partners", [("News", "https://mind.org/feed"), other])
    assert after == before, f"moving a feed's path renamed the feeds: {before} -> {after}"


def test_two_feeds_of_one_title_at_the_same_address_key_are_not_named_by_file_order():
    """"None is told apart by its place in the file, which another export changes" (opml.py, README). Two feeds of a
    title whose addresses differ only by what `_address_key` drops (a final "/", the scheme, "www.") have the same
    sort key and the same digest, so the stable sort leaves it to file order which one keeps the plain name:
    exported in the other order, the two swap names (and each one's items are stored again)."""
    from plugins.sources.opml import _names

    a, b = ("News", "https://a.org/feed"), ("News", "https://a.org/feed/")
    one = dict(zip([a[1], b[1]], _names("partners", [a, b]), strict=True))
    other = dict(zip([b[1], a[1]], _names("partners", [b, a]), strict=True))
    assert one == other, f"the names follow the file's order: {one} vs {other}"


# -- pipeline/subscribers/csv_io.py `record_text` ------------------------------------------------------------------

def test_as_above_in_an_export_names_the_wording_just_above_it():
    """`record_text` writes "[shown: as above]" for any wording given earlier in the record, not only for the one
    given last: a member shown wording A, then B (a changed form), then A again has the third change exported as
    "[shown: as above]" right after "[shown: B]", so the record (what the person was shown when they consented)
    reads as B where it was A."""
    from pipeline.state.subscribers import Event
    from pipeline.subscribers.csv_io import RECORD_SEPARATOR, record_text

    old = "Privacy: the old wording, before the form was changed."
    new = "Privacy: the new wording, after the form was changed."
    record = [Event(datetime(2016, 1, 5, 10, tzinfo=UTC), "pending", "form", wording=old),
              Event(datetime(2016, 1, 6, 10, tzinfo=UTC), "pending", "form", wording=new),
              Event(datetime(2016, 1, 7, 10, tzinfo=UTC), "active", "confirmation", wording=old)]
    changes = record_text(record).split(RECORD_SEPARATOR)
    assert len(changes) == 3
    last_given = None
    for change in changes:
        shown = change.partition("[shown: ")[2].removesuffix("]")
        if shown and shown != "as above":
            last_given = shown
    third = changes[2]
    if third.endswith("[shown: as above]"):
        assert last_given == old, f"the third change reads as shown {last_given!r}, though it was shown {old!r}"
    else:
        assert f"[shown: {old}]" in third


# -- plugins/transforms/sentences.py ------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    "1.25 million people, one in four of us, live with it.",
    "10.30 was too early, they said, for most.",
])
def test_a_sentence_opening_with_a_decimal_number_is_real(sentence):
    """`_TIME` now takes any `\\d{1,2}[.:]\\d\\d` at the start for a clock time, so a sentence that opens with a
    number with two decimals ("1.25 million people") and has short pieces between commas is called a line of
    particulars and is never used in a summary (it was real before ed80a9d)."""
    from plugins.transforms.sentences import is_real

    assert is_real(sentence)


@pytest.mark.parametrize("sentence", [
    "Adults £5, children £2.50, under-fives free.",
    "Early bird £80, standard rate £100, students £40.",
    "Tickets £25, concessions £10.",
])
def test_a_price_list_set_out_with_commas_is_not_a_sentence(sentence):
    """`_prices` now needs a semicolon, a colon or an amount first, so the commonest price list, label and amount
    between commas, passes as a real sentence and can lead an event's summary (the README promises price lists are
    never used; each of these was caught before ed80a9d)."""
    from plugins.transforms.sentences import is_real

    assert not is_real(sentence)
