"""The denoising loop against diffusers' StableDiffusionPipeline: same images, time ratio.

python bench/loop_overhead.py [--images 8] [--steps 20] [--repeats 5] [--threads 1]

Both draw the same batch (embedded backbone, guidance 4); the pixels must be identical and the
ratio loop / pipeline near 1 (the loop adds hook checks, not UNet work). Alternating runs, best
of `repeats` each, so a busy machine affects both alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.generate import loop
from debias_core.models.backbone import load_backbone
from debias_core.models.embedded_world import full_caption


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    backbone = load_backbone("embedded")
    prompts = [full_caption(k % 10, "white", "blue") for k in range(args.images)]
    seeds = list(range(args.images))
    pipe = backbone.txt2img_pipeline()

    def via_pipeline() -> np.ndarray:
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        out = pipe(prompts, num_inference_steps=args.steps, guidance_scale=4.0,
                   generator=gens, output_type="np").images  # fmt: skip
        return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)

    def via_loop() -> np.ndarray:
        return loop.sample(backbone, prompts, seeds, args.steps, 4.0).images

    assert np.array_equal(via_pipeline(), via_loop()), "the loop no longer equals the pipeline"
    times = {"pipeline": [], "loop": []}
    for _ in range(args.repeats):
        for name, fn in (("pipeline", via_pipeline), ("loop", via_loop)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    ratio = best["loop"] / best["pipeline"]
    print(
        f"identical pixels: yes; best of {args.repeats}: pipeline {best['pipeline']:.3f} s, "
        f"loop {best['loop']:.3f} s, ratio loop/pipeline {ratio:.3f}"
    )


if __name__ == "__main__":
    main()
