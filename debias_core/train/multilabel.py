"""What the multi-label methods share: per-label BCE with logits, the biased pairs' image masks,
and the training loop that keeps the epoch with the best validation mAP.

A multi-label method (Singh et al. 2020's standard classifier and its loss-based baselines) only
says how it changes the loss: a `LabelLoss` of targets, per-(image, label) weights and the images
kept. Each is one file registered in TRAIN_METHODS with `multilabel = True`, which the run uses
to build a classifier with one output per label and to report mAPs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from debias_core.numerics import require_finite
from debias_core.train.base import MethodResult, TrainContext
from debias_core.train.loop import FitResult
from debias_core.train.tensors import Tensors

NEEDS_LABEL_SETS = (
    "is a multi-label method: it needs a project with label sets (e.g. init --dataset "
    "colored-digits-multilabel or coco-stuff)"
)
NEEDS_PAIRS = (
    "needs biased pairs: run `bias-pairs DIR` first (or use a dataset that declares its pairs)"
)


@dataclass(frozen=True)
class LabelLoss:
    """How a method trains: (N, L) targets and per-element weights, and the images it keeps."""

    targets: torch.Tensor
    weights: torch.Tensor
    keep: torch.Tensor  # (N,) bool

    @staticmethod
    def standard(targets: torch.Tensor) -> LabelLoss:
        return LabelLoss(
            targets.clone(), torch.ones_like(targets), torch.ones(len(targets), dtype=torch.bool)
        )


def pair_masks(targets: torch.Tensor, b: int, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(co-occur, exclusive) image masks of one pair: b with c, b without c."""
    has_b, has_c = targets[:, b] > 0, targets[:, c] > 0
    return has_b & has_c, has_b & ~has_c


def pairs_of(ctx: TrainContext) -> list[tuple[int, int]]:
    if not ctx.data.pairs:
        raise ValueError(f"{ctx.config.method} {NEEDS_PAIRS}")
    return list(ctx.data.pairs)


def train_targets(data: Tensors) -> torch.Tensor:
    if data.targets is None:
        raise ValueError(f"the training data has no label sets; this method {NEEDS_LABEL_SETS}")
    return data.targets


@torch.no_grad()
def predict_scores(model: nn.Module, data: Tensors, device, batch_size: int = 1024) -> np.ndarray:
    """Sigmoid scores (N, L) in eval mode."""
    model.eval()
    out = [
        torch.sigmoid(model(data.x[i : i + batch_size].to(device))).cpu()
        for i in range(0, len(data), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def mean_ap(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP over the classes with a positive (the loop's model-selection score)."""
    from debias_core.evaluate.metrics import average_precision

    aps = [
        average_precision(scores[:, k], targets[:, k])
        for k in range(targets.shape[1])
        if targets[:, k].any()
    ]
    return float(np.mean(aps)) if aps else 0.0


def weighted_bce(logits, targets, weights) -> torch.Tensor:
    """Mean over (image, label) of weight x BCE with logits (Singh et al.'s weighted losses)."""
    per_element = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (per_element * weights).mean()


def fit_multilabel(
    ctx: TrainContext, model: nn.Module, data: Tensors, loss: LabelLoss, stage: str = ""
) -> FitResult:
    """Train on the kept images with `loss`; keep the epoch with the best validation mAP."""
    cfg, device = ctx.config, ctx.device
    keep = torch.nonzero(loss.keep).flatten()
    if not len(keep):
        raise ValueError("the method left no training image")
    x = data.x[keep].to(device)
    targets, weights = loss.targets[keep].to(device), loss.weights[keep].to(device)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    val_targets = train_targets(ctx.data.val).numpy()
    history, best, best_score, best_epoch = [], None, -1.0, cfg.epochs
    for epoch in range(cfg.epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(keep), generator=gen).split(cfg.batch_size):
            idx = idx.to(device)
            value = weighted_bce(model(x[idx]), targets[idx], weights[idx])
            require_finite(value, f"{stage or 'train'} epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            total += float(value.detach()) * len(idx)
        val_map = mean_ap(predict_scores(model, ctx.data.val, device), val_targets)
        row = {"stage": stage, "epoch": epoch + 1, "train_loss": total / len(keep)}
        row["images"] = len(keep)  # after a method's removals
        history.append(row | {"val_map": val_map})
        ctx.progress(
            (epoch + 1) / cfg.epochs,
            f"{stage or 'train'} epoch {epoch + 1}/{cfg.epochs}: "
            f"loss {row['train_loss']:.4f}, val mAP {val_map:.3f}",
        )
        if val_map > best_score:
            best, best_score, best_epoch = copy.deepcopy(model.state_dict()), val_map, epoch + 1
    if best is not None:
        model.load_state_dict(best)
    return FitResult(model, history, best_epoch)


def multilabel_method(
    name: str,
    make_loss: Callable[[TrainContext, torch.Tensor], LabelLoss],
    doc: str,
    check_params: Callable[[dict], None] = lambda params: None,
) -> Callable[[TrainContext], MethodResult]:
    """The registered method: a fresh multi-label classifier on real train (+ configured
    generated samples) with the loss `make_loss` builds from the train targets.
    `check_params(config.params)` raises on a bad value before any run or job is recorded."""

    def method(ctx: TrainContext) -> MethodResult:
        data = Tensors.concat([ctx.data.train, ctx.data.synthetic])
        loss = make_loss(ctx, train_targets(data))
        result = fit_multilabel(ctx, ctx.new_model(), data, loss, stage=name)
        used = data.ids[data.synthetic & loss.keep].tolist()
        return MethodResult(result.model, result.history, used)

    method.__name__ = name.replace("-", "_")
    method.__doc__ = doc
    method.multilabel = True
    method.check_params = check_params
    return method


def is_multilabel_method(method) -> bool:
    return bool(getattr(method, "multilabel", False))


def number_param(params: dict, name: str, default: float, inside, shown: str) -> float:
    """A numeric training param of a multi-label baseline, or one clear error naming its range
    (`inside(value)` says whether it is in `shown`, e.g. "[0, 1)")."""
    value = params.get(name, default)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not inside(float(value)):
        raise ValueError(f"params {name} must be a number in {shown}, got {value!r}")
    return float(value)
