"""Build time and size of the fairness report of a 50,000-sample project (targets: < 60 s, < 20 MB).

The project: the default Colored Digits (10 classes x 8 colours, 9,000 real images), then
generated samples up to --samples in all (distinct random 16x16 images, the worst case for PNG
thumbnails), spread over 3 methods x 2 jobs; a policy decides 10,000 of them and a person 2,000
(with typed reasons); two 1-epoch ERM runs are trained (real only; real + accepted generated).
Only the report build is timed (`write_report`, the CLI's and the app's function).

Run: python bench/fairness_report.py [--samples 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debias_core.store import GeneratedImage, Recipe, SampleFilter, Store  # noqa: E402

TIME_TARGET_S = 60.0
SIZE_TARGET_MB = 20.0
BATCH = 1000
METHODS = ("txt2img", "dbb", "decouplegen")
REASONS = ("right digit and colour", "stroke bleeds into background", "wrong digit")


def add_generated(store: Store, n: int, seed: int = 0) -> None:
    """n generated samples over METHODS x 2 jobs, in the groups of the project."""
    rng = np.random.default_rng(seed)
    n_classes, n_attrs = len(store.class_names), len(store.attr_names)
    jobs = [
        (m, store.create_job("generate", {"method": m, "bench": k}))
        for m in METHODS
        for k in (0, 1)
    ]
    for first in range(0, n, BATCH):
        method, job_id = jobs[(first // BATCH) % len(jobs)]
        k = min(BATCH, n - first)
        pixels = rng.integers(0, 256, size=(k, 16, 16, 3), dtype=np.uint8)
        images = [
            GeneratedImage(
                pixels[i],
                y=int(rng.integers(n_classes)),
                a=int(rng.integers(n_attrs)),
                recipe=Recipe(method, "bench", "0" * 64, seed=first + i, prompt="a photo of digit"),
            )
            for i in range(k)
        ]
        store.add_generated_unit(job_id, f"unit-{first}", images)
        print(f"\r  generated {first + k:,} / {n:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for _, job_id in jobs:
        store.update_job(job_id, status="done")


def decide(store: Store, n_policy: int, n_person: int) -> None:
    ids = store.sample_ids(SampleFilter(source="generated"))
    rng = np.random.default_rng(1)
    picked = rng.choice(ids, n_policy, replace=False).tolist()
    for start in range(0, n_policy, BATCH):
        chunk = picked[start : start + BATCH]
        verdict = ("accept", "reject", "needs-review")[(start // BATCH) % 3]
        store.decide_as_policy(chunk, verdict, "bench-rule", "score threshold")
    people = picked[:n_person]
    for i, reason in enumerate(REASONS):
        chunk = people[i::3]
        store.decide(chunk, "reject" if i else "accept", "reviewer", reason)


def make_project(folder: Path, n: int) -> Store:
    from debias_core.data.ingest import create_project
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    if (folder / "project.db").exists():
        store = Store.open(folder)
        print(f"reusing {folder} ({store.count_samples():,} samples)")
        return store
    start = time.perf_counter()
    store = create_project(folder, "colored-digits")
    add_generated(store, n - store.count_samples())
    decide(store, 10_000, 2_000)
    print(f"store: {store.count_samples():,} samples in {time.perf_counter() - start:.0f} s")
    for config in (
        TrainConfig(method="erm", epochs=1),
        TrainConfig(method="erm", epochs=1, synthetic="accepted", seed=1),
    ):
        run_training(store, config)
    return store


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="build / reuse the project in this folder")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder = args.keep or tmp / "proj"
    try:
        store = make_project(folder, args.samples)
        from debias_core.report import write_report

        print(f"load average before the build: {load_average()}")
        start = time.perf_counter()
        out, report = write_report(store, tmp / "report.html")
        seconds = time.perf_counter() - start
        size_mb = out.stat().st_size / 2**20
        shown = sum(len(g.accepted) + len(g.rejected) for g in report.generated.grids)
        examples = sum(len(t) for t in report.dataset.examples.values())
        print(f"load average after the build: {load_average()}")
        print(
            f"{store.count_samples():,} samples, {len(report.dataset.groups)} groups, "
            f"runs {[r.run_id for r in report.results.runs]}, {examples} example + {shown} "
            f"generated thumbnails"
        )
        ok_t = "ok" if seconds < TIME_TARGET_S else "OVER"
        ok_s = "ok" if size_mb < SIZE_TARGET_MB else "OVER"
        print(f"report built and written in {seconds:.1f} s (target < {TIME_TARGET_S:.0f}: {ok_t})")
        print(f"report size {size_mb:.2f} MB (target < {SIZE_TARGET_MB:.0f}: {ok_s})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
