"""ERM on Colored Digits (background colour, bias 0.99): the baseline every method must beat.

Prints, per seed and as mean +- std: wall time, test worst-group / average accuracy and aligned vs
conflicting accuracy. Run: python bench/erm_colored_digits.py [--seeds 0 1 2] [--epochs 12]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debias_core.data.ingest import create_project  # noqa: E402
from debias_core.train import TrainConfig  # noqa: E402
from debias_core.train.run import run_training  # noqa: E402

FIELDS = ("worst_group_accuracy", "average_accuracy", "aligned_accuracy", "conflicting_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--bias-ratio", type=float, default=0.99)
    parser.add_argument(
        "--workdir",
        default="/tmp/debias-bench-erm",
        help="scratch folder for the project (replaced)",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}, device cpu"
    )
    rows = []
    shutil.rmtree(args.workdir, ignore_errors=True)
    store = create_project(
        Path(args.workdir), "colored-digits", options={"bias_ratio": args.bias_ratio}
    )
    for seed in args.seeds:
        start = time.perf_counter()
        result = run_training(store, TrainConfig(method="erm", epochs=args.epochs, seed=seed))
        wall = time.perf_counter() - start
        report = result.report
        rows.append([wall] + [getattr(report, f) for f in FIELDS])
        print(
            f"seed {seed}: {wall:6.1f} s ({wall / args.epochs:.2f} s/epoch)  "
            + "  ".join(f"{f.split('_accuracy')[0]} {getattr(report, f):.1%}" for f in FIELDS),
            flush=True,
        )
    arr = np.array(rows)
    print(f"\nERM, bias {args.bias_ratio}, {len(args.seeds)} seeds, {args.epochs} epochs:")
    print("| wall s | worst-group | average | aligned | conflicting |")
    print("|---|---|---|---|---|")
    cells = [f"{arr[:, 0].mean():.1f} ± {arr[:, 0].std():.1f}"]
    cells += [f"{100 * arr[:, k].mean():.1f} ± {100 * arr[:, k].std():.1f}" for k in range(1, 5)]
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
