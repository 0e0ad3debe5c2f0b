"""The training seam: config, the data a method sees, the method Protocol and its registry."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from torch import nn

from debias_core.limits import MAX_EPOCHS, MAX_SEED
from debias_core.models.classifiers import DEFAULT_ARCH
from debias_core.params import bounded, check_values
from debias_core.registry import Registry
from debias_core.store import SampleFilter
from debias_core.train.image_augment import IMAGE_AUGMENTATIONS
from debias_core.train.tensors import Tensors

Progress = Callable[[float, str], None]


class Cancelled(RuntimeError):
    """Raised from a progress callback to stop training between epochs."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Saved as config.json next to the run's outputs."""

    method: str = "erm"
    arch: str = DEFAULT_ARCH
    pretrained: str | None = None
    epochs: int = bounded(12, 1, MAX_EPOCHS)
    batch_size: int = bounded(128, 1, 1_000_000)
    lr: float = bounded(1e-3, 0.0, 10.0)
    weight_decay: float = bounded(1e-4, 0.0, 1.0)
    patience: int = 0  # epochs without val worst-group improvement before stopping; 0 = never
    synthetic: str = "none"  # which generated samples: none | all | accepted
    # ... and only those of one generation method and/or one generation job (None: any), so
    # methods can be compared in one project
    synthetic_method: str | None = None
    synthetic_job: int | None = None
    # generated samples a judge reads in another group than their recorded one are set aside
    # unless this is set or a person accepted them (`verify` records what a judge reads)
    keep_disputed: bool = False
    seed: int = 0
    image_size: int = 32
    augment: str = "none"  # random image augmentation of training batches (image_augment.py)
    params: dict[str, Any] = field(default_factory=dict)  # method-specific (e.g. GroupDRO eta)

    def __post_init__(self) -> None:
        check_values(self)
        check_method_params(self.params)
        IMAGE_AUGMENTATIONS.get(self.augment)  # an unknown name fails before any work
        if self.synthetic not in ("none", "all", "accepted"):
            raise ValueError(f"synthetic must be none, all or accepted, got {self.synthetic!r}")
        narrowed = self.synthetic_method is not None or self.synthetic_job is not None
        if narrowed and self.synthetic == "none":
            raise ValueError(
                "synthetic_method / synthetic_job narrow the generated samples: choose synthetic "
                "all or accepted with them"
            )
        if self.synthetic_job is not None and (
            isinstance(self.synthetic_job, bool) or not isinstance(self.synthetic_job, int)
        ):
            raise ValueError(f"synthetic_job must be a job id, got {self.synthetic_job!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}, got {self.seed}")


def check_method_params(params: dict) -> None:
    """The training methods read `params` as a plain dict (no dataclass yet): at least every
    number is finite and every `*epochs` count is a whole number in 1..MAX_EPOCHS."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a JSON object, got {params!r}")
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"params {key} must be a finite number, got {value}")
        text = str(value).strip()
        whole = not isinstance(value, bool) and text.isascii() and text.isdigit()
        if key.endswith("epochs") and not (whole and 1 <= int(text) <= MAX_EPOCHS):
            raise ValueError(f"params {key} must be an integer in 1..{MAX_EPOCHS}, got {value!r}")


def synthetic_filter(config: TrainConfig) -> SampleFilter | None:
    """The generated samples a run trains on (None when it uses real data only)."""
    if config.synthetic == "none":
        return None
    return SampleFilter(
        source="generated",
        status="accepted" if config.synthetic == "accepted" else None,
        method=config.synthetic_method,
        job_id=config.synthetic_job,
        set_aside=None if config.keep_disputed else False,
    )


def set_aside_filter(config: TrainConfig) -> SampleFilter | None:
    """The generated samples the run would use but sets aside (a judge disagrees and no person
    accepted them), or None."""
    where = synthetic_filter(config)
    if where is None or config.keep_disputed:
        return None
    return replace(where, set_aside=True)


def describe_synthetic(config: TrainConfig) -> str:
    """'accepted generated samples of dbb from job 3' (for messages)."""
    text = f"{config.synthetic} generated samples"
    if config.synthetic_method is not None:
        text += f" of {config.synthetic_method}"
    if config.synthetic_job is not None:
        text += f" from job {config.synthetic_job}"
    return text


@dataclass(frozen=True)
class TrainData:
    """Real splits, the generated samples a method may use, and the group structure."""

    train: Tensors
    val: Tensors
    test: Tensors
    synthetic: Tensors | None
    n_classes: int
    n_attrs: int
    aligned_attrs: dict[int, int]
    # multi-label projects: the label space and the biased (b, c) pairs the methods act on
    label_names: tuple[str, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()


@dataclass
class TrainContext:
    """What a method gets: data, config, device, a model factory and a progress callback."""

    data: TrainData
    config: TrainConfig
    device: torch.device
    new_model: Callable[[], nn.Module]
    progress: Progress = lambda fraction, message: None
    # A finished run's classifier by run id (a fresh copy; same arch as this run), for methods
    # that continue from a trained model (DBB retrains the ERM model it mined and pruned with).
    load_run: Callable[[int], nn.Module] | None = None


@dataclass(frozen=True)
class MethodResult:
    """A method's output: the selected model, per-epoch history, the synthetic ids it used."""

    model: nn.Module
    history: list[dict]
    synthetic_ids: list[int] = field(default_factory=list)


class TrainMethod(Protocol):
    def __call__(self, ctx: TrainContext) -> MethodResult: ...


TRAIN_METHODS: Registry[TrainMethod] = Registry("training method")
