"""Build the embedded tiny Stable-Diffusion-architecture backbone (assets/tiny-sd) from a seed.

It trains, on the Colored Digits *world pool* only, a CLIP-layout BPE tokenizer, an AutoencoderKL
(32x32 RGB -> 8x8x4), then a UNet2DConditionModel jointly with a small CLIPTextModel; saves a
diffusers-format folder; and measures what it draws with an independent judge.

    python scripts/build_embedded_backbone.py --out assets/tiny-sd --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.data.colored_digits import load_pools
from debias_core.models.clip_bpe import train_clip_bpe, write_clip_tokenizer
from debias_core.models.digit_judge import (
    alpha_bank,
    judge_accuracy,
    paint,
    random_shift,
    save_digit_judge,
    train_digit_judge,
)
from debias_core.models.embedded_world import (
    BACKGROUNDS,
    PARTIAL_TEMPLATES,
    STROKES,
    all_combos,
    caption_corpus,
    measure_quality,
    training_caption,
)

MAX_TOKENS = 32  # text positions: the longest caption is 15 tokens; room for learned tokens


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines the built weights (plus how quality is measured)."""

    seed: int = 0
    vae_steps: int = 600
    unet_steps: int = 3000
    batch_size: int = 64
    vae_lr: float = 1e-3
    unet_lr: float = 1e-3
    warmup: int = 100
    ema: float = 0.995
    kl_weight: float = 1e-6
    train_text_encoder: bool = True
    judge_steps: int = 800
    eval_steps: int = 20
    eval_guidance: float = 4.0


class WorldSampler:
    """Random renders of world-pool digits over all 730 combos, with captions, from one generator."""

    def __init__(self, seed: int) -> None:
        world, _ = load_pools(seed)
        self.bank = alpha_bank(world)
        self.by_digit = [
            torch.nonzero(torch.from_numpy(world.digits == d))[:, 0] for d in range(10)
        ]
        self.combos = all_combos()
        self.gen = torch.Generator().manual_seed(seed)

    def batch(self, n: int) -> tuple[torch.Tensor, list[str]]:
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
        u = torch.rand(n, generator=g).tolist()
        k = torch.randint(0, len(PARTIAL_TEMPLATES), (n,), generator=g).tolist()
        captions = [training_caption(*c, u[i], k[i]) for i, c in enumerate(combos)]
        return pixels, captions


def make_models(vocab_size: int, bos: int, eos: int):
    """The tiny VAE, UNet and text encoder (configs measured in the offline-stack notes)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
        mid_block_add_attention=False,
    )
    # Cross-attention only at the 4x4 level: attention at 8x8 costs 2.5-5x the time.
    unet = UNet2DConditionModel(
        sample_size=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    text_config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    return vae, unet, CLIPTextModel(text_config)


def _cosine(opt, warmup: int, steps: int):
    from diffusers.optimization import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(opt, warmup, steps)


def train_vae(vae, sampler: WorldSampler, cfg: BuildConfig, log) -> float:
    """Reconstruction (MSE) + a light KL; returns the latent scaling factor (1 / latent std)."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    sched = _cosine(opt, cfg.warmup, cfg.vae_steps)
    vae.train()
    for step in range(cfg.vae_steps):
        pixels, _ = sampler.batch(cfg.batch_size)
        posterior = vae.encode(pixels).latent_dist
        recon = vae.decode(posterior.sample(gen)).sample
        mse = torch.nn.functional.mse_loss(recon, pixels)
        loss = mse + cfg.kl_weight * posterior.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == cfg.vae_steps - 1:
            log(f"vae step {step}/{cfg.vae_steps} mse {mse.item():.5f}")
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        latents = torch.cat(
            [vae.encode(sampler.batch(256)[0]).latent_dist.sample(gen) for _ in range(4)]
        )
    return float(1.0 / latents.std())


def train_unet(unet, text_encoder, vae, tokenizer, sampler: WorldSampler, cfg: BuildConfig, log):
    """Epsilon-prediction denoising on VAE latents; EMA weights are copied in at the end."""
    from diffusers import DDPMScheduler

    gen = torch.Generator().manual_seed(cfg.seed + 2)
    noise_schedule = DDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    text_encoder.requires_grad_(cfg.train_text_encoder)
    params = [p for m in (unet, text_encoder) for p in m.parameters() if p.requires_grad]
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=cfg.unet_lr, weight_decay=0.01)
    sched = _cosine(opt, cfg.warmup, cfg.unet_steps)
    unet.train()
    text_encoder.train(cfg.train_text_encoder)
    scale, running = vae.config.scaling_factor, 0.0
    for step in range(cfg.unet_steps):
        pixels, captions = sampler.batch(cfg.batch_size)
        with torch.no_grad():
            latents = vae.encode(pixels).latent_dist.sample(gen) * scale
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(
            0, noise_schedule.config.num_train_timesteps, (len(latents),), generator=gen
        )
        ids = tokenizer(
            captions,
            padding="max_length",
            max_length=MAX_TOKENS,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        pred = unet(noise_schedule.add_noise(latents, noise, t), t, text_encoder(ids)[0]).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
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
                f"unet step {step}/{cfg.unet_steps} loss {running:.4f} lr {sched.get_last_lr()[0]:.2e}"
            )
    with torch.no_grad():
        for p, e in zip(params, ema):
            p.copy_(e)
    for m in (unet, text_encoder):
        m.eval().requires_grad_(False)


def save_pipeline(out: Path, vae, unet, text_encoder, tokenizer) -> None:
    from diffusers import StableDiffusionPipeline

    from debias_core.models.dummy import tiny_scheduler

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=tiny_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def build(out: Path, cfg: BuildConfig) -> dict:
    """Train, save and measure; returns the numbers for the card."""
    from transformers import CLIPTokenizer

    from debias_core.models.backbone import load_backbone

    start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - start:6.1f}s] {msg}", flush=True)

    torch.manual_seed(cfg.seed)  # weight initialisation
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = train_clip_bpe(caption_corpus())
    write_clip_tokenizer(vocab, merges, out / "tokenizer", MAX_TOKENS)
    tokenizer = CLIPTokenizer.from_pretrained(out / "tokenizer", local_files_only=True)
    log(f"tokenizer: {len(tokenizer)} tokens ({len(merges)} merges)")
    sampler = WorldSampler(cfg.seed)
    vae, unet, text_encoder = make_models(
        len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id
    )
    times = {}
    t0 = time.time()
    scale = train_vae(vae, sampler, cfg, log)
    vae.register_to_config(scaling_factor=scale)
    times["vae_s"] = time.time() - t0
    log(f"vae done, scaling factor {scale:.4f}")
    t0 = time.time()
    train_unet(unet, text_encoder, vae, tokenizer, sampler, cfg, log)
    times["unet_s"] = time.time() - t0
    save_pipeline(out, vae, unet, text_encoder, tokenizer)
    log(f"saved {out}")
    t0 = time.time()
    world, task = load_pools(cfg.seed)
    judge_model = train_digit_judge(world, seed=cfg.seed + 3, steps=cfg.judge_steps)
    save_digit_judge(judge_model, out / "digit_judge.safetensors")
    judge_acc = judge_accuracy(judge_model, task, seed=cfg.seed)
    times["judge_s"] = time.time() - t0
    log(f"digit judge held-out accuracy {judge_acc:.4f} (task-pool digits, never trained on)")
    t0 = time.time()
    backbone = load_backbone(str(out))
    report = measure_quality(
        backbone,
        judge_model,
        all_combos(),
        seed=cfg.seed,
        steps=cfg.eval_steps,
        guidance=cfg.eval_guidance,
        progress=log,
    )
    times["eval_s"] = time.time() - t0
    times["total_s"] = time.time() - start
    params = {
        n: sum(p.numel() for p in m.parameters())
        for n, m in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder))
    }
    return {
        "config": asdict(cfg),
        "quality": report.to_dict(),
        "judge_heldout_accuracy": judge_acc,
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "params": params,
        "vocab_size": len(tokenizer),
        "content_hash": backbone.content_hash,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    from embedded_card import write_card  # next to this file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/tiny-sd"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=BuildConfig.unet_steps, help="UNet steps")
    parser.add_argument("--vae-steps", type=int, default=BuildConfig.vae_steps)
    parser.add_argument("--judge-steps", type=int, default=BuildConfig.judge_steps)
    parser.add_argument("--guidance", type=float, default=BuildConfig.eval_guidance)
    parser.add_argument("--frozen-text-encoder", action="store_true")
    args = parser.parse_args(argv)
    cfg = BuildConfig(
        seed=args.seed,
        unet_steps=args.steps,
        vae_steps=args.vae_steps,
        judge_steps=args.judge_steps,
        eval_guidance=args.guidance,
        train_text_encoder=not args.frozen_text_encoder,
    )
    stats = build(args.out, cfg)
    (args.out / "quality.json").write_text(json.dumps(stats, indent=2) + "\n")
    write_card(args.out, stats)
    q = stats["quality"]
    print(
        f"done in {stats['times_s']['total_s']:.0f}s: digit {q['digit_accuracy']:.3f}, "
        f"stroke {q['stroke_accuracy']:.3f}, background {q['background_accuracy']:.3f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
