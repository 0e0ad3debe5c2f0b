"""One real-browser run through the app: Debian's Chromium driven by Playwright.

The app runs as its own process on a fresh tiny project, generating with a diffusers-format copy
of the dummy backbone. A screenshot of each step is saved in test-artifacts/. test.sh installs
Chromium with apt-get when it is missing; this test only skips, saying why.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from live_app import ROOT, AppProcess, make_tiny_project, save_dummy_backbone

from debias_core.store import Store

pytestmark = pytest.mark.browser
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


@pytest.fixture(scope="module")
def browser_page():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and test.sh could not install it (apt-get as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))  # a fresh profile every run
    try:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                args=FLAGS,
                headless=True,
                viewport={"width": 1400, "height": 1000},
            )
            context.set_default_timeout(WAIT_MS)
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    make_tiny_project(tmp / "proj")
    backbone = save_dummy_backbone(tmp / "backbone")
    app = AppProcess(tmp / "proj", tmp / "app.log").start()
    try:
        yield app, backbone
    finally:
        app.stop()
        print(app.tail(1500))


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True)


def sample_id_shown(page) -> int:
    text = page.locator("#review-header").inner_text()
    return int(re.search(r"Sample #(\d+)", text).group(1))


def press_and_wait(page, key: str, before: int) -> None:
    """Press a review hotkey and wait until the reply shows the next sample."""
    from playwright.sync_api import expect

    page.keyboard.press(key)
    expect(page.locator("#review-header")).not_to_contain_text(f"Sample #{before} ")


def open_sample(page, sample_id: int, expected: str) -> None:
    """Type an id + Enter. Retried: the tab's own queue load, still in flight, may land after
    our reply and show the queue's first sample instead."""
    from playwright.sync_api import expect

    box = page.locator("#review-id input")
    for _ in range(3):
        box.fill(str(sample_id))
        box.press("Enter")
        try:
            expect(page.locator("#review-header")).to_contain_text(expected, timeout=3000)
            return
        except AssertionError:
            continue
    expect(page.locator("#review-header")).to_contain_text(expected)


def test_open_group_generate_review_with_hotkeys_reload_train(browser_page, live):
    from playwright.sync_api import expect

    page, (app, backbone) = browser_page, live
    expect.set_options(timeout=WAIT_MS)
    page.goto(app.url)
    expect(page.locator("#groups-gallery img").first).to_be_visible()

    # Groups: click the row of group (0, 0); its gallery replaces the default one.
    page.locator('[data-testid="cell-0-2"]:visible').click()  # the dataframe's grid cells
    expect(page.locator("#groups-info")).to_contain_text("86 images · page 1 / 2")
    expect(page.locator("#groups-gallery img").first).to_be_visible()
    shot(page, "1-group")

    # Generate: 3 images for each of the 2 bias-conflicting groups, on the folder backbone.
    page.get_by_role("tab", name="Generate").click()
    field = page.locator("#generate-backbone input")
    field.fill(str(backbone))
    field.press("Enter")
    for label, value in (("Images per group", "3"), ("Batch size", "3")):
        page.get_by_label(label).fill(value)
    page.get_by_label("number input for Steps").fill("2")
    page.locator("#generate-submit").click()
    expect(page.locator("#generate-note")).to_contain_text("Queued generation job")
    expect(page.locator("#generate-progress")).to_contain_text("done", timeout=60_000)
    shot(page, "2-generated")

    # Review: accept, accept, reject with the keyboard only.
    page.get_by_role("tab", name="Review").click()
    expect(page.locator("#review-header")).to_contain_text("queue position 1 / 6")
    page.locator("#review-header").click()  # focus the page, not an input field
    decided = []
    for key in ("a", "a", "r"):
        decided.append(sample_id_shown(page))
        press_and_wait(page, key, decided[-1])
    expect(page.locator("#review-counts")).to_contain_text("2 accepted · 1 rejected · 3 pending")
    shot(page, "3-reviewed")
    store = Store.open(app.project)
    assert [store.status_of(i) for i in decided] == ["accepted", "accepted", "rejected"]
    assert [d["decision"] for i in decided for d in store.decisions_for(i)] == [
        "accept",
        "accept",
        "reject",
    ]

    # Reload: the decisions are in the store, so the page shows them again.
    page.reload()
    page.get_by_role("tab", name="Review").click()
    expect(page.locator("#review-counts")).to_contain_text("2 accepted · 1 rejected · 3 pending")
    expect(page.locator("#review-header")).to_contain_text("queue position 1 / 3")
    open_sample(page, decided[2], f"Sample #{decided[2]} · rejected")
    shot(page, "4-after-reload")

    # Train & Evaluate: one epoch of ERM, then a results row.
    page.get_by_role("tab", name="Train & Evaluate").click()
    page.locator("#train-epochs input").fill("1")
    page.locator("#train-submit").click()
    expect(page.locator("#train-runs")).to_contain_text("done", timeout=60_000)
    expect(page.locator("#train-runs")).to_contain_text("erm")
    expect(page.locator("#train-runs")).to_contain_text("%")
    shot(page, "5-trained")
    assert [r.status for r in store.list_runs("train")] == ["done"]


def test_personalize_tab_trains_shows_loss_and_previews(browser_page, live):
    """Personalize: a group LoRA job on the folder backbone, its loss curve, a concept preview
    (sources, reconstruction, attention map) and the artifacts table."""
    from playwright.sync_api import expect

    page, (app, backbone) = browser_page, live
    expect.set_options(timeout=WAIT_MS)
    page.goto(app.url)
    page.get_by_role("tab", name="Personalize").click()
    page.locator("#pers-method input").fill("group-lora")
    page.locator("#pers-method input").press("Enter")
    expect(page.locator("#pers-params textarea")).to_have_value(re.compile("samples_per_group"))
    field = page.locator("#pers-backbone input")
    field.fill(str(backbone))
    field.press("Enter")
    page.locator("#pers-target").get_by_label("groups").check()
    page.locator("#pers-groups").get_by_label(re.compile(r"digit 0 / red")).check()
    page.locator("#pers-steps input").fill("4")
    page.locator("#pers-submit").click()
    expect(page.locator("#pers-note")).to_contain_text("Queued personalization job")
    expect(page.locator("#personalize-progress")).to_contain_text("done", timeout=60_000)
    expect(page.locator("#pers-artifacts")).to_contain_text("lora:group-0-0")
    expect(page.locator("#pers-loss .js-plotly-plot")).to_be_visible()
    shot(page, "6-personalized")

    job = page.locator("#pers-job input")
    job.click()
    page.get_by_role("option").first.click()
    concept = page.locator("#pers-concept input")
    concept.click()
    page.get_by_role("option", name="group-0-0").click()
    page.locator("#pers-preview-btn").click()
    expect(page.locator("#pers-preview-text")).to_contain_text("group-lora", timeout=60_000)
    expect(page.locator("#pers-preview img").first).to_be_visible()
    shot(page, "7-preview")
    store = Store.open(app.project)
    assert [a.name for a in store.list_artifacts(method="group-lora")] == ["lora:group-0-0"]
