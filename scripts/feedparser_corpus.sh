#!/usr/bin/env bash
# Fetch feedparser's own test corpus (tests/ of its sdist, for the installed version) into
# .cache/feedparser-corpus/, for tests/test_fastfeed.py. Does nothing when it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("feedparser"))')
dest=.cache/feedparser-corpus
if [ -d "$dest/feedparser-$version/tests" ]; then
  exit 0
fi
mkdir -p "$dest"
.venv/bin/python -m pip download --quiet --no-deps --no-binary :all: --dest "$dest" "feedparser==$version"
tar -xzf "$dest/feedparser-$version.tar.gz" -C "$dest"
echo "feedparser $version test corpus in $dest/feedparser-$version/tests"
