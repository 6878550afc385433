"""Send benchmark: one issue to many subscribers through the `sendgrid` delivery, against a SendGrid stand-in.

    .venv/bin/python bench/send_bench.py                        # 100,000 subscribers, 100 ms per request
    .venv/bin/python bench/send_bench.py --subscribers 10000 --latency 0 --repeat 1

Both sides run in the same script against the same stand-in (tests/fake_sendgrid.py, its own process):
- `pipeline run`: a real `pipeline run` process sending issue 1 to every active subscriber in the state
  database (journal, signed links, batches, scheduled sends). Its wall time, the email sink's own time
  from the run report, and the process's peak RSS.
- reference: the official client alone, making the same requests (one batch id per journal batch, one
  mail/send per 1,000 recipients, the same concurrency) with bodies built in a loop, and nothing else.
It checks the stand-in's ledger: every subscriber must receive exactly one copy. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.state import Store  # noqa: E402
from pipeline.state import subscribers as subscriber_state  # noqa: E402

API_KEY = "SG.bench-key"
AS_OF = date(2016, 3, 1)
POST = """---
title: "Peer support in Leeds"
date: 2016-02-15
---

Peer workers and service users met in Leeds to plan the spring seminar on co-production.
"""


def start_stand_in(latency: float, ledger: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_sendgrid.py"), "--port", "0",
                             "--latency", str(latency), "--api-key", API_KEY, "--ledger", str(ledger)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def stop_stand_in(proc: subprocess.Popen, ledger: Path) -> dict[str, int]:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return json.loads(ledger.read_text())


def make_project(root: Path, url: str, subscribers: int, concurrency: int) -> Path:
    (root / "blog").mkdir(parents=True)
    (root / "blog" / "post.md").write_text(POST)
    config = root / "pipeline.toml"
    config.write_text(f"""
[pipeline]
name = "Bench Network"
site_url = "https://network.example.org"
timezone = "Europe/London"
workers = 1

[sources.blog]
type = "blog"
path = "blog"

[sinks.newsletter]
type = "email"
from_email = "news@network.example.org"

[sinks.newsletter.delivery]
type = "sendgrid"
host = "{url}"
concurrency = {concurrency}
""")
    store = Store(root / "state" / "pipeline.sqlite")
    rows = [(f"reader{n}@example.org", f"Reader {n}") for n in range(subscribers)]
    subscriber_state.import_rows(store, rows, how="bench", at=datetime.now(UTC))
    store.close()
    return config


def time_pipeline(config: Path, url: str) -> dict:
    env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "NO_PROXY": "127.0.0.1,localhost",
           "PIPELINE_SECRET": "bench-secret-bench-secret-bench-secret"}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--as-of",
                                 AS_OF.isoformat()], env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        peak = PeakRss(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"pipeline run failed ({proc.returncode}):\n{output}")
    sink = re.search(r"newsletter\s+ok\s+.*?\s([\d.]+)\s*$", output, re.M)
    return {"wall": wall, "sink": float(sink.group(1)) if sink else None,
            "peak_rss_mb": peak.mb, "cpu": usage.ru_utime + usage.ru_stime, "summary": output.strip().splitlines()[-1]}


class PeakRss:
    """The peak RSS (VmHWM) of one process, read until it exits. Not ru_maxrss: on Linux a child's starts
    from its parent's, and this script's own memory is no business of the process measured."""

    def __init__(self, pid: int):
        self.mb = 0.0
        self._thread = threading.Thread(target=self._watch, args=(f"/proc/{pid}/status",), daemon=True)
        self._thread.start()

    def _watch(self, path: str) -> None:
        while True:
            try:
                with open(path) as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            self.mb = max(self.mb, int(line.split()[1]) / 1024)
            except (OSError, ValueError):
                return
            time.sleep(0.02)


def time_reference(url: str, subscribers: int, concurrency: int, per_batch: int = 10_000) -> float:
    """The official client making the same requests, with nothing else to do."""
    from sendgrid import SendGridAPIClient

    client = SendGridAPIClient(api_key=API_KEY, host=url)
    html = "<p>" + "Peer support and co-production. " * 400 + "</p>"
    started = time.perf_counter()
    for first in range(0, subscribers, per_batch):
        batch_id = json.loads(client.client.mail.batch.post().body)["batch_id"]
        send_at = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())

        def post(start: int, batch_id=batch_id, send_at=send_at, last=min(first + per_batch, subscribers)):
            people = range(start, min(start + 1000, last))
            client.send({
                "personalizations": [{"to": [{"email": f"ref{n}@example.org", "name": f"Reader {n}"}],
                                      "headers": {"List-Unsubscribe": f"<https://network.example.org/u/{n}>"}}
                                     for n in people],
                "from": {"email": "news@network.example.org"}, "subject": "Issue 1",
                "content": [{"type": "text/plain", "value": "Issue 1"}, {"type": "text/html", "value": html}],
                "batch_id": batch_id, "send_at": send_at})

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, range(first, min(first + per_batch, subscribers), 1000)))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the stand-in adds to each answer")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    runs, references = [], []
    for attempt in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            stand_in, url = start_stand_in(args.latency, root / "ledger.json")
            try:
                config = make_project(root / "project", url, args.subscribers, args.concurrency)
                runs.append(time_pipeline(config, url))
                references.append(time_reference(url, args.subscribers, args.concurrency))
            finally:
                ledger = stop_stand_in(stand_in, root / "ledger.json")
            ours = {k: v for k, v in ledger.items() if k.startswith("reader")}
            copies = sorted(set(ours.values()))
            print(f"run {attempt + 1}: {runs[-1]['wall']:.2f} s, {runs[-1]['peak_rss_mb']:.0f} MB; "
                  f"ledger: {len(ours)} readers, copies each {copies}",
                  file=sys.stderr)

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} s"

    print(f"{args.subscribers:,} subscribers, {args.latency * 1000:.0f} ms per request, concurrency "
          f"{args.concurrency}, {args.repeat} runs (min / median / max)")
    print(f"  pipeline run, whole process : {spread([r['wall'] for r in runs])}")
    print(f"  pipeline run, email sink    : {spread([r['sink'] for r in runs if r['sink'] is not None])}")
    print(f"  pipeline run, CPU time      : {spread([r['cpu'] for r in runs])}")
    print(f"  reference client, same requests: {spread(references)}")
    peaks = [r["peak_rss_mb"] for r in runs if r["peak_rss_mb"]]
    if peaks:
        print(f"  pipeline run peak RSS       : {max(peaks):.0f} MB")


if __name__ == "__main__":
    main()
