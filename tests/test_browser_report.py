"""The fairness report in a real browser with the network blocked: every section shows, the
charts draw (plotly.js is inlined), and no request leaves the file. The screenshot is kept in
test-artifacts/ for people to look at."""

from __future__ import annotations

import pytest
from chromium import ARTIFACTS, chromium_context
from report_project import make_report_project

from debias_core.report import write_report

pytestmark = pytest.mark.browser
SECTIONS = ("summary", "dataset", "generated", "results", "card", "provenance")


@pytest.fixture(scope="module")
def offline_page():
    with chromium_context(1300, 900, offline=True) as context:
        requests: list[str] = []

        # Anything that is not the file itself or an inline data: URI is aborted and noted.
        def block(route):
            url = route.request.url
            if url.startswith(("file:", "data:")):
                return route.continue_()
            requests.append(url)
            return route.abort()

        context.route("**/*", block)
        yield context.new_page(), requests


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
