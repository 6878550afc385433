"""Times `pipeline run` on the shipped project with its partner feed swapped for a hostile one: items built to find
work that grows faster than their size (deep nesting, long words, thousands of categories, empty paragraphs…).

    python bench/hostile_bench.py [--scale 1.0] [--repeat 3] [--checkout PATH ...]

Two feeds, each run from a fresh state folder: `deep` (ten items of 100 to 500 KB) and `wide` (six of 0.1 to
1.2 MB). `--checkout` times other checkouts of this project in the same run (their code on PYTHONPATH, this
virtual environment), the reference a change is judged against: a round's start, say, from `git worktree add`.
Prints, for each checkout and feed, the median (min–max) of the whole run and of the source and the sinks, from the
run's own report (`--json`). `--scale` makes every item that much longer (the tests use a hundredth).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "pipeline.toml"
FEED_URL = 'url = "content/feeds/open-dialogue-uk.xml"'
STAGES = ("hostile", "newsletter", "feed", "archive")  # the swapped source, then the sinks


def deep_bodies(scale: float) -> list[str]:
    n = lambda count: max(1, int(count * scale))  # noqa: E731
    return ["<div>" * n(20000) + "deep" + "</div>" * n(20000), "&amp;" * n(100000), "<b>x</b>" * n(50000),
            "Dr. " * n(50000), "e.g. 9.30 £1. " * n(20000), "http://" * n(50000), "@" * n(100000),
            "a." * n(100000), "<p>" + "x " * 10 + "</p>" * n(50000), "’" * n(100000) + " peer support"]


def wide_items(scale: float) -> list[tuple[str, str, str]]:
    """(title, extra elements, body) of each item of the `wide` feed."""
    n = lambda count: max(1, int(count * scale))  # noqa: E731
    return [("Many categories", "".join(f"<category>topic {k}</category>" for k in range(n(5000))), "x"),
            ("Many images", "", "".join(f"<img src='https://h.example.org/{k}.jpg' alt='a{k}'>"
                                        for k in range(n(20000)))),
            ("Many cells", "", "<table>" + "<tr><td>a</td><td>b</td></tr>" * n(30000) + "</table>"),
            ("word " * n(20000), "", "peer support"),
            ("Links", "", "<a href='https://h.example.org/x'>read more →</a> " * n(20000)),
            ("Lines", "", "Peer support. <br>" * n(50000))]


def feed(items: list[tuple[str, str, str]]) -> str:
    entries = "".join(f"<item><title>{title}</title><link>https://h.example.org/{k}</link><guid>g{k}</guid>"
                      f"<pubDate>Mon, 11 Jan 2016 10:00:00 GMT</pubDate>{extra}"
                      f"<description><![CDATA[{body}]]></description></item>"
                      for k, (title, extra, body) in enumerate(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title>'
            f"<link>https://h.example.org/</link><description>d</description>{entries}</channel></rss>")


def project(folder: Path, feed_file: Path) -> Path:
    """The shipped pipeline.toml in `folder`, its content read from this checkout and its partner feed `feed_file`."""
    text = SHIPPED.read_text(encoding="utf-8")
    if FEED_URL not in text:
        sys.exit(f"{SHIPPED}: no {FEED_URL!r} to swap: update bench/hostile_bench.py")
    text = text.replace(FEED_URL, f'url = "{feed_file}"').replace("[sources.open-dialogue-uk]", "[sources.hostile]")
    text = text.replace('"content/', f'"{ROOT}/content/').replace('plugins_dir = "local_plugins"', "")
    config = folder / "pipeline.toml"
    config.write_text(text, encoding="utf-8")
    return config


def run_once(config: Path, checkout: Path) -> dict[str, float]:
    for name in ("state", "out", "outbox"):
        shutil.rmtree(config.parent / name, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--as-of", "2016-02-01", "--json",
                           "-c", str(config)], capture_output=True, text=True, env=env, cwd=config.parent)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"pipeline run exited {done.returncode} ({checkout}): {done.stderr[-1500:]}")
    report = json.loads(done.stdout)
    found = {result["name"]: result["seconds"] for result in report["results"] if result["name"] in STAGES}
    items = next(result["summary"] for result in report["results"] if result["name"] == "hostile")
    print(f"... {checkout.name or checkout}: {seconds:.2f} s; hostile source: {items}", file=sys.stderr)
    return {"run": seconds, **found}


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkout", type=Path, action="append", default=[],
                        help="another checkout to time in the same run (may be given again)")
    args = parser.parse_args()
    checkouts = [ROOT, *(path.resolve() for path in args.checkout)]
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as temp:
        folder = Path(temp)
        feeds = {"deep": [(f"T{k} é", "", body) for k, body in enumerate(deep_bodies(args.scale))],
                 "wide": wide_items(args.scale)}
        print("| checkout | feed | whole run | " + " | ".join(STAGES) + " |")
        print("|---|---|---|" + "---|" * len(STAGES))
        for name, items in feeds.items():
            feed_file = folder / f"{name}.xml"
            feed_file.write_text(feed(items), encoding="utf-8")
            config = project(folder, feed_file)
            for checkout in checkouts:
                runs = [run_once(config, checkout) for _ in range(args.repeat)]
                stages = " | ".join(cell([run.get(stage, 0.0) for run in runs]) for stage in STAGES)
                print(f"| {checkout} | {name} ({feed_file.stat().st_size / 1e6:.1f} MB) | "
                      f"{cell([run['run'] for run in runs])} | {stages} |", flush=True)


if __name__ == "__main__":
    main()
