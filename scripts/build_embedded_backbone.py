"""Build the embedded tiny Stable-Diffusion-architecture backbone (assets/tiny-sd) from a seed.

It trains, on the Colored Digits *world pool* only, a CLIP-layout BPE tokenizer, an AutoencoderKL
(32x32 RGB -> 8x8x4), a small CLIPTextModel (pretrained on the captions, then frozen) and a
UNet2DConditionModel; saves a diffusers-format folder; and measures what it draws with an
independent judge.

    python scripts/build_embedded_backbone.py --out assets/tiny-sd --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.data.colored_digits import load_pools
from debias_core.models.clip_bpe import train_clip_bpe, write_clip_tokenizer
from debias_core.models.digit_judge import judge_heldout, save_digit_judge, train_digit_judge
from debias_core.models.embedded_world import all_combos, caption_corpus, measure_quality

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_outputs import elapsed_log, save_build
from embedded_training import (
    BuildConfig,
    WorldSampler,
    pretrain_text_encoder,
    train_unet,
    train_vae,
)

MAX_TOKENS = 32  # text positions: the longest caption is 15 tokens; room for learned tokens
GRID_PAIRS = (  # (stroke, background) rows of the card's sample grid
    ("white", "black"),
    ("red", "black"),
    ("white", "blue"),
    ("yellow", "purple"),
    ("cyan", "red"),
    ("orange", "green"),
)


def make_models(vocab_size: int, bos: int, eos: int, latent_channels: int = 4):
    """The tiny VAE, UNet and text encoder (configs measured in the offline-stack notes)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        latent_channels=latent_channels,
        norm_num_groups=8,
        sample_size=32,
        mid_block_add_attention=False,
    )
    # Cross-attention only at the 4x4 level: attention at 8x8 costs 2.5-5x the time.
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=latent_channels,
        out_channels=latent_channels,
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


def save_pipeline(out: Path, vae, unet, text_encoder, tokenizer, prediction_type: str) -> None:
    from diffusers import StableDiffusionPipeline

    from debias_core.models.dummy import sd_ddim_scheduler

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=sd_ddim_scheduler(prediction_type),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def save_sample_grid(backbone, path: Path, cfg: BuildConfig) -> None:
    """samples.png for the card: digits 0-9 across, one (stroke, background) pair per row."""
    import numpy as np
    from PIL import Image

    from debias_core.models.embedded_world import full_caption, generate

    prompts = [full_caption(d, s, b) for s, b in GRID_PAIRS for d in range(10)]
    images = generate(
        backbone, prompts, seed=cfg.seed + 11, steps=cfg.eval_steps, guidance=cfg.eval_guidance
    )
    rows, size = len(GRID_PAIRS), images.shape[1]
    grid = images.reshape(rows, 10, size, size, 3).transpose(0, 2, 1, 3, 4)
    grid = np.ascontiguousarray(grid.reshape(rows * size, 10 * size, 3))
    Image.fromarray(grid).resize((20 * size, 2 * rows * size), Image.NEAREST).save(path)


def build(out: Path, cfg: BuildConfig) -> dict:
    """Train, save and measure; returns the numbers for the card."""
    from transformers import CLIPTokenizer

    from debias_core.models.backbone import load_backbone

    start = time.time()
    log = elapsed_log(start)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # weight initialisation
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = train_clip_bpe(caption_corpus())
    write_clip_tokenizer(vocab, merges, out / "tokenizer", MAX_TOKENS)
    tokenizer = CLIPTokenizer.from_pretrained(out / "tokenizer", local_files_only=True)
    log(f"tokenizer: {len(tokenizer)} tokens ({len(merges)} merges)")
    sampler = WorldSampler(cfg.seed)
    vae, unet, text_encoder = make_models(
        len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, cfg.latent_channels
    )
    times = {}
    t0 = time.time()
    scale = train_vae(vae, sampler, cfg, log)
    vae.register_to_config(scaling_factor=scale)
    times["vae_s"] = time.time() - t0
    log(f"vae done, scaling factor {scale:.4f}")
    t0 = time.time()
    pretrain_text_encoder(text_encoder, tokenizer, sampler, cfg, log)
    times["text_encoder_s"] = time.time() - t0
    t0 = time.time()
    train_unet(unet, text_encoder, vae, tokenizer, sampler, cfg, log)
    times["unet_s"] = time.time() - t0
    save_pipeline(out, vae, unet, text_encoder, tokenizer, cfg.prediction_type)
    log(f"saved {out}")
    t0 = time.time()
    world, task = load_pools(cfg.seed)
    judge_model = train_digit_judge(world, seed=cfg.seed + 3, steps=cfg.judge_steps)
    save_digit_judge(judge_model, out / "digit_judge.safetensors")
    judge_acc = judge_heldout(judge_model, task, seed=cfg.seed)
    times["judge_s"] = time.time() - t0
    log(f"judge on real task-pool renders (never trained on): {judge_acc}")
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
    save_sample_grid(backbone, out / "samples.png", cfg)
    times["eval_s"] = time.time() - t0
    times["total_s"] = time.time() - start
    params = {
        n: sum(p.numel() for p in m.parameters())
        for n, m in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder))
    }
    return {
        "config": asdict(cfg),
        "quality": report.to_dict(),
        "judge_heldout": judge_acc,
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
    parser.add_argument("--threads", type=int, default=BuildConfig.threads)
    parser.add_argument("--latent-cache", type=int, default=BuildConfig.latent_cache)
    parser.add_argument("--latent-channels", type=int, default=BuildConfig.latent_channels)
    args = parser.parse_args(argv)
    cfg = BuildConfig(
        seed=args.seed,
        unet_steps=args.steps,
        vae_steps=args.vae_steps,
        judge_steps=args.judge_steps,
        threads=args.threads,
        latent_cache=args.latent_cache,
        latent_channels=args.latent_channels,
        eval_guidance=args.guidance,
    )
    stats = build(args.out, cfg)
    q = stats["quality"]
    accuracy = {k: q[f"{k}_accuracy"] for k in ("digit", "stroke", "background")}
    save_build(args.out, stats, write_card, accuracy)


if __name__ == "__main__":
    main()
