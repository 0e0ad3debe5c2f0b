#!/usr/bin/env bash
# Install Debian's chromium for the browser test, and nothing else: no recommended extras, no
# upgrade of packages already installed. Says what it installs; apt's output goes to a log.
# Runs only as root with apt-get; otherwise the browser test skips with its reason.
set -euo pipefail
target=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$target" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "test.sh: $target is missing and installing it needs root and apt-get; the browser test will skip" >&2
  exit 0
fi
log=$(mktemp -t chromium-install.XXXXXX.log)
apt_install=(apt-get install -y -qq --no-install-recommends --no-upgrade chromium)
if ! apt-get update -qq >"$log" 2>&1; then
  echo "test.sh: apt-get update failed (log: $log); the browser test will skip" >&2
  exit 0
fi
# The exact package list, from a dry run, so the user sees what lands on the machine.
packages=$(DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" -s 2>>"$log" | awk '/^Inst /{print $2}' | tr '\n' ' ')
echo "test.sh: installing chromium for the browser test (${packages:-chromium}); log: $log" >&2
if DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" >>"$log" 2>&1; then
  echo "test.sh: chromium installed" >&2
else
  echo "test.sh: could not install chromium (log: $log); the browser test will skip" >&2
fi
