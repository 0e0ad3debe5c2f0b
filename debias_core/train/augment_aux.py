"""Auxiliary balancing (Ramaswamy et al. 2021; a baseline in FFR): real train + a group-balanced
generated set, trained together with plain cross-entropy.

The generated samples are subsampled to the same count in every group they cover (the smallest
group's, or `params["per_group"]` when set), so curation that rejects more in one group does not
unbalance the auxiliary set.
"""

from __future__ import annotations

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.common import balanced_subset, generator, param, require_synthetic
from debias_core.train.loop import fit
from debias_core.train.tensors import Tensors


@TRAIN_METHODS.register("augment-aux")
def augment_aux(ctx: TrainContext) -> MethodResult:
    synthetic = require_synthetic(ctx)
    per_group = param(ctx, "per_group", None)
    keep = balanced_subset(synthetic, ctx.data.n_attrs, generator(ctx), per_group)
    aux = synthetic.subset(keep)
    result = fit(ctx, ctx.new_model(), Tensors.concat([ctx.data.train, aux]), stage="augment-aux")
    return MethodResult(result.model, result.history, sorted(aux.ids.tolist()))
