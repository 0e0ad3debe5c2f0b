"""The fairness report in a real browser with the network blocked: every section shows, the
charts draw (plotly.js is inlined), and no request leaves the file. The screenshot is kept in
test-artifacts/ for people to look at."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from report_project import make_report_project
from test_browser_e2e import ARTIFACTS, CHROMIUM, FLAGS, WAIT_MS

from debias_core.report import write_report

pytestmark = pytest.mark.browser
SECTIONS = ("summary", "dataset", "generated", "results", "card", "provenance")


@pytest.fixture(scope="module")
def offline_page():
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
                viewport={"width": 1300, "height": 900},
                offline=True,
            )
            context.set_default_timeout(WAIT_MS)
            requests: list[str] = []

            # Anything that is not the file itself or an inline data: URI is aborted and noted.
            def block(route):
                url = route.request.url
                if url.startswith(("file:", "data:")):
                    return route.continue_()
                requests.append(url)
                return route.abort()

            context.route("**/*", block)
            try:
                yield context.new_page(), requests
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_report_opens_offline_with_every_section(offline_page, tmp_path):
    page, requests = offline_page
    store, base_id, other_id, generated = make_report_project(tmp_path / "proj")
    out, _ = write_report(store, tmp_path / "report.html")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(out.resolve().as_uri())
    for section in SECTIONS:
        assert page.locator(f"#{section}").is_visible()
    # The charts drew: plotly.js ran from the file itself.
    page.wait_for_selector("#fig-groups .main-svg")
    assert page.locator("#fig-summary .main-svg").count() >= 1
    # Thumbnails decoded (inline base64), and the grid shows each shown sample.
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert widths and all(w > 0 for w in widths)
    assert page.locator(f"#sample-{generated[2]}").is_visible()
    assert page.locator(f"#run-{other_id}").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-offline.png"), full_page=True)
    # Printing opens every recipe: the PDF holds the provenance too.
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.locator("details[open]").count() == page.locator("details").count()
    assert not page.locator("nav.toc").is_visible()
    assert requests == [] and errors == []
