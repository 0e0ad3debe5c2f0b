"""GCE: a deliberately biased classifier, trained with the generalized cross-entropy
L = (1 - p_y^q) / q (Zhang & Sabuncu 2018), as DiffInject and LfF use it (seed 001, Eq. 1).

The gradient is p_y^q times cross-entropy's (Eq. 2): samples the model already finds easy (the
bias-aligned majority) weigh more, so the model leans on the shortcut and the bias-conflicting
samples keep a high loss, which is what top-K loss mining looks for. Params: `gce_q` (default
0.7, DiffInject's value). The run keeps its last epoch: picking an epoch by validation
worst-group accuracy would use group labels and select against the bias this model must have.
"""

from __future__ import annotations

import torch

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.common import param
from debias_core.train.erm import train_set, used_synthetic_ids
from debias_core.train.loop import LossFn, fit

DEFAULT_Q = 0.7


def gce_loss(q: float = DEFAULT_Q) -> LossFn:
    """Mean of (1 - p_y^q) / q over the batch."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"gce_q must be in (0, 1], got {q}")

    def loss(logits, features, batch, idx):
        p_y = torch.softmax(logits, dim=1).gather(1, batch.y[:, None]).squeeze(1)
        return ((1.0 - p_y.clamp_min(1e-12) ** q) / q).mean()

    return loss


@TRAIN_METHODS.register("gce")
def gce(ctx: TrainContext) -> MethodResult:
    data = train_set(ctx)
    q = float(param(ctx, "gce_q", DEFAULT_Q))
    result = fit(ctx, ctx.new_model(), data, loss_fn=gce_loss(q), select_on_val=False, stage="gce")
    return MethodResult(result.model, result.history, used_synthetic_ids(data))
