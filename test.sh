#!/usr/bin/env bash
# The test suite (what CI runs). Extra arguments go to pytest, e.g. ./test.sh -k store
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
# The browser test drives Debian's Chromium: install it (only it) when missing, as root.
scripts/install-chromium.sh
ruff check .
ruff format --check .
python -m pytest -q "$@"
