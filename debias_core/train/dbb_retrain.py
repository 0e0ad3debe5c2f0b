"""DBB retraining (seed 003, eq. 6-8): retrain the ERM model on real + generated samples with
L = L_train + gamma1 * L_gen1 + gamma2 * L_gen2.

The seed's two generated sets are the two directions of a binary task: D'_i holds images made
from class i' images (their context kept, the causal part swapped in) and labelled class i; D'_i'
the reverse. In the store a generated sample's (y, a) is its target group and its parent the
source, so a set is given by its target class y. With more classes there is one set per target
class c and one term gamma_c * L_gen,c each (the binary case is exactly eq. 6): L_gen,c is the
mean loss over the batch's generated samples with y == c (0 when the batch has none), L_train the
mean over the batch's real samples (eq. 6's "original training loss").

Params: `run` (the ERM run to retrain: the f that `generate --method dbb` mined and `verify
--policy dbb` pruned with; without it an ERM model is trained here first, for `erm_epochs`,
default `epochs`); `gammas` (one per class, a list or "g0,g1,..."), else `gamma1` for class
`gen1_class` (default 0) and `gamma2` for every other class (both default 2; the seed tunes them
in 1..10); `retrain_lr` (default `lr`).

The ERM model is scored on validation as the retraining's epoch 0 and comes back unchanged unless
retraining beats it (`keep_incoming`), so retraining cannot lose what ERM had.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from debias_core.train.base import TRAIN_METHODS, MethodResult, TrainContext
from debias_core.train.common import (
    keep_incoming,
    param,
    require_synthetic,
    with_progress_range,
)
from debias_core.train.loop import LossFn, fit
from debias_core.train.tensors import Tensors


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1)


def per_class_loss(gammas: list[float]) -> LossFn:
    """L_train + sum_c gammas[c] * L_gen,c (eq. 6-8, one generated set per target class)."""

    def loss(logits, features, batch, idx):
        per_sample = F.cross_entropy(logits, batch.y, reduction="none")
        total = masked_mean(per_sample, ~batch.synthetic)
        for c, gamma in enumerate(gammas):
            total = total + gamma * masked_mean(per_sample, batch.synthetic & (batch.y == c))
        return total

    return loss


def dbb_loss(gamma1: float, gamma2: float, gen1_class: int, n_classes: int = 2) -> LossFn:
    """The seed's binary form: gamma1 for the set labelled `gen1_class`, gamma2 for the others."""
    return per_class_loss([gamma1 if c == gen1_class else gamma2 for c in range(n_classes)])


def gammas_of(ctx: TrainContext) -> list[float]:
    n = ctx.data.n_classes
    given = param(ctx, "gammas", None)
    if given is None:
        gamma1, gamma2 = float(param(ctx, "gamma1", 2.0)), float(param(ctx, "gamma2", 2.0))
        gen1 = int(param(ctx, "gen1_class", 0))
        return [gamma1 if c == gen1 else gamma2 for c in range(n)]
    values = given.split(",") if isinstance(given, str) else list(given)
    try:
        gammas = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"gammas must be numbers, got {given!r}") from None
    if len(gammas) != n or any(g < 0 for g in gammas):
        raise ValueError(f"gammas needs {n} numbers >= 0 (one per class), got {given!r}")
    return gammas


def erm_model(ctx: TrainContext):
    """(the model to retrain, its history): the given ERM run's, or one trained here."""
    run = param(ctx, "run", None)
    if run is not None:
        if ctx.load_run is None:
            raise ValueError("dbb-retrain from a run needs the project's runs")
        return ctx.load_run(int(run)), []
    erm = fit(
        with_progress_range(ctx, 0.0, 0.5),
        ctx.new_model(),
        ctx.data.train,
        epochs=int(param(ctx, "erm_epochs", ctx.config.epochs)),
        stage="erm",
    )
    return erm.model, erm.history


@TRAIN_METHODS.register("dbb-retrain")
def dbb_retrain(ctx: TrainContext) -> MethodResult:
    synthetic = require_synthetic(ctx)
    loss = per_class_loss(gammas_of(ctx))
    model, history = erm_model(ctx)
    ctx2 = with_progress_range(ctx, 0.5, 1.0)
    data = Tensors.concat([ctx.data.train, synthetic])
    lr = float(param(ctx, "retrain_lr", ctx.config.lr))

    def retrain(m):
        return fit(ctx2, m, data, loss_fn=loss, lr=lr, stage="retrain")

    # the ERM model is scored as the retraining's epoch 0 and kept unless retraining beats it
    kept = keep_incoming(ctx2, model, retrain, "retrain")
    return MethodResult(kept.model, history + kept.history, synthetic.ids.tolist())
