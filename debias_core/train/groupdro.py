"""GroupDRO (Sagawa et al. 2020) with the robust step on: minimise sum_g q_g * L_g where, each
step, q_g <- q_g * exp(eta * L_g) over the groups in the batch, then q is renormalised.

Batches are group-balanced by default (`balanced_batches`), as in the paper's Algorithm 1, which
draws a group uniformly and then a sample from it: with plain shuffling a rare group is seldom in
the batch, so its q is seldom raised and the update drifts toward the frequent groups.
Params: `eta` (default 0.01, the paper's step), `adjustment` C (default 0): the generalisation
adjustment adds C / sqrt(n_g) to a group's loss in the q update. The weights q are logged per
epoch as `group_weights` (index y * n_attrs + a).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import (
    OBJECTIVES,
    Objective,
    as_probs,
    group_counts,
    group_weights,
    n_groups,
    param,
    real_data_method,
)
from debias_core.train.tensors import Tensors


@OBJECTIVES.register("groupdro")
def groupdro_objective(ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective:
    eta = float(param(ctx, "eta", 0.01))
    n_attrs, k = ctx.data.n_attrs, n_groups(ctx)
    counts = group_counts(data, n_attrs, k).float().to(ctx.device)
    adjust = float(param(ctx, "adjustment", 0.0)) / counts.clamp_min(1).sqrt()
    q = (counts > 0).float()  # groups absent from the data never get weight
    q /= q.sum()

    def loss(logits, features, batch, idx):
        per_sample = F.cross_entropy(logits, batch.y, reduction="none")
        g = batch.y * n_attrs + batch.a
        in_batch = torch.bincount(g, minlength=k).float()
        group_loss = torch.zeros(k, device=logits.device).index_add(0, g, per_sample)
        group_loss = group_loss / in_batch.clamp_min(1)
        with torch.no_grad():  # the robust (exponentiated-gradient) step on q
            step = eta * (group_loss + adjust) * (in_batch > 0)
            q.mul_(torch.exp(step - step.max()))  # shifting cancels in the normalisation
            q.div_(q.sum())
        return (q * group_loss).sum()

    probs = as_probs(group_weights(data, n_attrs)) if param(ctx, "balanced_batches", True) else None
    return Objective(
        loss_fn=loss, sampling_probs=probs, epoch_log=lambda: {"group_weights": q.tolist()}
    )


groupdro = TRAIN_METHODS.register("groupdro")(real_data_method("groupdro"))
