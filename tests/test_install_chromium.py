"""./test.sh installs Chromium and nothing else, quietly, saying what it installs.

The installer runs against a fake `apt-get` (and `id`) on PATH that records its calls, so the
test checks the exact commands without touching the machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from live_app import ROOT

SCRIPT = ROOT / "scripts" / "install-chromium.sh"
FAKE_APT = """#!/usr/bin/env bash
echo "$*" >> "$APT_LOG"
for arg in "$@"; do
  if [ "$arg" = -s ]; then echo "Inst chromium (120 Debian)"; echo "Inst libfoo1 (2 Debian)"; fi
done
echo "noisy apt output that must not reach the terminal"
"""


def run_installer(tmp_path: Path, uid: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(FAKE_APT)
    (bin_dir / "id").write_text(f"#!/usr/bin/env bash\necho {uid}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    log = tmp_path / "apt.log"
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        APT_LOG=str(log),
        CHROMIUM_PATH=str(tmp_path / "no-chromium"),
        TMPDIR=str(tmp_path),
    )
    result = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_installs_only_chromium_without_upgrades_and_says_so(tmp_path):
    result, calls = run_installer(tmp_path, "0")
    assert result.returncode == 0 and result.stdout == ""
    assert calls[0] == "update -qq"
    installs = [c.split() for c in calls[1:]]
    assert all(c[0] == "install" for c in installs) and len(installs) == 2  # dry run, install
    for args in installs:
        assert "--no-install-recommends" in args and "--no-upgrade" in args
        assert [a for a in args if not a.startswith("-")] == ["install", "chromium"]
    assert {c.split()[0] for c in calls} == {"update", "install"}  # no upgrade / dist-upgrade
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("test.sh: installing chromium for the browser test (chromium")
    assert "libfoo1" in lines[0] and lines[-1] == "test.sh: chromium installed"
    assert "noisy apt output" not in result.stderr  # quiet: it went to the log


def test_without_root_it_installs_nothing_and_says_why(tmp_path):
    result, calls = run_installer(tmp_path, "1000")
    assert result.returncode == 0 and calls == []
    assert "needs root and apt-get; the browser test will skip" in result.stderr


def test_test_sh_uses_the_installer_and_nothing_else_installs_system_packages():
    text = (ROOT / "test.sh").read_text()
    assert "scripts/install-chromium.sh" in text and "apt-get" not in text
