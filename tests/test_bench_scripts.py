"""The scripts of `bench/` still run, on a corpus a few items large: a change to the host's internals broke
`run_bench.py` once (a new argument of `runner._fetch_all`) and nothing noticed until a round's measuring.
These check what each script counted, never how long anything took."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The example plugins the test command installs would add their own sources and sinks to the runs.
ENV = {**os.environ, "PIPELINE_BLOCK_PLUGINS": "csv_jobs,ics_events,reading_time,webhook_sink",
       "NO_PROXY": "127.0.0.1,localhost"}


def bench(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, f"{script} exited {done.returncode}: {done.stderr[-2000:]}"
    return done


def test_the_ingest_bench_fetches_every_item_then_gets_a_304_for_every_feed(tmp_path):
    done = bench("ingest_bench.py", "--feeds", "3", "--items", "4", "--repeat", "1", "--latency", "0",
                 "--only", "project", "--json", str(tmp_path / "ingest.json"), cwd=tmp_path)
    measured = json.loads((tmp_path / "ingest.json").read_text())
    assert measured["missing"] == {}  # it runs the project's own .venv/bin/pipeline, which the set-up makes
    cold, unchanged = measured["tools"]["project"]["runs"]
    assert (cold["measure"], cold["exit_code"], cold["items_stored"], cold["errors"]) == ("cold", 0, 12, 0)
    assert cold["http"]["200"] == 3 and cold["http"]["conditional"] == 0
    assert (unchanged["measure"], unchanged["exit_code"], unchanged["http"]["304"]) == ("not_modified", 0, 3)
    assert "| refresh of 3 feeds × 4 items over HTTP on 127.0.0.1 |" in done.stdout


def test_the_throughput_bench_runs_every_stage_on_every_item(tmp_path):
    bench("run_bench.py", "--feeds", "3", "--items", "4", "--repeat", "1", "--workers", "2",
          "--json", str(tmp_path / "run.json"), cwd=tmp_path)
    figures = {f["key"]: f for f in json.loads((tmp_path / "run.json").read_text())["figures"]}
    assert {"reference", "ingest", "ingest-1", "transform:themes", "transform:summary", "sink:newsletter",
            "sink:feed", "sink:archive", "run"} <= set(figures)
    assert [key for key, f in figures.items() if not f["ok"] or f["items"] != 12] == []
    assert "exit code 0" in figures["run"]["note"]


def test_the_site_bench_builds_then_rebuilds_only_what_changed(tmp_path):
    done = bench("site_bench.py", "--items", "30", "--repeat", "1", cwd=tmp_path)
    rows = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in done.stdout.splitlines()
            if line.count("|") >= 3}
    summary = re.compile(r"\d+ pages, (\d+) files: (\d+) made again, (\d+) written")
    counts = {row: tuple(map(int, summary.fullmatch(text).groups())) for row, text in rows.items()
              if row.endswith(("build", "of 1)", "changed"))}
    files, made, written = counts["first build"]
    assert made == written == files > 0
    assert counts["unchanged rebuild (median of 1)"] == (files, 0, 0)
    files, made, written = counts["one item changed"]
    assert 0 < written <= made < files


def test_the_send_bench_delivers_one_copy_to_each_subscriber(tmp_path):
    done = bench("send_bench.py", "--subscribers", "20", "--latency", "0", "--repeat", "1", cwd=tmp_path)
    assert "ledger: 20 readers, copies each [1]" in done.stderr
    assert "pipeline run, email sink" in done.stdout


def test_the_hostile_bench_runs_both_feeds_through_every_stage(tmp_path):
    done = bench("hostile_bench.py", "--scale", "0.005", "--repeat", "1", cwd=tmp_path)
    assert "hostile source: 10 items" in done.stderr and "hostile source: 6 items" in done.stderr
    rows = [line.split("|")[2].strip().split()[0] for line in done.stdout.splitlines() if line.count("|") == 8
            and "MB" in line]
    assert rows == ["deep", "wide"]
