"""The email sink: what the issue says, that it is safe, that it fits, and that nobody gets it twice."""

from __future__ import annotations

import dataclasses
import email
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from pathlib import Path

import pytest

from pipeline import hookimpl, site
from pipeline.components import Deliverer, Delivery, Source
from pipeline.edition import Edition
from pipeline.errors import ConfigError, SinkError
from pipeline.mail.message import TOKEN_TAG
from pipeline.models import EventDetails, JobDetails, Kind, PriceTier, ProgrammeSlot
from pipeline.run_context import RunContext
from pipeline.runner import run as run_pipeline
from pipeline.state import Store, journal
from pipeline.state import subscribers as subscriber_state
from pipeline.subscribers import signing
from plugins.deliveries.outbox import file_name
from plugins.sinks.email.render import render_edition
from tests.conftest import BASE_TOML

AS_OF = date(2016, 2, 1)
MOMENT = datetime(2016, 2, 1, tzinfo=UTC)
SUBSCRIBERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"
GMAIL_CLIP_BYTES = 102 * 1024


def sink_toml(delivery: str = "") -> str:
    return f"""
    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"
    from_email = "news@network.example.org"
    unsubscribe = "mailto:news@network.example.org?subject=unsubscribe"
    {delivery}
    """


class Fixed:
    """A plugin with one source, `fixed`, that yields the items it was given."""

    def __init__(self, items):
        self.items = items

    @hookimpl
    def register_sources(self, register):
        items = self.items

        class FixedSource(Source):
            name = "fixed"

            def fetch(self, run):
                return list(items)

        register(FixedSource)


class Flaky:
    """A plugin with a delivery method, `flaky`, that fails for bob and remembers who it was asked to send to."""

    def __init__(self):
        self.asked: list[list[str]] = []

    @hookimpl
    def register_deliveries(self, register):
        asked = self.asked

        class FlakyDelivery(Deliverer):
            name = "flaky"

            def send(self, messages, run):
                recipients = [m["To"].addresses[0].addr_spec for m in messages]
                asked.append(recipients)
                return [Delivery(r, r != "bob@example.org", reference=f"ref-{r}",
                                 error="" if r != "bob@example.org" else "552 mailbox full") for r in recipients]

        register(FlakyDelivery)


@pytest.fixture
def newsletter(project_from, tmp_path):
    """newsletter(items=(), delivery="", subscribers=SUBSCRIBERS, plugins=(), web=False) -> (project, run);
    `web`: the project publishes the site and its feed as well (archive and rss sinks)."""
    stores = []

    def make(items=(), delivery: str = "", subscribers: str = SUBSCRIBERS, plugins=(), web: bool = False):
        toml = sink_toml(delivery) + ('[sources.fixed]\ntype = "fixed"\n' if items else "")
        toml += '[sinks.site]\ntype = "archive"\n[sinks.feed]\ntype = "rss"\n' if web else ""
        plugins = [*plugins, ("fixed-items", Fixed(items))] if items else list(plugins)
        project = project_from(toml, files={"subscribers.csv": subscribers}, plugins=plugins)
        stores.append(Store(tmp_path / "state" / "direct.sqlite"))
        return project, RunContext(project, stores[-1], AS_OF, MOMENT)

    yield make
    for store in stores:
        store.close()


def edition_of(items, title="Test Network: issue 1, February 2016", store: Store | None = None) -> Edition:
    """An edition of `items`; recorded in `store` (deliveries need that) when one is given."""
    start = datetime(2016, 1, 1, tzinfo=UTC)
    number = store.create_edition(AS_OF, start, MOMENT, lambda n: title, [i.id for i in items], MOMENT).number \
        if store else 1
    return Edition(number, AS_OF, start, MOMENT, title, list(items))


def subscriber_id(project, address: str) -> int:
    store = Store(project.core.state_dir / "pipeline.sqlite")
    try:
        return next(s.id for s in subscriber_state.active_subscribers(store) if s.email == address)
    finally:
        store.close()


def eml(project, number: int, recipient: str) -> email.message.EmailMessage:
    path = project.root / "outbox" / f"issue-{number}" / file_name(recipient)
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


@pytest.fixture
def full_issue(item_factory):
    """One item of each kind, with the details a subscriber looks for."""
    job = JobDetails(organisation="Leeds Mind", location="Leeds", hours="22.5 hours a week",
                     contract="Fixed term, 12 months", salary="£18,000 pro rata", closing_date=date(2016, 2, 14),
                     how_to_apply="Apply online by noon on the closing date.")
    event = item_factory(Kind.EVENT, "Seminar 3: Contemporary Developments in Healthcare Practice",
                         themes=["co-production"])
    event.event.programme = [ProgrammeSlot("9.30", "Registration (with tea and coffee available)"),
                             ProgrammeSlot("10.30", "Co-production and peer support", ("David Crepaz-Keay",))]
    event.event.prices.append(PriceTier("Student", Decimal("20"), note="limited places"))
    return [
        item_factory(Kind.POST, "April blog post: some ideas on co-production", author="Pamela Fisher",
                     summary="Notes from the final discussion at St Catherine's.", themes=["research", "power"]),
        item_factory(Kind.NEWS, "Recovery College opens in Kirklees", source="kirklees-news"),
        item_factory(Kind.JOB, "Peer support worker", job=job),
        event,
    ]


def test_html_has_every_section_in_order_with_job_and_event_details(newsletter, full_issue):
    project, run = newsletter(web=True)

    rendered = render_edition(edition_of(full_issue), run, unsubscribe="https://network.example.org/unsubscribe/t")

    html = rendered.html
    assert html.startswith("<!doctype html>")
    positions = [html.index(title) for title in ("From the blog", "Partner news", "Jobs", "Events")]
    assert positions == sorted(positions)
    for text in ("Test Network", "Issue 1", "April blog post: some ideas on co-production", "Pamela Fisher",
                 "Notes from the final discussion at St Catherine&#39;s.", "Posted 15 January 2016",
                 "Closing date: Sunday 14 February 2016", "Leeds Mind", "Salary: £18,000 pro rata",
                 "22.5 hours a week · Fixed term, 12 months", "Apply online by noon on the closing date.",
                 "Tuesday 2 February 2016, 09:30–17:00 GMT", "Jaakko Seikkula", "David Crepaz-Keay",
                 "Organisation rate: <strong>£125</strong>", "Group rate: <strong>£112.50</strong>",
                 "Student: <strong>£20</strong> (limited places)", 'href="https://example.org/book"',
                 '<span class="tag">co-production</span>',
                 f'href="{site.edition_url(project, 1)}"', f'href="{site.archive_url(project)}"',
                 f'href="{site.feed_url(project)}"', 'href="https://network.example.org/unsubscribe/t"'):
        assert text in html, text
    assert "View this issue in your browser" in html
    assert "kirklees-news" not in html and "test ·" not in html  # source names are config keys, not bylines
    assert rendered.text.index("FROM THE BLOG") < rendered.text.index("EVENTS")
    for text in ("CLOSING DATE: Sunday 14 February 2016", "Organisation rate: £125", "Group rate: £112.50",
                 "WHEN: Tuesday 2 February 2016, 09:30–17:00 GMT", f"{site.edition_url(project, 1)}",
                 "Unsubscribe: https://network.example.org/unsubscribe/t"):
        assert text in rendered.text, text


def test_empty_sections_are_left_out_and_body_falls_back_to_an_excerpt(newsletter, item_factory):
    _, run = newsletter()
    body = "<p>First paragraph.</p><p>Second paragraph.</p>" + "<p>More words here. </p>" * 200 + "<p>THE END</p>"

    rendered = render_edition(edition_of([item_factory(Kind.NEWS, "Only news", body_html=body)]), run)

    assert "Partner news" in rendered.html
    assert not any(t in rendered.html for t in ("From the blog", "Jobs", "Events"))
    assert "First paragraph. Second paragraph." in rendered.html  # blocks keep a space between them
    assert "THE END" not in rendered.html and "<p>First paragraph.</p>" not in rendered.html


def test_untrusted_markup_never_reaches_the_html(newsletter, item_factory):
    _, run = newsletter()
    evil = item_factory(Kind.EVENT, '<script>alert("title")</script><b>Bold</b> <img src=x onerror=alert(1)>',
                        url="javascript:alert('url')",
                        body_html='<script>alert("body")</script><a href="javascript:alert(2)">click</a>',
                        themes=["<script>alert('theme')</script>"])
    evil.event.booking_url = "javascript:alert('book')"
    evil.event.venue = "<iframe src=//evil.example></iframe>"

    rendered = render_edition(edition_of([evil]), run)

    lowered = rendered.html.lower()
    for bad in ("<script", "javascript:", "<img", "<iframe", "<b>bold"):
        assert bad not in lowered, bad
    assert "&lt;b&gt;Bold&lt;/b&gt;" in rendered.html  # a plain-text title is shown as written


def test_subject_is_one_line_so_headers_cannot_be_injected(newsletter, tmp_path, item_factory):
    project, run = newsletter()
    title = "Issue <b>1</b>\r\nBcc: victim@example.org\nX-Evil: yes"
    edition = edition_of([item_factory(Kind.POST, "A post\r\nBcc: victim@example.org")], title, run.store)

    rendered = render_edition(edition, run)
    project.sinks[0].write(edition, run)

    assert rendered.subject == "Issue <b>1</b> Bcc: victim@example.org X-Evil: yes"
    message = eml(project, 1, "ann@example.org")
    assert message["Subject"] == rendered.subject
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "<title>Issue &lt;b&gt;1&lt;/b&gt; Bcc" in rendered.html


def test_a_forty_item_issue_stays_under_gmails_clipping_limit(newsletter, item_factory):
    _, run = newsletter(web=True)
    long_body = "<p>" + "Co-production is about power-sharing, and power-sharing needs new professionalism. " * 300
    items = []
    for n in range(10):
        for kind in Kind:
            item = item_factory(kind, f"{kind.value.title()} {n}: a fairly long title about co-production in "
                                      f"mental health care", body_html=long_body + f"END{n}</p>",
                                author="Pamela Fisher", themes=["co-production", "peer support", "research"])
            if item.event:
                item.event.programme = [ProgrammeSlot(f"{9 + h}.00", "A session with a long descriptive title "
                                                                      "and several speakers", ("Speaker A", "B"))
                                        for h in range(20)]
            items.append(item)

    rendered = render_edition(edition_of(items), run, max_per_section=10)  # as the email sink renders it

    assert len(items) == 40
    assert len(rendered.html.encode()) < GMAIL_CLIP_BYTES
    assert "END0" not in rendered.html  # excerpts, not whole bodies
    assert "…and 8 more in the web version" in rendered.html  # very long programmes are cut short


def test_no_edition_sends_nothing(newsletter):
    project, run = newsletter()

    result = project.sinks[0].write(None, run)

    assert result.summary == "no new edition; nothing sent"
    assert not (project.root / "outbox").exists()


def test_a_run_sends_each_subscriber_the_issue_once(newsletter, full_issue, tmp_path):
    project, _ = newsletter(items=full_issue)

    first = run_pipeline(project, as_of=AS_OF)

    [result] = [r for r in first.results if r.stage == "sink"]
    assert result.ok and result.summary == "issue 1: 2 sent via outbox, 0 already sent"
    assert first.exit_code == 0
    page = (project.core.out_dir / "newsletter" / "issue-1.html").read_text(encoding="utf-8")
    assert "Closing date: Sunday 14 February 2016" in page
    assert "ann@example.org" not in page and "Ann" not in page  # the archive shows this very page
    message = eml(project, 1, "ann@example.org")
    assert message["Subject"] == "Test Network: issue 1, February 2016"
    assert str(message["To"]) == "Ann <ann@example.org>"
    assert str(message["From"]) == "Test Network <news@network.example.org>"
    own_link = signing.Links(project).unsubscribe(subscriber_id(project, "ann@example.org"))
    assert own_link.startswith("https://network.example.org/unsubscribe/")
    assert message["List-Unsubscribe"] == f"<{own_link}>, <mailto:news@network.example.org?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Test Network <newsletter.network.example.org>"
    assert message["X-Newsletter-Edition"] == "1"
    assert message["Date"].datetime.year >= 2026  # when it was sent, by the clock, not the issue date
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n").rstrip("\n")
    own_preferences = signing.Links(project).preferences(subscriber_id(project, "ann@example.org"))
    assert f'href="{own_link}"' in html and f'href="{own_preferences}"' in html and TOKEN_TAG not in html
    own_line = re.search(r"\s*<p><a href=[^>]*>Unsubscribe</a>.*?</p>", html)[0]  # the kept copy has all but this
    assert own_link in own_line and html.replace(own_line, "") == page.rstrip("\n")

    for path in (project.root / "outbox").rglob("*.eml"):
        path.unlink()
    (tmp_path / "subscribers.csv").write_text(SUBSCRIBERS + "cat@example.org,Cat\n", encoding="utf-8")
    second = run_pipeline(project, as_of=AS_OF)

    [result] = [r for r in second.results if r.stage == "sink"]
    assert result.summary == "issue 1: 1 sent via outbox, 2 already sent"
    sent = sorted(p.name for p in (project.root / "outbox").rglob("*.eml"))
    assert sent == [file_name("cat@example.org")]


def test_bad_subscriber_rows_are_reported_with_file_and_line(newsletter, full_issue, tmp_path):
    rows = ("email,name\nann@example.org,Ann\nnot-an-address,Bob\n,No Email\nANN@Example.org,Ann again\n"
            '"cat@example.org","Cat, the second"\n')
    project, _ = newsletter(items=full_issue, subscribers=rows)

    report = run_pipeline(project, as_of=AS_OF)

    csv = tmp_path / "subscribers.csv"
    [result] = [r for r in report.results if r.stage == "sink"]
    assert result.summary == "issue 1: 2 sent via outbox, 0 already sent"
    assert report.problems == [
        f"{csv}:3: 'not-an-address' is not a valid email address; correct it or delete the row",
        f"{csv}:4: no email address in this row; add one or delete the row",
    ]
    assert report.exit_code == 3
    assert str(eml(project, 1, "cat@example.org")["To"]) == '"Cat, the second" <cat@example.org>'


def test_a_failed_delivery_fails_the_sink_but_keeps_the_successes(newsletter, full_issue):
    flaky = Flaky()
    project, run = newsletter(delivery='delivery = { type = "flaky" }', plugins=[("flaky", flaky)],
                              subscribers=SUBSCRIBERS + "cat@example.org,Cat\n")
    edition = edition_of(full_issue, store=run.store)

    with pytest.raises(SinkError) as caught:
        project.sinks[0].write(edition, run)

    assert str(caught.value).startswith("issue 1: 2 sent via flaky, 1 failed, 0 unknown "
                                        "(the first: 552 mailbox full); running again sends")
    assert journal.delivered_to(run.store, 1) == {"ann@example.org", "cat@example.org"}

    with pytest.raises(SinkError):
        project.sinks[0].write(edition, run)
    assert flaky.asked[-1] == ["bob@example.org"]  # a re-run retries only the failure


def test_the_copy_kept_in_out_has_no_link_that_only_a_recipient_could_fill(newsletter, full_issue):
    """out/newsletter/ may be published with the site: its copy of the issue carries no unsubscribe or
    preferences link, each of which is a tag there that no recipient's token ever fills."""
    project, _ = newsletter(items=full_issue)

    run_pipeline(project, as_of=AS_OF)

    folder = project.core.out_dir / "newsletter"
    for kept in (folder / "issue-1.html", folder / "issue-1.txt"):
        text = kept.read_text(encoding="utf-8")
        assert TOKEN_TAG not in text and "/unsubscribe/" not in text and "/preferences/" not in text, kept.name
        assert "Sunday 14 February 2016" in text  # the issue itself is all there
    own = signing.Links(project).unsubscribe(subscriber_id(project, "ann@example.org"))
    sent = eml(project, 1, "ann@example.org")
    assert own in sent.get_body(("html",)).get_content() and own in sent.get_body(("plain",)).get_content()


def test_the_web_version_belongs_to_nobody_so_has_no_unsubscribe_link(newsletter, full_issue):
    _, run = newsletter()

    html = render_edition(edition_of(full_issue), run).html

    assert "unsubscribe" not in html.lower() and TOKEN_TAG not in html


@pytest.mark.parametrize(("toml", "files", "expected"), [
    (sink_toml('delivery = { type = "pigeon" }'), {"subscribers.csv": SUBSCRIBERS},
     "pipeline.toml: [sinks.newsletter.delivery]: unknown delivery type 'pigeon'"),
    (sink_toml('delivery = { type = "outbox", folde = "x" }'), {"subscribers.csv": SUBSCRIBERS},
     "pipeline.toml: [sinks.newsletter.delivery] (outbox): unknown key 'folde'"),
    (sink_toml().replace("mailto:news@network.example.org?subject=unsubscribe", "javascript:alert(1)"),
     {"subscribers.csv": SUBSCRIBERS}, "unsubscribe: 'javascript:alert(1)' must be a mailto: link"),
    (sink_toml(), {}, "subscribers: file 'subscribers.csv' does not exist"),
])
def test_configuration_mistakes_name_the_table_and_key(project_from, toml, files, expected):
    with pytest.raises(ConfigError) as caught:
        project_from(toml, files=files)
    assert expected in str(caught.value)


def test_a_subscriber_file_without_the_header_fails_clearly(newsletter, full_issue, tmp_path):
    project, run = newsletter(subscribers="ann@example.org,Ann\n")

    with pytest.raises(SinkError, match=r"subscribers.csv:1: the first line must be the header `email,name`"):
        project.sinks[0].write(edition_of(full_issue), run)


def test_edition_files_are_written_for_the_archive(newsletter, full_issue):
    project, run = newsletter()

    result = project.sinks[0].write(edition_of(full_issue, store=run.store), run)

    folder = Path(project.core.out_dir) / "newsletter"
    assert result.files == [str(folder / "issue-1.html"), str(folder / "issue-1.txt")]
    assert "Seminar 3: Contemporary Developments in Healthcare Practice" in (folder / "issue-1.txt").read_text()


def many_items(item_factory, per_kind: int, **fields):
    """`per_kind` items of each kind, each with a long body."""
    body = "<p>" + "Co-production is about power-sharing, and power-sharing needs new professionalism. " * 100 + "</p>"
    return [item_factory(kind, f"{kind.value.title()} {n}", published=datetime(2016, 1, 10, tzinfo=UTC),
                         body_html=body, **fields)
            for kind in Kind for n in range(per_kind)]


def test_a_huge_issue_shows_ten_a_section_in_the_email_and_everything_on_the_web(project_from, tmp_path,
                                                                                  item_factory):
    project = project_from(sink_toml() + '[sinks.archive]\ntype = "archive"\n',
                           files={"subscribers.csv": SUBSCRIBERS})
    store = Store(tmp_path / "state" / "huge.sqlite")
    run = RunContext(project, store, AS_OF, MOMENT)
    items = many_items(item_factory, 100)
    store.save_items([(item, "fp") for item in items], MOMENT)
    edition = edition_of(items, store=store)

    for sink in project.sinks:
        sink.write(edition, run)

    html = (project.core.out_dir / "newsletter" / "issue-1.html").read_text(encoding="utf-8")
    text = (project.core.out_dir / "newsletter" / "issue-1.txt").read_text(encoding="utf-8")
    assert len(html.encode()) < GMAIL_CLIP_BYTES
    assert html.count("…and 90 more in the web version") == 4  # one line under each section
    # each to the page of the web version (50 items a page) where the section's 11th item is, at the section
    rest = {"post": 1, "news": 3, "job": 5, "event": 7}
    for kind, page in rest.items():
        address = f"{site.url(project, site.edition_page_path(1, page))}#{kind}"
        assert f'<a href="{address}">…and 90 more in the web version</a>' in html
        assert f"…and 90 more in the web version:\n{address}\n" in text
    assert "Post 9" in html and "Post 10" not in html
    assert "Post 9" in text and "Post 10" not in text
    web = "".join(site.file(project, site.edition_page_path(1, n)).read_text(encoding="utf-8") for n in range(1, 9))
    assert all(f">{item.title}</a>" in web for item in items)  # the web version lists all 400, 50 a page
    assert "more in the web version" not in web
    store.close()


def test_an_email_that_would_be_clipped_shows_fewer_items_until_it_fits(newsletter, item_factory):
    _, run = newsletter(web=True)
    items = many_items(item_factory, 12, themes=[f"theme {n} " + "x" * 300 for n in range(12)])

    rendered = render_edition(edition_of(items), run, max_per_section=10)

    assert len(render_edition(edition_of(items), run).html.encode()) > 1.5 * GMAIL_CLIP_BYTES  # all 48 items
    assert len(rendered.html.encode()) < GMAIL_CLIP_BYTES
    assert "Post 0" in rendered.html and "Post 9" not in rendered.html  # fewer than 10 a section
    assert "more in the web version" in rendered.html and "more in the web version" in rendered.text
    assert "Post 9" not in rendered.text  # the text part shows the same selection


def test_even_one_enormous_item_cannot_make_the_email_too_big(newsletter, item_factory):
    _, run = newsletter(web=True)
    # Long text fields are cut in the email, but a link cannot be: a 200 KB URL leaves the item out.
    enormous = item_factory(Kind.NEWS, "Enormous " + "word " * 40_000, url="https://example.org/" + "word-" * 40_000)

    rendered = render_edition(edition_of([enormous]), run, max_per_section=10)

    assert len(rendered.html.encode()) < GMAIL_CLIP_BYTES
    assert "1 item in the web version" in rendered.html


def test_max_items_per_section_is_a_setting_of_at_least_one(newsletter, project_from, full_issue):
    full_issue.append(dataclasses.replace(full_issue[0], id="second", title="Second post"))
    project, run = newsletter(delivery="max_items_per_section = 1", web=True)  # any line of the sink's table

    project.sinks[0].write(edition_of(full_issue, store=run.store), run)

    html = (project.core.out_dir / "newsletter" / "issue-1.html").read_text(encoding="utf-8")
    assert "…and 1 more in the web version" in html and "Second post" not in html
    with pytest.raises(ConfigError, match="max_items_per_section"):
        project_from(sink_toml("max_items_per_section = 0"), files={"subscribers.csv": SUBSCRIBERS})


def seminar(item_factory, slots: int):
    item = item_factory(Kind.EVENT, "Seminar 3")
    item.event.programme = [ProgrammeSlot(f"{9 + n // 2}:{30 * (n % 2):02d}", f"Session {n + 1}", (f"Speaker {n + 1}",))
                            for n in range(slots)]
    return item


def test_a_day_seminar_programme_is_shown_whole_in_the_email(newsletter, item_factory):
    _, run = newsletter()

    rendered = render_edition(edition_of([seminar(item_factory, 12)]), run, max_per_section=10)

    assert "14:30 Session 12 — Speaker 12" in rendered.html and "14:30 Session 12 — Speaker 12" in rendered.text
    assert "more in the web version" not in rendered.html


def test_a_very_long_programme_is_cut_in_the_email_but_whole_on_the_web(newsletter, item_factory):
    project, run = newsletter(web=True)
    edition = edition_of([seminar(item_factory, 30)])

    email_html = render_edition(edition, run, max_per_section=10).html
    web = render_edition(edition, run).html

    assert "Session 12 " in email_html and "Session 13 " not in email_html
    assert f'<a href="{site.edition_url(project, 1)}">…and 18 more in the web version</a>' in email_html
    assert "23:30 Session 30 — Speaker 30" in web and "more in the web version" not in web


@pytest.mark.parametrize("sinks", ["", '[sinks.feed]\ntype = "rss"\n'], ids=["email only", "and rss"])
def test_without_an_archive_the_email_shows_every_item_and_links_to_no_page_of_the_site(project_from, item_factory,
                                                                                       sinks):
    project = project_from(sink_toml("max_items_per_section = 2") + sinks, files={"subscribers.csv": SUBSCRIBERS})
    store = Store(project.core.state_dir / "pipeline.sqlite")
    posts = [item_factory(Kind.POST, f"Post number {n}") for n in range(1, 6)]
    try:
        rendered = render_edition(edition_of([*posts, seminar(item_factory, 30)]), RunContext(project, store, AS_OF,
                                  MOMENT), unsubscribe="https://network.example.org/unsubscribe/t", max_per_section=2)
    finally:
        store.close()

    home = project.core.site_url.rstrip("/")  # the network's own site, where people signed up
    links = {url.rstrip(".").rstrip("/") for url in re.findall(r'href="([^"]+)"', rendered.html)
             + re.findall(r"https?://\S+", rendered.text)}
    site_pages = {url for url in links if url.startswith(home) and url != home and "/unsubscribe/" not in url}
    # no web version, no archive: no dead link; the subscribe form is `pipeline serve`'s, there with an email sink
    assert site_pages == {site.subscribe_url(project), *([site.feed_url(project)] if sinks else [])}
    for text in (rendered.html, rendered.text):
        assert all(f"Post number {n}" in text for n in range(1, 6))  # nowhere else to read the rest
        assert "web version" not in text and "Past issues" not in text and "stays in the archive" not in text
        assert "…and 18 more" in text or "...and 18 more" in text  # of the programme, cut as in any email
    assert ("RSS feed" in rendered.html) == bool(sinks)


def test_without_an_archive_an_item_on_the_networks_own_site_links_to_its_own_url(project_from, item_factory):
    # <site_url>/seminars/3 is a page of the network's own site, not one the archive sink would make: with an
    # archive its page there is linked instead, but with none that page is never written.
    project = project_from(sink_toml(""), files={"subscribers.csv": SUBSCRIBERS})
    own = project.core.site_url + "/seminars/3"
    store = Store(project.core.state_dir / "pipeline.sqlite")
    try:
        rendered = render_edition(edition_of([item_factory(Kind.EVENT, "Open Dialogue day", url=own)]),
                                  RunContext(project, store, AS_OF, MOMENT), max_per_section=10)
    finally:
        store.close()

    assert f'href="{own}"' in rendered.html and own in rendered.text
    assert "/events/open-dialogue-day" not in rendered.html + rendered.text


@pytest.mark.parametrize("archive", [False, True])
def test_an_item_with_no_address_of_its_own_links_to_its_page_when_the_site_is_written(project_from, item_factory,
                                                                                      archive):
    # A job the network posts itself has no URL of its own, but the archive gives it a page (the feeds link it
    # too); with no archive there is nothing to link, and its title stands alone.
    sinks = '[sinks.site]\ntype = "archive"\n' if archive else ""
    project = project_from(sink_toml() + sinks, files={"subscribers.csv": SUBSCRIBERS})
    job = item_factory(Kind.JOB, "Peer support worker", url="")
    store = Store(project.core.state_dir / "pipeline.sqlite")
    try:
        rendered = render_edition(edition_of([job]), RunContext(project, store, AS_OF, MOMENT), max_per_section=10)
    finally:
        store.close()

    page = site.url(project, site.item_path(project, job))
    assert (f'href="{page}"' in rendered.html) is archive and (page in rendered.text) is archive
    assert "Peer support worker" in rendered.html and 'href=""' not in rendered.html


def event_item(item_factory, **details):
    return item_factory(Kind.EVENT, "Open Dialogue", event=EventDetails(**details))


@pytest.mark.parametrize(("details", "expected"), [
    # a Helsinki event keeps Helsinki time
    ({"start": datetime(2016, 2, 2, 7, 30, tzinfo=UTC), "end": datetime(2016, 2, 2, 12, tzinfo=UTC),
      "timezone": "Europe/Helsinki"}, "Tuesday 2 February 2016, 09:30–14:00 EET"),
    # old data with no zone: the project's (Europe/London, on BST in June)
    ({"start": datetime(2016, 6, 2, 8, 30, tzinfo=UTC), "end": datetime(2016, 6, 2, 16, tzinfo=UTC)},
     "Thursday 2 June 2016, 09:30–17:00 BST"),
    ({"start": datetime(2016, 2, 17, 9, 30, tzinfo=UTC), "timezone": "Europe/London"},
     "Wednesday 17 February 2016, from 09:30 GMT"),
    ({"start": datetime(2016, 2, 2, tzinfo=UTC), "timezone": "Europe/London", "all_day": True},
     "Tuesday 2 February 2016"),
    ({"start": datetime(2016, 2, 1, 22, tzinfo=UTC), "end": datetime(2016, 2, 3, 22, tzinfo=UTC),
      "timezone": "Europe/Helsinki", "all_day": True}, "Tue 2 – Thu 4 February 2016"),
    ({"start": datetime(2016, 2, 29, tzinfo=UTC), "end": datetime(2016, 3, 2, tzinfo=UTC),
      "timezone": "Europe/London", "all_day": True}, "Mon 29 February – Wed 2 March 2016"),
    ({"start": datetime(2016, 2, 2, 9, tzinfo=UTC), "end": datetime(2016, 2, 3, 17, tzinfo=UTC),
      "timezone": "Europe/London"}, "Tuesday 2 February 2016, 09:00 GMT to Wednesday 3 February 2016, 17:00 GMT"),
])
def test_event_times_are_the_venues_and_all_day_events_have_no_times(newsletter, item_factory, details, expected):
    _, run = newsletter()

    rendered = render_edition(edition_of([event_item(item_factory, **details)]), run, max_per_section=10)

    assert f"<strong>{expected}</strong>" in rendered.html
    assert f"WHEN: {expected}\n" in rendered.text
    assert "00:00" not in rendered.html


def test_the_byline_names_the_author_or_says_when_it_was_posted(newsletter, item_factory):
    _, run = newsletter()
    unsigned = item_factory(Kind.EVENT, "Conference", source="events", published=datetime(2016, 1, 12, 9, tzinfo=UTC))
    signed = item_factory(Kind.EVENT, "Seminar", source="events", author="Open Dialogue UK",
                          published=datetime(2016, 1, 18, 9, tzinfo=UTC))

    rendered = render_edition(edition_of([unsigned, signed]), run)

    assert "Posted 12 January 2016" in rendered.html and "Open Dialogue UK · 18 January 2016" in rendered.html
    assert "events ·" not in rendered.html and "events ·" not in rendered.text


def test_one_item_with_huge_fields_does_not_crowd_out_the_others(newsletter, item_factory):
    """Single fields are cut in the email, so the clipping guard never has to drop other items for one."""
    _, run = newsletter(web=True)
    huge = "Send a CV and a covering letter explaining your experience of peer support. " * 1900  # ~140 KB
    job = item_factory(Kind.JOB, "Peer support worker " + "x" * 5000, author="A" * 5000, themes=["t"] * 500,
                       job=JobDetails(organisation="O" * 5000, location="L" * 5000, hours="H" * 5000,
                                      contract="C" * 5000, salary="S" * 5000, how_to_apply=huge))
    event = item_factory(Kind.EVENT, "Seminar")
    event.event.venue = "V" * 50_000
    event.event.speakers = [f"Speaker {n} " + "s" * 50 for n in range(2000)]
    event.event.programme = [ProgrammeSlot("9.30", "P" * 50_000, ("Q" * 50_000,))]
    event.event.prices = [PriceTier("L" * 50_000, Decimal("20"), note="N" * 50_000)]
    others = [item_factory(kind, f"Other {kind.value} {n}") for kind in Kind for n in range(2 + (kind is Kind.POST))]
    assert len(huge.encode()) > 140 * 1024 and len(others) == 9
    items = [job, event, *others]  # the huge job plus ten other items

    rendered = render_edition(edition_of(items), run, max_per_section=10)

    assert len(rendered.html.encode()) < GMAIL_CLIP_BYTES
    assert "more in the web version" not in rendered.html and "in the web version" not in rendered.text
    for item in others:
        assert f">{item.title}</a>" in rendered.html and f"* {item.title}\n" in rendered.text
    assert "Peer support worker xxx" in rendered.html and "Seminar" in rendered.html
    assert "How to apply:</strong> Send a CV" in rendered.html
    assert len(rendered.html.encode()) < 60 * 1024  # every field cut, not just the one that was seen
    web = render_edition(edition_of(items), run).html  # the web version keeps every field whole
    assert huge.strip() in web


def test_control_characters_in_urls_and_text_do_not_break_the_html(newsletter, item_factory):
    """MRML refuses a template holding characters such as \\x01 or \\x0b ("unable to parse next template")."""
    _, run = newsletter()
    bad = "\x01\x0b\ufffe\ud800"
    event = item_factory(Kind.EVENT, "Bad title", url=f"https://example.org/a{bad}b", author=f"Ann{bad} Lee",
                         summary=f"Sum{bad}mary", themes=[f"the{bad}me"])
    event = dataclasses.replace(event, title=f"Bad{bad} title")  # (the id is made from a title without them)
    event.event.booking_url = f"https://example.org/book{bad}"
    event.event.venue = f"Ven{bad}ue"
    event.event.speakers = [f"Spea{bad}ker"]
    event.event.programme = [ProgrammeSlot(f"9{bad}", f"Sess{bad}ion", (f"Who{bad}",))]
    event.event.prices = [PriceTier(f"La{bad}bel", Decimal("20"), currency=f"X{bad}Y", note=f"No{bad}te")]
    job = item_factory(Kind.JOB, "Job", job=JobDetails(organisation=f"Org{bad}", location=f"Lo{bad}c",
                                                       hours=f"Ho{bad}urs", contract=f"Con{bad}tract",
                                                       salary=f"Sal{bad}ary", how_to_apply=f"App{bad}ly"))

    for limit in (10, None):  # the email, and the archive's web version
        rendered = render_edition(edition_of([event, job]), run, max_per_section=limit)

        for part in (rendered.html, rendered.text):
            assert not any(ch in part for ch in bad)
        assert "Bad title" in rendered.html and "Ann Lee" in rendered.html
        assert "£20" not in rendered.html and "20 X Y" in rendered.html  # an odd currency code, printed safely


def test_each_choice_of_themes_gets_its_own_issue_rendered_once_and_jobs_and_events_go_to_all(
        newsletter, item_factory, tmp_path):
    items = [item_factory(Kind.POST, "Peer support in Leeds", themes=["peer support"]),
             item_factory(Kind.NEWS, "Recovery college opens", themes=["recovery"]),
             item_factory(Kind.JOB, "Peer worker wanted", themes=[])]
    readers = ("email,name,themes\nann@example.org,Ann,\nbob@example.org,Bob,peer support\n"
               "cat@example.org,Cat,recovery;research\ndan@example.org,Dan,peer support\n")
    project, _ = newsletter(items=items, subscribers=readers)

    report = run_pipeline(project, as_of=AS_OF)

    assert report.exit_code == 0, report.results
    def titles(address):
        html = eml(project, 1, address).get_body(("html",)).get_content()
        return [t for t in ("Peer support in Leeds", "Recovery college opens", "Peer worker wanted") if t in html]
    assert titles("ann@example.org") == ["Peer support in Leeds", "Recovery college opens", "Peer worker wanted"]
    assert titles("bob@example.org") == titles("dan@example.org") == ["Peer support in Leeds", "Peer worker wanted"]
    assert titles("cat@example.org") == ["Recovery college opens", "Peer worker wanted"]


def test_a_theme_spelt_in_another_case_reaches_those_who_follow_it(newsletter, item_factory):
    """A post whose author wrote `themes: [Peer Support]` is on the site's peer-support page with the rest, but
    a subscriber following "peer support" did not get it: the email compared the spellings exactly."""
    items = [item_factory(Kind.POST, "Tea and talk", themes=["Peer Support"]),
             item_factory(Kind.NEWS, "Café de la récupération", themes=["Récovery"]),
             item_factory(Kind.NEWS, "Budget news", themes=["commissioning"])]
    readers = "email,name,themes\nbob@example.org,Bob,peer support;recovery\n"
    project, _ = newsletter(items=items, subscribers=readers)

    assert run_pipeline(project, as_of=AS_OF).exit_code == 0
    html = eml(project, 1, "bob@example.org").get_body(("html",)).get_content()
    assert "Tea and talk" in html and "récupération" in html and "Budget news" not in html



def test_a_long_theme_reaches_only_those_who_follow_it_not_another_with_the_same_first_60_characters(
        newsletter, item_factory):
    """Two long themes (feed categories) that differ only after 60 characters shared one page, and the email took
    them for one: a subscriber who followed one was sent the other's items."""
    stem = "Co-production and power-sharing between service users, peer workers and clinicians"
    items = [item_factory(Kind.NEWS, "Ward rounds shared", themes=[f"{stem} on wards"]),
             item_factory(Kind.NEWS, "Team meetings shared", themes=[f"{stem} in teams"])]
    readers = f"email,name,themes\nbob@example.org,Bob,\"{stem} on wards\"\n"
    project, _ = newsletter(items=items, subscribers=readers)

    assert run_pipeline(project, as_of=AS_OF).exit_code == 0
    html = eml(project, 1, "bob@example.org").get_body(("html",)).get_content()
    assert "Ward rounds shared" in html and "Team meetings shared" not in html

def test_a_choice_with_nothing_new_gets_nothing_that_month(newsletter, item_factory):
    items = [item_factory(Kind.POST, "Peer support in Leeds", themes=["peer support"])]
    readers = "email,name,themes\nann@example.org,Ann,\nbob@example.org,Bob,recovery\n"
    project, _ = newsletter(items=items, subscribers=readers)

    report = run_pipeline(project, as_of=AS_OF)

    [sink] = [r for r in report.results if r.stage == "sink"]
    assert sink.summary == "issue 1: 1 sent via outbox, 0 already sent, 1 with nothing new for their themes"
    assert sorted(p.name for p in (project.root / "outbox").rglob("*.eml")) == [file_name("ann@example.org")]


def test_someone_who_leaves_between_a_failed_send_and_its_resumption_is_not_sent_to(newsletter, full_issue):
    flaky = Flaky()
    project, run = newsletter(delivery='delivery = { type = "flaky" }', plugins=[("flaky", flaky)])
    edition = edition_of(full_issue, store=run.store)
    with pytest.raises(SinkError):
        project.sinks[0].write(edition, run)  # bob's message failed
    bob = subscriber_state.find_subscriber(run.store, "bob@example.org")
    subscriber_state.unsubscribe(run.store, bob.id, how="one-click unsubscribe", at=MOMENT)
    flaky.asked.clear()

    result = project.sinks[0].write(edition, run)

    assert flaky.asked == [] and result.summary == "issue 1: 0 sent via flaky, 1 already sent"


def test_the_csv_never_brings_back_someone_who_unsubscribed(newsletter, full_issue, item_factory):
    project, run = newsletter(items=full_issue)
    run_pipeline(project, as_of=AS_OF)
    store = Store(project.core.state_dir / "pipeline.sqlite")
    ann = subscriber_state.find_subscriber(store, "ann@example.org")
    subscriber_state.unsubscribe(store, ann.id, how="one-click unsubscribe", at=MOMENT)
    store.close()
    later = item_factory(Kind.POST, "March post", published=datetime(2016, 2, 20, tzinfo=UTC))
    project, _ = newsletter(items=[later])  # the same folder, ann still in subscribers.csv

    report = run_pipeline(project, as_of=date(2016, 3, 1))

    [sink] = [r for r in report.results if r.stage == "sink"]
    assert sink.summary == "issue 2: 1 sent via outbox, 0 already sent"
    assert not (project.root / "outbox" / "issue-2" / file_name("ann@example.org")).exists()


def test_events_link_their_calendar_file_only_when_the_project_publishes_the_site(project_from, full_issue, tmp_path):
    event = next(item for item in full_issue if item.event)
    for with_site in (False, True):
        toml = sink_toml() + ('\n[sinks.archive]\ntype = "archive"\n' if with_site else "")
        project = project_from(toml, files={"subscribers.csv": SUBSCRIBERS})
        store = Store(tmp_path / f"direct-{with_site}.sqlite")
        rendered = render_edition(edition_of(full_issue), RunContext(project, store, AS_OF, MOMENT))
        store.close()
        ics = site.url(project, site.event_calendar_path(project, event))
        assert (ics in rendered.html) is with_site and (ics in rendered.text) is with_site
        assert ("Add it to your calendar" in rendered.html) is with_site
        assert rendered.html.count('.ics"') == (1 if with_site else 0)  # one link: the event's, no other item's


def test_lead_images_show_with_their_alt_text_for_the_first_few_items_only(newsletter, item_factory):
    from plugins.sinks.email.view import EMAIL_IMAGES

    items = [item_factory(Kind.NEWS, f"Partner news {n}", image=f"https://p.example.org/{n}.jpg",
                          image_alt=f"Photo {n}", published=datetime(2016, 1, 20 - n, tzinfo=UTC)) for n in range(9)]
    _, run = newsletter()
    html = render_edition(edition_of(items), run, max_per_section=10).html  # as the email sink renders it
    shown = re.findall(r'<img src="https://p\.example\.org/(\d)\.jpg" alt="Photo (\d)" width="560"', html)
    assert len(shown) == EMAIL_IMAGES and all(src == alt for src, alt in shown)
    assert len(html.encode()) < 102 * 1024


OLD_FOOTER = """<mjml><mj-body><mj-section><mj-column><mj-text>
{% for section in sections %}{% for item in section.items %}<p>{{ item.title }}</p>{% endfor %}{% endfor %}
<p><a href="{{ issue_url }}">View this issue in your browser</a> · <a href="{{ archive_url }}">Past issues</a></p>
</mj-text></mj-column></mj-section></mj-body></mjml>
"""


def _with_own_template(project_from, item_factory, sinks: str, name: str, text: str):
    """A project with its own copy of templates/email/`name`, and an issue of one post rendered as the email
    (project, rendered, the closed run that rendered it)."""
    project = project_from(sink_toml() + sinks, files={"subscribers.csv": SUBSCRIBERS, f"templates/email/{name}": text})
    store = Store(project.core.state_dir / "pipeline.sqlite")
    run = RunContext(project, store, AS_OF, MOMENT)
    try:
        rendered = render_edition(edition_of([item_factory(Kind.POST, "A post")]), run,
                                  unsubscribe="https://network.example.org/unsubscribe/t", max_per_section=5)
    finally:
        run.close()
    return project, rendered, run


@pytest.mark.parametrize("archive", [False, True])
def test_a_link_the_template_renders_with_no_address_is_a_problem_naming_the_template(project_from, item_factory,
                                                                                        archive):
    # A project's copy of issue.mjml from before links to unwritten pages became "": with no archive sink its
    # footer links lead nowhere, and the organiser hears which file to mend; with one, they lead to the archive.
    sinks = '[sinks.site]\ntype = "archive"\n' if archive else ""
    project, rendered, run = _with_own_template(project_from, item_factory, sinks, "issue.mjml", OLD_FOOTER)
    assert "A post" in rendered.html
    own_copy = project.root / "templates" / "email" / "issue.mjml"
    if archive:
        assert run.problems == [] and 'href=""' not in rendered.html
    else:
        assert 'href=""' in rendered.html
        assert len(run.problems) == 1 and run.problems[0].startswith(f"template {own_copy}: ")
        assert "{% if issue_url %}" in run.problems[0]


@pytest.mark.parametrize("sinks", ["", '[sinks.site]\ntype = "archive"\n[sinks.feed]\ntype = "rss"\n'])
def test_the_shipped_template_renders_no_link_without_an_address(project_from, full_issue, sinks):
    project = project_from(sink_toml() + sinks, files={"subscribers.csv": SUBSCRIBERS})
    store = Store(project.core.state_dir / "pipeline.sqlite")
    run = RunContext(project, store, AS_OF, MOMENT)
    try:
        for unsubscribe in ("", "https://network.example.org/unsubscribe/t"):  # the web version, the email
            rendered = render_edition(edition_of(full_issue), run, unsubscribe=unsubscribe,
                                      max_per_section=None if not unsubscribe else 5)
            assert 'href=""' not in rendered.html
    finally:
        run.close()
    assert run.problems == []


OLD_TEXT_FOOTER = """{% for section in sections %}{% for item in section.items %}{{ item.title }}
{% endfor %}{% endfor %}
--
View this issue in your browser: {{ issue_url }}
Past issues: {{ archive_url }}
RSS feed: {{ feed_url }}
"""


@pytest.mark.parametrize("archive", [False, True])
def test_a_text_part_that_prints_the_address_of_a_page_no_sink_writes_is_a_problem_naming_its_template(
        project_from, item_factory, archive):
    # The plain-text part of the same old copy: "Past issues: " and nothing after it, in every text-only reader's
    # email; the HTML has no href="" to find, so the text template's own use of the address is what says it.
    sinks = '[sinks.site]\ntype = "archive"\n[sinks.feed]\ntype = "rss"\n' if archive else ""
    project, rendered, run = _with_own_template(project_from, item_factory, sinks, "issue.txt", OLD_TEXT_FOOTER)
    assert "A post" in rendered.text
    own_copy = project.root / "templates" / "email" / "issue.txt"
    if archive:
        assert run.problems == [] and "Past issues: https://" in rendered.text
    else:
        assert "Past issues: \n" in rendered.text
        assert len(run.problems) == 1 and run.problems[0].startswith(f"template {own_copy}: ")
        assert all(name in run.problems[0] for name in ("issue_url", "archive_url", "feed_url"))


@pytest.mark.parametrize(("html", "dead"), [
    ('<a href="">x</a>', True), ('<a class="more" href="">x</a>', True), ('<a href=" ">x</a>', True),
    ("<a href=''>x</a>", True), ('<a HREF = "">x</a>', True),
    ('<a data-href="" href="https://network.example.org/">x</a>', False), ('<a href="#top">x</a>', False),
    ('<abbr href="">x</abbr>', False),
])
def test_what_counts_as_a_link_with_no_address(html, dead):
    from plugins.sinks.email.render import _EMPTY_LINK

    assert bool(_EMPTY_LINK.search(html)) is dead


def test_a_template_problem_is_said_once_a_run_however_many_choices_of_themes_it_renders(project_from, item_factory):
    # Each choice of themes gets its own version of the issue, rendered from the same template: one problem, once.
    items = [item_factory(Kind.POST, "Peer support in Leeds", themes=["peer support"]),
             item_factory(Kind.POST, "Recovery college opens", themes=["recovery"])]
    readers = ("email,name,themes\nann@example.org,Ann,\nbob@example.org,Bob,recovery\n"
               "cat@example.org,Cat,peer support\n")
    project = project_from(sink_toml() + '[sources.fixed]\ntype = "fixed"\n',
                           files={"subscribers.csv": readers, "templates/email/issue.txt": OLD_TEXT_FOOTER,
                                  "templates/email/issue.mjml": OLD_FOOTER},
                           plugins=[("fixed-items", Fixed(items))])

    report = run_pipeline(project, as_of=AS_OF)

    templates = project.root / "templates" / "email"
    assert [problem.partition(": ")[0] for problem in report.problems] == [f"template {templates / 'issue.mjml'}",
                                                                           f"template {templates / 'issue.txt'}"]
    assert len(list((project.root / "outbox").rglob("*.eml"))) == 3


FORM = "https://network.example.org/subscribe"  # the subscribe form `pipeline serve` answers


def _rendered(project_from, toml: str, items, tmp_path: Path, name: str):
    """`items` as the email of a project of `toml`, and the run's problems."""
    project = project_from(toml, files={"subscribers.csv": SUBSCRIBERS})
    store = Store(tmp_path / f"{name}.sqlite")
    run = RunContext(project, store, AS_OF, MOMENT)
    try:
        return render_edition(edition_of(items), run, unsubscribe="https://network.example.org/unsubscribe/t",
                              max_per_section=10), run.problems
    finally:
        run.close()


@pytest.mark.parametrize("site_url", ["https://network.example.org", "https://network.example.org/"])
def test_whoever_is_forwarded_the_email_is_told_where_to_subscribe(project_from, full_issue, tmp_path, site_url):
    base = BASE_TOML.replace("https://network.example.org", site_url)
    for web in (False, True):
        rendered, problems = _rendered(project_from, base + sink_toml() + ('[sinks.site]\ntype = "archive"\n'
                                       if web else ""), full_issue, tmp_path, f"web-{web}")
        assert f'<p>Forwarded this email? Subscribe at <a href="{FORM}">{FORM}</a></p>' in rendered.html
        assert f"\n\nForwarded this email? Subscribe at {FORM}\n\n" in rendered.text
        footer = rendered.text.split("\n--\n")[1]  # in the footer, before who it was sent to and how to leave
        assert footer.index("Forwarded") < footer.index("You are getting this email") < footer.index("Unsubscribe")
        assert problems == []

    # A project that sends nothing (render_edition for the archive's tests, or a plugin's) has no form to link.
    rendered, problems = _rendered(project_from, base + '[sinks.site]\ntype = "archive"\n', full_issue, tmp_path,
                                   "no-email")
    assert "Forwarded" not in rendered.html + rendered.text and "/subscribe" not in rendered.html + rendered.text
    assert problems == []


OWN_SUBSCRIBE_LINE = {  # a project's own copies, linking the form with no {% if subscribe_url %}
    "issue.mjml": '<mjml><mj-body><mj-section><mj-column><mj-text><p>{% for section in sections %}'
                  '{% for item in section.items %}{{ item.title }} {% endfor %}{% endfor %}</p>'
                  '<p><a href="{{ subscribe_url }}">Join us</a></p>'
                  '</mj-text></mj-column></mj-section></mj-body></mjml>',
    "issue.txt": "{% for section in sections %}{% for item in section.items %}{{ item.title }}\n"
                 "{% endfor %}{% endfor %}Join us: {{ subscribe_url }}\n",
}


@pytest.mark.parametrize("name", OWN_SUBSCRIBE_LINE)
@pytest.mark.parametrize("email", [True, False])
def test_a_template_linking_the_subscribe_form_is_a_problem_only_without_an_email_sink(project_from, item_factory,
                                                                                         tmp_path, name, email):
    # With an email sink the form is a page that exists (pipeline serve answers it), as the archive's are with an
    # archive sink; a project that sends nothing has no form, and its template's link to one leads nowhere.
    toml = (sink_toml() if email else "") + '[sinks.site]\ntype = "archive"\n'
    project = project_from(toml, files={"subscribers.csv": SUBSCRIBERS,
                                        f"templates/email/{name}": OWN_SUBSCRIBE_LINE[name]})
    store = Store(tmp_path / "own.sqlite")
    run = RunContext(project, store, AS_OF, MOMENT)
    try:
        rendered = render_edition(edition_of([item_factory(Kind.POST, "A post")]), run, max_per_section=5)
    finally:
        run.close()
    shown = rendered.html if name == "issue.mjml" else rendered.text
    assert "A post" in shown
    if email:
        assert run.problems == [] and (f'href="{FORM}"' in shown or f"Join us: {FORM}" in shown)
    else:
        (problem,) = run.problems
        assert problem.startswith(f"template {project.root / 'templates' / 'email' / name}: ")
        assert "subscribe_url" in problem


def test_the_email_as_sent_with_the_longest_token_stays_under_gmails_clipping_limit(newsletter, item_factory,
                                                                                   monkeypatch):
    """The size kept under Gmail's clip was the rendered HTML's, with `%token%` where each subscriber's own
    token goes (the unsubscribe and preferences links): a subscriber's token is longer (a 16-digit id and a
    signature), so an issue that fitted by fewer bytes than that was clipped in their inbox, hiding the footer and
    its unsubscribe link. Each placeholder now counts as the longest token."""
    import plugins.sinks.email.render as render

    _, run = newsletter(web=True)
    items = many_items(item_factory, 3)
    links = {"unsubscribe": f"https://network.example.org/unsubscribe/{TOKEN_TAG}",
             "preferences": f"https://network.example.org/preferences/{TOKEN_TAG}"}
    fitted = render_edition(edition_of(items), run, max_per_section=3, **links).html
    assert fitted.count(TOKEN_TAG) == 2
    monkeypatch.setattr(render, "GMAIL_CLIP_BYTES", len(fitted.encode()))  # the placeholders' version just fits
    longest = f"{2**53 - 1}.{'A' * 27}"  # a 16-digit id and 20 bytes of signature in unpadded base64url
    assert len(signing.Links(run.project).token(2**53 - 1)) == len(longest)

    sent = render_edition(edition_of(items), run, max_per_section=3, **links).html.replace(TOKEN_TAG, longest)

    assert len(sent.encode()) <= render.GMAIL_CLIP_BYTES
    assert "…and 1 more in the web version" in sent  # one item fewer a section, not none
