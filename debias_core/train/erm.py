"""ERM: plain cross-entropy on the real train split (plus generated samples if configured)."""

from __future__ import annotations

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.loop import fit
from debias_core.train.tensors import Tensors


def train_set(ctx: TrainContext) -> Tensors:
    """Real train samples, joined by the configured generated samples (if any)."""
    return Tensors.concat([ctx.data.train, ctx.data.synthetic])


def used_synthetic_ids(data: Tensors) -> list[int]:
    return data.ids[data.synthetic].tolist()


@TRAIN_METHODS.register("erm")
def erm(ctx: TrainContext) -> MethodResult:
    data = train_set(ctx)
    result = fit(ctx, ctx.new_model(), data)
    return MethodResult(result.model, result.history, used_synthetic_ids(data))
