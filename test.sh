#!/usr/bin/env bash
# The test suite (what CI runs). Extra arguments go to pytest, e.g. ./test.sh -k store
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
# The browser test drives Debian's Chromium; install it when missing and apt-get is usable.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the browser test (apt-get)..." >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
      || echo "test.sh: could not install chromium with apt-get; the browser test will skip" >&2
  else
    echo "test.sh: /usr/bin/chromium is missing and apt-get needs root; the browser test will skip" >&2
  fi
fi
ruff check .
python -m pytest -q "$@"
