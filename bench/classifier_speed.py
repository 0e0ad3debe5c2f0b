"""Seconds per training epoch of each Colored Digits classifier, and their ratio, in one run.

python bench/classifier_speed.py [--images 5000] [--repeats 3] [--threads 1]

One epoch = AdamW over `images` random 32x32 images in batches of 128, as `train/loop.fit` runs
it. The classifiers alternate and each keeps its best of `repeats`, so a busy machine affects
both alike. Issue 16's bar: spatial-cnn within 2x small-cnn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.models.classifiers import ClassifierSpec, create_classifier


def one_epoch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for idx in torch.randperm(len(x)).split(128):
        loss = F.cross_entropy(model.forward_head(model.forward_features(x[idx])), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--archs", nargs="+", default=["small-cnn", "spatial-cnn"])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.rand(args.images, 3, 32, 32), torch.randint(0, 10, (args.images,))
    models = {a: create_classifier(ClassifierSpec(a, 10)) for a in args.archs}
    times = {a: [] for a in args.archs}
    for _ in range(args.repeats):
        for arch, model in models.items():
            times[arch].append(one_epoch(model, x, y))
    best = {a: min(t) for a, t in times.items()}
    base = best[args.archs[0]]
    for arch in args.archs:
        params = sum(q.numel() for q in models[arch].parameters())
        print(
            f"{arch:12s} {params:7d} params  best of {args.repeats}: {best[arch]:.2f} s/epoch "
            f"over {args.images} images  ratio to {args.archs[0]}: {best[arch] / base:.2f}"
        )


if __name__ == "__main__":
    main()
