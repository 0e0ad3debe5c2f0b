"""Loss-based mining without group labels: which training samples a classifier finds hard or easy.

A classifier trained to be biased (GCE, `train/gce.py`) fits the bias-aligned majority first, so
its highest-loss samples are likely bias-conflicting (DiffInject / AmpliBias: top-K) and its
lowest-loss ones bias-aligned (DBB's "low-loss majority"). Inputs are class labels only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def per_sample_losses(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device="cpu", batch_size: int = 512
) -> np.ndarray:
    """Cross-entropy of each sample (N,) with the model in eval mode."""
    model.eval()
    out = [
        F.cross_entropy(model(x[i : i + batch_size].to(device)), y[i : i + batch_size].to(device),
                        reduction="none").cpu()
        for i in range(0, len(y), batch_size)
    ]  # fmt: skip
    return torch.cat(out).numpy() if out else np.zeros(0)


def highest_loss(ids: np.ndarray, losses: np.ndarray, k: int) -> np.ndarray:
    """The ids of the k highest losses, highest first (ties: smaller id first)."""
    order = np.lexsort((ids, -losses))
    return ids[order[:k]]


def lowest_loss(ids: np.ndarray, losses: np.ndarray, fraction: float) -> np.ndarray:
    """The ids whose loss is among the lowest `fraction` of all (at least one), lowest first."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    order = np.lexsort((ids, losses))
    return ids[order[: max(1, int(round(fraction * len(ids))))]]


def lowest_loss_per_class(
    ids: np.ndarray, labels: np.ndarray, losses: np.ndarray, k: int, portion: float = 0.0
) -> dict[int, np.ndarray]:
    """{class: the ids of its k lowest losses, lowest first (ties: smaller id first)}.

    `portion` > 0 takes that share of each class instead (DBB's K in {0.1, ..., 1}), rounded,
    at least one sample.
    """
    out = {}
    for c in np.unique(labels):
        inside = labels == c
        order = np.lexsort((ids[inside], losses[inside]))
        n = max(1, round(portion * int(inside.sum()))) if portion > 0 else k
        out[int(c)] = ids[inside][order[:n]]
    return out
