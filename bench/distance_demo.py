"""How close are the embedded backbone's counterfactuals to real Colored Digits, in CLIP space?

Makes the demo project (bias 0.99), generates `--per-group` txt2img images for every group with
the embedded backbone, embeds everything with the embedded CLIP (timed: images per second) and
prints the Fréchet report: overall, per group, per job, per method, each against its real
train-vs-test floor.
Run: python bench/distance_demo.py [--per-group 8] [--threads 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import torch

    from debias_core.analysis.distance_report import (
        DistanceConfig,
        distance_report,
        format_distance_table,
    )
    from debias_core.analysis.embeddings import EmbedConfig, embed_missing
    from debias_core.data.ingest import create_project
    from debias_core.jobs.foreground import build_balanced_set
    from debias_core.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start {os.getloadavg()}, torch threads {args.threads}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-distance-")) / "proj"
    try:
        if (folder / "project.db").exists():
            store = Store.open(folder)
        else:
            store = create_project(folder, "colored-digits", options={"bias_ratio": 0.99})
            start = time.perf_counter()
            ids = build_balanced_set(store, "embedded", per_group=args.per_group, steps=20)
            print(f"generated {len(ids)} images in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        result = embed_missing(store, EmbedConfig("clip"))
        seconds = time.perf_counter() - start
        rate = result.new / seconds if result.new else float("nan")
        print(f"embedded {result.new} images with the tiny CLIP in {seconds:.1f} s ({rate:.0f}/s)")
        for status in ("all",):
            report = distance_report(store, DistanceConfig("clip", status=status))
            print(format_distance_table(report))
    finally:
        if args.keep is None:
            shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
