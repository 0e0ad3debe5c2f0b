"""The generation seam: a config, work units, the Generator Protocol and its registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, overload

from debias_core.generate.machine import machine_kind
from debias_core.limits import MAX_SEED
from debias_core.params import bounded, build_params, check_values
from debias_core.registry import Registry
from debias_core.store.records import GeneratedImage, Recipe


@dataclass(frozen=True)
class GenerateConfig:
    """One generation job. `groups` empty = every group the method plans for.

    `params` are the method's own parameters (its frozen dataclass's fields, see
    `Generator.default_params`), plus `artifacts`: ids of learned tokens / LoRAs the runner
    attaches for every method; `per_group` is the number of images for each target the method
    plans (a group for the prompt-based methods, a content sample for DiffInject).
    """

    method: str = "txt2img"
    backbone: str = "embedded"
    groups: tuple[tuple[int, int], ...] = ()
    per_group: int = bounded(16, limit="per_group")
    seed: int = 0
    steps: int | None = bounded(None, limit="steps")  # None: the method's `default_steps`
    guidance: float = bounded(4.0, 0.0, 100.0)
    batch_size: int = bounded(8, limit="batch_size")
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("per_group", "batch_size", "steps", "seed"):
            value = getattr(self, name)
            if name == "steps" and value is None:  # the method's default_steps
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if isinstance(self.guidance, bool) or not isinstance(self.guidance, int | float):
            raise ValueError(f"guidance must be a number, got {self.guidance!r}")
        if self.per_group < 1 or self.batch_size < 1 or (self.steps is not None and self.steps < 1):
            raise ValueError("per_group, batch_size and steps must be >= 1")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}, got {self.seed}")
        check_values(self)  # guidance finite and in its range
        if not isinstance(self.params, dict):
            raise ValueError(f"params must be a JSON object, got {self.params!r}")
        object.__setattr__(self, "groups", _groups(self.groups))


def _groups(groups) -> tuple[tuple[int, int], ...]:
    """(y, a) pairs of non-negative integers; anything else is a clear error."""
    try:
        pairs = tuple(tuple(g) for g in groups)
    except TypeError:
        raise ValueError(f"groups must be a list of [y, a] pairs, got {groups!r}") from None
    for pair in pairs:
        ok = len(pair) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
        if not ok or min(pair) < 0:
            raise ValueError(f"a group is a pair of non-negative integers [y, a], got {pair!r}")
    return pairs


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


class LazyUnits(Sequence[WorkUnit]):
    """A plan as a Sequence whose units are made on demand: subclasses give `__len__` and
    `unit(index)` for 0 <= index < len; indexing, slices and negative indices are handled here."""

    def unit(self, index: int) -> WorkUnit:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> WorkUnit: ...
    @overload
    def __getitem__(self, index: slice) -> list[WorkUnit]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.unit(index)


class GroupBatches(LazyUnits):
    """The units of "per_group images for each group, in batches", built on demand.

    A plan of 10^9 images is a few integers, not 10^9 objects: `len()` is arithmetic and units
    are made when iterated or indexed, so planning is instant and a cancel is seen at once.
    """

    def __init__(
        self,
        groups: Sequence[tuple[int, int]],
        per_group: int,
        batch_size: int,
        make: Callable[[int, int, range], WorkUnit],
    ) -> None:
        self.groups, self.per_group, self.batch_size, self.make = (
            groups,
            per_group,
            batch_size,
            make,
        )
        self.per_group_units = -(-per_group // batch_size)  # ceiling division

    def __len__(self) -> int:
        return len(self.groups) * self.per_group_units

    def unit(self, index: int) -> WorkUnit:
        group, batch = divmod(index, self.per_group_units)
        y, a = self.groups[group]
        start = batch * self.batch_size
        return self.make(y, a, range(start, min(start + self.batch_size, self.per_group)))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class Generator(Protocol):
    """A generation method.

    - `default_params`: an instance of the method's frozen parameter dataclass (defaults and
      `check_inputs`); `default_steps`: denoising steps when the config names none.
    - `plans_own_targets` (required): True for a method that picks its own targets (DiffInject:
      a GCE run's high-loss samples; DBB: each class's low-loss samples into every other class);
      its jobs name no groups (any is refused) and the Generate tab hides the group box. False
      for a method whose job names the (class, context) groups it draws.
    - `attribute_site` (optional, "anywhere" when absent): where the attribute the method keeps
      or changes must lie relative to the object's mask: "outside" (DBB keeps and DecoupleGen
      changes what lies outside it), "on", or "anywhere" (the whole image follows the prompt or
      the learned group). `handles_on_object(config)` (optional, False): an "outside" method
      that, with these parameters, puts the intended context into its prompt when the attribute
      lies on the object; `on_object_hint` (optional) says how to ask for that in the refusal.
      `generate/sites.py` refuses any other mismatch before a job is queued.
    - `multilabel` (optional, False): the method draws label sets of a multi-label project
      (DecoupleGen's edits) and is refused on a single-label one.
    - `check` raises a ValueError naming what is missing (a run, masks, checkpoints) and how to
      make it, before any job is queued.
    - `plan` cuts the work into units; `render` draws one unit; `replay` redraws one image from
      its recipe. `store` is the project (source pixels, runs, masks); text-only methods read
      only its metadata.
    """

    default_params: Any
    default_steps: int
    plans_own_targets: bool

    def check(self, store, config: GenerateConfig) -> None: ...

    def plan(
        self, store, config: GenerateConfig, groups: list[tuple[int, int]]
    ) -> Sequence[WorkUnit]:
        """The work units in order; a lazy Sequence (GroupBatches) keeps big plans cheap."""
        ...

    def render(
        self, backbone, unit: WorkUnit, config: GenerateConfig, store
    ) -> list[GeneratedImage]: ...

    def replay(self, backbone, recipe: Recipe, store): ...


GENERATORS: Registry[Generator] = Registry("generation method")


class NeedsRun(ValueError):
    """A generator needs a finished training run of `method` in its parameter `param`.

    str() tells the command line what to type; the app says where to click instead (it reads
    `reason`, `method` and `param`), so neither sees the other's instructions.
    """

    def __init__(self, reason: str, method: str, param: str = "run") -> None:
        self.reason, self.method, self.param = reason, method, param
        super().__init__(
            f"{reason}; train one with `python -m debias_core train DIR --method {method}` and "
            f"pass --{param} ID"
        )


@dataclass(frozen=True)
class Prerequisite:
    """A job a generation needs finished first: learned tokens / LoRAs, masks.

    `kind` and `params` are that job's (e.g. "personalize" with PersonalizeConfig fields);
    `param` names the generator's own parameter that receives the finished job's id. A
    generator lists one only while that parameter is unset (0), so a user may also pass the id
    of a job they ran themselves. The jobs layer runs or reuses it (see jobs/prerequisites.py).
    """

    kind: str
    params: dict[str, Any]
    param: str


def prerequisites_of(store, config: GenerateConfig) -> list[Prerequisite]:
    """What the method needs run before it can plan; most methods need nothing.

    A generator that needs jobs defines `prerequisites(store, config) -> list[Prerequisite]`.
    """
    ask = getattr(GENERATORS.get(config.method), "prerequisites", None)
    return [] if ask is None else list(ask(store, config))


def with_param(config: GenerateConfig, name: str, value: Any) -> GenerateConfig:
    return replace(config, params={**config.params, name: value})


# Keys of `config.params` the runner reads for every method (learned artifacts to attach for
# the job's scope), so they are not the method's own parameters.
RUNNER_PARAMS = ("artifacts",)


def method_params(generator: Generator, config: GenerateConfig) -> Any:
    """The method's parameter dataclass filled from `config.params` (coerced, checked)."""
    own = {k: v for k, v in config.params.items() if k not in RUNNER_PARAMS}
    return build_params(generator.default_params, own, what=config.method)


def plans_own_targets(generator: Generator) -> bool:
    """Whether the method picks its own targets, so its jobs name no groups (see `Generator`).

    Every generator declares it; a missing or non-bool value is a bug in that generator."""
    value = getattr(generator, "plans_own_targets", None)
    if not isinstance(value, bool):
        raise TypeError(
            f"generator {type(generator).__name__} must declare plans_own_targets = True or False"
        )
    return value


def check_no_groups(method: str, generator: Generator, groups) -> None:
    """A method that plans its own targets is refused any group (one message for all of them)."""
    if groups and plans_own_targets(generator):
        raise ValueError(
            f"{method} plans its own targets, so a job of it names no groups (got {list(groups)})"
        )


SITES = ("outside", "on", "anywhere")


def attribute_site(generator: Generator) -> str:
    """Where the attribute a method keeps or changes must lie (see `Generator`)."""
    return str(getattr(generator, "attribute_site", "anywhere"))


def steps_of(generator: Generator, config: GenerateConfig) -> int:
    return config.steps or generator.default_steps


def recipe_for(backbone, method: str, steps: int, guidance: float, **per_image) -> Recipe:
    """A recipe naming this backbone (spec, content hash, scheduler), the sampling settings and
    the machine kind drawing it (a replay is bit-exact only on the same kind); `per_image` holds
    the rest (seed, prompt, sources, tokens, adapters, mask, params)."""
    return Recipe(
        method=method,
        backbone_id=backbone.spec,
        backbone_hash=backbone.content_hash,
        scheduler=type(backbone.scheduler).__name__,
        steps=steps,
        guidance=guidance,
        machine=machine_kind(backbone.device),
        **per_image,
    )
