"""Debian's Chromium driven by Playwright, for the real-browser tests.

test.sh installs Chromium with apt-get when it is missing; a test that needs it only skips,
saying why.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_app import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Recommended for headless Chromium in a container (see NOTES-offline-stack.md).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 30_000


@contextlib.contextmanager
def chromium_context(width: int, height: int, **options) -> Iterator:
    """A headless Chromium context on a fresh profile (removed afterwards), every wait bounded by
    WAIT_MS; `options` go to Playwright's launch_persistent_context (e.g. offline=True)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and test.sh could not install it (apt-get as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    try:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                args=FLAGS,
                headless=True,
                viewport={"width": width, "height": height},
                **options,
            )
            context.set_default_timeout(WAIT_MS)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
