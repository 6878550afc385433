"""Review h160: gaps in sending left by the last round (what "mailed" means after `forget`, who is outstanding,
a resend to someone whose themes now select nothing, the outbox's `send`, and links typed in free text)."""

from __future__ import annotations

import re
from datetime import date

from pipeline.cli import main

# -- 1. "issue N was mailed" outlives `pipeline subscribers forget` ---------------------------------------------------

def test_the_lead_image_stays_on_the_site_after_the_only_reader_of_its_issue_is_forgotten(pipeline_project):
    """Before: `journal.mailed_editions` read the deliveries table, which `forget` thins; an issue mailed only to
    someone later forgotten counted as never mailed, so a post withdrawn after it took its lead image off the site,
    while the email sent (in an inbox the erasure cannot reach) still shows it from there. Now the fact that the
    issue was mailed is kept apart from whom it was mailed to, and `forget` leaves it."""
    from tests.test_withdrawn import BLOG_TOML, post_file

    png = b"\x89PNG\r\n\x1a\n" + b"a small picture"
    project = pipeline_project(BLOG_TOML, {
        "blog/feb.md": post_file("February post", "2016-01-25", "image: images/lead.png\n"),
        "blog/images/lead.png": png, "subscribers.csv": "email,name\nreader@example.org,Reader\n"})
    project.run(as_of=date(2016, 2, 1))
    assert re.findall(r'<img src="(https://network\.example\.org/[^"]+)"', project.email().html) == [
        "https://network.example.org/blog/images/lead.png"]
    image = project.root / "out" / "blog" / "images" / "lead.png"
    assert image.read_bytes() == png

    assert main(["subscribers", "forget", "reader@example.org", "-c", str(project.config)]) == 0
    project.write({"blog/feb.md": post_file("February post", "2016-01-25", "draft: true\nimage: images/lead.png\n")})
    project.refresh(as_of=date(2016, 2, 1))

    assert "has been withdrawn" in project.site("blog/feb/")
    assert image.read_bytes() == png  # the email the reader got still shows it


def test_an_older_database_whose_journal_forget_thinned_counts_the_issue_mailed_once_brought_up_to_date(
        pipeline_project):
    """The step that brings a database from before up to date (user_version 17) fills the new table from the journal,
    and from each batch none of whose recipients the journal still holds: an earlier version's `forget` erased them."""
    import sqlite3

    from pipeline.state import Store, journal
    from pipeline.state.schema import STEPS, _mailed
    from tests.test_withdrawn import BLOG_TOML, post_file

    project = pipeline_project(BLOG_TOML, {"blog/feb.md": post_file("February post", "2016-01-25"),
                                          "blog/apr.md": post_file("April post", "2016-03-25"),
                                          "subscribers.csv": "email,name\nreader@example.org,Reader\n"
                                                             "other@example.org,Other\n"})
    project.run(as_of=date(2016, 2, 1))
    project.run(as_of=date(2016, 4, 1))
    path = project.root / "state" / "pipeline.sqlite"
    db = sqlite3.connect(path)
    with db:  # as the version before left it: no table of its own, and issue 1's rows erased by `forget`
        db.execute("DROP TABLE mailed")
        db.execute("DELETE FROM deliveries WHERE edition = 1")
        db.execute("DELETE FROM deliveries WHERE edition = 2 AND recipient = 'other@example.org'")
        db.execute(f"PRAGMA user_version = {STEPS.index(_mailed)}")  # the steps from `mailed` on run
    db.close()

    store = Store(path)
    try:
        assert journal.mailed_editions(store) == {1, 2}
    finally:
        store.close()


# -- 2. outstanding: only those a resend reaches ---------------------------------------------------------------------

def _smtp_project(smtp_server, write_project, refused: tuple[str, ...] = (), extra: str = "", files=None):
    """The test network through a real SMTP server on loopback that answers 451 (try again later: failed, not a
    bounce) at RCPT TO for each of `refused`; ann, bob and cy on the list; `extra`: more of pipeline.toml."""
    from tests.mail_fixtures import Inbox
    from tests.newsletter_network import POST, newsletter_toml

    inbox = Inbox(refuse=refused)
    inbox.refusal = "451 4.3.0 Try again later"
    port = smtp_server(inbox)
    config = write_project(newsletter_toml(delivery=f'type = "smtp"\n    host = "127.0.0.1"\n    port = {port}\n'
                                                    f'    starttls = false') + extra,
                           {"subscribers.csv": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"
                                               "cy@example.org,Cy\n", "blog/post.md": POST, **(files or {})})
    return config, inbox


def _store(config):
    from pipeline.state import Store

    return Store(config.parent / "state" / "pipeline.sqlite")


def _delivered(config, issue: int = 1) -> dict[str, str]:
    from pipeline.state import journal

    store = _store(config)
    try:
        return {r: s for r, s, _ in journal.listed(store, issue, ("sent", "unknown", "failed", "in_flight"))}
    finally:
        store.close()


def test_a_failed_delivery_to_someone_now_pending_keeps_no_resume_due_and_no_alert(smtp_server, write_project):
    """Before: ann's delivery failed (451), then she left and asked on the form to come back, and has not confirmed
    (pending). `--resend failed` leaves her (no send reaches a pending address), but `journal.outstanding` counted
    her, since only who had left was left out: `pipeline schedule` resumed the issue after every restart within its
    catch-up window, `pipeline status` said it had not reached "1 failed", and the organisers were alerted to a
    failure that `--resend failed` says it will not send. Now outstanding counts by the rule `--resend` uses: the
    active subscribers' deliveries."""
    from datetime import UTC, datetime

    from pipeline.alerts import _undelivered
    from pipeline.config import load_project
    from pipeline.scheduler import RESUME, due
    from pipeline.state import subscribers
    from tests.test_review_h98 import run_in_process

    config, _ = _smtp_project(smtp_server, write_project, refused=("ann@example.org",))
    run_in_process(config)
    assert _delivered(config) == {"ann@example.org": "failed", "bob@example.org": "sent", "cy@example.org": "sent"}
    store = _store(config)
    try:
        subscribers.remove(store, "ann@example.org", how="cli", at=datetime.now(UTC))
        assert subscribers.request_subscription(store, "ann@example.org", "Ann", [], how="form",
                                                at=datetime.now(UTC)) is not None
        assert subscribers.find_subscriber(store, "ann@example.org").status == "pending"

        project = load_project(config)
        now = datetime(2016, 3, 1, 12, 0, tzinfo=project.tz)  # within the catch-up window of the issue's slot
        assert [d.why for d in due(store, project, now, last_refresh=now) if d.kind == RESUME] == []
        assert _undelivered(project, store, store.latest_edition()) is None
    finally:
        store.close()


# -- 3. --resend to someone whose themes now select nothing in the issue ---------------------------------------------

RESEARCH = ("---\ntitle: \"New research on recovery\"\ndate: 2016-02-15\n---\n\nOur research team published "
            "research on recovery: the research asked what helps.\n")


def test_a_resend_to_someone_whose_themes_now_select_nothing_says_so_and_sends_nothing(smtp_server, write_project,
                                                                                        capsys):
    """Before: ann's delivery of issue 1 (one research post) failed; she then chose "peer support" alone, which
    selects nothing in it. The schedule resumed the issue and the alert counted her failed, and `--resend failed`
    said "1 recipient(s) (failed) will be sent again", released her, and the send then sent nothing ("0 sent, 1 with
    nothing new for their themes"). Now the schedule, the alert and --resend count by one rule (`mail.reach`): she
    is no one a send reaches, so nothing is due or alerted, and the resend says so on her own line and sends nothing
    (no empty issue), clearing her delivery as for anyone whose choice had nothing new."""
    from datetime import UTC, datetime

    from pipeline.alerts import _undelivered
    from pipeline.config import load_project
    from pipeline.scheduler import RESUME, due
    from pipeline.state import subscribers
    from tests.test_review_h98 import run_in_process
    from tests.test_review_h142 import TAXONOMY

    config, inbox = _smtp_project(smtp_server, write_project, refused=("ann@example.org",), extra=TAXONOMY,
                                  files={"blog/post.md": RESEARCH})
    run_in_process(config)
    assert _delivered(config) == {"ann@example.org": "failed", "bob@example.org": "sent", "cy@example.org": "sent"}
    store = _store(config)
    try:
        ann = subscribers.find_subscriber(store, "ann@example.org")
        assert subscribers.set_themes(store, ann.id, ["peer support"], how="preferences page", at=datetime.now(UTC))
        project = load_project(config)
        now = datetime(2016, 3, 1, 12, 0, tzinfo=project.tz)
        assert [d.why for d in due(store, project, now, last_refresh=now) if d.kind == RESUME] == []
        assert _undelivered(project, store, store.latest_edition()) is None
    finally:
        store.close()

    inbox.refuse.clear()  # the server takes her mail now: whatever is handed over arrives
    received = len(inbox.received)
    capsys.readouterr()
    assert main(["deliveries", "--resend", "failed", "-c", str(config)]) == 0
    said = capsys.readouterr().out
    assert "issue 1: ann@example.org (failed) is not sent it again: the themes they follow now select nothing in " \
           "this issue, so there is nothing to send them" in " ".join(said.split()), said
    assert "will be sent again" not in said and "nothing sent" in said
    assert len(inbox.received) == received  # no empty issue
    # cleared, as for one whose choice had nothing new: an unknown one would keep `deliveries` at exit 3 for good
    assert _delivered(config) == {"bob@example.org": "sent", "cy@example.org": "sent"}
    assert main(["deliveries", "-c", str(config)]) == 0


# -- 5. addresses typed in free text are written in ASCII, as every other address of the email is ------------------

def test_an_address_typed_in_a_jobs_how_to_apply_is_written_in_ascii_in_the_email(pipeline_project):
    """The README: "Every address the email links or shows, in its HTML and its plain text, ... is written in ASCII
    as a browser sends it ... since a mail client finds the plain text's links itself and may cut one outside ASCII
    short." Before: an address typed into a job's "how to apply" (or an event's speakers, a post's summary: any free
    text) went out as it was typed, `https://bücher.de/stellen/bewerbung?für=peer`, which a client that links only
    ASCII cuts at the "ü" (to https://b), while the job's own link beside it was in ASCII. Now each address typed in
    free text goes as `header_link` writes a link (the host in its IDNA form, the path %-escaped), an email address
    with its domain in IDNA; the punctuation after it stays outside, and ASCII text is left as it was."""
    from pipeline.models import JobDetails, Kind
    from pipeline.testing import BASE_TOML, make_item

    typed = ("Apply at https://bücher.de/stellen/bewerbung?für=peer… or write to jobs@bücher.de, "
             "or see www.schöne.example/jobs. Questions: https://example.org/faq.")
    job = make_item(Kind.JOB, "Peer worker", published=None, url="https://bücher.de/stellen/peer",
                    job=JobDetails(organisation="Bücher e.V.", how_to_apply=typed))
    about = BASE_TOML.replace("[pipeline]\n", '[pipeline]\ndescription = "Peer workers of www.bücher.de/netz."\n', 1)
    project = pipeline_project(about, {"subscribers.csv": "email,name\nreader@example.org,Reader\n"}, items=[job])
    project.run(as_of=date(2016, 2, 1))
    email = project.email()

    wanted = ("Apply at https://xn--bcher-kva.de/stellen/bewerbung?f%C3%BCr=peer… or write to jobs@xn--bcher-kva.de, "
              "or see www.xn--schne-lua.example/jobs. Questions: https://example.org/faq.")
    assert wanted in " ".join(email.text.split()), email.text
    assert wanted in " ".join(email.html.split()), email.html
    assert "bücher.de" not in email.text and "bücher.de" not in email.html
    assert "Bücher e.V." in email.text  # words outside ASCII that are no address stay as they are
    assert "Peer workers of www.xn--bcher-kva.de/netz." in email.text  # the network's description too
