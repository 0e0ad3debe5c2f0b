"""One real-browser run through the app: Debian's Chromium driven by Playwright.

The app runs as its own process on a fresh tiny project, generating with a diffusers-format copy
of the dummy backbone. A screenshot of each step is saved in test-artifacts/. test.sh installs
Chromium with apt-get when it is missing; this test only skips, saying why.
"""

from __future__ import annotations

import re

import pytest
from chromium import ARTIFACTS, WAIT_MS, chromium_context
from live_app import AppProcess, make_tiny_project, save_dummy_backbone

from debias_core.store import SampleFilter, Store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_page():
    with chromium_context(1400, 1000) as context:
        yield context.new_page()


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


def choose_method(page, name: str) -> None:
    box = page.locator("#generate-method input")
    box.fill(name)
    box.press("Enter")


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

    # Generate: choosing a method swaps its parameter widgets (built from its dataclass).
    page.get_by_role("tab", name="Generate").click()
    expect(page.locator("#generate-choice-0")).to_contain_text("template")
    choose_method(page, "diffinject")
    expect(page.locator("#generate-number-1")).to_contain_text("gamma")
    expect(page.locator("#generate-number-1 input")).to_have_value("0.7")
    expect(page.locator("#generate-choice-0")).to_contain_text("run")
    expect(page.locator("#generate-groups")).to_be_hidden()  # diffinject picks its own targets
    expect(page.locator("#generate-method-note")).to_contain_text("picks its own targets")
    shot(page, "2a-diffinject-widgets")
    choose_method(page, "txt2img")
    expect(page.locator("#generate-number-1")).to_be_hidden()
    expect(page.locator("#generate-choice-0")).to_contain_text("template")
    expect(page.locator("#generate-groups")).to_be_visible()
    page.locator("#generate-groups-none").click()
    expect(page.locator("#generate-groups input:checked")).to_have_count(0)
    page.locator("#generate-groups-conflicting").click()
    expect(page.locator("#generate-groups input:checked")).to_have_count(2)

    # 3 images for each of the 2 bias-conflicting groups, on the folder backbone.
    field = page.locator("#generate-backbone input")
    field.fill(str(backbone))
    field.press("Enter")
    for label, value in (("Images per group", "3"), ("Batch size", "3")):
        page.get_by_label(label).fill(value)
    page.get_by_label("number input for Steps").fill("2")
    page.locator("#generate-submit").click()
    expect(page.locator("#generate-note")).to_contain_text("Queued generation job")
    expect(page.locator("#generate-progress")).to_contain_text("done", timeout=60_000)
    expect(page.locator("#generate-images-info")).to_contain_text("6 images")
    expect(page.locator("#generate-gallery img")).to_have_count(6)
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

    # Verify: a policy's own parameters, built from its dataclass, swap with the policy.
    page.get_by_role("tab", name="Verify").click()
    expect(page.get_by_label("accept_at")).to_be_visible()
    page.locator("#verify-policy input").click()
    page.get_by_role("option", name="dbb", exact=True).click()
    expect(page.get_by_label("min_ig")).to_be_visible()
    expect(page.get_by_label("accept_at")).to_be_hidden()
    shot(page, "4b-verify")

    # Train & Evaluate: one epoch of ERM on real + the accepted images of that generation job
    # (chosen by job), with affine augmentation, then a results row naming the data.
    page.get_by_role("tab", name="Train & Evaluate").click()
    page.locator("#train-epochs input").fill("1")
    page.get_by_label("real + accepted generated").check()
    (job,) = [j for j in store.list_jobs() if j.kind == "generate"]
    page.locator("#train-source input").click()
    page.get_by_role("option", name=f"job {job.id}: txt2img, 6 images").click()
    page.locator("#train-augment input").click()
    page.get_by_role("option", name="affine", exact=True).click()
    page.locator("#train-submit").click()
    expect(page.locator("#train-runs")).to_contain_text("done", timeout=60_000)
    expect(page.locator("#train-runs")).to_contain_text("erm + affine augmentation")
    expect(page.locator("#train-runs")).to_contain_text("real + 2 accepted generated (txt2img 2)")
    expect(page.locator("#train-runs")).to_contain_text("%")
    shot(page, "5-trained")
    (run,) = store.list_runs("train")
    assert run.status == "done" and run.config["synthetic_job"] == job.id
    assert run.config["augment"] == "affine"
    assert sorted(run.synthetic_ids) == sorted(decided[:2])


def test_review_grid_click_shift_click_keyboard_then_accept(browser_page, live):
    """The grid: click + shift-click select a range, arrows + space toggle, `a` accepts the
    selection, and the counts and tiles refresh. Runs on the first test's 3 pending samples."""
    from playwright.sync_api import expect

    page, (app, _) = browser_page, live
    expect.set_options(timeout=WAIT_MS)
    page.goto(app.url)
    page.get_by_role("tab", name="Review").click()
    expect(page.locator("#review-counts")).to_contain_text("2 accepted · 1 rejected · 3 pending")
    page.get_by_role("tab", name="Grid").click()
    tiles = page.locator("#review-grid .rv-tile")
    expect(tiles).to_have_count(3)
    chosen = page.locator("#review-grid .rv-tile.on")
    tiles.nth(0).click()
    tiles.nth(1).click(modifiers=["Shift"])
    expect(chosen).to_have_count(2)
    page.keyboard.press("ArrowRight")  # the cursor is on tile 1: move to tile 2 and tick it
    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    expect(chosen).to_have_count(3)
    page.keyboard.press(" ")
    expect(chosen).to_have_count(2)
    picked = [int(i) for i in chosen.evaluate_all("tiles => tiles.map(t => t.dataset.id)")]
    shot(page, "4b-grid-selected")
    page.keyboard.press("a")  # the page's hotkey: accept the selection
    expect(page.locator("#review-grid-note")).to_contain_text("Accepted: 2 samples of 2 selected")
    expect(page.locator("#review-counts")).to_contain_text("4 accepted · 1 rejected · 1 pending")
    expect(page.locator("#review-grid .rv-tile .st-accepted")).to_have_count(2)
    expect(chosen).to_have_count(0)
    shot(page, "4c-grid-accepted")
    store = Store.open(app.project)
    assert [store.status_of(i) for i in picked] == ["accepted", "accepted"]
    assert all(store.decisions_for(i)[-1]["reviewer"] == "tester" for i in picked)


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


# -- Embeddings: lasso -> grid -> accept -> reload ------------------------------------------------
PLOT = "#emb-plot .ds-plot"


def plot_geometry(page) -> dict:
    """Pixel placement of the plot's data area and its axis ranges (for data <-> pixels)."""
    return page.evaluate(
        """(sel) => { const gd = document.querySelector(sel), L = gd._fullLayout;
        const r = gd.getBoundingClientRect();
        return {left: r.left + L.xaxis._offset, top: r.top + L.yaxis._offset,
                w: L.xaxis._length, h: L.yaxis._length, xr: L.xaxis.range, yr: L.yaxis.range}; }""",
        PLOT,
    )


def to_pixels(geo: dict, xy):
    import numpy as np

    xy = np.asarray(xy, float)
    (x0, x1), (y0, y1) = geo["xr"], geo["yr"]
    px = geo["left"] + (xy[:, 0] - x0) / (x1 - x0) * geo["w"]
    py = geo["top"] + (y1 - xy[:, 1]) / (y1 - y0) * geo["h"]
    return np.stack([px, py], axis=1)


def signed_margin(points, polygon):
    """Distance of each point to the polygon's boundary, positive inside (ray casting)."""
    import numpy as np

    inside = np.zeros(len(points), bool)
    dist = np.full(len(points), np.inf)
    for (ax, ay), (bx, by) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (ay > points[:, 1]) != (by > points[:, 1])
        x_at = ax + (points[:, 1] - ay) * (bx - ax) / np.where(by == ay, 1e-12, by - ay)
        inside ^= crosses & (points[:, 0] < x_at)
        edge = np.array([bx - ax, by - ay])
        t = np.clip(((points - [ax, ay]) @ edge) / max(edge @ edge, 1e-12), 0, 1)
        nearest = np.array([ax, ay]) + t[:, None] * edge
        dist = np.minimum(dist, np.linalg.norm(points - nearest, axis=1))
    return np.where(inside, dist, -dist)


def drawn_status(page) -> dict[str, set[int]]:
    """Category -> ids as the plot currently draws them (read from the page's own state)."""
    return page.evaluate(
        """(sel) => { const s = document.querySelector(sel).dsState, out = {};
        s.categories.forEach((c, t) => { out[c] = Array.from(s.traceIds[t]); }); return out; }""",
        PLOT,
    )


def test_embeddings_lasso_fills_the_grid_accept_then_reload(browser_page, live):
    import numpy as np
    from playwright.sync_api import expect

    page, (app, _) = browser_page, live
    expect.set_options(timeout=WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.url)
    page.get_by_role("tab", name="Embeddings").click()
    # The first open starts the embed job itself; the view redraws when it ends.
    expect(page.locator("#emb-info")).to_contain_text("Computing the clip embeddings")
    expect(page.locator(f"{PLOT}[data-points]")).to_be_attached(timeout=90_000)
    store = Store.open(app.project)
    projection = store.latest_projection("clip", "pca")
    assert int(page.locator(PLOT).get_attribute("data-points")) == len(projection.ids)

    # Lasso an octagon around the generated samples (with some margin).
    geo = plot_geometry(page)
    pixels = to_pixels(geo, projection.xy)
    generated = set(store.sample_ids(SampleFilter(source="generated")))
    mine = pixels[[int(i) in generated for i in projection.ids]]
    (cx, cy), radius = mine.mean(0), np.linalg.norm(mine - mine.mean(0), axis=1).max() + 12
    angles = np.linspace(0, 2 * np.pi, 9)[:-1] + np.pi / 8
    polygon = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
    polygon = np.round(polygon)  # the pointer moves to whole pixels
    page.mouse.move(*polygon[0])
    page.mouse.down()
    for point in [*polygon[1:], polygon[0]]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()
    expect(page.locator("#emb-grid-info")).to_contain_text("selected")
    shown = [int(t) for t in page.locator("#emb-grid .ds-tile").evaluate_all(
        "tiles => tiles.map(t => t.dataset.id)"
    )]  # fmt: skip
    margin = signed_margin(pixels, polygon)
    surely_in = {int(i) for i, m in zip(projection.ids, margin, strict=True) if m > 1.5}
    surely_out = {int(i) for i, m in zip(projection.ids, margin, strict=True) if m < -1.5}
    assert surely_in and surely_in <= set(shown) and not set(shown) & surely_out
    assert len(shown) == len(set(shown))
    sprite = page.locator("#emb-grid .ds-img").first.evaluate(
        "el => getComputedStyle(el).backgroundImage.slice(5, -2)"
    )
    assert page.request.get(sprite).ok  # the page's tiles are one sprite image
    page.wait_for_timeout(500)  # let it paint for the screenshot
    shot(page, "6-embeddings-lasso")

    # Accept them (all ticked), then reload: decisions kept and points recoloured.
    if len(shown) > 20:
        page.locator("#emb-confirm input").check()
    page.locator("#emb-accept").click()
    expect(page.locator("#emb-note")).to_contain_text("Accepted:")
    decided = [i for i in shown if i in generated]
    assert decided and all(store.status_of(i) == "accepted" for i in decided)
    assert all(store.decisions_for(i)[-1]["reviewer"] == "tester" for i in decided)
    page.reload()
    page.get_by_role("tab", name="Embeddings").click()
    expect(page.locator(f"{PLOT}[data-points]")).to_be_attached()
    drawn = drawn_status(page)
    assert set(decided) <= set(drawn["accepted"])
    assert not set(decided) & set(drawn.get("pending", []))
    assert set(drawn["accepted"]) == {i for i in generated if store.status_of(i) == "accepted"}
    shot(page, "7-embeddings-after-reload")

    # Colour by group, then switch projection (UMAP, then PCA again): each view is drawn in full.
    # This once left a blank plot and the page error "Cannot read properties of undefined
    # (reading 'uid')": new points were drawn into a plot whose DOM had been wiped.
    colour = page.locator("#emb-colour input")
    colour.fill("group")
    colour.press("Enter")
    expect(page.locator("#emb-plot .legendtext").first).to_contain_text(" / ")
    page.locator("#emb-method").get_by_label("UMAP").check()
    expect(page.locator("#emb-info")).to_contain_text("Compute UMAP")
    page.locator("#emb-umap").click()  # a job (its first run compiles: minutes under load)
    expect(page.locator("#emb-info")).to_contain_text("UMAP of clip", timeout=300_000)
    page.locator("#emb-method").get_by_label("PCA").check()
    expect(page.locator("#emb-info")).to_contain_text("PCA of clip")
    page.wait_for_timeout(500)  # let plotly finish drawing
    drawn = drawn_status(page)
    assert sum(len(v) for v in drawn.values()) == len(store.latest_projection("clip", "pca").ids)
    assert all(" / " in c for c in drawn), drawn.keys()  # still coloured by group
    traces = page.evaluate("(sel) => document.querySelector(sel).data.length", PLOT)
    assert traces == len(drawn) and not errors, errors
    shot(page, "8-embeddings-projection-and-colour")
