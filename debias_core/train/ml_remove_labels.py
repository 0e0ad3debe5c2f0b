"""Remove co-occur labels (a Singh et al. 2020 baseline): for each biased pair (b, c), the label
c is taken off the images where b and c co-occur (its target becomes 0), so c is not learnt
from b's usual scenes."""

from __future__ import annotations

import torch

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.multilabel import LabelLoss, multilabel_method, pair_masks, pairs_of


def remove_cooccur_labels(ctx: TrainContext, targets: torch.Tensor) -> LabelLoss:
    loss = LabelLoss.standard(targets)
    for b, c in pairs_of(ctx):
        cooccur, _ = pair_masks(targets, b, c)  # from the original labels, not earlier edits
        loss.targets[cooccur, c] = 0.0
    return loss


ml_remove_cooccur_labels = TRAIN_METHODS.register("ml-remove-cooccur-labels")(
    multilabel_method("ml-remove-cooccur-labels", remove_cooccur_labels, __doc__.splitlines()[0])
)
