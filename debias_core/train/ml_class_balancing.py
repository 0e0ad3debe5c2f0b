"""Class-balancing loss for contextual bias (a Singh et al. 2020 baseline).

For each biased pair (b, c), b's loss term is weighted by Cui et al.'s effective-number weight
(1 - beta) / (1 - beta^n) of the image's part: b with c (co-occur), b without c (exclusive) or
neither, scaled so the largest part weighs 1 and the rarer parts more. `params["cb_beta"]`
(default 0.99, as the public reproduction of Singh et al. uses).
"""

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


def effective_weight(n: int, beta: float) -> float:
    return (1.0 - beta) / (1.0 - beta**n) if n else 0.0


def cb_beta(params: dict) -> float:
    return number_param(params, "cb_beta", 0.99, lambda v: 0.0 <= v < 1.0, "[0, 1)")


def class_balancing_loss(ctx: TrainContext, targets: torch.Tensor) -> LabelLoss:
    beta = cb_beta(ctx.config.params)
    loss = LabelLoss.standard(targets)
    for b, c in pairs_of(ctx):
        cooccur, exclusive = pair_masks(targets, b, c)
        parts = (cooccur, exclusive, ~cooccur & ~exclusive)
        weights = [effective_weight(int(m.sum()), beta) for m in parts]
        smallest = min(w for w in weights if w > 0)  # the largest part's weight becomes 1
        for mask, w in zip(parts, weights, strict=True):
            loss.weights[mask, b] = w / smallest
    return loss


ml_class_balancing = TRAIN_METHODS.register("ml-class-balancing")(
    multilabel_method("ml-class-balancing", class_balancing_loss, __doc__.splitlines()[0], cb_beta)
)
