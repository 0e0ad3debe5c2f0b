"""The one denoising loop every generator is written on, over the diffusers scheduler API.

`sample()` walks the numbered steps:
  1. encode prompts (one row per sample; learned tokens plug in here)
  2. prepare latents: seeded noise, or the latents of given images
  3. optional DDIM inversion of those latents (capturing the mid-block output on the way)
  4. the loop, with the hook points of `generate/hooks.py`
  5. decode to uint8 pixels
Each step is also a function of its own, so a method can run them separately (DiffInject inverts
two sets of images and denoises one of them with the other's h-space).

With no hooks the loop computes exactly what diffusers' `StableDiffusionPipeline` computes (same
calls, same order, same arithmetic): recipes written by the pipeline replay bit-exactly on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import torch

from debias_core.generate.hooks import LoopHooks, StepState, mid_block_output
from debias_core.models.backbone import Backbone, PromptEmbeds

Eta = float | Callable[[int], float]  # DDIM eta, constant or per timestep


@dataclass
class Inversion:
    """Latents at the loop's first noise level, and the mid-block output at each timestep."""

    latents: torch.Tensor
    h_by_t: dict[int, torch.Tensor] = field(default_factory=dict)


@dataclass
class LoopResult:
    images: np.ndarray  # (B, H, W, 3) uint8
    latents: torch.Tensor  # final latents, before decoding


# -- 1. prompts ----------------------------------------------------------------------------------
def uses_guidance(guidance: float) -> bool:
    """Classifier-free guidance runs only above 1, as in the diffusers pipelines."""
    return guidance > 1.0


def encode_prompts(
    backbone: Backbone,
    prompts: Sequence[str],
    negatives: Sequence[str] | None = None,
    guidance: float = 1.0,
) -> PromptEmbeds:
    """Per-sample text embeddings; the negative side ('' when none) only when guidance is on."""
    if not uses_guidance(guidance):
        return backbone.encode_prompt(list(prompts))
    negatives = list(negatives) if negatives and any(negatives) else [""] * len(prompts)
    return backbone.encode_prompt(list(prompts), negative=negatives)


# -- 2. latents ----------------------------------------------------------------------------------
def seeded_generators(backbone: Backbone, seeds: Sequence[int]) -> list[torch.Generator]:
    """One generator per sample: its initial noise and any later noise depend on its seed only."""
    return [torch.Generator(backbone.device).manual_seed(int(s)) for s in seeds]


def initial_noise(
    backbone: Backbone, generators: list[torch.Generator], scheduler, dtype: torch.dtype
) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    side = backbone.unet.config.sample_size
    shape = (len(generators), backbone.unet.config.in_channels, side, side)
    noise = randn_tensor(shape, generator=generators, device=backbone.device, dtype=dtype)
    return noise * scheduler.init_noise_sigma


def image_latents(backbone: Backbone, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] (B, 3, H, W) -> latents, deterministically (the posterior's mode)."""
    return backbone.encode_images(pixels, sample=False)


def fresh_scheduler(backbone: Backbone, steps: int, inverse: bool = False):
    """A private copy of the backbone's scheduler set to `steps` (the shared one stays untouched).

    `inverse`: the matching DDIM inverse scheduler, whose timesteps run the other way.
    """
    from diffusers import DDIMInverseScheduler

    cls = DDIMInverseScheduler if inverse else type(backbone.scheduler)
    scheduler = cls.from_config(backbone.scheduler.config)
    scheduler.set_timesteps(steps, device=backbone.device)
    return scheduler


# -- 3. inversion --------------------------------------------------------------------------------
@torch.no_grad()
def invert(
    backbone: Backbone, latents: torch.Tensor, embeds: PromptEmbeds, steps: int, capture_h=False
) -> Inversion:
    """Deterministic DDIM inversion (eta 0, no guidance): clean latents -> the first noise level.

    With `capture_h` the mid-block output of every step is kept, keyed by its timestep.
    """
    scheduler = fresh_scheduler(backbone, steps, inverse=True)
    captured: dict[int, torch.Tensor] = {}
    current: list[int] = [0]

    def keep(h: torch.Tensor) -> torch.Tensor:
        captured[current[0]] = h.detach().clone()
        return h

    with ExitStack() as stack:
        if capture_h:
            stack.enter_context(mid_block_output(backbone.unet, keep))
        for t in scheduler.timesteps:
            current[0] = int(t)
            pred = backbone.unet(latents, t, encoder_hidden_states=embeds.cond, return_dict=False)
            latents = scheduler.step(pred[0], t, latents, return_dict=False)[0]
    return Inversion(latents, captured)


# -- 4. the loop ---------------------------------------------------------------------------------
def _eta_at(eta: Eta, t: int) -> float:
    return float(eta(t) if callable(eta) else eta)


def _alpha_prev(scheduler, t: int) -> torch.Tensor:
    """alpha-bar of the level a DDIM step from `t` lands on (as DDIMScheduler.step computes it)."""
    prev = t - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    return scheduler.alphas_cumprod[prev] if prev >= 0 else scheduler.final_alpha_cumprod


def _predict(backbone, latents, t, embeds: PromptEmbeds, guidance: float, hooks: LoopHooks):
    """(plain prediction, edited prediction or None) of one UNet call.

    Rows are [uncond; cond] under guidance; an asymmetric h-space edit appends the same rows once
    more and edits only those, so both predictions come from one batched call.
    """
    edit = hooks.h_space if hooks.h_space is not None and hooks.h_space.active(int(t)) else None
    cfg = uses_guidance(guidance)
    model_input = torch.cat([latents] * 2) if cfg else latents
    context = embeds.for_guidance() if cfg else embeds.cond
    plain_rows = model_input.shape[0]
    if edit is not None and edit.asymmetric:
        model_input, context = torch.cat([model_input] * 2), torch.cat([context] * 2)
    with ExitStack() as stack:
        if edit is not None:
            first = plain_rows if edit.asymmetric else 0
            b = latents.shape[0]

            def replace(h: torch.Tensor) -> torch.Tensor:
                chunks = [edit(c, int(t)) for c in h[first:].split(b)]
                return torch.cat([h[:first], *chunks])

            stack.enter_context(mid_block_output(backbone.unet, replace))
        out = backbone.unet(model_input, t, encoder_hidden_states=context, return_dict=False)[0]
    preds = out.split(plain_rows) if edit is not None and edit.asymmetric else (out,)
    guided = [_guide(p, guidance) if cfg else p for p in preds]
    return guided[0], (guided[1] if len(guided) > 1 else guided[0] if edit else None)


def _guide(prediction: torch.Tensor, guidance: float) -> torch.Tensor:
    uncond, text = prediction.chunk(2)
    return uncond + guidance * (text - uncond)


def _step(scheduler, plain, edited, t, latents, eta: float, noise, asymmetric: bool):
    """One scheduler step; asymmetric (Eq. 7 of DiffInject): x0 from the edited prediction, the
    direction towards x_t (and the noise) from the plain one."""
    kwargs = {"eta": eta, "variance_noise": noise} if eta > 0 else {"eta": eta}
    if edited is None or not asymmetric:
        chosen = plain if edited is None else edited
        return scheduler.step(chosen, t, latents, **kwargs, return_dict=False)[0]
    prev_plain, x0_plain = scheduler.step(plain, t, latents, **kwargs, return_dict=False)
    _, x0_edited = scheduler.step(edited, t, latents, **kwargs, return_dict=False)
    return prev_plain + _alpha_prev(scheduler, int(t)) ** 0.5 * (x0_edited - x0_plain)


@torch.no_grad()
def denoise(
    backbone: Backbone,
    latents: torch.Tensor,
    embeds: PromptEmbeds,
    steps: int,
    guidance: float = 1.0,
    eta: Eta = 0.0,
    generators: list[torch.Generator] | None = None,
    hooks: LoopHooks | None = None,
    start: int = 0,
) -> torch.Tensor:
    """Run the reverse process from `latents` (at the noise level of timestep `start`).

    `start` > 0 skips the first steps of the `steps`-step schedule (img2img / inpainting
    strength < 1: the latents start partly noised).
    """
    from diffusers.utils.torch_utils import randn_tensor

    hooks = hooks or LoopHooks()
    scheduler = fresh_scheduler(backbone, steps)
    timesteps = scheduler.timesteps[start:]
    asymmetric = bool(hooks.h_space is not None and hooks.h_space.asymmetric)
    with ExitStack() as stack:
        for scope in hooks.scopes:  # cross-attention capture, per-sample adapters, ...
            stack.enter_context(scope)
        if hooks.blend is not None:
            latents = hooks.blend(latents, int(timesteps[0]))
        for i, t in enumerate(timesteps):
            plain, edited = _predict(backbone, latents, t, embeds, guidance, hooks)
            eta_t = _eta_at(eta, int(t))
            noise = None
            if eta_t > 0:
                if generators is None:
                    raise ValueError("a stochastic step (eta > 0) needs per-sample generators")
                noise = randn_tensor(latents.shape, generator=generators, device=latents.device)
            latents = _step(scheduler, plain, edited, t, latents, eta_t, noise, asymmetric)
            if hooks.blend is not None:
                later = int(timesteps[i + 1]) if i + 1 < len(timesteps) else None
                latents = hooks.blend(latents, later)
            for callback in hooks.on_step:
                callback(StepState(i, int(t), latents, plain if edited is None else edited))
    return latents


# -- 5. decode -----------------------------------------------------------------------------------
@torch.no_grad()
def decode(backbone: Backbone, latents: torch.Tensor) -> np.ndarray:
    """Latents -> (B, H, W, 3) uint8, rounded as the stored images are."""
    pixels = backbone.decode_latents(latents).cpu().permute(0, 2, 3, 1).float().numpy()
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


# -- all steps -----------------------------------------------------------------------------------
def check_inputs(prompts: Sequence[str], seeds: Sequence[int], steps: int, guidance: float):
    if not prompts:
        raise ValueError("at least one prompt is needed")
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts; one seed per image")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if guidance < 0:
        raise ValueError("guidance must be >= 0")


@torch.no_grad()
def sample(
    backbone: Backbone,
    prompts: Sequence[str],
    seeds: Sequence[int],
    steps: int = 20,
    guidance: float = 1.0,
    negatives: Sequence[str] | None = None,
    embeds: PromptEmbeds | None = None,
    start_images: torch.Tensor | None = None,
    eta: Eta = 0.0,
    hooks: LoopHooks | None = None,
) -> LoopResult:
    """Text-to-image (from seeded noise) or image-to-image (from inverted `start_images`)."""
    # 0. Check inputs
    check_inputs(prompts, seeds, steps, guidance)
    # 1. Encode prompts (precomputed `embeds` take precedence: learned tokens, mixed prompts)
    embeds = embeds or encode_prompts(backbone, prompts, negatives, guidance)
    # 2. Prepare latents
    generators = seeded_generators(backbone, seeds)
    if start_images is None:
        scheduler = fresh_scheduler(backbone, steps)
        latents = initial_noise(backbone, generators, scheduler, embeds.cond.dtype)
    else:
        # 3. DDIM inversion of the given images to the first noise level
        clean = image_latents(backbone, start_images)
        latents = invert(backbone, clean, PromptEmbeds(embeds.cond), steps).latents
    # 4. The loop
    latents = denoise(backbone, latents, embeds, steps, guidance, eta, generators, hooks)
    # 5. Decode
    return LoopResult(decode(backbone, latents), latents)
