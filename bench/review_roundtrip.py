"""Review speed with 50,000 generated samples in the store, measured through gradio_client.

- a review decision round trip: call the accept endpoint, then see its decision row in the
  database from another connection ("click to persisted"); target <= 150 ms (median and p95);
- a Groups gallery page of 100 thumbnails: the reply, then the reply plus fetching its 100
  image files over HTTP as a browser would; first view (thumbnails made on the way) and cached;
  target <= 1 s.

Every sample has its own random 16x16 image, so no thumbnail is made in advance.
Run: python bench/review_roundtrip.py [--samples 50000] [--decisions 60] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debias_core.store import GeneratedImage, Recipe, Store  # noqa: E402

DECISION_TARGET_S = 0.150
GALLERY_TARGET_S = 1.0
GALLERY_PAGE = 100  # the page size (the app shows 60; 100 is the worst case allowed)
BATCH = 1000
TINY = {"classes": (0, 1), "palette": ("red", "green"), "train_per_class": 40, "bias_ratio": 0.9}


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import gradio

    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"gradio {gradio.__version__}, {platform.system()} {platform.release()}"
    )


def fill_store(store: Store, n: int, seed: int = 0) -> float:
    """n generated samples (4 groups, distinct images) in units of BATCH; returns seconds."""
    rng = np.random.default_rng(seed)
    recipe = Recipe(method="txt2img", backbone_id="bench", backbone_hash="0", seed=seed, steps=2)
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        k = min(BATCH, n - first)
        pixels = rng.integers(0, 256, size=(k, 16, 16, 3), dtype=np.uint8)
        images = [
            GeneratedImage(pixels[i], y=(first + i) % 2, a=(first + i) // 2 % 2, recipe=recipe)
            for i in range(k)
        ]
        store.add_generated_unit(None, None, images)
        print(f"\r  inserted {first + k:,} / {n:,} samples", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - start


def make_project(folder: Path, n: int) -> Store:
    from debias_core.data.ingest import create_project

    if (folder / "project.db").exists():
        store = Store.open(folder)
        have = store.count_samples()
        print(f"reusing {folder} ({have:,} samples)")
        return store
    store = create_project(folder, "colored-digits", options=dict(TINY))
    seconds = fill_store(store, n)
    print(f"store: {store.count_samples():,} samples ({n:,} generated) in {seconds:.1f} s")
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(folder: Path):
    import app as studio
    import ui.groups
    from ui.launch import launch_options, start_server
    from ui.state import make_context

    ui.groups.PAGE_SIZE = GALLERY_PAGE
    ctx = make_context(folder, reviewer="bench", create=False)
    started = time.perf_counter()
    demo = studio.build_app(ctx)
    start_server(demo, **launch_options(ctx, port=free_port()))
    print(f"app built and launched in {time.perf_counter() - started:.2f} s")
    return demo


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def line(what: str, seconds: float, target: float) -> str:
    return f"  {what:<44} {seconds * 1000:8.1f} ms   target {target * 1000:6.0f} ms   " + (
        f"ratio {seconds / target:.2f}"
    )


def bench_decisions(client, observer: Store, n: int, warmup: int = 3) -> list[float]:
    """Accept n + warmup samples in queue order; time each call until its row is readable."""
    start = time.perf_counter()
    # method, group, job, status, tag, verdict, scorer, score min / max, sort, IG run
    filters = ("any", "any", "any", "pending", "any", "any", "", "", "", "id", "")
    sid = client.predict(*filters, api_name="/review_filter")[0]
    print(f"  loading the pending review queue: {(time.perf_counter() - start) * 1000:.0f} ms")
    times = []
    for k in range(n + warmup):
        start = time.perf_counter()
        next_id = client.predict(sid, "", "", api_name="/review_accept")[0]  # id, run, reason
        rows = observer.query(
            "select decision from decisions where sample_id = ? order by id desc limit 1", [sid]
        )
        elapsed = time.perf_counter() - start
        if not rows or rows[0]["decision"] != "accept":
            raise RuntimeError(f"decision on sample {sid} not persisted")
        if k >= warmup:
            times.append(elapsed)
        sid = next_id
    return times


def bench_gallery(client, http, pages: list[int]) -> dict[str, list[float]]:
    """Each page twice (first view, then cached): reply alone, and reply + its image files."""
    out: dict[str, list[float]] = {}
    for label in ("first", "cached"):
        for page in pages:
            start = time.perf_counter()
            items, info, shown = client.predict(
                "0,1", "generated", "any", page, api_name="/groups_page"
            )
            reply = time.perf_counter() - start
            if shown != page or len(items) != GALLERY_PAGE:
                raise RuntimeError(f"page {page}: got page {shown} with {len(items)} items")
            for item in items:
                http.get(item["image"]["url"]).raise_for_status()
            out.setdefault(f"{label} reply", []).append(reply)
            out.setdefault(f"{label} reply + 100 files", []).append(time.perf_counter() - start)
    return out


def report(title: str, decisions: list[float], gallery: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"review decision round trip over {len(decisions)} decisions (click to persisted):")
    print(line("median", statistics.median(decisions), DECISION_TARGET_S))
    print(line("p95", p95(decisions), DECISION_TARGET_S))
    n_pages = len(next(iter(gallery.values())))
    print(f"gallery page of {GALLERY_PAGE} thumbnails, median over {n_pages} pages:")
    for label, values in gallery.items():
        print(line(label, statistics.median(values), GALLERY_TARGET_S))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--decisions", type=int, default=60)
    parser.add_argument("--pages", type=int, default=5, help="gallery pages to time")
    parser.add_argument("--keep", type=Path, default=None, help="project folder to keep / reuse")
    args = parser.parse_args()

    import httpx
    from gradio_client import Client

    print(f"machine: {machine()}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-review-")) / "proj"
    # gradio_client opens two new httpx clients per call, each loading the CA bundle (~20 ms
    # here) even for plain http; a browser keeps its connection. So: as shipped, and without.
    clients = {
        "gradio_client as shipped": {},
        "gradio_client with ssl_verify=False (plain http, no CA bundle per call)": {
            "ssl_verify": False
        },
    }
    results = []
    try:
        make_project(folder, args.samples)
        demo = launch(folder)
        try:
            url = demo.local_url.rstrip("/")
            for k, (title, options) in enumerate(clients.items()):
                client = Client(url, verbose=False, download_files=False, **options)
                decisions = bench_decisions(client, Store.open(folder), args.decisions)
                first_page = 3 + k * args.pages  # pages no earlier run has shown
                with httpx.Client() as http:
                    pages = list(range(first_page, first_page + args.pages))
                    results.append((title, decisions, bench_gallery(client, http, pages)))
        finally:
            demo.close()
    finally:
        if args.keep is None:
            shutil.rmtree(folder.parent, ignore_errors=True)
    for title, decisions, gallery in results:
        report(title, decisions, gallery)


if __name__ == "__main__":
    main()
