"""Singh et al.'s standard multi-label classifier and its four loss-based baselines on the
embedded multi-label demo (issue 20 section 2).

Creates a `colored-digits-multilabel` project (digits 0-4 each co-occurring with one colour in
`--bias-ratio` of their train images), finds the biased pairs with the `bias-pairs` job (a
standard classifier of seed 0 scored on val, top K by bias score), then trains every method
for each seed and prints, per method, the mean over seeds with its 95% Student-t interval of
exclusive / co-occur / unbiased / all mAP and the mean bias score over the pairs, and the
exclusive-mAP lift over the standard classifier paired by seed. Each run's own 95% bootstrap
intervals (test images resampled) are in the raw JSON. Load average at start and end.

    nice -n 10 python bench/multilabel_baselines.py --seeds 0 1 2 --train-per-class 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debias_core.data.ingest import create_project  # noqa: E402
from debias_core.evaluate.multilabel import SUMMARIES, SUMMARY_TITLES  # noqa: E402
from debias_core.evaluate.uncertainty import paired_lift, seed_interval  # noqa: E402
from debias_core.store import Store  # noqa: E402
from debias_core.train import TrainConfig  # noqa: E402
from debias_core.train.bias_pairs import BiasPairsConfig, measure_biased_pairs  # noqa: E402
from debias_core.train.run import run_training  # noqa: E402

METHODS = (
    "multilabel-bce",
    "ml-class-balancing",
    "ml-weighted-loss",
    "ml-remove-cooccur-labels",
    "ml-remove-cooccur-images",
)


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run_row(store: Store, method: str, seed: int, epochs: int) -> dict:
    start = time.perf_counter()
    result = run_training(store, TrainConfig(method=method, epochs=epochs, seed=seed))
    ml = result.multilabel
    scores = [p.bias_score for p in ml.pairs if p.bias_score is not None]
    return {
        "method": method,
        "seed": seed,
        "run": result.run_id,
        **{name: ml.summary(name) for name in SUMMARIES},
        "intervals": ml.intervals,
        "mean_bias": sum(scores) / len(scores),
        "wall_s": time.perf_counter() - start,
    }


def cell(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    e = seed_interval(values)
    if len(values) == 1:
        return f"{scale * e.value:.{digits}f}"
    return f"{scale * e.value:.{digits}f} ± {scale * (e.high - e.value):.{digits}f}"


def table(rows: list[dict], seeds: list[int]) -> str:
    titles = [SUMMARY_TITLES[n] for n in SUMMARIES]
    lines = [
        "| method | " + " | ".join(titles) + " | mean bias score | excl. mAP lift vs standard |",
        "|---" * (len(titles) + 3) + "|",
    ]
    standard = {r["seed"]: r for r in rows if r["method"] == METHODS[0]}
    for method in METHODS:
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
        if not mine:
            continue
        cells = [cell([r[n] for r in mine]) for n in SUMMARIES]
        cells.append(cell([r["mean_bias"] for r in mine], 1.0, 2))
        if method == METHODS[0] or len(mine) < 2:
            lift = "-"
        else:
            lift = paired_lift(
                [r["exclusive_map"] for r in mine],
                [standard[r["seed"]]["exclusive_map"] for r in mine],
            ).describe()
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {lift} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-per-class", type=int, default=200)
    parser.add_argument("--bias-ratio", type=float, default=0.95)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--raw", type=Path, default=Path("bench/raw/multilabel_baselines.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {load()}", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ml-bench-"))
    options = {"train_per_class": args.train_per_class, "bias_ratio": args.bias_ratio}
    store = create_project(workdir / "project", "colored-digits-multilabel", options=options)
    run_id, pairs = measure_biased_pairs(store, BiasPairsConfig(epochs=args.epochs, seed=0))
    names = store.label_names()
    print(
        f"biased pairs from run {run_id}: "
        + ", ".join(f"({names[p.b]}, {names[p.c]}) {p.bias_score:.2f}" for p in pairs),
        flush=True,
    )
    rows = []
    for seed in args.seeds:
        for method in METHODS:
            row = run_row(store, method, seed, args.epochs)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "intervals"}), flush=True)
            args.raw.parent.mkdir(parents=True, exist_ok=True)
            args.raw.write_text(json.dumps({"options": options, "rows": rows}, indent=2))
    print(f"\nseeds {args.seeds}, {args.epochs} epochs, mean ± half-width of the 95% t interval")
    print(table(rows, args.seeds))
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
