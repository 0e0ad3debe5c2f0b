"""Weighted loss (a Singh et al. 2020 baseline): for each biased pair (b, c), b's loss term on
its exclusive images (b without c) weighs `params["exclusive_weight"]` (default 10, the paper's)
times the others'."""

from __future__ import annotations

import torch

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import param
from debias_core.train.multilabel import LabelLoss, multilabel_method, pair_masks, pairs_of


def weighted_exclusive_loss(ctx: TrainContext, targets: torch.Tensor) -> LabelLoss:
    weight = float(param(ctx, "exclusive_weight", 10.0))
    if not 0.0 < weight <= 1000.0:
        raise ValueError(f"exclusive_weight must be in (0, 1000], got {weight}")
    loss = LabelLoss.standard(targets)
    for b, c in pairs_of(ctx):
        _, exclusive = pair_masks(targets, b, c)
        loss.weights[exclusive, b] = weight
    return loss


ml_weighted_loss = TRAIN_METHODS.register("ml-weighted-loss")(
    multilabel_method("ml-weighted-loss", weighted_exclusive_loss, __doc__.splitlines()[0])
)
