"""The generation seam: a config, work units, the Generator Protocol and its registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from debias_core.params import build_params
from debias_core.registry import Registry
from debias_core.store.records import GeneratedImage, Recipe


@dataclass(frozen=True)
class GenerateConfig:
    """One generation job. `groups` empty = every group the method plans for.

    `params` are the method's own parameters (its frozen dataclass's fields, see
    `Generator.default_params`); `per_group` is the number of images for each target the method
    plans (a group for the prompt-based methods, a content sample for DiffInject).
    """

    method: str = "txt2img"
    backbone: str = "embedded"
    groups: tuple[tuple[int, int], ...] = ()
    per_group: int = 16
    seed: int = 0
    steps: int | None = None  # None: the method's `default_steps`
    guidance: float = 4.0
    batch_size: int = 8
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.per_group < 1 or self.batch_size < 1 or (self.steps is not None and self.steps < 1):
            raise ValueError("per_group, batch_size and steps must be >= 1")
        if self.guidance < 0:
            raise ValueError("guidance must be >= 0")
        object.__setattr__(self, "groups", tuple(tuple(int(v) for v in g) for g in self.groups))


@dataclass(frozen=True)
class WorkUnit:
    """One batch: the smallest piece of work that is saved (or redone) whole.

    `a` is None when the method uses no group labels (the sample then records its parent's
    context, see `runner.inherit_context`).
    """

    key: str
    y: int
    a: int | None
    seeds: tuple[int, ...]
    prompts: tuple[str, ...]
    negatives: tuple[str, ...]
    parent_ids: tuple[int | None, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Generator(Protocol):
    """A generation method.

    - `default_params`: an instance of the method's frozen parameter dataclass (defaults and
      `check_inputs`); `default_steps`: denoising steps when the config names none.
    - `check` raises a ValueError naming what is missing (a run, masks, checkpoints) and how to
      make it, before any job is queued.
    - `plan` cuts the work into units; `render` draws one unit; `replay` redraws one image from
      its recipe. `store` is the project (source pixels, runs, masks); text-only methods read
      only its metadata.
    """

    default_params: Any
    default_steps: int

    def check(self, store, config: GenerateConfig) -> None: ...

    def plan(
        self, store, config: GenerateConfig, groups: list[tuple[int, int]]
    ) -> list[WorkUnit]: ...

    def render(
        self, backbone, unit: WorkUnit, config: GenerateConfig, store
    ) -> list[GeneratedImage]: ...

    def replay(self, backbone, recipe: Recipe, store): ...


GENERATORS: Registry[Generator] = Registry("generation method")


def method_params(generator: Generator, config: GenerateConfig) -> Any:
    """The method's parameter dataclass filled from `config.params` (coerced, checked)."""
    return build_params(generator.default_params, config.params, what=config.method)


def steps_of(generator: Generator, config: GenerateConfig) -> int:
    return config.steps or generator.default_steps
