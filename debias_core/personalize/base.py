"""The personalization seam: a job config, concepts, training phases, the Personalizer Protocol.

A *concept* is what one learned set of files stands for: a class (textual inversion), one image
(per-image tokens), a group or a cluster (LoRA / DreamBooth). A method plans concepts from the
project, says how to prompt them and which phases to train; the engine trains many concepts in
one batch with the one fine-tuning loop (`personalize.loop`) and exports each concept's files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import torch

from debias_core.limits import MAX_RANK
from debias_core.params import bounded, check_values
from debias_core.registry import Registry

MIXED_PRECISION = ("no", "bf16", "fp16")
MAX_LR = 1.0  # learning rates of the personalization methods: (0, MAX_LR]


@dataclass(frozen=True)
class PersonalizeConfig:
    """One personalization job. Targets: sample ids, (class, context) groups or classes."""

    method: str = "textual-inversion"
    backbone: str = "embedded"
    samples: tuple[int, ...] = ()
    groups: tuple[tuple[int, int], ...] = ()
    classes: tuple[int, ...] = ()
    steps: int = bounded(200, limit="steps")
    batch: int = bounded(16, limit="batch_size")  # concepts trained together in one step (a unit)
    seed: int = 0
    mixed_precision: str = "no"  # GPU option: autocast to bf16 / fp16
    gradient_checkpointing: bool = False  # GPU option: trade compute for memory
    # progress, loss log and cancel checks every this many steps; 0: 25, or fewer so that the
    # loss plot has >= 20 points (a 10-step job logs every step)
    chunk_steps: int = bounded(0, limit="steps")
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_values(self)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch < 1 or self.chunk_steps < 0:
            raise ValueError("batch must be >= 1 and chunk_steps >= 0 (0: automatic)")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}")
        object.__setattr__(self, "samples", tuple(int(s) for s in self.samples))
        object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        object.__setattr__(self, "groups", tuple(tuple(int(v) for v in g) for g in self.groups))
        if any(len(g) != 2 for g in self.groups):
            raise ValueError(f"a group is a (class, context) pair, got {self.groups}")
        if sum(bool(t) for t in (self.samples, self.groups, self.classes)) > 1:
            raise ValueError("give one kind of target: samples, groups or classes")


@dataclass(frozen=True)
class TokenSpec:
    """A new token: its name, the word(s) its embedding starts from, and its role."""

    name: str
    init: str
    role: str = "concept"  # concept | object | context | identifier | label | background
    # the mask the token owns: '' = by role (objects the foreground, contexts the rest);
    # a label's name = that label's mask; REST = everything the concept's label masks leave
    mask: str = ""


REST = "~rest"  # TokenSpec.mask of a background token: outside every label token's mask


@dataclass(frozen=True)
class Concept:
    """What one set of learned files stands for, and the samples it learns from."""

    key: str  # unique within the job; used in file names
    scope: str  # image | class | group | cluster
    sample_ids: tuple[int, ...]
    tokens: tuple[TokenSpec, ...] = ()
    lora: bool = False
    y: int | None = None
    a: int | None = None
    cluster: int | None = None
    text: dict[str, str] = field(default_factory=dict)  # words the prompts use ("cls", ...)
    contexts: tuple[str, ...] = ()  # each sample's context phrase, in sample_ids order


@dataclass(frozen=True)
class PromptDraw:
    """One training prompt and the learned tokens it mentions (their masks form the loss mask)."""

    text: str
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Phase:
    """A stretch of training with fixed trainables and learning rates."""

    name: str
    steps: int
    train_tokens: bool
    train_lora: bool
    lr_tokens: float = 5e-3
    lr_lora: float = 1e-3
    attention_weight: float = 0.0  # lambda of the cross-attention loss (0: off)
    masked: bool = False  # diffusion loss only inside the union of the prompt's token masks


@dataclass(frozen=True)
class MethodParams:
    """Fields every method shares; each method's dataclass adds its own."""

    images_per_step: int = bounded(2, limit="batch_size")  # images of each concept per step
    rank: int = bounded(4, 1, MAX_RANK)  # LoRA rank (methods that train LoRA)
    weight_decay: float = bounded(0.0, 0.0, 1.0)

    def check_inputs(self) -> None:
        if self.images_per_step < 1:
            raise ValueError("images_per_step must be >= 1")
        if self.rank < 1:
            raise ValueError("rank must be >= 1")


def build_params(cls: type, values: dict) -> Any:
    """A method's params dataclass from `key=value` strings or JSON values, checked."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; valid: {sorted(known)}")
    typed = {k: _coerce(known[k].type, v, k) for k, v in values.items()}
    params = cls(**typed)
    check_values(params)
    params.check_inputs()
    return params


def _coerce(kind, value, name: str):
    """Strings from the command line into the field's type (int, float, bool, str, tuple)."""
    kind = str(kind)
    if not isinstance(value, str):
        return tuple(value) if "tuple" in kind and isinstance(value, list) else value
    try:
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("bool"):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        if "tuple" in kind:
            return tuple(v.strip() for v in value.split("|") if v.strip())
    except ValueError:
        raise ValueError(f"parameter {name}: cannot read {value!r} as {kind}") from None
    return value


TARGET_KINDS = ("classes", "groups", "samples")  # PersonalizeConfig's target fields


class Personalizer(Protocol):
    """A personalization method: plans concepts, prompts them, says what to train.

    `targets`: the target kinds it accepts (a subset of TARGET_KINDS); a job naming another kind
    is refused before it is queued, and the Personalize tab offers only these.
    """

    params_class: type
    targets: tuple[str, ...]

    def plan(self, store, config: PersonalizeConfig, params) -> list[Concept]:
        """The concepts to learn (deterministic given the config); bad targets raise."""
        ...

    def prompt(
        self, concept: Concept, params, gen: torch.Generator, index: int, prior: bool
    ) -> PromptDraw:
        """A training prompt for sample `index` of the concept (or prior sample, if `prior`)."""
        ...

    def reconstruction(self, concept: Concept, params) -> PromptDraw:
        """The prompt that should redraw the concept's own images (previews, checks)."""
        ...

    def load_data(self, store, backbone, concept: Concept, params):
        """The concept's `ConceptData` (latents, masks, prior samples)."""
        ...

    def phases(self, config: PersonalizeConfig, params) -> list[Phase]: ...


PERSONALIZERS: Registry[Personalizer] = Registry("personalization method")


def accepted_targets(method: str) -> tuple[str, ...]:
    """The target kinds a registered method accepts (all of them if it declares none)."""
    return tuple(getattr(PERSONALIZERS.get(method), "targets", TARGET_KINDS))


def check_target_kind(config: PersonalizeConfig) -> None:
    """The config's target kind is one its method accepts, or a ValueError naming those."""
    accepted = accepted_targets(config.method)
    given = [kind for kind in TARGET_KINDS if getattr(config, kind)]
    if given and given[0] not in accepted:
        raise ValueError(
            f"{config.method} does not take {given[0]} as targets; it takes: {', '.join(accepted)}"
        )


def concept_seed(seed: int, key: str) -> int:
    """A per-concept seed: a concept trains the same alone or in any batch."""
    import zlib

    return (int(seed) * 1_000_003 + zlib.crc32(key.encode())) % (2**63 - 1)


def pick(gen: torch.Generator, n: int) -> int:
    """A uniform index in [0, n) from `gen`."""
    return int(torch.randint(0, n, (1,), generator=gen))
