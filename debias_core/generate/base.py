"""The generation seam: a config, work units, the Generator Protocol and its registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from debias_core.registry import Registry
from debias_core.store.records import GeneratedImage, Recipe


@dataclass(frozen=True)
class GenerateConfig:
    """One generation job. `groups` empty = every (class, context) group of the project."""

    method: str = "txt2img"
    backbone: str = "embedded"
    groups: tuple[tuple[int, int], ...] = ()
    per_group: int = 16
    seed: int = 0
    steps: int = 20
    guidance: float = 4.0
    batch_size: int = 8
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.per_group < 1 or self.batch_size < 1 or self.steps < 1:
            raise ValueError("per_group, batch_size and steps must be >= 1")
        if self.guidance < 0:
            raise ValueError("guidance must be >= 0")
        object.__setattr__(self, "groups", tuple(tuple(int(v) for v in g) for g in self.groups))


@dataclass(frozen=True)
class WorkUnit:
    """One batch for one group: the smallest piece of work that is saved (or redone) whole."""

    key: str
    y: int
    a: int
    seeds: tuple[int, ...]
    prompts: tuple[str, ...]
    negatives: tuple[str, ...]
    parent_ids: tuple[int | None, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Generator(Protocol):
    """A generation method: plans units for a project, renders a unit, replays a recipe."""

    def plan(
        self, meta: dict, config: GenerateConfig, groups: list[tuple[int, int]]
    ) -> list[WorkUnit]: ...

    def render(self, backbone, unit: WorkUnit, config: GenerateConfig) -> list[GeneratedImage]: ...

    def replay(self, backbone, recipe: Recipe): ...


GENERATORS: Registry[Generator] = Registry("generation method")
