"""Site benchmark: the `archive` sink building a site of many items, then refreshing it.

    .venv/bin/python bench/site_bench.py                   # 10,000 items in 4 issues
    .venv/bin/python bench/site_bench.py --items 2000 --repeat 1 --keep

The items (posts, partner news, jobs and events, with 3 KB bodies from bench/corpus.py, sanitised,
with themes and a summary as the transforms would leave them) are written straight into a state
database, no HTTP, and four monthly issues are made from them. Then the sink runs as `pipeline
refresh` runs it (a fresh RunContext, templates loaded), and three things are timed:

- first build: an empty out/;
- unchanged rebuild: the same state again (the median of --repeat runs): nothing is rendered or written (the
  first plans the site once more and finds nothing to make; the rest find nothing changed and plan nothing:
  plugins/sinks/archive/unchanged.py; each run's seconds are printed under the table);
- one item changed: one news item's summary and body changed (a new fingerprint): its page and the
  lists that show it are made again.

For each: seconds, files made again (rendered), files written, and the site's pages and files. It
measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from pipeline.config import load_project  # noqa: E402
from pipeline.edition import prepare_edition, start_of  # noqa: E402
from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, ProgrammeSlot, item_id  # noqa: E402
from pipeline.run_context import RunContext  # noqa: E402
from pipeline.sanitize import clean_html  # noqa: E402
from pipeline.state import Store  # noqa: E402
from plugins.sinks.archive.facts import content_print  # noqa: E402

THEMES = ["co-production", "power-sharing", "peer support", "space", "recovery", "Open Dialogue", "commissioning",
          "education and training", "lived experience", "digital media", "research", "hearing voices", "governance",
          "community", "children and young people", "substance use", "carers and families", "housing", "employment",
          "crisis care", "equality and diversity"]
ISSUES = [date(2016, 2, 1), date(2016, 3, 1), date(2016, 4, 1), date(2016, 5, 1)]
TOML = """
[pipeline]
name = "Co-production in Mental Health Network"
description = "News, blog posts, jobs and events about co-production in mental health care."
site_url = "https://coproduction-network.example.org"
timezone = "Europe/London"
workers = 1

[sinks.feed]
type = "rss"

[sinks.archive]
type = "archive"
"""


def make_items(count: int, seed: int = 2016) -> list[Item]:
    rng = random.Random(seed)
    start = datetime(2016, 1, 1, 6, tzinfo=UTC)
    span = (datetime(2016, 4, 30, 20, tzinfo=UTC) - start).total_seconds()
    items = []
    for n in range(count):
        entry = corpus.make_entry(rng, n % 200, n, date(2016, 5, 1))
        published = start + timedelta(seconds=span * n / count)
        roll = rng.random()
        kind = Kind.NEWS if roll < 0.7 else Kind.POST if roll < 0.85 else Kind.JOB if roll < 0.95 else Kind.EVENT
        extra = {}
        if kind is Kind.JOB:
            extra["job"] = JobDetails(organisation=f"Partner {n % 200}", location=rng.choice(corpus.PLACES),
                                      salary="£24,000", closing_date=(published + timedelta(days=30)).date(),
                                      how_to_apply="Apply online.")
        elif kind is Kind.EVENT:
            begins = published + timedelta(days=20)
            extra["event"] = EventDetails(
                start=begins, end=begins + timedelta(hours=6), timezone="Europe/London",
                venue=rng.choice(corpus.PLACES), speakers=[entry["author"]],
                programme=[ProgrammeSlot("10:00", "Welcome"), ProgrammeSlot("11:00", "Talks")],
                prices=[PriceTier("Standard", Decimal("40")), PriceTier("Unwaged", Decimal("0"))])
        items.append(Item(id=item_id(f"partner-{n % 200}", entry["link"]), kind=kind, source=f"partner-{n % 200}",
                          title=entry["title"], published=published, url=entry["link"], author=entry["author"],
                          body_html=clean_html(entry["body"], entry["link"]), summary=entry["summary"],
                          themes=rng.sample(THEMES, rng.randint(1, 3)), **extra))
    return items


def refresh(project, store: Store) -> tuple[float, str, int]:
    """The archive sink as `pipeline refresh` runs it: seconds, its summary, and the files it wrote."""
    moment = start_of(date(2016, 5, 1), project.tz)
    run = RunContext(project, store, moment.date(), moment)
    (sink,) = [s for s in project.sinks if s.name == "archive"]
    began = time.perf_counter()
    result = sink.write(None, run)
    seconds = time.perf_counter() - began
    run.close()
    return seconds, result.summary, len(result.files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="unchanged rebuilds to take the median of")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="site-bench-"))
    try:
        (folder / "pipeline.toml").write_text(TOML, encoding="utf-8")
        project = load_project(folder / "pipeline.toml")
        store = Store(folder / "state" / "pipeline.sqlite")
        print(f"making {args.items:,} items in {len(ISSUES)} issues...", file=sys.stderr, flush=True)
        items = make_items(args.items)
        store.save_items([(item, content_print(item)) for item in items], datetime(2016, 5, 1, tzinfo=UTC))
        for as_of in ISSUES:
            prepare_edition(store, as_of, project.tz, project.core.name, start_of(as_of, project.tz))

        rows = []
        seconds, summary, written = refresh(project, store)
        rows.append(("first build", seconds, summary))
        times = []
        for _ in range(max(1, args.repeat)):
            seconds, summary, written = refresh(project, store)
            times.append(seconds)
        rows.append((f"unchanged rebuild (median of {len(times)})", statistics.median(times), summary))
        news = next(item for item in items if item.kind is Kind.NEWS)
        edited = dataclasses.replace(news, summary="An updated summary.", body_html="<p>An updated summary.</p>")
        store.save_items([(edited, content_print(edited))], datetime.now(UTC))
        seconds, summary, written = refresh(project, store)
        rows.append(("one item changed", seconds, summary))
        store.close()

        files = [p for p in project.core.out_dir.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print(f"\n{args.items:,} items, {len(ISSUES)} issues: {len(files):,} files, {size / 1e6:.0f} MB in out/\n")
        print(f"| {'run':<32} | {'seconds':>8} | sink's summary")
        print(f"| {'-' * 32} | {'-' * 8} | {'-' * 40}")
        for name, seconds, summary in rows:
            print(f"| {name:<32} | {seconds:>8.2f} | {summary}")
        print(f"\nunchanged rebuilds, one by one: {', '.join(f'{s:.2f}' for s in times)} s (the first after a build "
              f"that wrote files plans the site once more; once that finds nothing to make, the rest plan nothing)")
        if args.keep:
            print(f"\nkept {folder}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
