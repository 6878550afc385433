"""Transforms in the worker processes give exactly what they give in the main process."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline.config import load_project
from pipeline.runner import run
from pipeline.state import Store
from pipeline.transforming import MIN_ITEMS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402  (bench/corpus.py: realistic feeds)


def test_the_same_tags_evidence_and_summaries_in_workers_as_here(tmp_path):
    [feed] = corpus.generate(tmp_path / "corpus", feeds=1, items=MIN_ITEMS, as_of=date(2016, 5, 1))
    shipped = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
    transforms = shipped[shipped.index("[transforms.themes]"):shipped.index("# ---- Sinks")]
    results = {}
    for workers in (1, 2):
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        (folder / "pipeline.toml").write_text(
            f'[pipeline]\nname = "N"\nworkers = {workers}\n[sources.f]\ntype = "feed"\nurl = "{feed}"\n'
            f'{transforms}\n[sinks.feed]\ntype = "rss"\n', encoding="utf-8")
        report = run(load_project(folder / "pipeline.toml"), mode="refresh", as_of=date(2016, 5, 1))
        assert report.exit_code == 0, report.results
        summaries = [r.summary for r in report.results if r.stage == "transform"]
        assert summaries and all(("worker processes" in s) == (workers == 2) for s in summaries), summaries
        store = Store(folder / "state" / "pipeline.sqlite")
        items = store.recent_items(until=datetime(2100, 1, 1, tzinfo=UTC), limit=10_000)
        store.close()
        results[workers] = {i.id: (i.themes, i.theme_evidence, i.summary) for i in items}
    assert len(results[1]) == MIN_ITEMS and results[1] == results[2]
    assert sum(bool(themes) for themes, _, _ in results[1].values()) > MIN_ITEMS // 2  # a real test: most are tagged
