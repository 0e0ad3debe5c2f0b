"""Remove co-occur images (a Singh et al. 2020 baseline): the training images where a biased
object b and its context c co-occur are left out, for every biased pair."""

from __future__ import annotations

import torch

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.multilabel import LabelLoss, multilabel_method, pair_masks, pairs_of


def remove_cooccur_images(ctx: TrainContext, targets: torch.Tensor) -> LabelLoss:
    loss = LabelLoss.standard(targets)
    for b, c in pairs_of(ctx):
        cooccur, _ = pair_masks(targets, b, c)
        loss.keep[cooccur] = False
    return loss


ml_remove_cooccur_images = TRAIN_METHODS.register("ml-remove-cooccur-images")(
    multilabel_method("ml-remove-cooccur-images", remove_cooccur_images, __doc__.splitlines()[0])
)
