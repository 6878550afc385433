"""A network of readers and one post, and its newsletter: its pipeline.toml (through the outbox, or the
SendGrid stand-in, `fake` in conftest.py), and what the journal says was sent."""

from __future__ import annotations

from collections import Counter

from pipeline.state import Store, journal

SUBSCRIBERS = 120
POST = """---
title: "Peer support in Leeds"
date: 2016-02-15
---

Peer workers and service users met in Leeds to plan the spring seminar.
"""


def newsletter_toml(sink: str = "", delivery: str = "") -> str:
    """A blog (blog/) and the email sink sending it to subscribers.csv; `sink` adds settings to the sink,
    `delivery` is the body of its delivery table (none: the outbox)."""
    table = f"\n    [sinks.newsletter.delivery]\n    {delivery}" if delivery else ""
    return f"""
    [sources.blog]
    type = "blog"
    path = "blog"

    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"
    from_email = "news@network.example.org"
    {sink}
    {table}
    """


def project_toml(host: str, extra: str = "", sink: str = "") -> str:
    """Through the SendGrid stand-in at `host`; `extra`: more settings of the delivery; `sink`: of the sink."""
    return newsletter_toml(sink, f"""type = "sendgrid"
    host = "{host}"
    batch_size = 20
    requests_per_batch = 2
    concurrency = 2
    max_retries = 2
    max_wait_seconds = 0
    {extra}""")


def readers_csv() -> str:
    return "email,name\n" + "".join(f"reader{n}@example.org,Reader {n}\n" for n in range(SUBSCRIBERS))


def everyone() -> Counter:
    return Counter({f"reader{n}@example.org": 1 for n in range(SUBSCRIBERS)})


def statuses(config) -> Counter:
    """Issue 1's recipients by journal status."""
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return Counter({status: count for status, count in journal.counts(store).get(1, Counter()).items()})
    finally:
        store.close()
