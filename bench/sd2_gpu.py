"""Stable Diffusion 2 generation speed and peak memory: fp32 vs bf16, batch 1 / 8 / 16, 512x512.

The SD-2 architecture is built from its published configs with random weights (timing does not
need trained weights, and nothing is downloaded). `--tiny` shrinks every part so the whole path
runs on CPU in seconds (the test does that).

    python bench/sd2_gpu.py                 # on a GPU machine
    python bench/sd2_gpu.py --tiny          # smoke run on CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.models.clip_bpe import clip_tokenizer_in_memory
from debias_core.models.dummy import sd_ddim_scheduler

# stabilityai/stable-diffusion-2-base: unet/config.json, vae/config.json, text_encoder/config.json
SD2_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
}
SD2_VAE = {
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
}
SD2_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
TINY_UNET = {
    **SD2_UNET,
    "sample_size": 8,
    "block_out_channels": (32, 32, 64, 64),
    "layers_per_block": 1,
    "cross_attention_dim": 32,
    "attention_head_dim": (2, 2, 4, 4),
    "norm_num_groups": 8,
}
TINY_VAE = {**SD2_VAE, "block_out_channels": (8, 8, 16, 16), "layers_per_block": 1}
TINY_VAE["norm_num_groups"] = 4
TINY_TEXT = {**SD2_TEXT, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
TINY_TEXT.update(num_attention_heads=4, max_position_embeddings=16, projection_dim=32)
PROMPT = "a photo of a bird on a water background"


def build_pipeline(tiny: bool, device: str, dtype: torch.dtype, seed: int = 0):
    """A StableDiffusionPipeline with SD-2 (or tiny) parts and random weights."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline
    from diffusers import UNet2DConditionModel as UNet
    from transformers import CLIPTextConfig, CLIPTextModel

    unet_cfg, vae_cfg, text_cfg = (
        (TINY_UNET, TINY_VAE, TINY_TEXT) if tiny else (SD2_UNET, SD2_VAE, SD2_TEXT)
    )
    # Timing only needs a tokenizer whose ids fit the embedding table, not CLIP's real one.
    tokenizer = clip_tokenizer_in_memory([PROMPT], text_cfg["max_position_embeddings"])
    text_cfg = {**text_cfg, "bos_token_id": tokenizer.bos_token_id}
    text_cfg.update(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**vae_cfg),
        text_encoder=CLIPTextModel(CLIPTextConfig(**text_cfg)),
        tokenizer=tokenizer,
        unet=UNet(**unet_cfg),
        scheduler=sd_ddim_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_slicing()  # decode one image at a time: the VAE's peak dominates at batch 16
    return pipe.to(device, dtype)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_batch(pipe, batch: int, steps: int, size: int, device: str) -> dict:
    """One timed run after a short warm-up; images/s and peak GPU memory (GiB)."""
    call = {"height": size, "width": size, "guidance_scale": 7.5, "output_type": "np"}
    pipe([PROMPT] * batch, num_inference_steps=2, **call)  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    generator = torch.Generator(device).manual_seed(0)
    pipe([PROMPT] * batch, num_inference_steps=steps, generator=generator, **call)
    _sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {"batch": batch, "seconds": seconds, "images_per_s": batch / seconds, "peak_gib": peak}


def run(tiny: bool, device: str, batches: list[int], steps: int, dtypes: list[str]) -> list[dict]:
    size = 64 if tiny else 512
    results = []
    for name in dtypes:
        pipe = build_pipeline(tiny, device, getattr(torch, name))
        for batch in batches:
            row = {
                "dtype": name,
                "size": size,
                "steps": steps,
                **time_batch(pipe, batch, steps, size, device),
            }
            peak = "n/a (CPU)" if row["peak_gib"] is None else f"{row['peak_gib']:.2f} GiB"
            print(
                f"{name:9s} batch {batch:2d}: {row['images_per_s']:.3f} images/s, peak {peak}",
                flush=True,
            )
            results.append(row)
        del pipe
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny parts, 64x64, CPU, 2 steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", default="1,8,16")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.device, args.steps = "cpu", min(args.steps, 2)
        args.batches = "1,2" if args.batches == "1,8,16" else args.batches
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"SD-2 architecture{' (tiny)' if args.tiny else ''}, random weights, {device_name}")
    batches = [int(b) for b in args.batches.split(",")]
    results = run(args.tiny, args.device, batches, args.steps, args.dtypes.split(","))
    if args.json:
        args.json.write_text(json.dumps({"device": device_name, "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
