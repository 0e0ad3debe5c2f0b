"""Hook points of the denoising loop (`generate/loop.py`), one small type each.

- `HSpaceEdit`: replaces the UNet mid-block output ("h-space", Kwon et al. 2022) at chosen steps;
  DiffInject's Slerp injection is one.
- `LatentBlend`: mixes the latents with other latents under a mask at every noise level (masked
  inpainting / blended latents, DBB Eq. 2); `MaskedBlend` is the standard one.
- `LoopHooks.scopes`: context managers entered around the whole loop (cross-attention capture,
  per-sample adapters and tokens attach there); `on_step` callbacks see every step's state.

Per-sample prompt embeddings are not a hook: the loop takes `PromptEmbeds` with one row per sample,
so learned tokens plug in wherever the embeddings are made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import torch


class HSpaceEdit(Protocol):
    """Replace the mid-block output `h` (B, C, H, W) of the samples at timestep `t`.

    `asymmetric`: the step takes x0 from the edited prediction and the direction term from the
    unedited one (InjectFusion / DiffInject), which costs one more UNet row per sample.
    """

    asymmetric: bool

    def active(self, t: int) -> bool: ...

    def __call__(self, h: torch.Tensor, t: int) -> torch.Tensor: ...


class LatentBlend(Protocol):
    """Blend latents that sit at noise level `t` (None: fully denoised) with another source."""

    def __call__(self, latents: torch.Tensor, t: int | None) -> torch.Tensor: ...


@dataclass(frozen=True)
class StepState:
    """What an `on_step` callback sees after each step."""

    index: int
    t: int
    latents: torch.Tensor  # after the step (and after any blend)
    prediction: torch.Tensor  # the guided UNet output the step used (edited one if any)


@dataclass
class LoopHooks:
    """Everything that changes the plain loop; the empty default is plain text-to-image."""

    h_space: HSpaceEdit | None = None
    blend: LatentBlend | None = None
    scopes: Sequence[AbstractContextManager] = ()
    on_step: Sequence[Callable[[StepState], None]] = field(default_factory=tuple)


BLEND_OUTSIDE = ("noised", "clean")


@dataclass(frozen=True)
class MaskedBlend:
    """Keep `source` latents outside `mask`; 1 = generate.

    mask (B, 1, h, w) in latent resolution; source / noise (B, C, h, w). `outside`:
    - "noised" (blended latents, diffusers' inpainting pipelines for 4-channel UNets): the
      source re-noised to the current level with the fixed `noise`, so the UNet sees one noise
      level everywhere;
    - "clean": the clean source z_0 at every step, as DBB's Eq. 2 is written.
    After the last step the outside is the clean source either way.
    """

    mask: torch.Tensor
    source: torch.Tensor
    noise: torch.Tensor
    scheduler: object
    outside: str = "noised"

    def __call__(self, latents: torch.Tensor, t: int | None) -> torch.Tensor:
        if t is None or self.outside == "clean":
            outside = self.source
        else:
            level = torch.tensor([int(t)], device=latents.device)
            outside = self.scheduler.add_noise(self.source, self.noise, level)
        return self.mask * latents + (1 - self.mask) * outside


@contextlib.contextmanager
def mid_block_output(
    unet: torch.nn.Module, replace: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """While inside, the UNet's mid-block output goes through `replace` (a forward hook that is
    always removed, so a shared UNet is never left modified)."""

    def hook(module, inputs, output):
        return replace(output)

    handle = unet.mid_block.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
