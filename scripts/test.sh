#!/usr/bin/env bash
# Set up (a .venv with the test extras, and Debian's Chromium for the browser test) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the archive's browser test..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# The example plugins (examples/*), so the test suite runs their tests too (setuptools comes with the test extras).
.venv/bin/python -m pip install --quiet --no-build-isolation $(for example in examples/*/; do printf -- '-e %s ' "$example"; done)
bash scripts/feedparser_corpus.sh  # feedparser's own test corpus, for the fast parser's differential test
# One test process per core: most tests wait on servers, processes and deadlines, so two cores halve the wait.
# (Arguments are passed on: `-n 0` runs them in this one process.)
exec .venv/bin/python -m pytest -n auto "$@"
