"""Uniform balancing (the FFR paper's name for it): real train + generated samples added to every
group until it is as large as the largest real group, trained together with cross-entropy.

When a group has fewer generated samples than it needs, they are repeated (`params["repeat"]`,
default True; False adds each at most once). Groups without any generated sample stay short; the
first history row records `n_added`, `n_repeated` and `unfilled_groups` (ids y * n_attrs + a).
"""

from __future__ import annotations

import math

import torch

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.common import (
    generator,
    group_counts,
    group_index,
    n_groups,
    param,
    require_synthetic,
)
from debias_core.train.loop import fit
from debias_core.train.tensors import Tensors


def top_up(
    real: Tensors, synthetic: Tensors, n_attrs: int, n_group: int, gen, repeat: bool = True
) -> tuple[torch.Tensor, list[int]]:
    """Indices into `synthetic` (repeats allowed) that lift every group to the largest real
    group's count, and the groups that could not be filled."""
    counts = group_counts(real, n_attrs, n_group)
    target = int(counts.max())
    g = group_index(synthetic, n_attrs).cpu()
    picks, unfilled = [], []
    for k in range(n_group):
        need = target - int(counts[k])
        if need <= 0:
            continue
        members = torch.nonzero(g == k).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        if len(members) < need:
            if repeat and len(members):
                members = members.repeat(math.ceil(need / len(members)))
            else:
                unfilled.append(k)
        picks.append(members[:need])
    index = torch.cat(picks) if picks else torch.empty(0, dtype=torch.long)
    return index, unfilled


@TRAIN_METHODS.register("augment-uniform")
def augment_uniform(ctx: TrainContext) -> MethodResult:
    synthetic = require_synthetic(ctx)
    index, unfilled = top_up(
        ctx.data.train,
        synthetic,
        ctx.data.n_attrs,
        n_groups(ctx),
        generator(ctx),
        bool(param(ctx, "repeat", True)),
    )
    data = Tensors.concat([ctx.data.train, synthetic.subset(index)])
    result = fit(ctx, ctx.new_model(), data, stage="augment-uniform")
    used = sorted(set(synthetic.ids[index].tolist()))
    result.history[0] |= {
        "n_added": len(index),
        "n_repeated": len(index) - len(used),
        "unfilled_groups": unfilled,
    }
    return MethodResult(result.model, result.history, used)
