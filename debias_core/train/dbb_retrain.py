"""DBB retraining (seed 003, eq. 6-8): train ERM on real data, then retrain it on real +
generated samples with L = L_train + gamma1 * L_gen1 + gamma2 * L_gen2.

The seed's two generated sets are the two directions of a binary task: D'_i holds images made
from class i' images (their context kept, the causal part swapped in) and labelled class i; D'_i'
the reverse. In the store a generated sample's (y, a) is its target group and its parent the
source, so the direction is given by the target class y: L_gen1 averages the batch's generated
samples with y == `params["gen1_class"]` (default 0: "into class 0, from the other class"),
L_gen2 all other generated samples ("into the other class(es)"). Each term is the mean over its
samples in the batch (0 when the batch has none); L_train is the mean over the batch's real
samples (eq. 6's "original training loss"). Params: `gamma1`, `gamma2` (default 2; the seed
tunes them in 1..10), `erm_epochs` (default `epochs`), `retrain_lr` (default `lr`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.common import param, require_synthetic, with_progress_range
from debias_core.train.loop import LossFn, fit
from debias_core.train.tensors import Tensors


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1)


def dbb_loss(gamma1: float, gamma2: float, gen1_class: int) -> LossFn:
    def loss(logits, features, batch, idx):
        per_sample = F.cross_entropy(logits, batch.y, reduction="none")
        gen1 = batch.synthetic & (batch.y == gen1_class)
        gen2 = batch.synthetic & (batch.y != gen1_class)
        return (
            masked_mean(per_sample, ~batch.synthetic)
            + gamma1 * masked_mean(per_sample, gen1)
            + gamma2 * masked_mean(per_sample, gen2)
        )

    return loss


@TRAIN_METHODS.register("dbb-retrain")
def dbb_retrain(ctx: TrainContext) -> MethodResult:
    synthetic = require_synthetic(ctx)
    erm = fit(
        with_progress_range(ctx, 0.0, 0.5),
        ctx.new_model(),
        ctx.data.train,
        epochs=int(param(ctx, "erm_epochs", ctx.config.epochs)),
        stage="erm",
    )
    loss = dbb_loss(
        float(param(ctx, "gamma1", 2.0)),
        float(param(ctx, "gamma2", 2.0)),
        int(param(ctx, "gen1_class", 0)),
    )
    retrain = fit(
        with_progress_range(ctx, 0.5, 1.0),
        erm.model,
        Tensors.concat([ctx.data.train, synthetic]),
        loss_fn=loss,
        lr=float(param(ctx, "retrain_lr", ctx.config.lr)),
        stage="retrain",
    )
    return MethodResult(retrain.model, erm.history + retrain.history, synthetic.ids.tolist())
