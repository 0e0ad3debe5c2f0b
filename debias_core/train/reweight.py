"""Reweight: cross-entropy with per-sample weights 1 / |group|, so every group weighs the same."""

from __future__ import annotations

from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import OBJECTIVES, Objective, group_weights, real_data_method
from debias_core.train.loop import cross_entropy
from debias_core.train.tensors import Tensors


@OBJECTIVES.register("reweight")
def reweight_objective(ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective:
    weights = group_weights(data, ctx.data.n_attrs).to(ctx.device)
    return Objective(loss_fn=cross_entropy(weights))


reweight = TRAIN_METHODS.register("reweight")(real_data_method("reweight"))
