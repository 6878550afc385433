"""Every subscriber transition, on a real SQLite file: who may become active, who never comes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.errors import SubscriberError
from pipeline.state import Store
from pipeline.state import subscribers as subs

T0 = datetime(2016, 2, 1, 9, 0, tzinfo=UTC)
CSV = "csv import content/subscribers.csv"


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    yield store
    store.close()


def status(store: Store, email: str) -> str | None:
    found = subs.find_subscriber(store, email)
    return found.status if found else None


def test_csv_import_activates_new_and_pending_but_never_those_who_left(store):
    subs.request_subscription(store, "pending@example.org", "", [], how="form", at=T0)
    subs.import_rows(store, [("left@example.org", "Left"), ("bounced@example.org", ""),
                             ("spam@example.org", "")], how=CSV, at=T0)
    left = subs.find_subscriber(store, "left@example.org")
    subs.unsubscribe(store, left.id, how="one-click unsubscribe", at=T0)
    subs.suppress(store, "bounced@example.org", "bounced", how="sendgrid webhook: bounce", at=T0)
    subs.suppress(store, "spam@example.org", "complained", how="sendgrid webhook: spamreport", at=T0)

    activated = subs.import_rows(store, [("LEFT@example.org", "Left"), ("bounced@example.org", ""),
                                         ("spam@example.org", ""), ("pending@example.org", "P"),
                                         ("new@example.org", "New"), ("new@example.org", "Twice")],
                                 how=CSV, at=T0 + timedelta(days=30))

    assert activated == 2  # pending and new
    assert [s.email for s in subs.active_subscribers(store)] == ["pending@example.org", "new@example.org"]
    assert status(store, "left@example.org") == "unsubscribed"
    assert status(store, "bounced@example.org") == "bounced"
    assert status(store, "spam@example.org") == "complained"
    assert subs.find_subscriber(store, "new@example.org").name == "New"  # the first row for an address wins


def test_import_takes_themes_for_new_subscribers_and_keeps_their_own_choice_after(store):
    subs.import_rows(store, [("ann@example.org", "Ann", {"research"})], how=CSV, at=T0)
    ann = subs.find_subscriber(store, "ann@example.org")
    assert ann.themes == frozenset({"research"})
    subs.set_themes(store, ann.id, ["recovery", "space"], how="preferences page", at=T0)
    subs.import_rows(store, [("ann@example.org", "Ann Smith", {"research"})], how=CSV, at=T0)
    ann = subs.get_subscriber(store, ann.id)
    assert ann.themes == frozenset({"recovery", "space"}) and ann.name == "Ann Smith"


def test_double_opt_in_and_the_consent_record(store):
    pending = subs.request_subscription(store, " Bea@Example.org ", "Bea", ["research"], how="form", at=T0).subscriber
    assert pending.status == "pending" and pending.email == "bea@example.org"
    assert subs.active_subscribers(store) == []
    assert subs.confirm(store, pending.id, how="confirmation", at=T0 + timedelta(hours=1))
    assert not subs.confirm(store, pending.id, how="confirmation", at=T0 + timedelta(hours=2))  # once
    assert subs.unsubscribe(store, pending.id, how="one-click unsubscribe", at=T0 + timedelta(days=3))
    assert not subs.unsubscribe(store, pending.id, how="one-click unsubscribe", at=T0 + timedelta(days=4))
    record = [(e.status, e.how) for e in subs.history(store, pending.id)]
    assert record == [("pending", "form"), ("active", "confirmation"), ("unsubscribed", "one-click unsubscribe")]
    assert subs.history(store, pending.id)[0].at == T0


def test_asking_again_sends_nothing_to_active_or_complained_addresses(store):
    subs.add(store, "on@example.org", "", [], how="cli", at=T0)
    subs.suppress(store, "spam@example.org", "complained", how="sendgrid webhook: spamreport", at=T0)
    assert subs.request_subscription(store, "on@example.org", "Someone else", [], how="form", at=T0) is None
    assert subs.request_subscription(store, "spam@example.org", "", [], how="form", at=T0) is None
    assert subs.find_subscriber(store, "on@example.org").name == ""  # nothing changed
    # someone who left may come back, through the form and the confirmation
    left = subs.add(store, "back@example.org", "", [], how="cli", at=T0)
    subs.unsubscribe(store, left.id, how="unsubscribe page", at=T0)
    again = subs.request_subscription(store, "back@example.org", "", [],
                                      how="form", at=T0 + timedelta(days=1)).subscriber
    assert again.status == "pending"
    assert subs.confirm(store, again.id, how="confirmation", at=T0 + timedelta(days=2))


def test_a_request_changes_no_name_or_themes_until_its_own_confirmation(store):
    left = subs.add(store, "una@example.org", "Una", ["peer support"], how="cli", at=T0)
    subs.unsubscribe(store, left.id, how="unsubscribe page", at=T0)
    owners = subs.request_subscription(store, "una@example.org", "Una Smith", ["research"], how="form",
                                       at=T0 + timedelta(days=1))
    strangers = subs.request_subscription(store, "una@example.org", "Someone", ["space"], how="form",
                                          at=T0 + timedelta(days=1, hours=1))
    other = subs.request_subscription(store, "other@example.org", "Other", ["space"], how="form",
                                      at=T0 + timedelta(days=1))
    una = subs.get_subscriber(store, left.id)
    assert (una.status, una.name, una.themes) == ("pending", "", frozenset())  # (what she gave went when she left)
    assert subs.find_subscriber(store, "other@example.org").name == ""  # nothing typed is stored as theirs

    later = T0 + timedelta(days=2)
    assert not subs.confirm(store, left.id, request=other.id, how="confirmation", at=later)  # not her request
    assert subs.confirm(store, left.id, request=owners.id, how="confirmation", at=later)
    una = subs.get_subscriber(store, left.id)
    assert (una.status, una.name, una.themes) == ("active", "Una Smith", frozenset({"research"}))
    assert subs.history(store, left.id)[-1].detail == "themes: research"
    subs.unsubscribe(store, left.id, how="unsubscribe page", at=later)
    subs.request_subscription(store, "una@example.org", "", [], how="form", at=later)
    assert not subs.confirm(store, left.id, request=strangers.id, how="confirmation", at=later)  # ended with hers
    assert subs.get_subscriber(store, left.id).name == ""  # neither hers (she left) nor the stranger's


def test_the_same_request_again_within_a_minute_is_the_one_already_made(store):
    """A double-clicked form, or a page sent again at once: the same address, name and themes within
    `once_within` make no second request (None: no second confirmation). Other themes or another name are a
    correction, and a minute later it is asking again (the 7 days restart): each is a request of its own. Without
    `once_within` (an organiser's `--invite`), asking again is always a request."""
    once = timedelta(minutes=1)
    first = subs.request_subscription(store, "rita@example.org", "Rita", ["research"], how="form", at=T0,
                                      once_within=once)
    assert subs.request_subscription(store, "Rita@Example.org", "Rita", ["research"], how="form",
                                     at=T0 + timedelta(seconds=1), once_within=once) is None
    corrected = subs.request_subscription(store, "rita@example.org", "Rita", ["space"], how="form",
                                          at=T0 + timedelta(seconds=2), once_within=once)
    renamed = subs.request_subscription(store, "rita@example.org", "Rita B", ["space"], how="form",
                                        at=T0 + timedelta(seconds=3), once_within=once)
    later = subs.request_subscription(store, "rita@example.org", "Rita", ["research"], how="form",
                                      at=T0 + once + timedelta(seconds=1), once_within=once)
    invited = subs.request_subscription(store, "rita@example.org", "Rita", ["research"], how="cli invitation",
                                        at=T0 + once + timedelta(seconds=2))
    assert None not in (corrected, renamed, later, invited)
    assert None not in (corrected, renamed, later)
    assert len({first.id, corrected.id, renamed.id, later.id, invited.id}) == 5
    assert len(subs.requests_of(store, first.subscriber.id)) == 5
    assert subs.confirm(store, first.subscriber.id, request=corrected.id, how="confirmation",
                        at=T0 + timedelta(minutes=5))
    assert subs.get_subscriber(store, first.subscriber.id).themes == frozenset({"space"})


def test_a_request_lapses_after_seven_days(store):
    first = subs.request_subscription(store, "ida@example.org", "Ida", [], how="form", at=T0)
    subs.request_subscription(store, "ida@example.org", "", [], how="form", at=T0 + timedelta(days=6))
    assert not subs.confirm(store, first.subscriber.id, request=first.id, how="confirmation",
                            at=T0 + timedelta(days=7, seconds=1))
    assert subs.find_subscriber(store, "ida@example.org").status == "pending"


def test_a_confirmation_older_than_seven_days_does_nothing_and_the_request_expires(store):
    new = subs.request_subscription(store, "late@example.org", "", [], how="form", at=T0).subscriber
    assert not subs.confirm(store, new.id, how="confirmation", at=T0 + timedelta(days=7, seconds=1))
    # someone who had left and asked again goes back to 'unsubscribed'; a new address is forgotten
    old = subs.add(store, "old@example.org", "", [], how="cli", at=T0)
    subs.unsubscribe(store, old.id, how="unsubscribe page", at=T0)
    subs.request_subscription(store, "old@example.org", "", [], how="form", at=T0)
    fresh = subs.request_subscription(store, "fresh@example.org", "", [],
                                      how="form", at=T0 + timedelta(days=6)).subscriber

    assert sorted(subs.expire_pending(store, at=T0 + timedelta(days=7))) == ["late@example.org", "old@example.org"]
    assert subs.get_subscriber(store, new.id) is None and subs.history(store, new.id) == []
    assert status(store, "old@example.org") == "unsubscribed"
    assert subs.history(store, old.id)[-1].how == "request expired"
    assert subs.get_subscriber(store, fresh.id).status == "pending"


def test_an_address_forgotten_when_its_request_expires_takes_every_request_of_its_own_with_it(store):
    """The delete cascades to its requests, even to one the cutoff spares (a clock set back between two)."""
    later = subs.request_subscription(store, "skew@example.org", "", [], how="form", at=T0 + timedelta(days=3))
    subs.request_subscription(store, "skew@example.org", "", [], how="form", at=T0)  # now asked "at T0"
    kept = subs.request_subscription(store, "kept@example.org", "", [], how="form", at=T0 + timedelta(days=3))
    assert len(subs.expire_pending(store, at=T0 + timedelta(days=7))) == 1
    assert subs.find_subscriber(store, "skew@example.org") is None
    assert store._rows("SELECT id FROM subscription_requests ORDER BY id") == [(kept.id,)]
    assert not subs.can_confirm(store, later.subscriber.id, request=later.id, at=T0 + timedelta(days=7))
    assert store._rows("PRAGMA foreign_key_check") == []


def test_cli_add_and_remove_refuse_what_only_the_owner_may_do(store):
    subs.add(store, "ann@example.org", "Ann", [], how="cli", at=T0)
    with pytest.raises(SubscriberError, match="already subscribed"):
        subs.add(store, "ann@example.org", "Ann", [], how="cli", at=T0)
    assert subs.remove(store, "ann@example.org", how="cli", at=T0)
    assert not subs.remove(store, "ann@example.org", how="cli", at=T0)
    with pytest.raises(SubscriberError, match=r"unsubscribed on 2016-02-01 \(cli\).*through the form"):
        subs.add(store, "ann@example.org", "Ann", [], how="cli", at=T0)
    with pytest.raises(SubscriberError, match="not on the list"):
        subs.remove(store, "nobody@example.org", how="cli", at=T0)
    with pytest.raises(SubscriberError, match="not a valid email address"):
        subs.add(store, "not an address", "", [], how="cli", at=T0)
    with pytest.raises(SubscriberError, match=r"not a valid email address \(the part before the @ is longer than 64"):
        subs.add(store, "a" * 65 + "@example.org", "", [], how="cli", at=T0)
    with pytest.raises(SubscriberError, match=r"not a valid email address \(mail to an IP address needs brackets"):
        subs.add(store, "ann@192.168.1.1", "", [], how="cli", at=T0)


def test_suppress_records_unknown_addresses_and_only_hardens(store):
    assert subs.suppress(store, "stranger@example.org", "bounced", how="sendgrid webhook: bounce", at=T0,
                         detail="550 no such user")
    assert subs.import_rows(store, [("stranger@example.org", "")], how=CSV, at=T0) == 0
    assert not subs.suppress(store, "stranger@example.org", "unsubscribed", how="sendgrid webhook: unsubscribe", at=T0)
    assert subs.suppress(store, "stranger@example.org", "complained", how="sendgrid webhook: spamreport", at=T0)
    events = subs.history(store, subs.find_subscriber(store, "stranger@example.org").id)
    assert [(e.status, e.detail) for e in events] == [("bounced", "550 no such user"), ("complained", "")]
    with pytest.raises(ValueError):
        subs.suppress(store, "x@example.org", "active", how="cli", at=T0)


def test_set_themes_only_for_those_on_the_list_and_listing(store):
    ann = subs.add(store, "ann@example.org", "Ann", [], how="cli", at=T0)
    assert subs.set_themes(store, ann.id, ["research", " ", "research"], how="cli", at=T0)
    assert not subs.set_themes(store, ann.id, ["research"], how="cli", at=T0)  # no change, no record
    subs.unsubscribe(store, ann.id, how="cli", at=T0)
    assert not subs.set_themes(store, ann.id, [], how="cli", at=T0)
    bob = subs.add(store, "bob@example.org", "", [], how="cli", at=T0 + timedelta(days=1))
    listed = subs.listing(store)
    assert [(s.email, s.status, e.how) for s, e in listed] == [("ann@example.org", "unsubscribed", "cli"),
                                                              ("bob@example.org", "active", "cli")]
    assert [s.id for s, _ in subs.listing(store, "active")] == [bob.id]
    assert subs.history(store, ann.id)[1].detail == "themes: research"


def test_a_request_after_leaving_is_made_active_only_by_its_owner(store):
    """Anyone can post the form for an address that left: the list and `add` must not finish the job."""
    fay = subs.add(store, "fay@example.org", "Fay", [], how="cli", at=T0)
    subs.unsubscribe(store, fay.id, how="one-click unsubscribe", at=T0 + timedelta(days=1))
    subs.request_subscription(store, "fay@example.org", "", [], how="form", at=T0 + timedelta(days=2))
    bounced = "gus@example.org"
    subs.suppress(store, bounced, "bounced", how="sendgrid webhook: bounce", at=T0)
    subs.request_subscription(store, bounced, "", [], how="form", at=T0 + timedelta(days=2))

    assert subs.import_rows(store, [("fay@example.org", "Fay"), (bounced, "")], how=CSV,
                            at=T0 + timedelta(days=3)) == 0
    assert status(store, "fay@example.org") == status(store, bounced) == "pending"
    with pytest.raises(SubscriberError, match=r"unsubscribed on 2016-02-02 \(one-click unsubscribe\) and has asked "
                                              r"to subscribe again since.*only when its owner confirms"):
        subs.add(store, "fay@example.org", "", [], how="cli", at=T0 + timedelta(days=3))
    assert status(store, "fay@example.org") == "pending"
    assert [e.how for e in subs.history(store, fay.id)] == ["cli", "one-click unsubscribe", "form"]
    # her own confirmation still works, and so does the list for a first request
    assert subs.confirm(store, fay.id, how="confirmation", at=T0 + timedelta(days=4))
    subs.request_subscription(store, "new@example.org", "", [], how="form", at=T0 + timedelta(days=2))
    assert subs.import_rows(store, [("new@example.org", "")], how=CSV, at=T0 + timedelta(days=3)) == 1


def test_the_lists_status_column_suppresses_but_never_overrides_an_owner_who_came_back(store):
    subs.add(store, "ann@example.org", "", [], how="cli", at=T0)  # active, never left
    back = subs.add(store, "back@example.org", "", [], how="cli", at=T0)
    subs.unsubscribe(store, back.id, how="one-click unsubscribe", at=T0)
    again = subs.request_subscription(store, "back@example.org", "", [],
                                      how="form", at=T0 + timedelta(days=1)).subscriber
    subs.confirm(store, again.id, how="confirmation", at=T0 + timedelta(days=1))  # she came back herself
    asks = subs.add(store, "asks@example.org", "", [], how="cli", at=T0)
    subs.unsubscribe(store, asks.id, how="one-click unsubscribe", at=T0)
    subs.request_subscription(store, "asks@example.org", "", [], how="form", at=T0 + timedelta(days=1))
    subs.suppress(store, "gone@example.org", "unsubscribed", how="cli", at=T0)

    changed = subs.import_suppressed(store, [("ann@example.org", "unsubscribed"), ("back@example.org", "unsubscribed"),
                                             ("asks@example.org", "bounced"), ("new@example.org", "complained"),
                                             ("gone@example.org", "complained"), ("ANN@example.org", "bounced")],
                                     how=CSV, at=T0 + timedelta(days=2))

    assert changed == 3  # ann, new, gone (to complained)
    assert {e: status(store, f"{e}@example.org") for e in ("ann", "back", "asks", "new", "gone")} == {
        "ann": "unsubscribed", "back": "active", "asks": "pending", "new": "complained", "gone": "complained"}
    assert subs.count_not_active(store, ["ann@example.org", "BACK@example.org", "asks@example.org",
                                         "nobody@example.org"]) == 2


def test_a_provider_event_from_before_the_latest_subscription_changes_nothing(store):
    fay = subs.add(store, "fay@example.org", "", [], how="cli", at=T0)
    bounce_at = T0 + timedelta(days=1, hours=3, microseconds=5)
    assert subs.suppress(store, "fay@example.org", "bounced", how="sendgrid webhook: bounce",
                         at=T0 + timedelta(days=1, hours=4), occurred=bounce_at.replace(microsecond=0))
    subs.request_subscription(store, "fay@example.org", "", [], how="form", at=T0 + timedelta(days=2))
    subs.confirm(store, fay.id, how="confirmation", at=T0 + timedelta(days=3))
    subs.set_themes(store, fay.id, ["research"], how="preferences page", at=T0 + timedelta(days=5))

    # the old bounce again (a replay, or a late retry): older than her confirmation
    assert not subs.suppress(store, "fay@example.org", "bounced", how="sendgrid webhook: bounce",
                             at=T0 + timedelta(days=6), occurred=bounce_at)
    assert status(store, "fay@example.org") == "active"
    # a bounce after she came back (after the confirmation, if before the change of themes) counts
    assert subs.suppress(store, "fay@example.org", "bounced", how="sendgrid webhook: bounce",
                         at=T0 + timedelta(days=6), occurred=T0 + timedelta(days=4))
    assert status(store, "fay@example.org") == "bounced"


def test_the_organiser_activating_a_pending_address_gives_it_its_own_themes_else_every_theme(store):
    """The list or `subscribers add` vouch for a pending address, not for its requests: anyone can post the
    form with any address, so a request's themes are not the owner's until the owner confirms it. The
    organiser's themes apply when they give any, otherwise every theme, and only the organiser's name (a
    request's could greet the owner by whatever a stranger typed); its requests end."""
    requests = {}
    for address in ("csv-asked@example.org", "csv-listed@example.org", "cli-asked@example.org",
                    "cli-listed@example.org"):
        subs.request_subscription(store, address, "Earlier", ["space"], how="form", at=T0)
        requests[address] = subs.request_subscription(store, address, "Asked", ["research"], how="form",
                                                      at=T0 + timedelta(hours=1))
    later = T0 + timedelta(days=1)

    assert subs.import_rows(store, [("csv-asked@example.org", "", frozenset()),
                                    ("csv-listed@example.org", "Listed", {"peer support"})], how=CSV, at=later) == 2
    subs.add(store, "cli-asked@example.org", "", [], how="cli", at=later)
    subs.add(store, "cli-listed@example.org", "Listed", ["peer support"], how="cli", at=later)

    found = {s.email: (s.status, s.name, s.themes) for s in subs.active_subscribers(store)}
    assert found == {"csv-asked@example.org": ("active", "", frozenset()),  # every theme, no name: not the request's
                     "csv-listed@example.org": ("active", "Listed", frozenset({"peer support"})),
                     "cli-asked@example.org": ("active", "", frozenset()),
                     "cli-listed@example.org": ("active", "Listed", frozenset({"peer support"}))}
    with store.transaction() as db:
        assert db.execute("SELECT COUNT(*) FROM subscription_requests").fetchone()[0] == 0  # ended, as confirming does
    record = [(e.status, e.how) for e in subs.history(store, requests["cli-asked@example.org"].subscriber.id)]
    assert record == [("pending", "form"), ("pending", "form"), ("active", "cli")]


def test_a_strangers_form_post_chooses_nothing_for_an_address_the_organiser_then_activates(store):
    later = T0 + timedelta(hours=1)
    posted = {address: subs.request_subscription(store, address, "", ["research"], how="form", at=T0)
              for address in ("gil@example.org", "hal@example.org")}  # by someone else: only a theme they chose
    subs.add(store, "gil@example.org", "Gil", [], how="cli", at=later)
    assert subs.import_rows(store, [("hal@example.org", "Hal")], how=CSV, at=later) == 1
    for address, request in posted.items():
        assert not subs.confirm(store, request.subscriber.id, request=request.id, how="confirmation",
                                at=later + timedelta(minutes=1))  # the post's own link is void too
        found = subs.find_subscriber(store, address)
        assert (found.status, found.themes) == ("active", frozenset())  # every theme, as for a new address


def test_ids_are_drawn_at_random_and_the_list_stays_in_the_order_people_joined(store):
    # Ids tell nothing of when someone joined (`subscribers.ID_RANGE`): the listing (export, `subscribers list`) is
    # by the time they joined, then, for those one import added at one time, by the list's order.
    subs.add(store, "zed@example.org", "", [], how="cli", at=T0)
    later = [subs.request_subscription(store, "amy@example.org", "", [], how="form", at=T0 + timedelta(hours=1))
             .subscriber, subs.add(store, "kim@example.org", "", [], how="cli", at=T0 + timedelta(hours=2))]
    subs.import_rows(store, [(f"{name}@example.org", "") for name in ("yan", "bea", "xia", "cal", "wu")], how=CSV,
                     at=T0 + timedelta(hours=3))
    listed = [s.email for s, _ in subs.listing(store)]
    assert listed == [f"{name}@example.org" for name in ("zed", "amy", "kim", "yan", "bea", "xia", "cal", "wu")]
    ids = [s.id for s, _ in subs.listing(store)]
    assert len(set(ids)) == len(ids) and all(0 < ident < 2**53 for ident in ids)
    assert [s.email for s in subs.active_subscribers(store)] == [e for e in listed if e != "amy@example.org"]
    assert [s.email for s, _ in subs.listing(store, "pending")] == ["amy@example.org"] == [
        subs.get_subscriber(store, later[0].id).email]


def test_a_send_reads_every_active_subscriber_of_a_choice_once_whatever_their_ids(store):
    subs.import_rows(store, [(f"r{n}@example.org", "", {"research"}) for n in range(11)], how=CSV, at=T0)
    subs.import_rows(store, [(f"a{n}@example.org", "") for n in range(4)], how=CSV, at=T0)
    for chunk in (1, 2, 3, 11, 5000):
        read = list(subs.active_with_choice(store, frozenset({"research"}), chunk=chunk))
        assert sorted(email for _, email, _ in read) == sorted(f"r{n}@example.org" for n in range(11))
        assert [ident for ident, _, _ in read] == sorted({ident for ident, _, _ in read})  # each once, by id
