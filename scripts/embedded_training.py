"""The embedded backbone's build recipe and training loops: config, world-pool sampler, VAE,
UNet + text encoder.

Used by `scripts/build_embedded_backbone.py` (which imports from here, never the other way);
every random draw comes from seeded generators.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from debias_core.data.colored_digits import load_pools
from debias_core.models.digit_judge import alpha_bank, paint, random_shift
from debias_core.models.embedded_world import (
    BACKGROUNDS,
    PARTIAL_TEMPLATES,
    STROKES,
    all_combos,
    training_caption,
)


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines the built weights (plus how quality is measured)."""

    seed: int = 0
    threads: int = 2  # part of the recipe: float sums may differ between thread counts
    vae_steps: int = 1200
    vae_batch_size: int = 16  # small batches: more updates per second of CPU, faster to converge
    ink_weight: float = 4.0  # extra VAE loss weight on stroke pixels (they are ~20% of an image)
    text_steps: int = 300  # text encoder pretraining, then frozen; see pretrain_text_encoder
    unet_steps: int = 5000
    shape_first_fraction: float = 0.15  # white-on-black only at first; see train_unet
    prediction_type: str = "v_prediction"  # as Stable Diffusion 2.1; see train_unet
    latent_channels: int = 4
    batch_size: int = 64
    latent_cache: int = 32768  # renders encoded once; each is seen ~6 times with fresh captions
    vae_lr: float = 1e-3
    unet_lr: float = 1e-3
    warmup: int = 100
    ema: float = 0.995
    kl_weight: float = 1e-6
    judge_steps: int = 800
    eval_steps: int = 20
    eval_guidance: float = 4.0


class WorldSampler:
    """Random renders of world-pool digits over all 730 combos, captioned; one generator."""

    def __init__(
        self, seed: int, combos: list[tuple[int, str, str]] | None = None, stream: int = 0
    ) -> None:
        world, _ = load_pools(seed)
        self.bank = alpha_bank(world)
        self.by_digit = [
            torch.nonzero(torch.from_numpy(world.digits == d))[:, 0] for d in range(10)
        ]
        self.combos = combos or all_combos()
        self.gen = torch.Generator().manual_seed(seed + 1000 * stream)  # same pool, own draws

    def render(self, n: int) -> tuple[torch.Tensor, list[int]]:
        """(pixels in [-1, 1] (n, 3, 32, 32), combo indices) for n random combos."""
        g = self.gen
        picks = torch.randint(0, len(self.combos), (n,), generator=g).tolist()
        combos = [self.combos[i] for i in picks]
        idx = [
            int(self.by_digit[d][torch.randint(0, len(self.by_digit[d]), (1,), generator=g)])
            for d, _, _ in combos
        ]
        alpha = random_shift(self.bank[idx], 2, g)
        stroke = torch.tensor([STROKES[s] for _, s, _ in combos], dtype=torch.float32)
        background = torch.tensor([BACKGROUNDS[b] for _, _, b in combos], dtype=torch.float32)
        pixels = paint(alpha, stroke, background).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return pixels, picks

    def caption(self, picks: list[int]) -> list[str]:
        """A fresh random caption (full, partial or empty) for each combo index."""
        u = torch.rand(len(picks), generator=self.gen).tolist()
        k = torch.randint(0, len(PARTIAL_TEMPLATES), (len(picks),), generator=self.gen).tolist()
        return [training_caption(*self.combos[c], u[i], k[i]) for i, c in enumerate(picks)]

    def batch(self, n: int) -> tuple[torch.Tensor, list[str]]:
        pixels, picks = self.render(n)
        return pixels, self.caption(picks)


@torch.no_grad()
def latent_cache(vae, sampler: WorldSampler, size: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Encode `size` renders once: (mean, std, combo index); a third of a step's time saved."""
    means, stds, picks = [], [], []
    for _ in range(0, size, 256):
        pixels, batch_picks = sampler.render(256)
        dist = vae.encode(pixels).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
        picks += batch_picks
    return torch.cat(means), torch.cat(stds), picks


def _cosine(opt, warmup: int, steps: int):
    from diffusers.optimization import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(opt, warmup, steps)


def _ink_weight(pixels: torch.Tensor, weight: float) -> torch.Tensor:
    """1 + weight * (distance from the border colour, scaled to 1): strokes count more."""
    border = torch.cat([pixels[:, :, :2].flatten(2), pixels[:, :, -2:].flatten(2)], dim=2)
    background = border.median(dim=2).values[:, :, None, None]
    ink = (pixels - background).norm(dim=1, keepdim=True)
    return 1 + weight * ink / ink.amax(dim=(2, 3), keepdim=True).clamp_min(1e-3)


def train_vae(vae, sampler: WorldSampler, cfg: BuildConfig, log) -> float:
    """Stroke-weighted L2 + L1 reconstruction + a light KL; returns the latent scaling factor."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    sched = _cosine(opt, cfg.warmup, cfg.vae_steps)
    vae.train()
    for step in range(cfg.vae_steps):
        pixels, _ = sampler.batch(cfg.vae_batch_size)
        posterior = vae.encode(pixels).latent_dist
        error = vae.decode(posterior.sample(gen)).sample - pixels
        mse = error.pow(2).mean()
        weighted = _ink_weight(pixels, cfg.ink_weight) * (error.pow(2) + error.abs())
        loss = weighted.mean() + cfg.kl_weight * posterior.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == cfg.vae_steps - 1:
            log(f"vae step {step}/{cfg.vae_steps} mse {mse.item():.5f}")
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        latents = torch.cat(
            [vae.encode(sampler.batch(256)[0]).latent_dist.sample(gen) for _ in range(4)]
        )
    return float(1.0 / latents.std())


def _token_ids(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def _named_attributes(caption: str, combo: tuple[int, str, str]) -> list[int]:
    """Class index of the digit, stroke and background the caption names; -1 where it is silent."""
    digit, stroke, background = combo
    return [
        digit if f"digit {digit}" in caption else -1,
        list(STROKES).index(stroke) if f"{stroke} stroke" in caption else -1,
        list(BACKGROUNDS).index(background) if f"{background} background" in caption else -1,
    ]


def pretrain_text_encoder(
    text_encoder, tokenizer, sampler: WorldSampler, cfg: BuildConfig, log
) -> float:
    """Teach the encoder to carry what a caption names, then freeze it, as SD freezes its CLIP.

    Linear heads on the mean of its output states predict the named digit, stroke and background.
    Measured on every fifth combination: trained jointly with the UNet, the encoder let the digit
    be learned far more slowly (29% at 3,000 UNet steps); pretrained and frozen, 91% at
    4,000 of a 6,000-step schedule (97% with the shape-first stage of `train_unet`).
    """
    heads = torch.nn.ModuleList(
        torch.nn.Linear(text_encoder.config.hidden_size, n)
        for n in (10, len(STROKES), len(BACKGROUNDS))
    )
    params = list(text_encoder.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3)
    text_encoder.train()
    for _ in range(cfg.text_steps):
        picks = torch.randint(0, len(sampler.combos), (256,), generator=sampler.gen).tolist()
        captions = sampler.caption(picks)
        labels = torch.tensor(
            [_named_attributes(c, sampler.combos[p]) for c, p in zip(captions, picks, strict=True)]
        )
        pooled = text_encoder(_token_ids(tokenizer, captions))[0].mean(dim=1)
        loss = sum(
            torch.nn.functional.cross_entropy(head(pooled), labels[:, k], ignore_index=-1)
            for k, head in enumerate(heads)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    text_encoder.eval().requires_grad_(False)
    log(f"text encoder pretrained ({cfg.text_steps} steps, loss {loss.item():.4f}), frozen")
    return loss.item()  # the last batch's summed cross-entropy


def _cached_source(vae, sampler: WorldSampler, size: int, log) -> tuple:
    means, stds, picks = latent_cache(vae, sampler, size)
    log(f"cached {len(picks)} latents over {len(sampler.combos)} combinations")
    return means, stds, picks, sampler


def train_unet(unet, text_encoder, vae, tokenizer, sampler: WorldSampler, cfg: BuildConfig, log):
    """v-prediction denoising on cached VAE latents, text encoder frozen; EMA weights at the end.

    v-prediction weighs errors at high noise, where the digit's layout is decided: measured on
    white-on-black digits, 600 steps gave 91% digit accuracy against 10-36% for epsilon. The first
    `shape_first_fraction` of the steps see white-on-black digits only (shapes before colours):
    on all combinations that gave 82% digit accuracy at 2,000 steps against 63% without, and 99%
    against 93% at 5,000 (every fifth combination, frozen pretrained text encoder).
    """
    from diffusers import DDPMScheduler

    gen = torch.Generator().manual_seed(cfg.seed + 2)
    noise_schedule = DDPMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type=cfg.prediction_type,
    )
    params = [p for p in unet.parameters() if p.requires_grad]
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=cfg.unet_lr, weight_decay=0.01)
    sched = _cosine(opt, cfg.warmup, cfg.unet_steps)
    unet.train()
    scale, running = vae.config.scaling_factor, 0.0
    white_on_black = WorldSampler(cfg.seed, [(d, "white", "black") for d in range(10)], stream=1)
    shapes_first = _cached_source(vae, white_on_black, 2048, log)
    everything = _cached_source(vae, sampler, cfg.latent_cache, log)
    for step in range(cfg.unet_steps):
        means, stds, picks, source = (
            shapes_first if step < cfg.shape_first_fraction * cfg.unet_steps else everything
        )
        rows = torch.randint(0, len(picks), (cfg.batch_size,), generator=gen)
        captions = source.caption([picks[r] for r in rows.tolist()])
        latents = (means[rows] + stds[rows] * torch.randn(means[rows].shape, generator=gen)) * scale
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(
            0, noise_schedule.config.num_train_timesteps, (len(latents),), generator=gen
        )
        with torch.no_grad():
            context = text_encoder(_token_ids(tokenizer, captions))[0]
        pred = unet(noise_schedule.add_noise(latents, noise, t), t, context).sample
        if cfg.prediction_type == "v_prediction":
            target = noise_schedule.get_velocity(latents, noise, t)
        else:
            target = noise
        loss = torch.nn.functional.mse_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        decay = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - decay)
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 100 == 0 or step == cfg.unet_steps - 1:
            log(
                f"unet step {step}/{cfg.unet_steps} loss {running:.4f} "
                f"lr {sched.get_last_lr()[0]:.2e}"
            )
    with torch.no_grad():
        for p, e in zip(params, ema, strict=True):
            p.copy_(e)
    unet.eval().requires_grad_(False)
