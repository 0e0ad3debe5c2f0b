"""Every GPU measurement at Stable Diffusion 2 size, in one command (issue 21 section 3).

SD-2 base and SD-2 inpainting parts are built from their published configs with random weights
(timing needs no trained weights; nothing is downloaded), 512 px, PyTorch SDPA attention. Each
measurement runs after a warm-up and reports its peak GPU memory:

1. txt2img images/s at batch 1 / 8 / 16, fp32 and bf16 (bench/sd2_gpu.py);
2. per-image personalization (DecoupleGen, phase 1 + phase 2) concepts per hour, batched vs one
   concept at a time, bf16 (bench/sd2_personalize_gpu.py);
3. sampling from many concepts: per-sample adapters in one batch vs one adapter at a time
   (bench/per_sample_adapters.py's two paths on the SD-2 parts);
4. masked inpainting images/s: the project's latent blend (DBB Eq. 2, generate/hooks.MaskedBlend
   on the 4-channel base UNet) and stock diffusers on the 9-channel SD-2 inpainting UNet;
5. DDIM inversion + h-space injection images/s (DiffInject: invert originals and contents with
   the mid-block captured, denoise the originals with the asymmetric Slerp injection);
6. the UNet forward's achieved TFLOP/s at batch 16 (FLOPs counted by torch's FlopCounterMode,
   bf16) against this device's measured bf16 matmul peak (goal >= 50%).

Sized to finish within 8 minutes on one H200-class GPU (an estimate: not yet run on one).
`--tiny` shrinks every part (64 px, 2 steps, fp32) so the whole script runs on CPU in the tests.

    python bench/sd2_suite.py --json bench/raw/sd2_suite.json     # one GPU
    python bench/sd2_suite.py --tiny                               # smoke run on CPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measured(device: str, fn: Callable[[], object]) -> tuple[float, float | None, object]:
    """(seconds, peak GiB or None on CPU, result) of one call, synchronised."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return seconds, peak, out


def images_row(name: str, images: int, device: str, fn: Callable[[], object]) -> dict:
    fn()  # warm-up: kernels, allocator
    seconds, peak, _ = measured(device, fn)
    return {"name": name, "images": images, "seconds": seconds, "images_per_s": images / seconds,
            "peak_gib": peak}  # fmt: skip


# -- 3. per-sample adapters --------------------------------------------------------------------
def adapters_rows(backbone, device: str, concepts: int, images: int, batch: int, steps: int):
    adapters = _bench("per_sample_adapters")
    with tempfile.TemporaryDirectory(prefix="sd2-adapters-") as tmp:
        tokens, loras = adapters.concept_files(backbone, Path(tmp), concepts)
        n = concepts * images
        one = images_row(
            f"{concepts} concepts x {images}, one adapter at a time (batch {images})",
            n,
            device,
            lambda: adapters.one_at_a_time(backbone, tokens, loras, images, steps, 7.5),
        )
        mixed = images_row(
            f"{concepts} concepts x {images}, per-sample adapters (batch {batch})",
            n,
            device,
            lambda: adapters.batched(backbone, tokens, loras, images, batch, steps, 7.5),
        )
    mixed["ratio_to_one_at_a_time"] = mixed["images_per_s"] / one["images_per_s"]
    return [one, mixed]


# -- 4. masked inpainting ----------------------------------------------------------------------
def square_masks(batch: int, side: int, device: str) -> torch.Tensor:
    """(B, 1, side, side): 1 inside a centred square half the side, the region to redraw."""
    mask = torch.zeros(batch, 1, side, side, device=device)
    q = side // 4
    mask[:, :, q : side - q, q : side - q] = 1
    return mask


def random_pixels(backbone, batch: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    size = backbone.image_size
    return (torch.rand(batch, 3, size, size, generator=gen) * 2 - 1).to(backbone.device)


@torch.no_grad()
def blend_inpaint(backbone, batch: int, steps: int, guidance: float = 7.5):
    """The project's masked inpainting (DBB Eq. 2), as `generate/dbb_inpaint.inpaint` runs it."""
    from debias_core.generate import loop
    from debias_core.generate.hooks import LoopHooks, MaskedBlend

    clean = loop.image_latents(backbone, random_pixels(backbone, batch))
    inside = square_masks(batch, clean.shape[-1], str(backbone.device)).to(clean.dtype)
    embeds = loop.encode_prompts(backbone, ["a photo of a bird"] * batch, None, guidance)
    generators = loop.seeded_generators(backbone, range(batch))
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    noise = noise.to(clean.device, clean.dtype)
    scheduler = loop.fresh_scheduler(backbone, steps)
    blend = MaskedBlend(inside, clean, noise, scheduler)
    latents = loop.denoise(
        backbone,
        noise * scheduler.init_noise_sigma,
        embeds,
        steps,
        guidance,
        generators=generators,
        hooks=LoopHooks(blend=blend),
    )
    return loop.decode(backbone, latents)


def inpaint_pipeline(backbone, tiny: bool):
    """Stock diffusers inpainting over a 9-channel UNet (SD-2 inpainting's config)."""
    from diffusers import StableDiffusionInpaintPipeline
    from diffusers import UNet2DConditionModel as UNet

    sd2 = _bench("sd2_gpu")
    config = {**(sd2.TINY_UNET if tiny else sd2.SD2_UNET), "in_channels": 9}
    torch.manual_seed(1)
    unet = UNet(**config).to(backbone.device, backbone.dtype).requires_grad_(False).eval()
    parts = {**backbone.components(), "unet": unet}
    pipe = StableDiffusionInpaintPipeline(
        **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inpaint_rows(backbone, device: str, tiny: bool, batch: int, steps: int) -> list[dict]:
    rows = [
        images_row(
            f"masked inpainting, latent blend on the base UNet (batch {batch})",
            batch,
            device,
            lambda: blend_inpaint(backbone, batch, steps),
        )
    ]
    pipe = inpaint_pipeline(backbone, tiny)
    size = backbone.image_size
    image = random_pixels(backbone, batch).add(1).div(2)
    mask = square_masks(batch, size, device)
    call = {"image": image, "mask_image": mask, "height": size, "width": size}
    call.update(num_inference_steps=steps, guidance_scale=7.5, output_type="np")
    rows.append(
        images_row(
            f"masked inpainting, stock pipeline on the 9-channel UNet (batch {batch})",
            batch,
            device,
            lambda: pipe(["a photo of a bird"] * batch, **call),
        )
    )
    return rows


# -- 5. DDIM inversion + h-space injection ------------------------------------------------------
@torch.no_grad()
def inversion_injection(backbone, batch: int, steps: int):
    """DiffInject's draw: invert 2 x batch images capturing h, inject the contents' h."""
    from debias_core.generate import loop
    from debias_core.generate.diffinject import SlerpInjection
    from debias_core.generate.hooks import LoopHooks
    from debias_core.models.backbone import PromptEmbeds

    embeds = loop.encode_prompts(backbone, ["a photo"] * 2 * batch)
    clean = loop.image_latents(backbone, random_pixels(backbone, 2 * batch, seed=2))
    inverted = loop.invert(backbone, clean, embeds, steps, capture_h=True)
    total = backbone.scheduler.config.num_train_timesteps
    edit = SlerpInjection({t: h[batch:] for t, h in inverted.h_by_t.items()}, 0.3, total // 2)
    latents = loop.denoise(
        backbone,
        inverted.latents[:batch],
        PromptEmbeds(embeds.cond[:batch]),
        steps,
        eta=lambda t: 1.0 if t <= total // 2 else 0.0,
        generators=loop.seeded_generators(backbone, range(batch)),
        hooks=LoopHooks(h_space=edit),
    )
    return loop.decode(backbone, latents)


# -- 6. achieved TFLOP/s -------------------------------------------------------------------------
def matmul_peak(device: str, dtype: torch.dtype, n: int, repeats: int = 20) -> float:
    """The best TFLOP/s of an n x n x n matmul in `dtype` on this device."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(3):
        seconds, _, _ = measured(device, lambda: [a @ b for _ in range(repeats)])
        best = min(best, seconds / repeats)
    return 2 * n**3 / best / 1e12


@torch.no_grad()
def unet_tflops(backbone, device: str, batch: int, repeats: int) -> dict:
    """FLOPs of one UNet forward (counted), its time (best of `repeats`), the TFLOP/s."""
    from torch.utils.flop_counter import FlopCounterMode

    unet, side = backbone.unet, backbone.unet.config.sample_size
    latents = torch.randn(batch, unet.config.in_channels, side, side, device=device)
    latents = latents.to(backbone.dtype)
    length = backbone.tokenizer.model_max_length
    text = torch.randn(batch, length, unet.config.cross_attention_dim, device=device)
    text = text.to(backbone.dtype)
    t = torch.tensor(500, device=device)

    def forward():
        return unet(latents, t, encoder_hidden_states=text, return_dict=False)

    with FlopCounterMode(display=False) as counter:
        forward()
    forward()
    best = min(measured(device, forward)[0] for _ in range(repeats))
    flops = counter.get_total_flops()
    return {"batch": batch, "tflop_per_forward": flops / 1e12, "seconds": best,
            "tflops": flops / best / 1e12}  # fmt: skip


def attention_kind(unet) -> str:
    kinds = {type(p).__name__ for p in unet.attn_processors.values()}
    return ", ".join(sorted(kinds))


# -- the whole suite ------------------------------------------------------------------------------
def settings(tiny: bool) -> dict:
    if tiny:
        return {"device": "cpu", "dtype": torch.float32, "steps": 2, "batches": [1, 2],
                "concepts": 2, "phase_steps": 1, "adapter_concepts": 2, "adapter_images": 1,
                "adapter_batch": 2, "batch": 2, "flops_batch": 2, "matmul_n": 256}  # fmt: skip
    return {"device": "cuda", "dtype": torch.bfloat16, "steps": 25, "batches": [1, 8, 16],
            "concepts": 8, "phase_steps": 10, "adapter_concepts": 8, "adapter_images": 2,
            "adapter_batch": 16, "batch": 8, "flops_batch": 16, "matmul_n": 8192}  # fmt: skip


def run(tiny: bool, device: str | None = None) -> dict:
    s = settings(tiny)
    device = device or s["device"]
    sd2, pers = _bench("sd2_gpu"), _bench("sd2_personalize_gpu")
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"SD-2 suite{' (tiny)' if tiny else ''} on {name}", flush=True)
    began, out = time.perf_counter(), {"device": name, "tiny": tiny, "steps": s["steps"]}

    def section(title: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        out[title] = fn()
        print(f"[{title}: {time.perf_counter() - start:.1f} s]", flush=True)

    # 1. txt2img, fp32 and bf16
    section("txt2img", lambda: sd2.run(tiny, device, s["batches"], s["steps"],
                                       ["float32", "bfloat16"]))  # fmt: skip
    # 2. per-image personalization, phase 1 + 2
    mixed = "no" if tiny else "bf16"
    section("personalization", lambda: pers.run(tiny, device, s["concepts"], s["phase_steps"],
                                                mixed))  # fmt: skip
    backbone = pers.build_backbone(tiny, device, s["dtype"])
    out["attention"] = attention_kind(backbone.unet)
    # 3. per-sample adapters
    section("adapters", lambda: adapters_rows(backbone, device, s["adapter_concepts"],
                                              s["adapter_images"], s["adapter_batch"],
                                              s["steps"]))  # fmt: skip
    # 4. masked inpainting
    section("inpainting", lambda: inpaint_rows(backbone, device, tiny, s["batch"], s["steps"]))
    # 5. inversion + injection
    b = s["batch"]
    section("inversion_injection", lambda: images_row(
        f"DDIM inversion of {2 * b} + h-space injection into {b} (batch {b})", b, device,
        lambda: inversion_injection(backbone, b, s["steps"])))  # fmt: skip

    # 6. TFLOP/s against the matmul peak
    def flops() -> dict:
        row = unet_tflops(backbone, device, s["flops_batch"], repeats=5)
        peak = matmul_peak(device, s["dtype"], s["matmul_n"])
        return {**row, "matmul_peak_tflops": peak, "fraction_of_peak": row["tflops"] / peak}

    section("unet_flops", flops)
    out["total_s"] = time.perf_counter() - began
    return out


def report(out: dict) -> str:
    """The results as lines to print."""
    gib = lambda v: "n/a (CPU)" if v is None else f"{v:.2f} GiB"  # noqa: E731
    lines = [f"device {out['device']}, attention {out['attention']}, {out['steps']} steps"]
    for r in out["txt2img"]:
        lines.append(f"txt2img {r['dtype']:8s} batch {r['batch']:2d}: "
                     f"{r['images_per_s']:.3f} images/s, peak {gib(r['peak_gib'])}")  # fmt: skip
    p = out["personalization"]
    lines.append(
        f"personalization ({p['concepts']} concepts, {p['steps_per_phase']} steps per phase): "
        f"batched {p['concepts_per_hour_batched']:.0f}/h, one at a time "
        f"{p['concepts_per_hour_loop']:.0f}/h, {p['ratio']:.2f}x; peak "
        f"{gib(p['peak_gib_batched'])} batched, {gib(p['peak_gib_loop'])} one at a time"
    )
    rows = out["adapters"] + out["inpainting"] + [out["inversion_injection"]]
    for r in rows:
        lines.append(f"{r['name']}: {r['images_per_s']:.3f} images/s, peak {gib(r['peak_gib'])}")
    lines.append(f"per-sample adapters: {out['adapters'][1]['ratio_to_one_at_a_time']:.2f}x")
    f = out["unet_flops"]
    lines.append(
        f"UNet forward at batch {f['batch']}: {f['tflop_per_forward']:.2f} TFLOP in "
        f"{f['seconds'] * 1e3:.1f} ms = {f['tflops']:.1f} TFLOP/s; matmul peak "
        f"{f['matmul_peak_tflops']:.1f} TFLOP/s; {100 * f['fraction_of_peak']:.0f}% of it "
        "(goal >= 50%)"
    )
    lines.append(f"total {out['total_s']:.0f} s (budget 480 s on an H200-class GPU)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny parts on CPU (the tests)")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --tiny")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.tiny and not torch.cuda.is_available() and args.device is None:
        parser.error("no GPU here: run with --tiny (tiny parts on CPU) or pass --device")
    if args.tiny:  # tiny kernels gain nothing from threads, and lose much on a shared machine
        torch.set_num_threads(1)
    out = run(args.tiny, args.device)
    print(report(out), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
