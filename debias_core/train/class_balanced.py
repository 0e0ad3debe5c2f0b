"""Class-balanced loss (Cui et al. 2019): class weights (1 - b) / (1 - b^n_y), "effective number".

`params["cb_beta"]` (default 0.9999); b -> 1 gives inverse class frequency, b = 0 plain CE.
It balances classes only, not groups: the baseline that ignores the attribute.
"""

from __future__ import annotations

import torch
from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import OBJECTIVES, Objective, param, real_data_method
from debias_core.train.loop import cross_entropy
from debias_core.train.tensors import Tensors


def effective_number_weights(y: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-sample weights, scaled to mean 1."""
    counts = torch.bincount(y.cpu()).double()
    per_class = (1.0 - beta) / (1.0 - beta**counts).clamp_min(1e-12)
    w = per_class[y.cpu()].float()
    return w * (len(w) / w.sum())


@OBJECTIVES.register("class-balanced")
def class_balanced_objective(ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective:
    weights = effective_number_weights(data.y, float(param(ctx, "cb_beta", 0.9999)))
    return Objective(loss_fn=cross_entropy(weights.to(ctx.device)))


class_balanced = TRAIN_METHODS.register("class-balanced")(real_data_method("class-balanced"))
