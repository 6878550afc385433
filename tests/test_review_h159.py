"""Review h159: flaky tests, and the races in the product some of them were showing.

Each test is one problem found, and fails while the problem is there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Two sources' threads read their first feeds at once, in a fresh process: "plain" with feedparser, "fast" with the
# fast reader, which imports feedparser's modules one by one. "plain" is held inside `import feedparser` (the
# package's import lock taken, the module not yet made) until "fast" holds the import lock of a feedparser module
# of its own, or waits in the feed source's code (where it is kept out of the import until "plain" is done).
SCRIPT = r'''
import importlib._bootstrap as bootstrap
import json
import sys
import threading
import time
from importlib.machinery import PathFinder

from plugins.sources import feed

RSS = (b"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><item><title>Cafe</title>"
       b"<link>https://p.example.org/1</link></item></channel></rss>")
inside, outcome = threading.Event(), {}


def fast_is_in_the_way() -> bool:
    held = bootstrap._module_locks.get("feedparser.datetimes")
    lock = held() if held is not None else None
    if lock is not None and lock.owner == fast.ident:
        return True
    frame = sys._current_frames().get(fast.ident)
    return frame is not None and frame.f_code.co_filename == feed.__file__ and frame.f_code.co_name == "_load"


class HoldPlain:
    """Holds "plain" where it has taken the package's import lock and not yet made the module (creating it: no
    lock of the whole import system is held there, as one is while finders are asked)."""

    def find_spec(self, name, path=None, target=None):
        if name != "feedparser" or threading.current_thread().name != "plain":
            return None
        spec = PathFinder.find_spec(name, path, target)
        spec.loader = Held(spec.loader)
        return spec


class Held:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        inside.set()
        ends = time.monotonic() + 60  # a safety limit only
        while not fast_is_in_the_way() and time.monotonic() < ends:
            time.sleep(0.002)
        return self.loader.create_module(spec)

    def exec_module(self, module):
        return self.loader.exec_module(module)


def read(name: str, parser) -> None:
    if name == "fast":
        inside.wait(60)
    try:
        outcome[name] = [entry.title for entry in parser()[1]]
    except BaseException as exc:
        outcome[name] = f"{type(exc).__name__}: {exc}"


sys.meta_path.insert(0, HoldPlain())
plain = threading.Thread(target=read, name="plain", args=("plain", lambda: feed._read_with_feedparser(
    RSS, "https://p.example.org/f.xml", "application/rss+xml", "https://p.example.org/f.xml")))
fast = threading.Thread(target=read, name="fast", args=("fast", lambda: feed._read_fast(
    RSS, "https://p.example.org/f.xml", "application/rss+xml", "fast")))
plain.start(), fast.start()
plain.join(), fast.join()
try:  # a later feed, in the same process
    outcome["later"] = [e.title for e in feed._read_with_feedparser(RSS, "u", "application/rss+xml", "u")[1]]
except BaseException as exc:
    outcome["later"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(outcome))
'''


def test_two_sources_reading_their_first_feeds_at_once_both_read_them():
    """feedparser is imported on first use (plugins/sources/feed.py `_read_with_feedparser`: "a project without
    feeds never pays its 10 MB"), in each source's thread, and the fast reader (`parser = "fast"`) imports its
    modules one by one (`fastfeed.py`: `from feedparser.datetimes import ...`). Two sources reading their first
    feeds at once, one of each (or one of an OPML list and another), can each hold an import lock of feedparser
    the other needs: Python then gives up on one of them, and that source fails with "_DeadlockError: deadlock
    detected by _ModuleLock('feedparser.datetimes')", or "cannot import name '_FeedParserMixin' from partially
    initialized module 'feedparser.mixin'". Worse, `feedparser` is then made again around the modules left in
    sys.modules, without them as attributes: every feed read with feedparser for the rest of the process (a
    `pipeline schedule` runs for months) fails with "module 'feedparser' has no attribute 'urls'". (Seen in the
    test suite under load: tests of test_review_h107 failing so, one after another, in one worker.)"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"plain": ["Cafe"], "fast": ["Cafe"], "later": ["Cafe"]}, done.stdout
