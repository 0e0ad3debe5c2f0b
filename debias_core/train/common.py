"""Pieces the methods share: group/class weights, balanced sampling, objectives and stages.

Two small registries make methods composable (FFR plugs any real-data method into its stage 2):
- OBJECTIVES: one loop's recipe (a loss and/or a sampler) built for given data: erm, reweight,
  resample, class-balanced, groupdro, supcon.
- PROCEDURES: multi-phase recipes that train a given model on given data: jtt, dfr, llr.
`run_stage(name, ...)` runs either kind, so `params["stage2"]` may name any of them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from debias_core.registry import Registry
from debias_core.train.base import MethodResult, TrainContext
from debias_core.train.loop import LossFn, fit, val_metrics
from debias_core.train.tensors import Tensors

NEEDS_SYNTHETIC = (
    "this method trains on generated samples, but none were loaded: run generate first and "
    "choose --synthetic all|accepted"
)


# -- small helpers ---------------------------------------------------------------------------
def param(ctx: TrainContext, key: str, default: Any) -> Any:
    """A method-specific value from `config.params`, with its default."""
    return ctx.config.params.get(key, default)


def require_synthetic(ctx: TrainContext) -> Tensors:
    if ctx.data.synthetic is None or not len(ctx.data.synthetic):
        raise ValueError(NEEDS_SYNTHETIC)
    return ctx.data.synthetic


def generator(ctx: TrainContext, offset: int = 0) -> torch.Generator:
    """A CPU generator for subset choices, seeded from the run's seed."""
    return torch.Generator().manual_seed(ctx.config.seed + offset)


def group_index(data: Tensors, n_attrs: int) -> torch.Tensor:
    """Group id `y * n_attrs + a` per sample."""
    return data.y * n_attrs + data.a


def n_groups(ctx: TrainContext) -> int:
    return ctx.data.n_classes * ctx.data.n_attrs


def group_counts(data: Tensors, n_attrs: int, n_group: int) -> torch.Tensor:
    return torch.bincount(group_index(data, n_attrs).cpu(), minlength=n_group)


def inverse_frequency(labels: torch.Tensor) -> torch.Tensor:
    """Per-sample weight 1 / count(label), scaled to mean 1 (each label gets equal total mass)."""
    labels = labels.cpu()
    counts = torch.bincount(labels).float()
    w = 1.0 / counts[labels]
    return w * (len(w) / w.sum())


def group_weights(data: Tensors, n_attrs: int) -> torch.Tensor:
    return inverse_frequency(group_index(data, n_attrs))


def as_probs(weights: torch.Tensor) -> torch.Tensor:
    return weights / weights.sum()


def balanced_subset(
    data: Tensors, n_attrs: int, gen: torch.Generator, per_group: int | None = None
) -> torch.Tensor:
    """Indices with the same count from every group present (the smallest group's, or
    `per_group` capped by what each group has)."""
    g = group_index(data, n_attrs).cpu()
    groups = [torch.nonzero(g == k).flatten() for k in torch.unique(g)]
    if not groups:
        return torch.empty(0, dtype=torch.long)
    take = min(len(m) for m in groups) if per_group is None else per_group
    picked = [m[torch.randperm(len(m), generator=gen)[:take]] for m in groups]
    return torch.cat(picked).sort().values


def with_progress_range(ctx: TrainContext, start: float, stop: float) -> TrainContext:
    """A context whose progress fractions map into [start, stop] (one of several stages)."""
    outer = ctx.progress
    return dataclasses.replace(ctx, progress=lambda f, m: outer(start + (stop - start) * f, m))


def with_val(ctx: TrainContext, val: Tensors) -> TrainContext:
    """A context that selects models on `val` instead of the full validation split."""
    return dataclasses.replace(ctx, data=dataclasses.replace(ctx.data, val=val))


# -- head-only training ----------------------------------------------------------------------
class FrozenBody(nn.Module):
    """Wraps a classifier so that only its head trains.

    The body always runs in eval mode without gradients (BatchNorm statistics stay put); 2-D
    inputs are taken as precomputed features, so the loop can train on cached embeddings while
    validation still feeds images.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def train(self, mode: bool = True) -> FrozenBody:
        self.training = mode
        self.model.eval()
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return x
        with torch.no_grad():
            return self.model.forward_features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@torch.no_grad()
def embed(model: nn.Module, data: Tensors, device, batch_size: int = 1024) -> Tensors:
    """The same samples with `x` replaced by the model's penultimate features (eval mode)."""
    model.eval().to(device)
    feats = [
        model.forward_features(data.x[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(data), batch_size)
    ]
    x = torch.cat(feats) if feats else torch.empty(0, getattr(model, "feature_dim", 0))
    return dataclasses.replace(data, x=x)


def retrain_head(
    ctx: TrainContext,
    model: nn.Module,
    data: Tensors,
    *,
    sampling_probs: torch.Tensor | None = None,
    reset: bool = False,
    stage: str = "head",
) -> StageResult:
    """Train only `model.head` on `data` (features computed once); the body is unchanged."""
    if reset:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.config.seed)
            model.head.reset_parameters()
    feats = embed(model, data, ctx.device)
    wrapper = FrozenBody(model)
    result = fit(
        ctx,
        wrapper,
        feats,
        sampling_probs=sampling_probs,
        params=model.head.parameters(),
        epochs=param(ctx, "head_epochs", ctx.config.epochs),
        lr=param(ctx, "head_lr", 10 * ctx.config.lr),  # a lone linear layer needs a larger step
        stage=stage,
    )
    return StageResult(model, result.history)


# -- objectives and stages -------------------------------------------------------------------
@dataclass
class Objective:
    """One training loop's recipe: a loss, a sampler, extra trainable modules, epoch logging."""

    loss_fn: LossFn | None = None
    sampling_probs: torch.Tensor | None = None
    extra: nn.Module | None = None  # trained alongside the model (e.g. a SupCon projection)
    epoch_log: Callable[[], dict] | None = None  # extra history fields after each epoch


@dataclass
class StageResult:
    model: nn.Module
    history: list[dict] = field(default_factory=list)


class MakeObjective(Protocol):
    def __call__(self, ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective: ...


class Procedure(Protocol):
    def __call__(
        self, ctx: TrainContext, model: nn.Module, data: Tensors, stage: str
    ) -> StageResult: ...


OBJECTIVES: Registry[MakeObjective] = Registry("training objective")
PROCEDURES: Registry[Procedure] = Registry("training procedure")


@OBJECTIVES.register("erm")
def erm_objective(ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective:
    return Objective()


def train_objective(
    ctx: TrainContext,
    model: nn.Module,
    data: Tensors,
    objective: Objective,
    *,
    stage: str,
    epochs: int | None = None,
    lr: float | None = None,
) -> StageResult:
    """Run the loop with `objective`; its epoch log is merged into each history row."""
    logs: list[dict] = []
    if objective.epoch_log is not None:
        outer, log = ctx.progress, objective.epoch_log

        def progress(fraction: float, message: str) -> None:
            logs.append(log())  # fit calls progress once per epoch, right after it
            outer(fraction, message)

        ctx = dataclasses.replace(ctx, progress=progress)
    params = list(model.parameters())
    if objective.extra is not None:
        objective.extra.to(ctx.device)
        params += list(objective.extra.parameters())
    result = fit(
        ctx,
        model,
        data,
        loss_fn=objective.loss_fn,
        sampling_probs=objective.sampling_probs,
        params=params,
        epochs=epochs,
        lr=lr,
        stage=stage,
    )
    if logs:  # one log per epoch, in order
        return StageResult(result.model, [r | x for r, x in zip(result.history, logs, strict=True)])
    return StageResult(result.model, result.history)


def stage_names() -> list[str]:
    return sorted(set(OBJECTIVES.names()) | set(PROCEDURES.names()))


def check_stage(name: str) -> None:
    if name not in stage_names():
        raise ValueError(f"unknown training stage {name!r}; valid: {', '.join(stage_names())}")


def run_stage(
    name: str, ctx: TrainContext, model: nn.Module, data: Tensors, stage: str | None = None
) -> StageResult:
    """Train `model` on `data` with the objective or procedure called `name`."""
    check_stage(name)
    label = stage or name
    if name in OBJECTIVES:
        objective = OBJECTIVES.get(name)(ctx, data, model)
        return train_objective(ctx, model, data, objective, stage=label)
    return PROCEDURES.get(name)(ctx, model, data, label)


def val_score(ctx: TrainContext, model: nn.Module) -> dict:
    """A model's validation worst-group and average accuracy (the loop's selection metrics)."""
    return val_metrics(model, ctx.data.val, ctx.device)


def keep_incoming(
    ctx: TrainContext,
    model: nn.Module,
    train: Callable[[nn.Module], StageResult],
    stage: str,
) -> StageResult:
    """Run a stage that continues `model`, scoring the incoming model as the stage's epoch 0.

    The stage's result is kept only if it beats the incoming model on validation (worst-group
    accuracy, ties to average accuracy, as `fit` selects epochs); otherwise the incoming weights
    come back. So a chain of stages returns the best model over all of them: a second stage that
    only makes validation worse cannot lose what the first one learned (on Colored Digits at
    bias 0.99 a stage-2 ERM pass re-taught colour and dropped val WGA from 0.167 to 0.0).
    The epoch-0 history row records `kept_incoming`.
    """
    incoming = clone(model)
    before = val_score(ctx, incoming)
    row = {"stage": stage, "epoch": 0, "train_loss": None, **before}
    ctx.progress(0.0, f"{stage} epoch 0 (incoming model): val WGA {before['val_wga']:.3f}")
    result = train(model)
    after = val_score(ctx, result.model)
    better = (after["val_wga"], after["val_acc"]) > (before["val_wga"], before["val_acc"])
    row["kept_incoming"] = not better
    kept = result.model if better else incoming
    return StageResult(kept, [row, *result.history])


def real_data_method(name: str) -> Callable[[TrainContext], MethodResult]:
    """The registered method for stage `name`: a fresh model on real train (+ configured
    generated samples, as ERM does)."""

    def method(ctx: TrainContext) -> MethodResult:
        data = Tensors.concat([ctx.data.train, ctx.data.synthetic])
        result = run_stage(name, ctx, ctx.new_model(), data)
        return MethodResult(result.model, result.history, data.ids[data.synthetic].tolist())

    method.__name__ = name.replace("-", "_")
    method.__doc__ = f"`{name}` on the real train split (plus configured generated samples)."
    return method


def clone(model: nn.Module) -> nn.Module:
    """An independent copy (phases that restart from the same initial weights)."""
    return copy.deepcopy(model)
