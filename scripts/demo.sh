#!/usr/bin/env bash
# Set up (a .venv beside this checkout) and run the shipped pipeline.toml: the issues of
# 1 February 2016 and 1 May 2016, into out/ (newsletter HTML and text, the feeds and the whole site) and
# outbox/ (one .eml per subscriber: not part of the site, never to publish).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/pipeline run --as-of 2016-02-01
.venv/bin/pipeline run --as-of 2016-05-01
echo
echo "Done. Open out/index.html (the site), out/newsletter/ and out/feed.xml; the emails are in outbox/ (not published)."
