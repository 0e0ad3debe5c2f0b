"""Which classifier learns digits from a small generated set: train on perfect renders only.

python bench/perfect_renders.py [--per-group 10] [--epochs 30] [--archs small-cnn spatial-cnn]
python bench/perfect_renders.py --ffr --epochs 6 --archs spatial-cnn [--stage2 llr]  # + real train

The generated set is the best a generator could draw: world-pool digits painted by the dataset's
own renderer, `per-group` images in each of the 80 (digit, colour) groups (800 at the default),
random shifts as the train split has. Each classifier trains ERM on them alone (batches of 128,
lr 1e-3, model kept on validation WGA) and is scored on the real task-pool test split of
Colored Digits (background colour, dataset seed 0). Issue 16's diagnosis found SmallCNN's
averaged head the bottleneck; this isolates it from generation quality.

With `--ffr` the renders are FFR's stage 1 instead (its sample budget rule, `--epochs` per stage)
and stage 2 fine-tunes on the real train split at `--bias`: the line adds validation WGA of the
incoming stage-1 model (stage 2's epoch 0), of each stage-2 epoch, and which one was kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
import debias_core.train  # noqa: F401  (fills the method registry)
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
from debias_core.train.base import TRAIN_METHODS, TrainConfig, TrainContext, TrainData
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


def stage2_note(history: list[dict]) -> str:
    """'; val WGA stage 1 16.7 -> stage 2 [0.0, 0.0], kept stage 1' from FFR's history."""
    stage2 = [r for r in history if r["stage"].startswith("2")]
    incoming = next(r for r in stage2 if r["epoch"] == 0)
    epochs = ", ".join(f"{100 * r['val_wga']:.1f}" for r in stage2 if r["epoch"])
    kept = "stage 1" if incoming["kept_incoming"] else "stage 2"
    return f"; val WGA stage 1 {100 * incoming['val_wga']:.1f} -> stage 2 [{epochs}], kept {kept}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-group", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--archs", nargs="+", default=["small-cnn", "spatial-cnn"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ffr", action="store_true", help="renders as FFR stage 1, then real train")
    p.add_argument("--bias", type=float, default=0.99, help="real train's bias (with --ffr)")
    p.add_argument("--stage2", default="erm", help="FFR's stage 2 (with --ffr): erm, llr, ...")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    samples = render_dataset(ColoredDigitsConfig(bias_ratio=args.bias))
    val, test = real_split(samples, "val"), real_split(samples, "test")
    real_train = real_split(samples, "train")
    names = [f"digit {d}" for d in range(10)]
    for seed in args.seeds:
        train = perfect_renders(args.per_group, seed)
        if args.ffr:
            data = TrainData(real_train, val, test, train, 10, len(PALETTE), {})
        else:
            data = TrainData(train, val, test, None, 10, len(PALETTE), {})
        for arch in args.archs:
            params = {"stage2": args.stage2} if args.ffr else {}
            config = TrainConfig(arch=arch, epochs=args.epochs, seed=seed, params=params)
            spec = ClassifierSpec(arch, 10)
            ctx = TrainContext(
                data, config, torch.device("cpu"), lambda s=spec, x=seed: create_classifier(s, x)
            )
            start = time.perf_counter()
            note = ""
            if args.ffr:
                result = TRAIN_METHODS.get("ffr")(ctx)
                model, note = result.model, stage2_note(result.history)
            else:
                model = fit(ctx, create_classifier(spec, seed), train).model
            preds = predict(model, test, "cpu").argmax(1)
            report = build_report(preds, test.y.numpy(), test.a.numpy(), names, list(PALETTE), None)
            iv = report_intervals(report)
            print(
                f"seed {seed} {arch:12s} {len(train)} renders, {args.epochs} epochs, "
                f"{time.perf_counter() - start:.0f} s: test WGA {iv.worst_group.as_percent()} "
                f"(worst n {iv.worst_group.n}), worst class {iv.worst_class.as_percent()}, "
                f"average {100 * report.average_accuracy:.1f}{note}",
                flush=True,
            )


if __name__ == "__main__":
    main()
