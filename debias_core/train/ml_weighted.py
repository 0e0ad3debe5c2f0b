"""Weighted loss (a Singh et al. 2020 baseline): for each biased pair (b, c), b's loss term on
its exclusive images (b without c) weighs `params["exclusive_weight"]` (default 10, the paper's)
times the others'."""

from __future__ import annotations

import torch

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.multilabel import (
    LabelLoss,
    multilabel_method,
    number_param,
    pair_masks,
    pairs_of,
)

PAPER_WEIGHT = 10.0  # Singh et al.'s weight on b's exclusive images


def exclusive_weight(params: dict) -> float:
    return number_param(
        params, "exclusive_weight", PAPER_WEIGHT, lambda v: 0.0 < v <= 1000.0, "(0, 1000]"
    )


def weighted_exclusive_loss(ctx: TrainContext, targets: torch.Tensor) -> LabelLoss:
    weight = exclusive_weight(ctx.config.params)
    loss = LabelLoss.standard(targets)
    for b, c in pairs_of(ctx):
        _, exclusive = pair_masks(targets, b, c)
        loss.weights[exclusive, b] = weight
    return loss


ml_weighted_loss = TRAIN_METHODS.register("ml-weighted-loss")(
    multilabel_method(
        "ml-weighted-loss", weighted_exclusive_loss, __doc__.splitlines()[0], exclusive_weight
    )
)
