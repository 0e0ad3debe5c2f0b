"""Resample: batches drawn with replacement so that every group is equally likely."""

from __future__ import annotations

from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import (
    OBJECTIVES,
    Objective,
    as_probs,
    group_weights,
    real_data_method,
)
from debias_core.train.tensors import Tensors


@OBJECTIVES.register("resample")
def resample_objective(ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective:
    return Objective(sampling_probs=as_probs(group_weights(data, ctx.data.n_attrs)))


resample = TRAIN_METHODS.register("resample")(real_data_method("resample"))
