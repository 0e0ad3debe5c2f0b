"""Generation throughput on the embedded backbone: batch 1 vs batch 32 on CPU (20 DDIM steps).

python bench/generation_batch.py [--backbone embedded] [--images 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.models.backbone import load_backbone
from debias_core.models.embedded_world import full_caption


def images_per_second(pipe, batch: int, n_images: int, steps: int, guidance: float) -> float:
    """Generate `n_images` in batches of `batch` (after one warm-up batch); images per second."""
    prompts = [full_caption(k % 10, "white", "blue") for k in range(batch)]
    call = {"num_inference_steps": steps, "guidance_scale": guidance, "output_type": "np"}
    pipe(prompts, generator=torch.Generator().manual_seed(0), **call)  # warm-up
    start = time.perf_counter()
    for k in range(max(1, n_images // batch)):
        pipe(prompts, generator=torch.Generator().manual_seed(k), **call)
    return max(1, n_images // batch) * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="embedded")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--images", type=int, default=32, help="images per measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = load_backbone(args.backbone).txt2img_pipeline()
    single = images_per_second(pipe, 1, args.images, args.steps, args.guidance)
    batched = images_per_second(pipe, 32, args.images, args.steps, args.guidance)
    print(
        f"{args.backbone}, CPU, {torch.get_num_threads()} threads, {args.steps} DDIM steps, "
        f"guidance {args.guidance}:\n"
        f"  batch  1: {single:7.1f} images/s\n"
        f"  batch 32: {batched:7.1f} images/s\n"
        f"  ratio   : {batched / single:7.1f}x",
        flush=True,
    )
    return {"batch1": single, "batch32": batched, "ratio": batched / single}


if __name__ == "__main__":
    main()
