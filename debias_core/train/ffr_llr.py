"""Clustered DreamBooth's two-stage training (seed 002, Sections 3.3-3.4 and A.1): stage 1 trains
a fresh model on the generated samples with L = beta * CE + (1 - beta) * SupCon (`supcon`, beta
0.5, tau 1, group-balanced batches); stage 2 (LLR_all) retrains only the last layer on all real
train samples with class-uniform batches. `params["stage1"]` may name another objective (e.g.
`erm`: CE only).

The head keeps its stage-1 weights and is fine-tuned (`head_epochs`, `head_lr`); the body and its
BatchNorm statistics stay frozen. `llr` is also a procedure, so `ffr` with `stage2="llr"` is the
same method. A SupCon term has no effect here (the features are frozen), so stage 2 is CE only.
"""

from __future__ import annotations

from torch import nn

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.common import (
    PROCEDURES,
    StageResult,
    as_probs,
    inverse_frequency,
    retrain_head,
)
from debias_core.train.ffr import two_stage
from debias_core.train.tensors import Tensors


@PROCEDURES.register("llr")
def llr_procedure(ctx: TrainContext, model: nn.Module, data: Tensors, stage: str) -> StageResult:
    probs = as_probs(inverse_frequency(data.y))  # every class equally likely in a batch
    return retrain_head(ctx, model, data, sampling_probs=probs, stage=stage)


@TRAIN_METHODS.register("ffr-llr")
def ffr_llr(ctx: TrainContext) -> MethodResult:
    return two_stage(ctx, "llr", stage1="supcon")
