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
    from pipeline.state.schema import STEPS
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
        db.execute(f"PRAGMA user_version = {len(STEPS) - 1}")
    db.close()

    store = Store(path)
    try:
        assert journal.mailed_editions(store) == {1, 2}
    finally:
        store.close()
