#!/usr/bin/env bash
# The test suite (what CI runs). Extra arguments go to pytest, e.g. ./test.sh -k store
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ruff check .
python -m pytest -q "$@"
