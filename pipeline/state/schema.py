"""Every table of the state database, and the one-way steps that bring an older database up to date.

`PRAGMA user_version` says which steps a database has had; `migrate` runs the missing ones,
each in a transaction of its own, so a database is never left half-upgraded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

CORE = """
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    published   TEXT NOT NULL,          -- ISO 8601, UTC
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    data        TEXT NOT NULL,          -- Item.to_dict() as JSON
    themes      TEXT NOT NULL DEFAULT '[]'  -- its themes (JSON list), for lists that need no body
);
CREATE TABLE IF NOT EXISTS editions (
    number       INTEGER PRIMARY KEY,
    as_of        TEXT NOT NULL UNIQUE,  -- the issue date
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    title        TEXT NOT NULL,
    item_ids     TEXT NOT NULL,         -- JSON list, in newsletter order
    created_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS source_state (
    source TEXT PRIMARY KEY,
    data   TEXT NOT NULL
);
"""

# The delivery journal (pipeline/state/journal.py): one row per issue and recipient.
JOURNAL = """
CREATE TABLE IF NOT EXISTS deliveries (
    edition    INTEGER NOT NULL REFERENCES editions(number),
    recipient  TEXT NOT NULL,
    channel    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('in_flight', 'sent', 'unknown', 'failed')),
    batch      TEXT NOT NULL DEFAULT '',   -- batches.id while in flight, and after
    reference  TEXT NOT NULL DEFAULT '',   -- a message id or file path, once sent
    error      TEXT NOT NULL DEFAULT '',   -- why it failed, or why the outcome is unknown
    updated_at TEXT NOT NULL,
    PRIMARY KEY (edition, recipient)
);
CREATE INDEX IF NOT EXISTS deliveries_batch ON deliveries (batch);
CREATE TABLE IF NOT EXISTS batches (
    id         TEXT PRIMARY KEY,           -- SendGrid's batch_id, or one made up for other channels
    edition    INTEGER NOT NULL,
    channel    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    send_at    TEXT,                       -- when the provider will release it (scheduled sends)
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (state);
"""

# Subscribers and their consent record (pipeline/state/subscribers.py). A new subscriber's id, and a request's
# below, is drawn at random (`subscribers.ID_RANGE`), not given by AUTOINCREMENT, which gives it only to a row
# inserted without one (none is): a database that forgot ids it gave (a backup put back, a copy salvaged with
# `.recover`, a list moved into a new one) would give them again. AUTOINCREMENT stays in the tables' text, which must
# match older databases'. Rows stored before ids were drawn keep theirs (1, 2, 3...), so every link mailed to them
# still works.
SUBSCRIBERS = """
CREATE TABLE IF NOT EXISTS subscribers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never given twice: it is what every link's token names
    email        TEXT NOT NULL UNIQUE,     -- lower case
    name         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    themes       TEXT NOT NULL DEFAULT '[]', -- JSON list of theme names; [] = every theme
    requested_at TEXT,                     -- while pending: when the confirmation was asked for
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscribers_status ON subscribers (status);
CREATE INDEX IF NOT EXISTS subscribers_sending ON subscribers (status, themes, id);  -- a send reads by choice
CREATE TABLE IF NOT EXISTS subscriber_events (   -- the consent record: when and how each change happened
    id         INTEGER PRIMARY KEY,
    subscriber INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    status     TEXT NOT NULL,              -- the status after the change
    how        TEXT NOT NULL,              -- 'form', 'confirmation', 'csv import content/subscribers.csv', ...
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS subscriber_events_subscriber ON subscriber_events (subscriber);
"""

# Each request to subscribe not yet confirmed, and what it asked for (pipeline/state/subscribers.py): the name and
# themes take effect only when the confirmation link of that very request is followed, so a stranger's form post
# changes nothing stored about an address.
REQUESTS = """
CREATE TABLE IF NOT EXISTS subscription_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- in the request's confirmation link: never given twice
    subscriber INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    name       TEXT NOT NULL DEFAULT '',
    themes     TEXT NOT NULL DEFAULT '[]',  -- JSON list, as subscribers.themes
    at         TEXT NOT NULL                -- when it was asked for (it lapses 7 days later)
);
CREATE INDEX IF NOT EXISTS subscription_requests_subscriber ON subscription_requests (subscriber);
"""

# Each subscriber merged into another because both were spellings of one mailbox (user_version 14,
# pipeline/state/respelling.py): the links already mailed name the merged-away id, and lead to the subscriber it
# became. A new id is never an alias's (`subscribers._new_id` draws again), so an alias never names a subscriber of
# its own.
ALIASES = """
CREATE TABLE IF NOT EXISTS subscriber_aliases (
    id         INTEGER PRIMARY KEY,         -- the merged-away subscriber's id, as its links name it
    subscriber INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,  -- the one it became
    email      TEXT NOT NULL,               -- the spelling it had
    merged_at  TEXT NOT NULL,
    events     TEXT NOT NULL DEFAULT '[]'   -- JSON: the ids of the record's entries that came with it
);
CREATE INDEX IF NOT EXISTS subscriber_aliases_subscriber ON subscriber_aliases (subscriber);
"""

# What the site (the `archive` sink) was last made from, so a refresh re-renders only what changed
# (pipeline/state/site.py).
SITE = """
CREATE TABLE IF NOT EXISTS site_items (      -- what the site's lists show of each item, made once per fingerprint
    id    TEXT PRIMARY KEY,
    stamp TEXT NOT NULL,                     -- the item's fingerprint and the version of what `facts` holds
    facts TEXT NOT NULL                      -- JSON: title, page, date, kind, themes, summary...
);
CREATE TABLE IF NOT EXISTS site_editions (   -- each issue as the site last read it
    sink   TEXT NOT NULL,
    number INTEGER NOT NULL,
    key    TEXT NOT NULL,                    -- a hash of the issue and its items' fingerprints
    shown  TEXT NOT NULL,                    -- JSON list: the ids shown, in order
    merged TEXT NOT NULL,                    -- JSON object: merged-away id -> the id of the job or event showing it
    prints TEXT NOT NULL,                    -- JSON: {"records": {id: fingerprint}, "announcements": {...}}
    PRIMARY KEY (sink, number)
);
CREATE TABLE IF NOT EXISTS site_pages (      -- every file the sink wrote: what it was made from, and its hash
    sink   TEXT NOT NULL,
    path   TEXT NOT NULL,                    -- the site path (pipeline/site.py)
    key    TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (sink, path)
);
CREATE TABLE IF NOT EXISTS site_stats (      -- each file of site_pages as the disk had it when last written or read
    sink   TEXT NOT NULL,
    path   TEXT NOT NULL,
    stat   TEXT NOT NULL,                    -- "digest size mtime_ns ctime_ns inode", '' while too recent to trust
    PRIMARY KEY (sink, path)
);
CREATE TABLE IF NOT EXISTS site_built (      -- the last build as a whole: a refresh with nothing new plans nothing
    sink    TEXT PRIMARY KEY,
    inputs  TEXT NOT NULL,                   -- a digest of everything the site was made from
    settled INTEGER NOT NULL,                -- 1: a build from those inputs found every file right, and left them so
    timed   TEXT NOT NULL,                   -- JSON: each job and event as its state at a moment depends on it
    states  TEXT NOT NULL,                   -- JSON: their states at that build's moment
    said    TEXT NOT NULL                    -- "N pages, M files", for the summary of a refresh that plans nothing
);
"""

# Run history (pipeline/state/history.py): each run, and what each of its components did.
HISTORY = """
CREATE TABLE IF NOT EXISTS runs (
    id        INTEGER PRIMARY KEY,
    started   TEXT NOT NULL,                 -- ISO 8601, UTC, by the clock
    finished  TEXT,                          -- NULL while running, or if the process was killed outright
    mode      TEXT NOT NULL,                 -- 'run', 'refresh' or 'run (dry run)'
    as_of     TEXT NOT NULL,                 -- the date the run behaved as on
    edition   INTEGER,                       -- the issue it made or re-rendered, if any
    exit_code INTEGER,                       -- the command's exit status, once finished
    outcome   TEXT NOT NULL DEFAULT ''       -- 'done', 'done, with problems', 'failed ...', 'stopped by SIGTERM', ...
);
CREATE INDEX IF NOT EXISTS runs_mode ON runs (mode, id);
CREATE TABLE IF NOT EXISTS run_results (     -- one row per source, transform and sink of a finished run
    run     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage   TEXT NOT NULL CHECK (stage IN ('source', 'transform', 'sink')),
    name    TEXT NOT NULL,                   -- the instance name from pipeline.toml
    ok      INTEGER NOT NULL,                -- 1 or 0
    summary TEXT NOT NULL,                   -- what it did, or why it failed
    seconds REAL NOT NULL,
    count   INTEGER NOT NULL DEFAULT 0       -- items fetched (sources) or handled (transforms)
);
CREATE INDEX IF NOT EXISTS run_results_by_name ON run_results (stage, name, run);
CREATE INDEX IF NOT EXISTS run_results_run ON run_results (run);
"""

# Alerts to the organisers (pipeline/state/alerts.py): one row per problem, so each is told once.
ALERTS = """
CREATE TABLE IF NOT EXISTS alerts (
    key         TEXT PRIMARY KEY,            -- 'source:NAME', 'run:WHAT FAILED', 'deliveries:ISSUE'
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL,               -- what happened and what to do, as the email says it
    opened_at   TEXT NOT NULL,               -- ISO 8601, UTC: when a run first found it
    told_to     TEXT NOT NULL DEFAULT '[]',  -- JSON list: the addresses an email about it reached
    notified_at TEXT,                        -- when every address in [alerts] to was told (NULL until then)
    resolved_at TEXT                         -- when a run found it gone (NULL while open)
);
"""

ITEMS_RECENT = """
-- the feeds' list of items, newest first, with their themes: read from the index alone, never past each body
CREATE INDEX IF NOT EXISTS items_recent ON items (published DESC, id, themes);
"""  # after the steps: a database from before the themes column gets it then

# Each item's guid in the RSS feeds, kept from the first feed it was in (plugins/sinks/rss/guids.py): not a cache,
# since a guid that changed would make every feed reader show the item again as new. Made by every open, as TABLES
# are: a database from before starts with none, and each item keeps the guid it is given next, as it had before.
FEED_GUIDS = """
CREATE TABLE IF NOT EXISTS feed_guids (
    item TEXT PRIMARY KEY,
    guid TEXT NOT NULL UNIQUE
);
"""

# Each batch in doubt the delivery was asked to take back (SendGrid: cancel) while its send time was ahead: the
# provider holds only so many at once, until that time (`Deliverer.take_back_limit`, pipeline/mail/sending.py).
TAKEN_BACK = """
CREATE TABLE IF NOT EXISTS taken_back (
    batch   TEXT PRIMARY KEY,
    send_at TEXT NOT NULL                 -- until then the provider holds it
);
"""

# Each issue mailed to anyone: a delivery of it settled as sent or unknown (it may be in an inbox). Kept apart from
# `deliveries`, which `forget` thins: an issue mailed only to people later forgotten is still in their inboxes, and
# the site keeps what those emails show (a withdrawn post's lead image, plugins/sinks/archive/files.py). No address.
MAILED = """
CREATE TABLE IF NOT EXISTS mailed (
    edition INTEGER PRIMARY KEY,
    at      TEXT NOT NULL                 -- ISO 8601, UTC: when a delivery of it was first settled so
);
"""

# Each item the organiser took out of a source that lists all of its items (`Source.complete`: the blog, the jobs and
# events files): it leaves the feeds, the site and every issue still to come (`store.withdraw_missing`). Kept, not
# deleted: the issues it was in still show it. Listed again, it is back.
WITHDRAWN = """
CREATE TABLE IF NOT EXISTS withdrawn (
    item TEXT PRIMARY KEY,
    at   TEXT NOT NULL
);
"""

# Each address an item's page had on the site before its own URL moved it (an event's `url` edited): the archive
# leaves a page there leading on to it (plugins/sinks/archive/items.py), as for a title changed. Not a cache: the
# emails already sent link to those addresses.
SITE_MOVED = """
CREATE TABLE IF NOT EXISTS site_moved (
    path TEXT PRIMARY KEY,                   -- the site path the page had
    item TEXT NOT NULL
);
"""

# Which themes items lost and gained at once (a theme renamed in the taxonomy: "peer support" to "peer-led support"),
# counted by a trigger whichever code saves an item; `new` '' counts the items that lost `old`. When no item carries a
# theme any more, its page and its feed lead to the theme most of its items gained (`site.moved_themes`). Not a cache:
# the pages and feeds readers found are kept by it. A theme an item takes (again), saved or stored anew, has its
# counts cleared: only how it went since counts, so a theme renamed back and renamed again, or one items drifted
# from now and then while new items still took it, leads where its last items went, not where its first ones did.
THEME_MOVES = """
CREATE TABLE IF NOT EXISTS theme_moves (
    old   TEXT NOT NULL,                   -- a theme items lost
    new   TEXT NOT NULL,                   -- a theme they gained in the same change ('': any, or none)
    items INTEGER NOT NULL,
    PRIMARY KEY (old, new)
);
CREATE TRIGGER IF NOT EXISTS item_themes_moved AFTER UPDATE OF themes ON items WHEN OLD.themes IS NOT NEW.themes BEGIN
    INSERT INTO theme_moves (old, new, items)
        SELECT lost.value, gained.value, 1 FROM json_each(OLD.themes) AS lost,
               (SELECT '' AS value UNION SELECT value FROM json_each(NEW.themes)
                WHERE value NOT IN (SELECT value FROM json_each(OLD.themes))) AS gained
        WHERE lost.value NOT IN (SELECT value FROM json_each(NEW.themes))
        ON CONFLICT (old, new) DO UPDATE SET items = items + 1;
END;
CREATE TRIGGER IF NOT EXISTS item_themes_taken AFTER UPDATE OF themes ON items WHEN OLD.themes IS NOT NEW.themes BEGIN
    DELETE FROM theme_moves WHERE old IN (SELECT value FROM json_each(NEW.themes)
                                          WHERE value NOT IN (SELECT value FROM json_each(OLD.themes)));
END;
CREATE TRIGGER IF NOT EXISTS item_themes_given AFTER INSERT ON items WHEN NEW.themes != '[]' BEGIN
    DELETE FROM theme_moves WHERE old IN (SELECT value FROM json_each(NEW.themes));
END;
"""

# The wording a person was shown when they asked to subscribe and when they confirmed (user_version 16): consent has
# to be shown to have been informed (UK GDPR art. 7(1)), and the form's text changes over the years. Each wording is
# kept once; an entry of the consent record names the one it was given under, and goes with that entry.
CONSENT = """
CREATE TABLE IF NOT EXISTS consent_wordings (
    id       INTEGER PRIMARY KEY,
    sha256   TEXT NOT NULL UNIQUE,          -- of the text
    text     TEXT NOT NULL,                 -- as the page showed it, in plain text
    first_at TEXT NOT NULL                  -- when someone was first recorded as shown it
);
CREATE TABLE IF NOT EXISTS consent_shown (
    event   INTEGER PRIMARY KEY REFERENCES subscriber_events(id) ON DELETE CASCADE,
    wording INTEGER NOT NULL REFERENCES consent_wordings(id)
);
"""

# How far this database has been checked against `<state_dir>/suppressions.log` (state/suppression_log.py), the
# record of everyone who left, kept outside the database: a copy put back from a backup holds an older row, so the
# entries written since it was made are checked again and re-applied. Made by every open, as TABLES are.
SUPPRESSION_LOG = """
CREATE TABLE IF NOT EXISTS suppression_log (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    size        INTEGER NOT NULL,              -- bytes of the log checked
    last_line   TEXT NOT NULL,                 -- sha256 of the line ending there: that file, not another as long
    replayed_at TEXT,                          -- ISO 8601, UTC: when entries were last re-applied
    reapplied   INTEGER NOT NULL DEFAULT 0     -- how many then
);
-- The entries read from the log that matched no address here: written under a secret not at hand then (`waiting`:
-- matched once it is), or naming an address this copy does not hold (it joined after the copy was made), which the
-- organiser's list and `subscribers add` look up before making a new or pending address active.
CREATE TABLE IF NOT EXISTS suppression_log_unmatched (
    digest      TEXT PRIMARY KEY,              -- HMAC-SHA256 of the address, as the log has it
    key         TEXT NOT NULL,                 -- the fingerprint of the secret it was made with
    status      TEXT NOT NULL,                 -- the latest status logged for it
    at          TEXT NOT NULL,                 -- ISO 8601, UTC: when
    waiting     INTEGER NOT NULL DEFAULT 0     -- 1: not matched yet, its secret was not at hand
);
"""

# Each source renamed in pipeline.toml with `renamed_from` (pipeline/state/renames.py): its items, feed state, runs and
# alert moved to the new name in one transaction, and `ids` the name its item ids are made under from then on (the
# first it had), so every id, page address and feed guid stays. Not a cache: without it the next fetch would store
# every item again under new ids. Made by every open, as TABLES are.
SOURCE_RENAMES = """
CREATE TABLE IF NOT EXISTS source_renames (
    old TEXT PRIMARY KEY,                    -- the name it had
    new TEXT NOT NULL,                       -- the name it was given
    ids TEXT NOT NULL,                       -- the name its item ids are made under
    at  TEXT NOT NULL                        -- ISO 8601, UTC: when the rows moved
);
"""

# Who came back to the list, to be taken off the delivery's own suppression lists (pipeline/state/readmissions.py).
# Made by every open, as SOURCE_RENAMES is.
READMISSIONS = """
CREATE TABLE IF NOT EXISTS readmissions (
    subscriber INTEGER PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
    asked_at   TEXT NOT NULL,               -- ISO 8601, UTC: when they confirmed
    tries      INTEGER NOT NULL DEFAULT 0,  -- how many times the delivery failed to
    error      TEXT NOT NULL DEFAULT ''     -- its latest reason
);
"""

# The records each source skipped in its latest finished run, each with its problem (pipeline/state/history.py), for
# `pipeline status`: each run replaces the rows of every source it fetched. Made by every open, as SOURCE_RENAMES is.
SKIPPED_RECORDS = """
CREATE TABLE IF NOT EXISTS skipped_records (
    source  TEXT NOT NULL,                   -- the instance name from pipeline.toml
    run     INTEGER NOT NULL,                -- the run that skipped it (runs.id)
    problem TEXT NOT NULL                    -- the record and what is wrong with it, as the run said it (no address)
);
CREATE INDEX IF NOT EXISTS skipped_records_source ON skipped_records (source);
"""

# What the issues told subscribers of each job and event (user_version 18, `pipeline/state/told.py`): its `facts`,
# the closing date, or the time and place, as the latest issue to speak of it said them ({"cancelled": true} once an
# issue said it was cancelled or withdrawn), recorded when that issue is made; and each issue's changes, what it told
# of jobs and events earlier issues sent that changed since (`pipeline/changes.py`), so a re-made issue tells the
# same. Not a cache: what an issue said cannot be worked out again from the items as they are now.
TOLD = """
CREATE TABLE IF NOT EXISTS told (
    item    TEXT PRIMARY KEY,
    edition INTEGER NOT NULL,              -- the issue that said it
    facts   TEXT NOT NULL                  -- JSON
);
CREATE TABLE IF NOT EXISTS edition_changes (
    edition  INTEGER NOT NULL,
    position INTEGER NOT NULL,             -- in the issue's order
    item     TEXT NOT NULL,                -- the id `told` keeps it under
    shown    TEXT NOT NULL,                -- the item shown: itself, or the one in its place under a new id
    since    INTEGER NOT NULL,             -- the issue that had said `was`
    was      TEXT NOT NULL,                -- JSON facts, as told before
    now      TEXT NOT NULL,                -- JSON facts, as this issue told them
    PRIMARY KEY (edition, position)
);
"""

TABLES = (CORE + ITEMS_RECENT + JOURNAL + SUBSCRIBERS + REQUESTS + ALIASES + SITE + HISTORY + ALERTS + FEED_GUIDS
          + TAKEN_BACK + WITHDRAWN + SITE_MOVED + THEME_MOVES + CONSENT + SUPPRESSION_LOG + SOURCE_RENAMES
          + READMISSIONS + SKIPPED_RECORDS + MAILED + TOLD)


def _deliveries_v1_to_journal(db: sqlite3.Connection) -> None:
    """Version 1 kept only successful deliveries (edition, recipient, channel, reference, delivered_at)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    if "status" in columns or not columns:
        return
    db.execute("ALTER TABLE deliveries RENAME TO deliveries_v1")
    for statement in JOURNAL.split(";"):  # executescript would commit the transaction half-way
        if statement.strip():
            db.execute(statement)
    db.execute("""INSERT INTO deliveries (edition, recipient, channel, status, reference, updated_at)
                  SELECT edition, recipient, channel, 'sent', reference, delivered_at FROM deliveries_v1""")
    db.execute("DROP TABLE deliveries_v1")


def _site_manifest(db: sqlite3.Connection) -> None:
    """The site's manifest, for the `archive` sink's incremental writes (user_version 2)."""
    for statement in SITE.split(";"):
        if statement.strip():
            db.execute(statement)


def _item_themes(db: sqlite3.Connection) -> None:
    """Each item's themes in a column of their own (user_version 3): feeds choose without reading bodies."""
    if "themes" not in {row[1] for row in db.execute("PRAGMA table_info(items)")}:
        db.execute("ALTER TABLE items ADD COLUMN themes TEXT NOT NULL DEFAULT '[]'")
        db.execute("UPDATE items SET themes = COALESCE(json_extract(data, '$.themes'), '[]')")


def _run_history(db: sqlite3.Connection) -> None:
    """The run history, for `pipeline status` (user_version 4)."""
    for statement in HISTORY.split(";"):
        if statement.strip():
            db.execute(statement)


def _alerts(db: sqlite3.Connection) -> None:
    """Alerts to the organisers, each told once (user_version 5)."""
    for statement in ALERTS.split(";"):
        if statement.strip():
            db.execute(statement)


def _subscription_requests(db: sqlite3.Connection) -> None:
    """Requests to subscribe kept apart from the subscriber until confirmed (user_version 7)."""
    for statement in _statements(REQUESTS):
        db.execute(statement)


def _subscriber_ids_never_reused(db: sqlite3.Connection) -> None:
    """Subscriber ids given once only (AUTOINCREMENT, user_version 8): without it SQLite gives the highest id again
    once its row is deleted (an expired request), and a link signed for the old subscriber would work for the new
    one. SQLite cannot add AUTOINCREMENT to a table, so it is made anew with every row and id, the rows that refer
    to it untouched (foreign keys are off while steps run: dropping the old table cascades to nothing); ids from
    now on followed the highest kept, until they were drawn at random (`subscribers.ID_RANGE`), which a database
    that forgot the highest (a backup put back, a salvaged copy, a list moved) cannot give again."""
    found = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'subscribers'").fetchone()
    if found is None or "AUTOINCREMENT" in found[0].upper():
        return
    statements = _statements(SUBSCRIBERS)
    create = next(statement for statement in statements if "TABLE IF NOT EXISTS subscribers (" in statement)
    db.execute(create.replace("TABLE IF NOT EXISTS subscribers (", "TABLE subscribers_new (", 1))
    columns = ", ".join(row[1] for row in db.execute("PRAGMA table_info(subscribers)"))
    db.execute(f"INSERT INTO subscribers_new ({columns}) SELECT {columns} FROM subscribers ORDER BY id")
    db.execute("DROP TABLE subscribers")
    db.execute("ALTER TABLE subscribers_new RENAME TO subscribers")
    for statement in statements:  # its indexes went with the old table
        db.execute(statement)


def _statements(script: str) -> list[str]:
    """The statements of `script` one by one (a `;` in a comment ends none), for a transaction: executescript
    would commit it."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    return statements


# Every write that changes what is stored of an item counts, whichever code makes it (`Store.items_digest`);
# marking an item seen again (`last_seen`), or saving it again as it was, does not.
_ITEM_COLUMNS = ("id", "kind", "source", "published", "fingerprint", "data", "themes")
_COUNT_ONE = "BEGIN UPDATE counters SET value = value + 1 WHERE name = 'item changes'; END"
ITEM_CHANGES = [
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    # From a random number: a count made again (below) never repeats a value a feed was made at.
    "INSERT OR IGNORE INTO counters VALUES ('item changes', abs(random() % 1000000000000))",
    f"CREATE TRIGGER IF NOT EXISTS item_added AFTER INSERT ON items {_COUNT_ONE}",
    f"CREATE TRIGGER IF NOT EXISTS item_removed AFTER DELETE ON items {_COUNT_ONE}",
    f"CREATE TRIGGER IF NOT EXISTS item_changed AFTER UPDATE OF {', '.join(_ITEM_COLUMNS)} ON items "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in _ITEM_COLUMNS)} {_COUNT_ONE}",
]


def _item_changes(db: sqlite3.Connection) -> None:
    """A count of the writes that change items, kept by triggers (user_version 6): the feeds know they are
    up to date without reading every item."""
    for statement in ITEM_CHANGES:
        db.execute(statement)


def _item_changes_kept(db: sqlite3.Connection) -> None:
    """Put the count and its triggers back if a database lost them (a copy salvaged with `.recover` keeps
    its user_version, not always its triggers), counting one change so every feed is made again."""
    found = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE name IN "
                                            "('counters', 'item_added', 'item_removed', 'item_changed')")}
    if len(found) == 4 and db.execute("SELECT 1 FROM counters WHERE name = 'item changes'").fetchone():
        return
    _item_changes(db)
    db.execute("UPDATE counters SET value = value + 1 WHERE name = 'item changes'")


# Each event's revision (pipeline/state/store.py, `Store.revisions`): how many times what is stored of it (its
# `data`, the item as the transforms left it) has changed, and when it last did, by the clock of the write
# (`last_seen`; `first_seen` when it is added); from user_version 11 (`SIGNIFICANT_REVISIONS`), the count is
# of significant changes only and the time of changes its calendar shows, from 12 (`COPIED_REVISIONS`) the event's
# row keeps a copy, and from 13 (`REVISION_TRIGGERS`) becoming an event again counts one. Kept by triggers,
# whichever code writes; saving an item again as it was, or marking it seen (`last_seen` alone), changes neither.
# A row outlives its item, so an id that comes back counts on from where it was (a calendar app never sees its
# SEQUENCE go down). Events only: only they have calendars, and a row for every item cost a tenth more of a large
# refresh's writing.
ITEM_REVISIONS = [
    """CREATE TABLE IF NOT EXISTS item_revisions (
        id         TEXT PRIMARY KEY,
        revision   INTEGER NOT NULL,   -- 0 when added, one more for each change of its data
        updated_at TEXT NOT NULL       -- ISO 8601, UTC: when it was added or its data last changed
    )""",
    "CREATE TRIGGER IF NOT EXISTS item_revision_added AFTER INSERT ON items WHEN NEW.kind = 'event' BEGIN "
    "INSERT INTO item_revisions (id, revision, updated_at) VALUES (NEW.id, 0, NEW.first_seen) "
    "ON CONFLICT (id) DO UPDATE SET revision = revision + 1, updated_at = excluded.updated_at; END",
    "CREATE TRIGGER IF NOT EXISTS item_revision_changed AFTER UPDATE OF data ON items "
    "WHEN OLD.data IS NOT NEW.data AND NEW.kind = 'event' BEGIN "
    "INSERT INTO item_revisions (id, revision, updated_at) VALUES (NEW.id, 0, NEW.last_seen) "
    "ON CONFLICT (id) DO UPDATE SET revision = revision + 1, updated_at = excluded.updated_at; END",
]
# Each stored event without a row: unrevised since it was first seen.
_FIRST_REVISIONS = ("INSERT OR IGNORE INTO item_revisions (id, revision, updated_at) "
                    "SELECT id, 0, first_seen FROM items WHERE kind = 'event'")


def _item_revisions(db: sqlite3.Connection) -> None:
    """Each item's revision count and last change (user_version 9), for the calendars' SEQUENCE, DTSTAMP and
    LAST-MODIFIED. An item stored before is taken as unrevised since it was first seen."""
    for statement in ITEM_REVISIONS:
        db.execute(statement)
    db.execute(_FIRST_REVISIONS)


def _one_index_by_date(db: sqlite3.Connection) -> None:
    """`items_published` (published) goes (user_version 10): `items_recent` (published DESC, id, themes), made
    after the steps, serves every read by date, and each item saved wrote both."""
    db.execute("DROP INDEX IF EXISTS items_published")


# What an event's calendar entry shows (pipeline/calendars.py) is all that is stored of it but these fields. A
# change of the rest moves its DTSTAMP and LAST-MODIFIED (`published` is shown only by an event never stored).
_UNSHOWN = ("source", "published", "author", "image", "image_alt", "themes", "theme_evidence", "also_announced",
            "job")


def _shown(row: str) -> str:
    return f"json_remove({row}.data, {', '.join(repr(f'$.{name}') for name in _UNSHOWN)})"


def _when_and_where(row: str) -> str:
    """A significant revision (RFC 5545 3.8.7.4, RFC 5546 2.1.4) changes this: when the event starts and ends (as
    instants: a zone's offset written another way is no change), whether it is all day, its zone (an all-day
    event's dates are the venue's), the times of its programme when it gives no end (the last slot ends it),
    and its venue. (The model has no status, and the calendar writes no STATUS.)"""
    event = f"json_extract({row}.data, '$.event"
    return (f"json_array(coalesce(julianday({event}.start')), {event}.start')), "
            f"coalesce(julianday({event}.end')), {event}.end')), {event}.all_day'), {event}.timezone'), "
            f"{event}.venue'), CASE WHEN {event}.end') IS NULL THEN (SELECT json_group_array("
            f"json_extract(value, '$.time')) FROM json_each({row}.data, '$.event.programme')) END)")


# 1 for a significant revision, else 0 (in a trigger on items).
_SIGNIFICANT = f"({_when_and_where('OLD')} IS NOT {_when_and_where('NEW')})"
_SHOWN_CHANGED = f"OLD.data IS NOT NEW.data AND {_shown('OLD')} IS NOT {_shown('NEW')}"

# The revision's triggers of user_version 11: SEQUENCE counts significant revisions only; a change of anything
# else the calendar shows moves the time alone (RFC 5546 2.1.5: of two copies with one SEQUENCE, the later DTSTAMP
# wins); a change of nothing it shows, neither. An event added again after it was removed counts one (what it was
# is no longer known). Kept whichever code writes, as `ITEM_REVISIONS`.
SIGNIFICANT_REVISIONS = [
    ITEM_REVISIONS[1],  # added
    "CREATE TRIGGER IF NOT EXISTS item_revision_changed AFTER UPDATE OF data ON items "
    f"WHEN NEW.kind = 'event' AND {_SHOWN_CHANGED} BEGIN "
    "INSERT INTO item_revisions (id, revision, updated_at) VALUES (NEW.id, 0, NEW.last_seen) ON CONFLICT (id) "
    f"DO UPDATE SET revision = revision + {_SIGNIFICANT}, updated_at = excluded.updated_at; END",
]


def _significant_revisions(db: sqlite3.Connection) -> None:
    """An event's revision counts only changes of when and where it is, and its time only changes of what its
    calendar shows (user_version 11): the calendars' SEQUENCE grew with every change of its themes or summary.
    The counts so far stay as they are (a calendar app must never see a SEQUENCE go down)."""
    db.execute("DROP TRIGGER IF EXISTS item_revision_changed")
    for statement in SIGNIFICANT_REVISIONS:
        db.execute(statement)


# The revision's triggers of user_version 12: as those of 11, and each event's row in items keeps a copy of its
# revision (`revision`, `revised_at`: 0 and NULL, unrevised since first seen, until its first change, or until it is
# added again). A salvaged database (`.recover`) that lost an event's row of item_revisions, or the whole table,
# counts on from the copy; one that lost the event's row counts on from item_revisions when the event comes back.
# SEQUENCE goes down only if both are lost. Writing the copy changes no column the feeds count.
_COPY = ("UPDATE items SET (revision, revised_at) = (SELECT revision, updated_at FROM item_revisions "
         "WHERE id = NEW.id) WHERE id = NEW.id")


def _revision_changed(significant: str) -> str:
    """The trigger on a change of an event's data, counting one where `significant` is 1."""
    return ("CREATE TRIGGER IF NOT EXISTS item_revision_changed AFTER UPDATE OF data ON items "
            f"WHEN NEW.kind = 'event' AND {_SHOWN_CHANGED} BEGIN "
            f"INSERT INTO item_revisions (id, revision, updated_at) VALUES (NEW.id, NEW.revision + {significant}, "
            f"NEW.last_seen) ON CONFLICT (id) DO UPDATE SET revision = max(revision, NEW.revision) + {significant}, "
            f"updated_at = excluded.updated_at; {_COPY}; END")


COPIED_REVISIONS = [
    "CREATE TRIGGER IF NOT EXISTS item_revision_added AFTER INSERT ON items WHEN NEW.kind = 'event' BEGIN "
    "INSERT INTO item_revisions (id, revision, updated_at) "
    "VALUES (NEW.id, NEW.revision, coalesce(NEW.revised_at, NEW.first_seen)) ON CONFLICT (id) "
    "DO UPDATE SET revision = max(revision, excluded.revision) + 1, updated_at = excluded.updated_at; "
    f"{_COPY} AND NEW.revision IS NOT (SELECT revision FROM item_revisions WHERE id = NEW.id); END",
    _revision_changed(_SIGNIFICANT),
]
# The revision's triggers from user_version 13 on: as those of 12, and an item that becomes an event again (its
# source's kind set to news and back) counts one, as an event added again does: while it was not an event no
# change of it was counted and no calendar showed it, so a new time or place then is not known to be none.
REVISION_TRIGGERS = [
    COPIED_REVISIONS[0],  # added
    _revision_changed(f"({_SIGNIFICANT} OR OLD.kind IS NOT 'event')"),
]


def _revisions_beside_their_events(db: sqlite3.Connection) -> None:
    """Each event's row keeps a copy of its revision (user_version 12): a salvaged database that lost its row of
    item_revisions started it at 0 again, and a calendar app saw its SEQUENCE go down."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
    if "revision" not in columns:
        db.execute("ALTER TABLE items ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
    if "revised_at" not in columns:
        db.execute("ALTER TABLE items ADD COLUMN revised_at TEXT")
    db.execute(ITEM_REVISIONS[0])
    db.execute("DROP TRIGGER IF EXISTS item_revision_added")
    db.execute("DROP TRIGGER IF EXISTS item_revision_changed")
    for statement in COPIED_REVISIONS:
        db.execute(statement)
    db.execute("UPDATE items SET (revision, revised_at) = (SELECT revision, updated_at FROM item_revisions "
               "WHERE item_revisions.id = items.id) WHERE kind = 'event' AND id IN (SELECT id FROM item_revisions)")


def _item_revisions_kept(db: sqlite3.Connection) -> None:
    """Put the revisions' table and triggers back if a database lost them (a salvaged copy), and give any event
    without a row one: its copy of its revision (unrevised since it was first seen, if it has none)."""
    found = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE name IN "
                                            "('item_revisions', 'item_revision_added', 'item_revision_changed')")}
    if len(found) == 3:
        return
    with immediate(db):
        db.execute(ITEM_REVISIONS[0])
        for statement in REVISION_TRIGGERS:
            db.execute(statement)
        db.execute("INSERT OR IGNORE INTO item_revisions (id, revision, updated_at) "
                   "SELECT id, revision, coalesce(revised_at, first_seen) FROM items WHERE kind = 'event'")


def _kind_changes_revise(db: sqlite3.Connection) -> None:
    """An item that becomes an event again counts a significant revision (user_version 13): one that moved while
    it was news came back with its new time and place at the SEQUENCE its calendars showed the old ones at."""
    db.execute("DROP TRIGGER IF EXISTS item_revision_changed")
    db.execute(REVISION_TRIGGERS[1])


def _one_spelling_per_mailbox(db: sqlite3.Connection) -> None:
    """Every stored address in the spelling its mail reaches (user_version 14, `respelling.respell`): the list
    kept each as it was given, so one mailbox could be on it twice, or active under one spelling while it had
    unsubscribed under another. Two rows of one mailbox become one, whose aliases keep their links working."""
    from pipeline.state.respelling import respell  # here: it reads addresses, which nothing else here does

    for statement in _statements(ALIASES):
        db.execute(statement)
    respell(db)


# One more significant revision of event `id` (the second parameter), at the first (ISO, UTC): its row of
# item_revisions counts on, or, where a salvage lost that row, the copy its row of items keeps; then the copy follows.
# An event's withdrawal and its return count so (`store.withdraw_missing`), so its .ics is taken over what came before.
COUNT_REVISION = [
    "INSERT INTO item_revisions (id, revision, updated_at) SELECT id, revision + 1, :at FROM items "
    "WHERE id = :id AND kind = 'event' ON CONFLICT (id) DO UPDATE SET "
    "revision = max(item_revisions.revision + 1, excluded.revision), updated_at = excluded.updated_at",
    "UPDATE items SET (revision, revised_at) = (SELECT revision, updated_at FROM item_revisions WHERE id = items.id) "
    "WHERE id = :id AND kind = 'event'",
]

def _withdrawals_revise(db: sqlite3.Connection) -> None:
    """Each event withdrawn before a withdrawal counted a revision (user_version 15) counts one now, at its withdrawal:
    its .ics says it is cancelled, with a SEQUENCE above the copy readers imported."""
    for statement in _statements(WITHDRAWN):
        db.execute(statement)
    withdrawn = [{"id": item, "at": at} for item, at in db.execute("SELECT item, at FROM withdrawn")]
    for statement in COUNT_REVISION:
        db.executemany(statement, withdrawn)


def _consent_wordings(db: sqlite3.Connection) -> None:
    """The wording each consent was given under (user_version 16); the record's earlier entries name none."""
    for statement in _statements(CONSENT):
        db.execute(statement)


def _mailed(db: sqlite3.Connection) -> None:
    """Each issue mailed to anyone in a table of its own (user_version 17), which `forget` leaves: from the journal's
    rows sent, unknown or in flight, and from each batch none of whose recipients the journal still holds (an
    earlier `forget` erased them all; or the provider took the whole batch back, rarely: then an issue whose sends
    all failed counts as mailed, and a post withdrawn from it keeps its lead image on the site, the safer mistake)."""
    for statement in _statements(MAILED):
        db.execute(statement)
    found = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                                            "('deliveries', 'batches')")}
    if len(found) < 2:  # a new database: nothing was mailed yet
        return
    db.execute("""INSERT OR IGNORE INTO mailed (edition, at)
                  SELECT edition, MIN(updated_at) FROM deliveries WHERE status IN ('sent', 'unknown', 'in_flight')
                  GROUP BY edition""")
    db.execute("""INSERT OR IGNORE INTO mailed (edition, at)
                  SELECT b.edition, MIN(b.created_at) FROM batches b
                  WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.batch = b.id) GROUP BY b.edition""")


def _told(db: sqlite3.Connection) -> None:
    """What the issues told of each job and event (user_version 18). Of the issues made before, what they said is not
    known: each job and event in one is taken to have been told as it is now (cancelled if withdrawn), so that the
    next issue tells only what changes from now on, not what may have been told in a post of its own already. One
    withdrawn because it is back under a new id (`successors.py`: an event whose id was corrected) is on, as that one
    is now: taken as told cancelled, the next issue would say it was "on again"."""
    from pipeline.state.successors import successors_in
    from pipeline.state.told import CANCELLED, facts_of

    for statement in _statements(TOLD):
        db.execute(statement)
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'withdrawn'").fetchall():
        return  # a new database: no issue yet (`withdrawn` is made with the tables, after the steps)
    withdrawn = {item for (item,) in db.execute("SELECT item FROM withdrawn")}
    taken_by = successors_in(lambda sql: db.execute(sql).fetchall())
    now_of = {item: json.loads(data) for item, data in db.execute(
        "SELECT id, data FROM items WHERE id IN (SELECT value FROM json_each(?))", (json.dumps([*taken_by.values()]),))}
    rows = db.execute("SELECT e.number, i.id, i.data FROM editions e, json_each(e.item_ids) j "
                      "JOIN items i ON i.id = j.value WHERE i.kind IN ('job', 'event') ORDER BY e.number").fetchall()
    for number, item, data in rows:
        if item in withdrawn:
            facts = facts_of(now_of[taken_by[item]]) if taken_by.get(item) in now_of else CANCELLED
        else:
            facts = facts_of(json.loads(data))
        if facts is not None:
            db.execute("INSERT OR REPLACE INTO told (item, edition, facts) VALUES (?, ?, ?)",
                       (item, number, json.dumps(facts, sort_keys=True)))


# Each step runs once, in order; append new steps, never change or remove one.
STEPS = [
    _deliveries_v1_to_journal,
    _site_manifest,
    _item_themes,
    _run_history,
    _alerts,
    _item_changes,
    _subscription_requests,
    _subscriber_ids_never_reused,
    _item_revisions,
    _one_index_by_date,
    _significant_revisions,
    _revisions_beside_their_events,
    _kind_changes_revise,
    _one_spelling_per_mailbox,
    _withdrawals_revise,
    _consent_wordings,
    _mailed,
    _told,
]


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE), committed, or rolled back on any exception. BEGIN is inside
    the `try`: a signal (SIGTERM, Ctrl-C) landing just after it must not leave it open."""
    try:
        db.execute("BEGIN IMMEDIATE")
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def up_to_date(db: sqlite3.Connection) -> sqlite3.Connection:
    """`db` to read from without writing to it: itself when it has every step, otherwise (an older version's
    database, which `migrate` would write to) an up-to-date copy of it in memory, made in one read transaction
    and `db` closed. The file is left as it is, for the next run to bring up to date."""
    newer(db)
    if db.execute("PRAGMA user_version").fetchone()[0] >= len(STEPS):
        return db
    copy = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    try:
        db.backup(copy)
        migrate(copy)
    except BaseException:
        copy.close()
        raise
    db.close()
    return copy


def newer(db: sqlite3.Connection, *, since_opened: bool = False) -> None:
    """Refuse a database a newer version of the pipeline has brought up to date (a step this one does not know): this
    one would read and write its tables as if they were its own. With `since_opened`, it was up to date when this
    process opened it (a `pipeline serve` left running across an upgrade): the process is to be restarted."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(STEPS):
        from pipeline.errors import NewerState

        file = next((row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"), "")
        what_to_do = ("restart this process (`pipeline serve`, `pipeline schedule`) with the version that did; "
                      "nothing was changed" if since_opened else
                      "install that version again, or put back a `pipeline backup` made before the upgrade; "
                      "nothing was read or changed")
        since = ", and it was brought up to date after this process opened it" if since_opened else ""
        raise NewerState(f"{file + ': ' if file else ''}the state database is from a newer version of the pipeline "
                         f"(its schema is at step {version}, this version knows {len(STEPS)}{since}): {what_to_do}",
                         version, len(STEPS))


def migrate(db: sqlite3.Connection) -> None:
    """Bring the database at `db` up to date (an empty database gets every table at once)."""
    newer(db)
    db.executescript(CORE)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < len(STEPS):
        # A step may make a table anew (SQLite's way to change a column): dropping the old one must not delete
        # the rows that refer to it, so foreign keys are off while steps run (not a pragma a transaction can set).
        enforced = db.execute("PRAGMA foreign_keys").fetchone()[0]
        db.execute("PRAGMA foreign_keys = OFF")
        try:
            for number, step in enumerate(STEPS, 1):
                if version >= number:
                    continue
                with immediate(db):
                    step(db)
                    db.execute(f"PRAGMA user_version = {number}")
        finally:
            if enforced:
                db.execute("PRAGMA foreign_keys = ON")
    db.executescript(TABLES)
    _item_changes_kept(db)
    _item_revisions_kept(db)
