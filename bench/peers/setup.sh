#!/usr/bin/env bash
# Install the peers that bench/ingest_bench.py compares against (reader 3.x and rss2email 3.x)
# in their own virtual environment, bench/peers/.venv. They are NOT dependencies of the project:
# nothing in the pipeline imports them, and the project's .venv never sees them.
#
#   bash bench/peers/setup.sh              # uses python3 (3.11 or newer)
#   PYTHON=/path/to/python3.12 bash bench/peers/setup.sh
#
# Safe to run again: it reuses the venv and upgrades within the same major versions.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

"$python" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"bench/peers/setup.sh: Python 3.11 or newer needed (reader 3.x), this is {sys.version.split()[0]}")
PY

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv" >&2
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# Major versions pinned. The bench uses reader's make_reader/add_feed/update_feeds_iter (and its
# `python -m reader --help`, hence the [cli] extra: click)
# and rss2email's `r2e -c CONFIG -d DATA new|add|run --no-send`.
# sgmllib3k: reader vendors a feedparser that does `import sgmllib`; feedparser 6.0.12+ no longer
# depends on sgmllib3k (it moved to feedparser-sgmllib), so reader fails to import without it.
"$venv/bin/python" -m pip install --quiet --upgrade "reader[cli]>=3,<4" "rss2email>=3,<4" sgmllib3k

"$venv/bin/python" - <<'PY'
from importlib.metadata import version
print(f"bench/peers/.venv: reader {version('reader')}, rss2email {version('rss2email')}, "
      f"feedparser {version('feedparser')}")
PY
