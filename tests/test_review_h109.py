"""Review h109: failing tests for the changes since 7316ced (the summary rules, the consent wording, request
expiry and outbox retention)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipeline.config import load_project

# -- summaries: real sentences now rejected ------------------------------------------------------------------------


@pytest.mark.parametrize("sentence", [
    "The grant rose from £10,000 to £25,000 this year.",
    "We raised £1,500 for Mind and £2,000 for Touchstone.",
])
def test_a_sentence_with_amounts_in_thousands_is_not_a_price_list(sentence):
    """`_prices` (plugins/transforms/sentences.py) splits a sentence at every comma, a thousands separator's too, so
    a plain sentence naming two sums over 999 is taken for a price list and never used in a summary (it was before)."""
    from plugins.transforms.sentences import is_real

    assert is_real(sentence)


@pytest.mark.parametrize("sentence", [
    "Our group meets on Mondays, and it is free, friendly and open to all.",
    "We marched, we sang, and in March we won.",
    "If you can, you may bring a friend, a carer or a supporter.",
])
def test_an_ordinary_sentence_that_names_a_day_or_month_is_not_a_line_of_particulars(sentence):
    """`_particulars` rejects any sentence of short comma-separated pieces that names a day or a month, and matches
    case-insensitively, so the verb "may" is the month May: an ordinary sentence with a list in it ("free, friendly
    and open to all", "you may bring a friend, a carer ...") is dropped from summaries, as it was not before."""
    from plugins.transforms.sentences import is_real

    assert is_real(sentence)


def test_a_hard_wrapped_markdown_sentence_is_not_cut_at_a_line_of_proper_names():
    """`_lines_apart` (plugins/transforms/paragraphs.py) takes a line of a hard-wrapped Markdown paragraph for a
    heading when it happens to be title case (names, small words) and the next line starts with a name: the sentence
    is cut in two, its start lost, and the summary begins mid-sentence with a different subject."""
    from plugins.sources.text import markdown_to_html
    from plugins.transforms.summary import summarise_html

    post = ("Since 2012 the Leeds Survivor Led Crisis Service, Touchstone and\n"
            "Mind in Bradford have run peer support groups across the city.\n\n"
            "Each group meets weekly and is open to anyone who hears voices.\n")
    summary = summarise_html(markdown_to_html(post, "https://example.org/blog/groups"), 300, 2)

    assert summary.startswith("Since 2012 the Leeds Survivor Led Crisis Service, Touchstone and Mind in Bradford "
                              "have run peer support groups"), summary



def test_a_bold_subject_before_a_hard_wrap_stays_in_its_sentence():
    """`_without_label` (plugins/transforms/paragraphs.py) now drops a leading bold run followed by a line break as a
    heading, whatever follows: in a hard-wrapped Markdown post whose first sentence starts with its subject in bold
    ("**Hearing Voices Network Leeds**\nhas moved ..."), the subject is cut off, the rest starts in lower case and is
    no sentence, and the post's news is left out of its summary (it was its lead before)."""
    from plugins.sources.text import markdown_to_html
    from plugins.transforms.summary import summarise_html

    post = ("**Hearing Voices Network Leeds**\nhas moved to a new venue on Call Lane, near the station.\n\n"
            "Groups meet every Tuesday evening from six until eight.\n")
    summary = summarise_html(markdown_to_html(post, "https://example.org/blog/venue"), 300, 2)

    assert summary.startswith("Hearing Voices Network Leeds has moved to a new venue on Call Lane"), summary


def test_a_post_that_is_one_quotation_still_gets_a_summary_when_its_first_sentence_is_long():
    """`_candidates` marks every sentence of a quote after the first as a quotation's, and `_summarise` lets none of
    them lead: meant for a pull quote beside the paragraphs, it also hits a post whose whole body is a blockquote (a
    testimonial, a reader's story), where every sentence is the quotation's. With a first sentence over `max_chars`,
    such a post now gets no summary at all, though its next sentences fit (they led before)."""
    from plugins.transforms.summary import summarise_html

    first = ("When I first heard voices I was nineteen and "
             + "nobody around me, not my family, not my doctors and not my friends, " * 3
             + "had any idea what to do with me.")
    body = (f"<blockquote><p>{first}</p><p>The group gave me a place where my experience made sense.</p>"
            "<p>I go every week now and I help run it.</p></blockquote>")
    assert len(first) > 200

    assert summarise_html(body, 200, 2).startswith("The group gave me a place where my experience made sense.")

# -- consent wording --------------------------------------------------------------------------------------------------

ORGANISERS_FORM = """{% extends "web/layout.html" %}
{% block content %}
<form method="post" action="{{ app_path }}/subscribe">
  <input type="hidden" name="form" value="{{ form_token }}">
  <label for="email">Email address</label>
  <input type="email" id="email" name="email" value="{{ values.email }}">
  <input type="text" id="{{ honeypot }}" name="{{ honeypot }}" value="" tabindex="-1" autocomplete="off">
  <button type="submit">Subscribe</button>
</form>
<p class="hint">Data: the Leeds office keeps your address on its own server for up to 2 years, and shares it with
the funder's evaluation team.</p>
{% endblock %}
"""


def test_the_consent_record_keeps_only_wording_the_form_really_showed(tmp_path, monkeypatch):
    """`Pages.consent_wording` (pipeline/web/render.py) always records the plain text of web/consent.html, whatever
    the form showed: an organiser's own web/subscribe.html (made before consent.html existed, or with wording of its
    own) never includes it, yet each request's consent record says the person was shown the shipped wording, text
    they never saw. A record that misstates what the person was told is worse than none (UK GDPR art. 7(1))."""
    from pipeline.runner import state_path
    from pipeline.sanitize import html_to_text
    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from tests.serve_fixtures import SERVE_TOML, LiveServer

    monkeypatch.setenv("TEST_SERVE_SECRET", "a-long-enough-secret-for-the-review-test")
    (tmp_path / "pipeline.toml").write_text(SERVE_TOML, encoding="utf-8")
    (tmp_path / "templates" / "web").mkdir(parents=True)
    (tmp_path / "templates" / "web" / "subscribe.html").write_text(ORGANISERS_FORM, encoding="utf-8")
    project = load_project(tmp_path / "pipeline.toml")
    server = LiveServer(project).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as browser:
            page = browser.get("/subscribe").text
            token = re.search(r'name="form" value="([^"]+)"', page).group(1)
            assert browser.post("/subscribe", data={"form": token, "email": "fay@example.org"}).status_code == 200
        server.wait_for_message("fay@example.org")
    finally:
        server.stop()
    store = Store(state_path(project))
    try:
        [asked] = subs.history(store, subs.find_subscriber(store, "fay@example.org").id)
    finally:
        store.close()

    shown = " ".join(html_to_text(page).split())
    assert " ".join(asked.wording.split()) in shown, (asked.wording, shown)


def test_a_salvaged_database_that_lost_an_event_row_still_takes_form_posts(tmp_path):
    """consent_shown names its event by subscriber_events' id, which SQLite gives again (max + 1) once the highest row
    is gone. A copy salvaged with `.recover` (the README's advice for a damaged file) that lost an event's row but kept
    its consent_shown row makes the next event take that id: the INSERT into consent_shown then fails (UNIQUE), so
    every form post and confirmation fails, again and again, while an event without wording silently inherits the
    lost one's wording in `subscribers show`."""
    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from tests.test_ids_after_salvage import salvage

    path = tmp_path / "state.sqlite"
    at = datetime(2026, 11, 1, tzinfo=UTC)
    store = Store(path)
    subs.request_subscription(store, "ann@example.org", "", [], how="form", at=at, wording="Privacy: wording one.")
    store.close()
    salvage(path, "DELETE FROM subscriber_events WHERE id = (SELECT MAX(id) FROM subscriber_events)")

    store = Store(path)
    try:
        subs.request_subscription(store, "bob@example.org", "", [], how="form", at=at,
                                  wording="Privacy: wording two.")
        bob = subs.find_subscriber(store, "bob@example.org")
        assert [event.wording for event in subs.history(store, bob.id)] == ["Privacy: wording two."]
    finally:
        store.close()


# -- the outbox: what expiry and retention delete ------------------------------------------------------------------

OUTBOX_TOML = """
[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
unsubscribe = "mailto:news@network.example.org?subject=unsubscribe"
"""


@pytest.fixture
def outbox_and_store(project_from, tmp_path):
    from pipeline.state import Store

    project = project_from(OUTBOX_TOML, files={"subscribers.csv": "email,name\n"})
    store = Store(tmp_path / "state.sqlite")
    yield project.sinks[0].deliverer, store
    store.close()


def _message(to: str, subject: str):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "news@network.example.org", to, subject
    msg.set_content("Body.\n")
    return msg


def test_an_expired_request_takes_only_its_confirmations_out_of_the_outbox(outbox_and_store):
    """`Outbox.forget_request` deletes every file of messages/ to the address, not the confirmations: an organiser
    in `[alerts] to` who tried the form with their own address and did not confirm loses, 7 days later, every alert
    (and test send) the outbox holds for them, one written a minute before included."""
    from pipeline.state import subscribers as subs
    from pipeline.subscribers.confirmation import send_confirmation
    from pipeline.subscribers.expiry import expire_requests
    from pipeline.subscribers.signing import Links

    deliverer, store = outbox_and_store
    now = datetime.now(UTC)
    request = subs.request_subscription(store, "org@example.org", "", [], how="form", at=now - timedelta(days=8))
    confirmation = send_confirmation(deliverer.project, request, Links(deliverer.project, secret=b"s" * 32))
    [alert] = deliverer.send([_message("org@example.org", "Test Network: the source 'blog' skipped 2 records")],
                             None)

    assert expire_requests(store, deliverer, at=now) == 1

    assert not Path(confirmation).exists()
    assert Path(alert.reference).exists(), "the organiser's alert was deleted with the expired request"


def test_pruning_the_outbox_leaves_a_message_being_written_now(outbox_and_store):
    """`Outbox._prune` compares each name in messages/ with a date, and a name starting with "." sorts before any
    date: the temporary file `write_atomic` is writing at that moment (`.<name>.XXXX`, by `pipeline serve`'s
    confirmation, in another process, while a run sends an issue) is deleted under it, its rename fails, and the
    person who just subscribed gets no confirmation."""
    deliverer, _ = outbox_and_store
    messages = deliverer.folder / "messages"
    messages.mkdir(parents=True)
    name = f"{datetime.now():%Y%m%d-%H%M%S-%f}-fay@example.org-0123456789.eml"
    being_written = messages / f".{name}.k3j_x9q2"
    being_written.write_bytes(b"From: news@network.example.org\r\n")

    deliverer.open_batch(20)

    assert being_written.exists()


def test_moving_the_list_keeps_the_wording_each_consent_was_given_under(tmp_path, monkeypatch, capsys):
    """`subscribers export --status all` is how a list moves to another database "with each consent record", and the
    import keeps that record; but `records()` (pipeline/state/subscribers.py) and `Event.text()` leave out the wording
    now kept with each entry, so a moved list no longer shows what anyone was told when they consented (the reason
    schema step 16 keeps it, UK GDPR art. 7(1)), and no copy of it is kept anywhere."""
    from pipeline.cli import main
    from pipeline.state import Store
    from pipeline.state import subscribers as subs
    from tests.serve_fixtures import SERVE_TOML

    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    config = tmp_path / "pipeline.toml"
    config.write_text(SERVE_TOML, encoding="utf-8")
    main(["subscribers", "show", "nobody@example.org", "--config", str(config)])  # makes the state database
    store = Store(tmp_path / "state" / "pipeline.sqlite")
    try:
        at = datetime.now(UTC) - timedelta(days=1)
        asked = subs.request_subscription(store, "gil@example.org", "Gil", [], how="form", at=at,
                                          wording="Privacy: the Leeds office keeps your address for two years.")
        assert subs.confirm(store, asked.subscriber.id, how="confirmation", at=at, request=asked.id,
                            wording="Privacy: the Leeds office keeps your address for two years.")
    finally:
        store.close()
    capsys.readouterr()

    assert main(["subscribers", "export", "--status", "all", "--config", str(config)]) == 0

    exported = capsys.readouterr().out
    assert "gil@example.org" in exported
    assert "the Leeds office keeps your address for two years" in exported, exported
