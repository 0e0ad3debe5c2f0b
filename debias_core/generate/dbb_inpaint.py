"""DBB's masked inpainting in latent space (seed 003, Eq. 2): noise and denoise only inside
each source's edit region, keep the source's latents outside, paste its pixels back after
decoding. Split from `dbb.py`, which plans the edits and records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from debias_core.generate import loop
from debias_core.generate.diffinject import load_pixels
from debias_core.generate.hooks import LoopHooks, MaskedBlend
from debias_core.models.segmenters.regions import edit_region

if TYPE_CHECKING:
    from debias_core.generate.dbb import DbbParams


def check_backbone(backbone) -> None:
    channels = backbone.unet.config.in_channels
    if channels != backbone.vae.config.latent_channels:
        raise ValueError(
            f"dbb blends latents under the mask (Eq. 2) and needs a text-to-image UNet; this "
            f"backbone's UNet takes {channels} channels (an inpainting UNet): use sd2 or sd2-1"
        )


def region_params(backbone, params: DbbParams) -> dict:
    """How the edit region is made from the stored mask (models/segmenters/regions.py)."""
    return {"size": backbone.image_size, "grow": params.grow, "cell": backbone.vae_scale_factor}


def start_index(steps: int, strength: float) -> int:
    """The first step of the schedule for `strength` (as diffusers' img2img counts it)."""
    run = min(int(steps * strength), steps)
    if run < 1:
        raise ValueError(f"strength {strength} leaves no step of {steps}: raise either")
    return steps - run


@dataclass
class Inpainting:
    """What `inpaint` hands back: the denoised latents (before decoding), the source pixels and
    the edit regions (B, H, W) bool at pixel resolution."""

    latents: torch.Tensor
    clean: torch.Tensor  # the sources' latents
    pixels: torch.Tensor  # (B, 3, H, W) in [-1, 1]
    regions: np.ndarray


@torch.no_grad()
def inpaint(backbone, store, params: DbbParams, steps: int, guidance: float, batch: dict):
    """Masked inpainting in latent space (Eq. 2): noise and denoising only inside each source's
    edit region, the source's latents outside. The target's token must already be attached."""
    from diffusers.utils.torch_utils import randn_tensor

    size, region = backbone.image_size, region_params(backbone, params)
    pixels = load_pixels(store, batch["sources"], size).to(backbone.device)
    regions = np.stack(
        [
            edit_region(store.mask_pixels(m), size, params.grow, region["cell"])
            for m in batch["mask_ids"]
        ]
    )
    cell = region["cell"]
    inside = torch.from_numpy(regions[:, None, ::cell, ::cell].copy()).to(backbone.device)
    clean = loop.image_latents(backbone, pixels)
    embeds = loop.encode_prompts(backbone, batch["prompts"], None, guidance)
    generators = loop.seeded_generators(backbone, batch["seeds"])
    # One noise per image: its start inside the mask and the re-noised source outside (Eq. 2).
    noise = randn_tensor(clean.shape, generator=generators, device=clean.device, dtype=clean.dtype)
    scheduler = loop.fresh_scheduler(backbone, steps)
    start = start_index(steps, params.strength)
    if start == 0:  # strength 1: pure noise inside, as SD inpainting starts
        latents = noise * scheduler.init_noise_sigma
    else:
        latents = scheduler.add_noise(clean, noise, scheduler.timesteps[start : start + 1])
    blend = MaskedBlend(inside.to(clean.dtype), clean, noise, scheduler, outside=params.outside)
    latents = loop.denoise(
        backbone,
        latents,
        embeds,
        steps,
        guidance=guidance,
        generators=generators,
        hooks=LoopHooks(blend=blend),
        start=start,
    )
    return Inpainting(latents, clean, pixels, regions)


def draw(backbone, store, params: DbbParams, steps: int, guidance: float, batch: dict):
    """Images (B, H, W, 3) uint8: each source inpainted inside its edit region (Eq. 2), with the
    source's own pixels pasted back outside it (the VAE round trip blurs them otherwise)."""
    result = inpaint(backbone, store, params, steps, guidance, batch)
    generated = loop.decode(backbone, result.latents)
    original = result.pixels.add(1.0).mul(127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1)
    return np.where(result.regions[..., None], generated, original.cpu().numpy())
