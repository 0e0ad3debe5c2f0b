"""Per-image personalization at Stable Diffusion 2 size: N concepts batched vs one at a time.

The SD-2 UNet / VAE / text encoder are built from their published configs (bench/sd2_gpu.py)
with random weights (timing needs no trained weights; nothing is downloaded), at 512x512, weights
in bf16 with bf16 autocast, PyTorch SDPA attention (diffusers' default; the cross-attention loss
captures only the 16x16 layers). The work is DecoupleGen's per-image method (object + context
tokens; phase 1 tokens, phase 2 tokens + LoRA; masked + cross-attention loss) on N images of a
small Colored Digits project upsampled to 512 px. Reported: concepts per hour batched and in an
in-process loop of one concept at a time (same steps, same seeds), their ratio, and peak GPU
memory of each. `--tiny` shrinks every part (64 px) so the whole path runs on CPU in the tests.

    python bench/sd2_personalize_gpu.py                      # one GPU, about 2-3 minutes
    python bench/sd2_personalize_gpu.py --tiny               # smoke run on CPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script


def _sd2_bench():
    spec = importlib.util.spec_from_file_location("sd2_gpu", ROOT / "bench" / "sd2_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_backbone(tiny: bool, device: str, dtype: torch.dtype):
    """A `Backbone` over SD-2-architecture parts with random weights."""
    from debias_core.models.backbone import Backbone

    pipe = _sd2_bench().build_pipeline(tiny, device, dtype)
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False).eval()
    backbone = Backbone(
        pipe.tokenizer,
        pipe.text_encoder,
        pipe.unet,
        pipe.vae,
        pipe.scheduler,
        spec="sd2-random" + ("-tiny" if tiny else ""),
        content_hash="random-weights",
    )
    backbone.device, backbone.dtype = torch.device(device), dtype
    return backbone


def make_project(folder: Path):
    from debias_core.data.ingest import create_project

    options = {"classes": (0, 1), "palette": ("red", "green"), "train_per_class": 20}
    return create_project(folder, "colored-digits", options=options)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_training(store, backbone, concepts, config, params, device) -> dict:
    """Train `concepts` together (one call); seconds, final losses and peak memory."""
    from debias_core.personalize import PERSONALIZERS
    from debias_core.personalize.engine import train_concepts

    method = PERSONALIZERS.get(config.method)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    data = [method.load_data(store, backbone, c, params) for c in concepts]
    results = train_concepts(backbone, method, concepts, data, config, params)
    _sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {"seconds": seconds, "losses": [r.loss_curve[-1] for r in results], "peak_gib": peak}


def run(tiny: bool, device: str, n_concepts: int, steps: int, mixed: str) -> dict:
    from debias_core.personalize import PERSONALIZERS, PersonalizeConfig
    from debias_core.personalize.base import build_params
    from debias_core.store import SampleFilter

    dtype = torch.bfloat16 if mixed == "bf16" else torch.float32
    backbone = build_backbone(tiny, device, dtype)
    with tempfile.TemporaryDirectory(prefix="sd2-pers-") as tmp:
        store = make_project(Path(tmp) / "proj")
        ids = store.sample_ids(SampleFilter(source="real", split="train"))[:n_concepts]
        config = PersonalizeConfig(
            method="per-image",
            samples=tuple(ids),
            steps=steps,
            mixed_precision=mixed,
            chunk_steps=steps,
        )
        method = PERSONALIZERS.get("per-image")
        params = build_params(method.params_class, {"phase2_steps": steps})
        concepts = method.plan(store, config, params)
        warm = PersonalizeConfig(**{**config.__dict__, "steps": 1})
        timed_training(store, backbone, concepts[:2], warm, params, device)  # kernels, allocator
        batched = timed_training(store, backbone, concepts, config, params, device)
        singles = [timed_training(store, backbone, [c], config, params, device) for c in concepts]
    loop_s = sum(s["seconds"] for s in singles)
    loop_peak = [s["peak_gib"] for s in singles if s["peak_gib"] is not None]
    diffs = [abs(a - s["losses"][0]) for a, s in zip(batched["losses"], singles, strict=True)]
    return {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "CPU",
        "size": backbone.image_size,
        "dtype": str(dtype).replace("torch.", ""),
        "mixed_precision": mixed,
        "concepts": len(concepts),
        "steps_per_phase": steps,
        "batched_s": batched["seconds"],
        "loop_s": loop_s,
        "concepts_per_hour_batched": len(concepts) / batched["seconds"] * 3600,
        "concepts_per_hour_loop": len(concepts) / loop_s * 3600,
        "ratio": loop_s / batched["seconds"],
        "peak_gib_batched": batched["peak_gib"],
        "peak_gib_loop": max(loop_peak) if loop_peak else None,
        "max_final_loss_diff": max(diffs),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny parts, 64x64, CPU, 2 steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--concepts", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="steps per phase")
    parser.add_argument("--mixed-precision", default="bf16", choices=["no", "bf16"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.tiny:
        args.device, args.steps, args.concepts = "cpu", min(args.steps, 2), min(args.concepts, 3)
        args.mixed_precision = "no"
    result = run(args.tiny, args.device, args.concepts, args.steps, args.mixed_precision)
    peak = result["peak_gib_batched"]
    memory = "n/a (CPU)"
    if peak is not None:
        memory = f"{peak:.1f} GiB batched, {result['peak_gib_loop']:.1f} GiB loop"
    print(
        f"SD-2 architecture{' (tiny)' if args.tiny else ''} at {result['size']} px, "
        f"{result['device']}, {result['dtype']}: {result['concepts']} per-image concepts x "
        f"{result['steps_per_phase']} steps per phase\n"
        f"batched {result['batched_s']:.1f} s ({result['concepts_per_hour_batched']:.0f}/h), "
        f"loop {result['loop_s']:.1f} s ({result['concepts_per_hour_loop']:.0f}/h): "
        f"{result['ratio']:.1f}x; peak {memory}; "
        f"final losses differ by <= {result['max_final_loss_diff']:.1e}",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
