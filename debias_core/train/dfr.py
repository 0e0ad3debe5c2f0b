"""DFR, deep feature reweighting (Kirichenko et al. 2023): ERM on train, then retrain only the
head, from a fresh initialisation, on a group-balanced held-out subset.

The held-out data is half of the validation split: each group's val samples are shuffled (by the
run's seed) and halved; the first halves are subsampled to the smallest group's size and used to
retrain the head, the second halves select the model in both phases, so the retraining samples
never also choose the model. Params: `reset_head` (default True), `head_epochs`, `head_lr`.
"""

from __future__ import annotations

import torch
from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import (
    PROCEDURES,
    StageResult,
    balanced_subset,
    generator,
    group_index,
    param,
    real_data_method,
    retrain_head,
    with_progress_range,
    with_val,
)
from debias_core.train.loop import fit
from debias_core.train.tensors import Tensors


def split_halves(data: Tensors, n_attrs: int, gen: torch.Generator):
    """Two disjoint index sets, each holding half of every group (the odd one goes first)."""
    g = group_index(data, n_attrs).cpu()
    first, second = [], []
    for k in torch.unique(g):
        members = torch.nonzero(g == k).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        cut = (len(members) + 1) // 2
        first.append(members[:cut])
        second.append(members[cut:])
    return torch.cat(first).sort().values, torch.cat(second).sort().values


@PROCEDURES.register("dfr")
def dfr_procedure(ctx: TrainContext, model: nn.Module, data: Tensors, stage: str) -> StageResult:
    val, n_attrs = ctx.data.val, ctx.data.n_attrs
    retrain_idx, select_idx = split_halves(val, n_attrs, generator(ctx))
    if not len(select_idx):
        raise ValueError("DFR needs at least two validation samples per group")
    ctx = with_val(ctx, val.subset(select_idx))
    base = fit(with_progress_range(ctx, 0.0, 0.8), model, data, stage=f"{stage}:erm")
    held = val.subset(retrain_idx)
    balanced = held.subset(balanced_subset(held, n_attrs, generator(ctx, 1)))
    head = retrain_head(
        with_progress_range(ctx, 0.8, 1.0),
        base.model,
        balanced,
        reset=bool(param(ctx, "reset_head", True)),
        stage=f"{stage}:head",
    )
    head.history[0] |= {"n_retrain": len(balanced)}
    return StageResult(head.model, base.history + head.history)


dfr = TRAIN_METHODS.register("dfr")(real_data_method("dfr"))
