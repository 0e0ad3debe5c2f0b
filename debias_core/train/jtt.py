"""JTT, Just Train Twice (Liu et al. 2021): ERM for T epochs, then train again from the same
initial weights with the first model's training errors up-weighted by lambda.

Params: `jtt_epochs` T (default max(1, epochs // 4)), `jtt_lambda` (default 20). The error set is
logged on the last identification epoch as `error_ids` (sample ids).
"""

from __future__ import annotations

import torch
from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import (
    PROCEDURES,
    StageResult,
    clone,
    param,
    real_data_method,
    with_progress_range,
)
from debias_core.train.loop import cross_entropy, fit, predict
from debias_core.train.tensors import Tensors


def error_mask(model: nn.Module, data: Tensors, device) -> torch.Tensor:
    """True where `model` misclassifies the sample."""
    preds = torch.from_numpy(predict(model, data, device).argmax(1))
    return preds != data.y.cpu()


@PROCEDURES.register("jtt")
def jtt_procedure(ctx: TrainContext, model: nn.Module, data: Tensors, stage: str) -> StageResult:
    start = clone(model)
    t = int(param(ctx, "jtt_epochs", max(1, ctx.config.epochs // 4)))
    lam = float(param(ctx, "jtt_lambda", 20.0))
    identify = fit(
        with_progress_range(ctx, 0.0, 0.3),
        model,
        data,
        epochs=t,
        stage=f"{stage}:identify",
        select_on_val=False,  # JTT uses the model after exactly T epochs
    )
    errors = error_mask(identify.model, data, ctx.device)
    identify.history[-1] |= {"n_errors": int(errors.sum()), "error_ids": data.ids[errors].tolist()}
    weights = (1.0 + (lam - 1.0) * errors.float()).to(ctx.device)
    final = fit(
        with_progress_range(ctx, 0.3, 1.0),
        start,
        data,
        loss_fn=cross_entropy(weights),
        stage=f"{stage}:upweighted",
    )
    return StageResult(final.model, identify.history + final.history)


jtt = TRAIN_METHODS.register("jtt")(real_data_method("jtt"))
