"""The one training loop every method calls: batches from tensors, model selection on val WGA."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from debias_core.evaluate.metrics import average_accuracy, worst_group_accuracy
from debias_core.numerics import require_finite
from debias_core.train.base import TrainContext
from debias_core.train.image_augment import augmenter
from debias_core.train.tensors import Tensors

# (logits, features, batch, batch_indices) -> scalar loss
LossFn = Callable[[torch.Tensor, torch.Tensor, Tensors, torch.Tensor], torch.Tensor]


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict]
    best_epoch: int


def cross_entropy(weights: torch.Tensor | None = None) -> LossFn:
    """Mean cross-entropy, optionally weighted per sample (weights indexed by dataset position)."""

    def loss(logits, features, batch, idx):
        per_sample = F.cross_entropy(logits, batch.y, reduction="none")
        if weights is None:
            return per_sample.mean()
        w = weights[idx]
        return (per_sample * w).sum() / w.sum().clamp_min(1e-12)

    return loss


@torch.no_grad()
def predict(model: nn.Module, data: Tensors, device, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (N, C) in eval mode."""
    model.eval()
    out = [
        torch.softmax(model(data.x[i : i + batch_size].to(device)), dim=1).cpu()
        for i in range(0, len(data), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def val_metrics(model: nn.Module, val: Tensors, device) -> dict:
    preds = predict(model, val, device).argmax(1)
    y, a = val.y.numpy(), val.a.numpy()
    return {"val_wga": worst_group_accuracy(preds, y, a), "val_acc": average_accuracy(preds, y)}


def _batches(n: int, batch_size: int, gen: torch.Generator, probs: torch.Tensor | None):
    """Shuffled index batches; with `probs`, n indices drawn with replacement (resampling)."""
    order = (
        torch.randperm(n, generator=gen)
        if probs is None
        else torch.multinomial(probs, n, replacement=True, generator=gen)
    )
    return order.split(batch_size)


def fit(
    ctx: TrainContext,
    model: nn.Module,
    data: Tensors,
    *,
    loss_fn: LossFn | None = None,
    sampling_probs: torch.Tensor | None = None,
    params=None,
    epochs: int | None = None,
    lr: float | None = None,
    stage: str = "",
    select_on_val: bool = True,
) -> FitResult:
    """Train `model` on `data`; keep the epoch with the best validation worst-group accuracy.

    Ties go to validation accuracy: with many small groups, worst-group accuracy is often 0 for
    every epoch, and keeping the first of those kept a barely trained model.
    """
    cfg, device = ctx.config, ctx.device
    epochs = epochs or cfg.epochs
    loss_fn = loss_fn or cross_entropy()
    model.to(device)
    opt = torch.optim.AdamW(
        params if params is not None else model.parameters(),
        lr=lr or cfg.lr,
        weight_decay=cfg.weight_decay,
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    augment = augmenter(cfg.augment, cfg.seed)
    x, data_dev = data.x.to(device), data.to(device)
    history, best, best_score, stale, best_epoch = [], None, (-1.0, -1.0), 0, epochs
    for epoch in range(epochs):
        model.train()
        total, seen = 0.0, 0
        for idx in _batches(len(data), cfg.batch_size, gen, sampling_probs):
            idx = idx.to(device)
            batch = data_dev.subset(idx)
            inputs = x[idx] if augment is None else augment(x[idx])
            features = model.forward_features(inputs)
            loss = loss_fn(model.forward_head(features), features, batch, idx)
            require_finite(loss, f"{stage or 'train'} epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
        row = {"stage": stage, "epoch": epoch + 1, "train_loss": total / max(seen, 1)}
        row |= val_metrics(model, ctx.data.val, device)
        history.append(row)
        ctx.progress(
            (epoch + 1) / epochs,
            f"{stage or 'train'} epoch {epoch + 1}/{epochs}: "
            f"loss {row['train_loss']:.3f}, val WGA {row['val_wga']:.3f}",
        )
        score = (row["val_wga"], row["val_acc"])
        if not select_on_val or score > best_score:
            best, best_score, stale = copy.deepcopy(model.state_dict()), score, 0
            best_epoch = epoch + 1
        else:
            stale += 1
            if cfg.patience and stale >= cfg.patience:
                break
    if best is not None:  # None only when no epoch had a usable validation score
        model.load_state_dict(best)
    return FitResult(model, history, best_epoch)
