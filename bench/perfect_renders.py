"""Which classifier learns digits from a small generated set: train on perfect renders only.

python bench/perfect_renders.py [--per-group 10] [--epochs 30] [--archs small-cnn spatial-cnn]

The generated set is the best a generator could draw: world-pool digits painted by the dataset's
own renderer, `per-group` images in each of the 80 (digit, colour) groups (800 at the default),
random shifts as the train split has. Each classifier trains ERM on them alone (batches of 128,
lr 1e-3, model kept on validation WGA) and is scored on the real task-pool test split of
Colored Digits (background colour, dataset seed 0). Issue 16's diagnosis found SmallCNN's
averaged head the bottleneck; this isolates it from generation quality.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.data.colored_digits import (
    PALETTE,
    ColoredDigitsConfig,
    colours_for,
    load_pools,
    render,
    render_dataset,
)
from debias_core.evaluate.report import build_report
from debias_core.evaluate.uncertainty import report_intervals
from debias_core.models.classifiers import ClassifierSpec, create_classifier
from debias_core.train.base import TrainConfig, TrainContext, TrainData
from debias_core.train.loop import fit, predict
from debias_core.train.tensors import Tensors


def to_tensors(images, y, a, synthetic: bool) -> Tensors:
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    n = len(y)
    return Tensors(
        x, torch.tensor(y), torch.tensor(a), torch.arange(n), torch.full((n,), synthetic)
    )


def perfect_renders(per_group: int, seed: int) -> Tensors:
    world, _ = load_pools(0)
    rng = np.random.default_rng(seed)
    config, images, ys, attrs = ColoredDigitsConfig(), [], [], []
    for d in range(10):
        pool = np.flatnonzero(world.digits == d)
        for a, colour in enumerate(PALETTE):
            for i in rng.choice(pool, per_group, replace=len(pool) < per_group):
                shift = (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
                images.append(render(world.images[i], *colours_for(config, colour), shift)[0])
                ys.append(d)
                attrs.append(a)
    return to_tensors(images, ys, attrs, synthetic=True)


def real_split(samples, split: str) -> Tensors:
    picked = [s for s in samples if s.split == split]
    return to_tensors(
        [s.image for s in picked], [s.y for s in picked], [s.a for s in picked], False
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-group", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--archs", nargs="+", default=["small-cnn", "spatial-cnn"])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    samples = render_dataset(ColoredDigitsConfig())
    val, test = real_split(samples, "val"), real_split(samples, "test")
    names = [f"digit {d}" for d in range(10)]
    for seed in args.seeds:
        train = perfect_renders(args.per_group, seed)
        data = TrainData(train, val, test, None, 10, len(PALETTE), {})
        for arch in args.archs:
            config = TrainConfig(arch=arch, epochs=args.epochs, seed=seed)
            spec = ClassifierSpec(arch, 10)
            ctx = TrainContext(data, config, torch.device("cpu"), lambda: None)
            start = time.perf_counter()
            model = fit(ctx, create_classifier(spec, seed), train).model
            preds = predict(model, test, "cpu").argmax(1)
            report = build_report(preds, test.y.numpy(), test.a.numpy(), names, list(PALETTE), None)
            iv = report_intervals(report)
            print(
                f"seed {seed} {arch:12s} {len(train)} renders, {args.epochs} epochs, "
                f"{time.perf_counter() - start:.0f} s: test WGA {iv.worst_group.as_percent()} "
                f"(worst n {iv.worst_group.n}), worst class {iv.worst_class.as_percent()}, "
                f"average {100 * report.average_accuracy:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
