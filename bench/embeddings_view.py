"""The Embeddings tab with 50,000 points, measured through gradio_client (and a real browser).

- cached coordinates shown: the tab's open call (the stored PCA of 50,000 samples, colours by
  status) until its reply is in; target <= 2 s. With Chromium present, also the time from
  clicking the tab to the points being drawn by plotly in the page;
- a 5,000-point lasso filling the grid: the selection call with 5,000 ids until its reply (page 1,
  200 tiles) is in, then the reply plus fetching the page's tile image (one sprite sheet of the
  200 pictures) as a browser would; first view (sheet made on the way) and cached; target 1 s.

The vectors are not CLIP's: 50,000 random images would take minutes to embed and the view does
not depend on what the vectors mean, so each sample gets a 64-d vector from one of 40 Gaussian
clusters, stored under the embedded CLIP's weights hash (exactly what the embed job writes).
Run: python bench/embeddings_view.py [--samples 50000] [--lasso 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from review_roundtrip import fill_store, free_port, machine  # noqa: E402

from debias_core.store import Store  # noqa: E402

SHOW_TARGET_S = 2.0
LASSO_TARGET_S = 1.0
TINY = {"classes": (0, 1), "palette": ("red", "green"), "train_per_class": 40, "bias_ratio": 0.9}


def make_project(folder: Path, n: int) -> Store:
    """n generated samples with cached vectors and a stored PCA (reused when `folder` has them)."""
    from debias_core.analysis.embeddings import ProjectionConfig, project
    from debias_core.analysis.features import get_extractor
    from debias_core.data.ingest import create_project

    if (folder / "project.db").exists():
        store = Store.open(folder)
        print(f"reusing {folder} ({store.count_samples():,} samples)")
        return store
    store = create_project(folder, "colored-digits", options=dict(TINY))
    seconds = fill_store(store, n - store.count_samples())
    print(f"store: {store.count_samples():,} samples in {seconds:.1f} s")
    extractor = get_extractor(store, "clip")
    ids = store.sample_ids()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 64)) * 3
    vectors = centres[rng.integers(0, 40, len(ids))] + rng.normal(size=(len(ids), 64))
    start = time.perf_counter()
    for first in range(0, len(ids), 5000):
        chunk = ids[first : first + 5000]
        store.put_embeddings("clip", extractor.model_id(), chunk, vectors[first : first + 5000])
    print(f"cached {len(ids):,} vectors in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    result = project(store, ProjectionConfig("clip", "pca"), embed=False)
    print(f"PCA of {len(result.projection.ids):,} in {time.perf_counter() - start:.2f} s")
    return store


def launch(folder: Path):
    import app as studio
    from ui.launch import launch_options, start_server
    from ui.state import make_context

    ctx = make_context(folder, reviewer="bench", create=False)
    demo = studio.build_app(ctx)
    start_server(demo, **launch_options(ctx, port=free_port()))
    return demo


def line(what: str, seconds: float, target: float) -> str:
    return (
        f"  {what:<48} {seconds * 1000:8.1f} ms   target {target * 1000:6.0f} ms   "
        f"ratio {seconds / target:.2f}"
    )


def bench_show(url: str, runs: int) -> tuple[list[float], int]:
    """A new client (session) per run: a session that was already sent the points gets colours."""
    from gradio_client import Client

    times, size = [], 0
    for _ in range(runs):
        client = Client(url, verbose=False, download_files=False)
        start = time.perf_counter()
        payload, _ = client.predict("clip", "pca", "status", api_name="/embeddings_open")
        times.append(time.perf_counter() - start)
        if payload.get("kind") != "points":
            raise RuntimeError(f"no points shown: {payload}")
        size = sum(len(str(v)) for v in payload.values())
    return times, size


def bench_lasso(client, http, url: str, ids: list[int], n: int, runs: int) -> dict:
    """Distinct 5,000-id selections (so each first view makes its own 200 thumbnails)."""
    out: dict[str, list[float]] = {}
    rng = np.random.default_rng(1)
    picks = [sorted(rng.choice(ids, n, replace=False).tolist()) for _ in range(runs)]
    for label in ("first", "cached"):
        for chosen in picks:
            start = time.perf_counter()
            grid, _, _ = client.predict(" ".join(map(str, chosen)), api_name="/embeddings_select")
            reply = time.perf_counter() - start
            if len(grid["ids"]) != n or len(grid["items"]) != 200:
                raise RuntimeError(f"grid has {len(grid['ids'])} ids, {len(grid['items'])} tiles")
            http.get(f"{url}/{grid['sprite']}").raise_for_status()  # all 200 tiles
            out.setdefault(f"{label} reply", []).append(reply)
            out.setdefault(f"{label} reply + its sprite of 200 tiles", []).append(
                time.perf_counter() - start
            )
    return out


def bench_browser(url: str, runs: int) -> tuple[list[float], list[float]] | None:
    """Click the tab -> points drawn, in Chromium, and the page's own decode + draw time
    (None when Chromium is not installed). Headless Chromium draws WebGL in software."""
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    times, draws = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for k in range(runs + 1):  # the first load also fetches plotly.js (4.7 MB): not counted
            page.goto(url)
            # The other tabs fill themselves on page load; let them finish first.
            page.locator("#groups-gallery img").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            start = time.perf_counter()
            page.get_by_role("tab", name="Embeddings").click()
            page.wait_for_selector("#emb-plot .ds-plot[data-points]", timeout=60_000)
            if k:
                times.append(time.perf_counter() - start)
                ms = page.locator("#emb-plot .ds-plot").get_attribute("data-draw-ms")
                draws.append(float(ms) / 1000)
        browser.close()
    return times, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--lasso", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="project folder to keep / reuse")
    parser.add_argument("--umap", action="store_true", help="also time a UMAP of every sample")
    args = parser.parse_args()

    import httpx
    from gradio_client import Client

    print(f"machine: {machine()}; load average {os.getloadavg()}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-embeddings-")) / "proj"
    try:
        store = make_project(folder, args.samples)
        demo = launch(folder)
        try:
            url = demo.local_url.rstrip("/")
            client = Client(url, verbose=False, download_files=False)
            show, size = bench_show(url, args.runs)
            with httpx.Client() as http:
                lasso = bench_lasso(client, http, url, store.sample_ids(), args.lasso, args.runs)
            browser = bench_browser(url, args.runs)
        finally:
            demo.close()
        if args.umap:
            time_umap(folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"\n{args.samples:,} points, payload {size / 1e6:.2f} MB of JSON text; medians:")
    print(line("open the tab: cached coordinates (client)", statistics.median(show), SHOW_TARGET_S))
    if browser:
        clicks, draws = browser
        print(line("click the tab -> points drawn (Chromium)", statistics.median(clicks),
                   SHOW_TARGET_S))  # fmt: skip
        print(line("  of which decode + plotly draw in the page", statistics.median(draws),
                   SHOW_TARGET_S))  # fmt: skip
    print(f"a {args.lasso:,}-point selection filling the grid (page of 200), {args.runs} runs:")
    for label, values in lasso.items():
        print(line(label, statistics.median(values), LASSO_TARGET_S))
    print(f"load average at the end {os.getloadavg()}")


def time_umap(folder: Path) -> None:
    """The umap job's work in this process: numba's compilation, then the fit (or a reuse)."""
    from debias_core.analysis.embeddings import ProjectionConfig, project

    start = time.perf_counter()
    result = project(Store.open(folder), ProjectionConfig("clip", "umap"), embed=False)
    done = "reused" if result.reused else f"fit {result.projection.seconds:.1f} s"
    print(f"UMAP of {len(result.projection.ids):,}: {time.perf_counter() - start:.1f} s ({done})")


if __name__ == "__main__":
    main()
