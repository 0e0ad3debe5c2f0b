#!/usr/bin/env bash
# Create or reuse .venv with the pinned requirements. Sourced by run.sh and test.sh.
# Reinstalls only when a requirements file changed (a stamp holds their hash).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
stamp=.venv/.requirements-$want
if [ ! -f "$stamp" ]; then
  echo "setting up .venv (first run takes a few minutes)..." >&2
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -r requirements-dev.txt >&2
  rm -f .venv/.requirements-* && touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
