"""Sampling from many concepts: per-sample adapters in one batch vs one adapter at a time.

N concepts (default 64), each a learned token and a rank-4 UNet LoRA saved as the project's files
(random weights: speed does not depend on what they learned), K images each (default 4), on the
embedded backbone on CPU, 20 DDIM steps, guidance 4. Both paths read the files from disk and
attach them per batch, as a generation job does:

- one at a time: per concept, `Backbone.personalized` (peft, one adapter active) and one batch
  of its K images: what clustered-dreambooth / decouplegen did before;
- batched: batches of `--batch` images (several concepts), `Backbone.per_sample` stacks their
  LoRAs into batched layers and row i uses its own one, in both halves of guidance.

Printed: images/s of each (best of `--repeats` alternating runs), their ratio (measured in this
one run), and the largest difference of
the final latents between the two paths (they compute the same images; batches of other sizes
round differently). `--tiny`: 3 concepts x 2 images, 2 steps, for the tests.

    python bench/per_sample_adapters.py [--concepts 64] [--images 4] [--batch 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script


def concept_files(backbone, folder: Path, n: int, rank: int = 4) -> tuple[list, list]:
    """n (token file, LoRA file) pairs with random weights, LoRA B non-zero."""
    from debias_core.models.lora_batched import attach_batched_lora
    from debias_core.models.tokens import save_learned_embeds

    gen = torch.Generator().manual_seed(0)
    table = backbone.text_encoder.get_input_embeddings().weight
    tokens = [
        save_learned_embeds(folder / f"t{k}.safetensors", f"<b-{k}>", table[k + 300].detach())
        for k in range(n)
    ]
    with backbone.scoped():
        gens = [torch.Generator().manual_seed(k) for k in range(n)]
        lora = attach_batched_lora(backbone.unet, gens, rank)
        with torch.no_grad():
            for p in lora.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        loras = [lora.save(k, folder / f"l{k}") for k in range(n)]
    return tokens, loras


def prompt(k: int) -> str:
    colours = ("red", "green", "blue", "yellow")
    return f"a photo of <b-{k}> {k % 10}, white stroke, on a {colours[k % 4]} background"


def one_at_a_time(backbone, tokens, loras, images: int, steps: int, guidance: float) -> list:
    from debias_core.generate import loop

    out = []
    for k, (token, lora) in enumerate(zip(tokens, loras, strict=True)):
        seeds = [1000 * k + j for j in range(images)]
        with backbone.personalized(tokens=[token], adapters=[lora]):
            out += list(loop.sample(backbone, [prompt(k)] * images, seeds, steps, guidance).latents)
    return out


def batched(backbone, tokens, loras, images: int, batch: int, steps: int, guidance: float):
    from debias_core.generate import loop

    rows = [(k, j) for k in range(len(tokens)) for j in range(images)]
    out = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        used = sorted({k for k, _ in chunk})
        position = {k: i for i, k in enumerate(used)}
        attach = backbone.per_sample(
            tokens=[tokens[k] for k in used],
            adapters=[loras[k] for k in used],
            rows=[position[k] for k, _ in chunk],
        )
        with attach:
            prompts, seeds = [prompt(k) for k, _ in chunk], [1000 * k + j for k, j in chunk]
            out += list(loop.sample(backbone, prompts, seeds, steps, guidance).latents)
    return out


def timed(fn, *args) -> tuple[float, list]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def run(args) -> dict:
    from debias_core.models.backbone import load_backbone

    backbone = load_backbone(args.backbone)
    n, k = args.concepts, args.images
    with tempfile.TemporaryDirectory(prefix="adapters-bench-") as tmp:
        tokens, loras = concept_files(backbone, Path(tmp), n)
        warm, g = (backbone, tokens[:2], loras[:2], 1), args.guidance
        one_at_a_time(*warm, 1, g)  # imports, first peft load, allocator
        batched(*warm, 2, 1, g)
        loop_times, batch_times = [], []
        for _ in range(args.repeats):  # alternating, so load changes hit both paths alike
            seconds, singles = timed(one_at_a_time, backbone, tokens, loras, k, args.steps, g)
            loop_times.append(seconds)
            seconds, mixed = timed(batched, backbone, tokens, loras, k, args.batch, args.steps, g)
            batch_times.append(seconds)
    loop_s, batch_s = min(loop_times), min(batch_times)
    diff = max(float((a - b).abs().max()) for a, b in zip(singles, mixed, strict=True))
    return {
        "backbone": args.backbone,
        "concepts": n,
        "images_per_concept": k,
        "batch": args.batch,
        "steps": args.steps,
        "guidance": args.guidance,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "loop_s_each": loop_times,
        "batched_s_each": batch_times,
        "loop_s": loop_s,
        "batched_s": batch_s,
        "images_per_s_loop": n * k / loop_s,
        "images_per_s_batched": n * k / batch_s,
        "ratio": loop_s / batch_s,
        "max_latent_diff": diff,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="embedded")
    parser.add_argument("--concepts", type=int, default=64)
    parser.add_argument("--images", type=int, default=4, help="images per concept")
    parser.add_argument("--batch", type=int, default=64, help="images per batched forward")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs; best kept")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--tiny", action="store_true", help="3 concepts x 2 images, 2 steps")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.concepts, args.images, args.steps, args.batch, args.repeats = 3, 2, 2, 4, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args)
    print(
        f"{result['backbone']}, CPU, {result['threads']} threads, {result['concepts']} concepts "
        f"x {result['images_per_concept']} images, {result['steps']} DDIM steps, guidance "
        f"{result['guidance']}:\n"
        f"  one adapter at a time (batch {result['images_per_concept']}): "
        f"{result['images_per_s_loop']:6.2f} images/s ({result['loop_s']:.1f} s)\n"
        f"  per-sample adapters (batch {result['batch']}):  "
        f"{result['images_per_s_batched']:6.2f} images/s ({result['batched_s']:.1f} s)\n"
        f"  ratio: {result['ratio']:.2f}x; final latents differ by <= "
        f"{result['max_latent_diff']:.1e}",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
