"""Throughput benchmark: ingest, transforms, sinks and a whole run, against plain feedparser.

    .venv/bin/python bench/run_bench.py            # 200 feeds x 50 items
    .venv/bin/python bench/run_bench.py --quick    # 20 x 20, a smoke check

See bench/README.md for what each figure means. This measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import feedparser

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import corpus  # noqa: E402  (bench/corpus.py)

from pipeline import runner  # noqa: E402
from pipeline.config import Project, load_project  # noqa: E402
from pipeline.edition import prepare_edition, start_of  # noqa: E402
from pipeline.models import Item  # noqa: E402
from pipeline.run_context import RunContext  # noqa: E402
from pipeline.run_report import RunReport  # noqa: E402
from pipeline.state import Store  # noqa: E402

AS_OF = date(2016, 5, 1)  # the edition date: the corpus is dated April 2016
SHIPPED_CONFIG = BENCH_DIR.parent / "pipeline.toml"
RESULTS_DIR = BENCH_DIR / "results"
SUBSCRIBERS = 50


@dataclass
class Figure:
    """One row of the table: a stage, how many items it handled, and its timings."""

    key: str
    label: str
    items: int
    times: list[float] = field(default_factory=list)
    note: str = ""
    ok: bool = True

    @property
    def seconds(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.times and self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "items": self.items, "seconds": self.seconds,
                "items_per_second": self.per_second, "times": self.times, "ok": self.ok, "note": self.note}


def timed(fn, *args):
    """(result, seconds) of fn(*args), by time.perf_counter."""
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def say(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# ---- setting up ------------------------------------------------------------------------------------

def toml_str(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def write_config(root: Path, feeds: list[Path], workers: int) -> Path:
    """pipeline.toml: one feed source per file, themes + summary, and the email, rss and archive sinks."""
    lines = ["[pipeline]", 'name = "Co-production Benchmark Network"',
             'description = "A generated corpus for measuring the pipeline."',
             'site_url = "https://bench.example.org"', 'timezone = "Europe/London"',
             'state_dir = "state"', 'out_dir = "out"', f"workers = {workers}", ""]
    for path in feeds:
        lines += [f"[sources.{path.name.split('.')[0]}]", 'type = "feed"', f"url = {toml_str(str(path))}",
                  'kind = "news"', ""]
    lines += [corpus.shipped_transforms_text(SHIPPED_CONFIG), "",  # the shipped themes and summary, as written
              "[sinks.newsletter]", 'type = "email"', 'subscribers = "subscribers.csv"',
              'from_email = "newsletter@bench.example.org"', 'reply_to = "organisers@bench.example.org"',
              'unsubscribe = "mailto:newsletter@bench.example.org?subject=unsubscribe"', "",
              "[sinks.newsletter.delivery]", 'type = "outbox"', "",
              "[sinks.feed]", 'type = "rss"', "limit = 50", "",
              "[sinks.archive]", 'type = "archive"', ""]
    config = root / "pipeline.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def prepare(root: Path, feeds: int, items: int, workers: int) -> tuple[Path, list[Path]]:
    """Corpus, subscribers and pipeline.toml in `root`; returns (config path, feed paths)."""
    say(f"generating {feeds} feeds x {items} items in {root}")
    paths = corpus.generate(root, feeds, items, AS_OF)
    corpus.write_subscribers(root / "subscribers.csv", SUBSCRIBERS)
    return write_config(root, paths, workers), paths


def new_context(project: Project, state_file: Path) -> RunContext:
    """A RunContext as runner.run makes one, on its own state file."""
    return RunContext(project, Store(state_file), AS_OF, start_of(AS_OF, project.tz))


def close_context(ctx: RunContext) -> None:
    ctx.close()
    ctx.store.close()


def single_process(config: Path) -> Project:
    """The same project with workers = 1, so every feed is parsed in this process."""
    project = load_project(config)
    project.core = project.core.model_copy(update={"workers": 1})
    return project


# ---- the stages ------------------------------------------------------------------------------------

def bench_reference(paths: list[Path], repeat: int) -> Figure:
    """(e) feedparser.parse(path) with its defaults (its own sanitiser and URI resolver), sequentially."""
    figure = Figure("reference", "(e) reference: feedparser.parse(path)", 0, note="defaults, sequential")
    for n in range(repeat):
        say(f"reference {n + 1}/{repeat}")
        count, seconds = timed(lambda: sum(len(feedparser.parse(str(p)).entries) for p in paths))
        figure.items = count
        figure.times.append(seconds)
    return figure


class Collected:
    """Stands in for the run's Ingest: keeps every source's items, transforms and saves nothing."""

    def __init__(self):
        self.items: list[Item] = []

    def take(self, items: list[Item], source: str) -> None:  # as Ingest.take: a source's items, and its name
        self.items.extend(items)

    def save_finished(self) -> None:
        pass


def fetch_once(project: Project, state_file: Path) -> tuple[list[Item], RunReport, float]:
    """runner._fetch_all over every source, through a fresh RunContext (worker pool start and stop included)."""
    ctx = new_context(project, state_file)
    report = RunReport("run", AS_OF.isoformat())
    started = time.perf_counter()
    collected = Collected()
    try:
        runner._fetch_all(project.sources, ctx, report, lambda what, done, total: None, collected, {})
        items = collected.items
    finally:
        ctx.close()
    seconds = time.perf_counter() - started
    ctx.store.close()
    return items, report, seconds


def bench_ingest(project: Project, scratch: Path, repeat: int, key: str, label: str) -> tuple[Figure, list[Item]]:
    """(a) every feed source's fetch: read, parse, sanitise into Items."""
    figure = Figure(key, label, 0)
    items: list[Item] = []
    for n in range(repeat):
        say(f"{key} {n + 1}/{repeat}")
        items, report, seconds = fetch_once(project, scratch / f"{key}.sqlite")
        figure.items = len(items)
        figure.times.append(seconds)
        failed = report.failed("source")
        if failed:
            figure.ok = False
            figure.note = f"{len(failed)} sources failed, first: {failed[0].name}: {failed[0].summary}"
    if figure.ok:
        figure.note = f"workers={project.core.workers}; first run {figure.times[0]:.2f}s"
    return figure, items


def bench_transforms(project: Project, items: list[Item], scratch: Path,
                     repeat: int) -> tuple[list[Figure], list[Item]]:
    """(b) every transform on fresh copies of the ingested items; returns the figures and transformed items."""
    total = Figure("transforms", "(b) transforms (all)", len(items))
    each = {t.instance: Figure(f"transform:{t.instance}", f"    {t.instance}", len(items)) for t in project.transforms}
    ctx = new_context(project, scratch / "transforms.sqlite")
    batch = items
    try:
        for n in range(repeat):
            say(f"transforms {n + 1}/{repeat}")
            batch = copy.deepcopy(items)
            started = time.perf_counter()
            for transform in project.transforms:
                _, seconds = timed(transform.apply, batch, ctx)
                each[transform.instance].times.append(seconds)
            total.times.append(time.perf_counter() - started)
    finally:
        close_context(ctx)
    return [total, *each.values()], batch


def bench_sinks(project: Project, items: list[Item], scratch: Path) -> list[Figure]:
    """(c) every sink once, for an edition made from the transformed items (a fresh state file)."""
    ctx = new_context(project, scratch / "sinks.sqlite")
    try:
        ctx.store.save_items([(item, "bench") for item in items], ctx.moment)  # any fingerprint will do
        edition = prepare_edition(ctx.store, AS_OF, project.tz, project.core.name, datetime.now(project.tz))
        size = len(edition.items) if edition else 0
        total = Figure("sinks", f"(c) sinks (edition of {size})", size)
        figures = [total]
        for sink in project.sinks:
            say(f"sink {sink.instance} ({sink.name})")
            figure = Figure(f"sink:{sink.instance}", f"    {sink.instance} ({sink.name})", size)
            started = time.perf_counter()
            try:
                figure.note = sink.write(edition, ctx).summary
            except Exception as exc:  # reported in the table, like runner._write_all does
                figure.ok, figure.note = False, f"FAILED {type(exc).__name__}: {exc}"
            figure.times.append(time.perf_counter() - started)
            figures.append(figure)
        total.times.append(sum(f.times[0] for f in figures[1:]))
        total.ok = all(f.ok for f in figures[1:])
        return figures
    finally:
        close_context(ctx)


def bench_run(config: Path, root: Path) -> list[Figure]:
    """(d) pipeline.runner.run on a fresh state folder and empty out and outbox folders, with its own breakdown."""
    for folder in ("state", "out", "outbox"):
        shutil.rmtree(root / folder, ignore_errors=True)
    project = load_project(config)
    say("whole run")
    report, seconds = timed(lambda: runner.run(project, as_of=AS_OF))
    fetched = sum(r.count for r in report.results if r.stage == "source")
    failed = [r for r in report.results if not r.ok]
    note = f"exit code {report.exit_code}, edition {report.edition}"
    if failed:
        note += f"; failed: {', '.join(f'{r.name}: {r.summary}' for r in failed[:3])}"
    whole = Figure("run", "(d) whole run: runner.run()", fetched, [seconds], note, ok=not failed)
    spent = {stage: sum(r.seconds for r in report.results if r.stage == stage) for stage in ("transform", "sink")}
    parts = [Figure("run:transforms", "    of which transforms (from the first chunk, overlapping the fetch)",
                    fetched, [spent["transform"]]),
             Figure("run:sinks", "    of which sinks", fetched, [spent["sink"]]),
             Figure("run:rest", "    of which the rest", fetched, [max(0.0, seconds - sum(spent.values()))],
                    "fetch (parallel), fingerprints, save, edition, close; 0 when the transforms overlapped it all")]
    return [whole, *parts]


# ---- outputs, profile, report -------------------------------------------------------------------------

def output_sizes(out: Path) -> dict:
    """Sizes of what the whole run wrote: the newsletter HTML, and files and bytes per folder of out/."""
    newsletter = out / "newsletter" / "issue-1.html"
    folders: dict[str, dict] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        top = path.relative_to(out).parts[0] if len(path.relative_to(out).parts) > 1 else path.name
        entry = folders.setdefault(top, {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += path.stat().st_size
    return {"newsletter_html": str(newsletter.relative_to(out.parent)) if newsletter.exists() else None,
            "newsletter_html_bytes": newsletter.stat().st_size if newsletter.exists() else None,
            "out": folders}


def fetch_sequentially(project: Project, ctx: RunContext) -> int:
    """What _fetch_all does per source, in this thread (cProfile sees only the thread that enabled it)."""
    check = getattr(runner, "_checked", lambda item: item)  # the host's own re-check of each item
    return sum(len([check(item) for item in source.fetch(ctx)]) for source in project.sources)


def profile_ingest(config: Path, scratch: Path, top: int = 20) -> str:
    """cProfile of every feed source's fetch in one process; the .prof file goes to bench/results/."""
    project = single_process(config)
    ctx = new_context(project, scratch / "profile.sqlite")
    profiler = cProfile.Profile()
    try:
        profiler.runcall(fetch_sequentially, project, ctx)
    finally:
        close_context(ctx)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(RESULTS_DIR / "ingest.prof")
    lines = []
    for order in ("tottime", "cumulative"):
        stream = _Capture()
        pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats(order).print_stats(top)
        lines.append(f"--- ingest profile, top {top} by {order} ---\n" + stream.text())
    return "\n".join(lines)


class _Capture:
    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        body = "".join(self.parts)
        return body[body.find("   ncalls"):] if "   ncalls" in body else body


def table(figures: list[Figure]) -> str:
    rows = [f"{'stage':<42} {'items':>7} {'seconds':>9} {'items/s':>9}  notes", "-" * 100]
    for f in figures:
        runs = f" (median of {len(f.times)})" if len(f.times) > 1 else ""
        flag = "" if f.ok else "!! "
        rows.append(f"{f.label:<42} {f.items:>7} {f.seconds:>9.3f} {f.per_second:>9.0f}  {flag}{f.note}{runs}")
    return "\n".join(rows)


def ratios(by_key: dict[str, Figure]) -> dict[str, float]:
    reference = by_key["reference"].per_second
    found = {}
    for key in ("ingest", "ingest-1"):
        if key in by_key and reference:
            found[f"{key}/reference"] = by_key[key].per_second / reference
    return found


def summary_text(figures: list[Figure], found: dict[str, float], outputs: dict | None) -> str:
    lines = [table(figures), ""]
    for name, value in found.items():
        lines.append(f"ratio {name} (items/s): {value:.2f}x")
    if outputs:
        size = outputs["newsletter_html_bytes"]
        lines.append(f"newsletter HTML {outputs['newsletter_html']}: "
                     f"{size / 1024:.0f} KiB" if size is not None else "newsletter HTML: not written")
        for name, entry in outputs["out"].items():
            lines.append(f"  out/{name}: {entry['files']} file(s), {entry['bytes'] / 1024:.0f} KiB")
    return "\n".join(lines)


def write_json(args, figures: list[Figure], found: dict, outputs: dict | None, corpus_bytes: int,
               load_before: tuple[float, ...]) -> Path:
    path = args.json or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": AS_OF.isoformat(),
        "feeds": args.feeds, "items_per_feed": args.items, "workers": args.workers, "repeat": args.repeat,
        "corpus_bytes": corpus_bytes,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count(), "feedparser": feedparser.__version__},
        "figures": [f.to_dict() for f in figures],
        "ratios": found,
        "outputs": outputs,
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


# ---- main ------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200, help="number of feeds (default 200)")
    parser.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    parser.add_argument("--workers", type=int, default=min(64, os.cpu_count() or 1),
                        help="[pipeline] workers (default: os.cpu_count())")
    parser.add_argument("--repeat", type=int, help="runs of the repeatable stages (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="20 feeds x 20 items, one run each: a smoke check")
    parser.add_argument("--corpus-dir", type=Path, help="build everything here (kept) instead of a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--profile", action="store_true", help="also cProfile ingest in one process")
    parser.add_argument("--json", type=Path, help="write the figures here (default bench/results/latest.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.items = 20, 20
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    return args


def measure(args, root: Path) -> None:
    load_before = os.getloadavg()
    say(f"load average {load_before[0]:.2f} (other processes skew the figures)")
    config, paths = prepare(root, args.feeds, args.items, args.workers)
    corpus_bytes = sum(p.stat().st_size for p in paths)
    scratch = root / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)  # a reused --corpus-dir starts from no state
    project = load_project(config)
    figures = [bench_reference(paths, args.repeat)]
    ingest, items = bench_ingest(project, scratch, args.repeat, "ingest", "(a) ingest: FeedSource.fetch x all")
    figures.append(ingest)
    one, _ = bench_ingest(single_process(config), scratch, args.repeat, "ingest-1",
                          "    ingest, workers=1 (one process)")
    figures.append(one)
    transform_figures, transformed = bench_transforms(project, items, scratch, args.repeat)
    figures += transform_figures
    figures += bench_sinks(project, transformed, scratch)
    figures += bench_run(config, root)
    outputs = output_sizes(root / "out")
    found = ratios({f.key: f for f in figures})
    print(f"\ncorpus: {args.feeds} feeds x {args.items} items, {corpus_bytes / 1e6:.1f} MB; "
          f"workers={args.workers}; cpus={os.cpu_count()}; as_of={AS_OF}; "
          f"load average now {os.getloadavg()[0]:.2f}")
    print(summary_text(figures, found, outputs))
    print(f"\nresults: {write_json(args, figures, found, outputs, corpus_bytes, load_before)}")
    if args.profile:
        print("\n" + profile_ingest(config, scratch))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.corpus_dir:
        root = args.corpus_dir.resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    try:
        measure(args, root)
    finally:
        if args.corpus_dir or args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
