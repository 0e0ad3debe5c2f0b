"""Write the model card (README.md) of the embedded backbone from the build's measured numbers."""

from __future__ import annotations

from pathlib import Path


def _file_sizes(out: Path) -> list[tuple[str, int]]:
    return sorted(
        (p.relative_to(out).as_posix(), p.stat().st_size)
        for p in out.rglob("*")
        if p.is_file() and p.name != "README.md"
    )


def config_section(cfg: dict) -> list[str]:
    """A card's training-config table, a row a field of the build's config."""
    rows = [f"| `{k}` | {v} |" for k, v in cfg.items()]
    return ["## Training config", "| field | value |", "|---|---|", *rows, ""]


def files_and_rebuild(out: Path, content_hash: str, command: str, note: str) -> list[str]:
    """A card's last two sections: the model folder's files (sizes, content hash) and the
    command that rebuilds them."""
    sizes = _file_sizes(out)
    total_mb = sum(s for _, s in sizes) / 1e6
    return [
        "## Files",
        f"{total_mb:.1f} MB in all (content hash `{content_hash[:16]}...`).",
        "",
        "| file | size |",
        "|---|---|",
        *(f"| `{name}` | {size / 1e3:,.1f} kB |" for name, size in sizes),
        "",
        "## Rebuild",
        "```bash",
        command,
        "```",
        note,
        "",
    ]


def write_card(out: Path, stats: dict) -> None:
    """README.md: what the model is, sizes, training config, wall time, measured quality."""
    out = Path(out)
    q, cfg, times, params = stats["quality"], stats["config"], stats["times_s"], stats["params"]
    judge = stats["judge_heldout"]
    lines = [
        "# tiny-sd: the embedded generative backbone",
        "",
        "A tiny Stable-Diffusion-architecture model (AutoencoderKL + UNet2DConditionModel + "
        "CLIPTextModel + a CLIP-layout BPE tokenizer) trained from scratch by "
        "`scripts/build_embedded_backbone.py` on the Colored Digits *world pool* only "
        "(sklearn digits split by seed; the task pool is never seen). It stands in for "
        "web-scale pretraining: it knows every digit x stroke colour x background colour "
        "(stroke in the palette + white, background in the palette + black, stroke != "
        "background: 730 combinations), so the tests and the CPU demo run the same code as "
        "Stable Diffusion 2.",
        "",
        "Prompts: `a photo of digit 3, red stroke, on a blue background`; partial prompts "
        "(`a photo of digit 3`, `a photo of digit 3 on a blue background`, `red stroke`) "
        "work too, and 10% of training captions were empty (classifier-free guidance).",
        "",
        "```python",
        "from debias_core.models.backbone import load_backbone",
        'backbone = load_backbone("embedded")  # offline, CPU, float32',
        "```",
        "",
        "![one generation per digit (columns) for a few stroke / background pairs (rows)]"
        "(samples.png)",
        "",
        "## Measured quality",
        f"{q['n']} generations, one per combination, {q['settings']['steps']} DDIM steps, "
        f"guidance {q['settings']['guidance']}, seed {q['settings']['seed']}:",
        "",
        "| attribute | matches the prompt |",
        "|---|---|",
        f"| digit (independent CNN judge) | {q['digit_accuracy']:.1%} |",
        f"| stroke colour (pixel statistics) | {q['stroke_accuracy']:.1%} |",
        f"| background colour (pixel statistics) | {q['background_accuracy']:.1%} |",
        f"| all three at once | {q['all_three_accuracy']:.1%} |",
        "",
        "The digit judge (`digit_judge.safetensors`, `debias_core.models.digit_judge`) is a "
        "small CNN over colour-free ink maps, trained on real renders of world-pool digits "
        "with random colours. Colours: background = median of the 2-pixel border, stroke = "
        "mean of the stroke core (pixels at >= 0.8 of the largest distance from the "
        "background), each snapped to the nearest of the 10 named colours. The judge itself, "
        f"on {judge['n']} real renders of task-pool digits (never trained on) in random named "
        f"colours: digit {judge['digit']:.1%}, stroke {judge['stroke']:.1%}, background "
        f"{judge['background']:.1%}. Misses are listed in `quality.json`.",
        "",
        "## Architecture",
        f"- VAE: 3 blocks (32, 64, 64), x4 downscale, 32x32x3 -> 8x8x{cfg['latent_channels']}, "
        f"{params['vae']:,} parameters; latent scaling factor measured after training.",
        f"- UNet: blocks (32, 64), DownBlock2D + CrossAttnDownBlock2D, cross-attention dim 32, "
        f"{params['unet']:,} parameters.",
        f"- Text encoder: CLIPTextModel, hidden 32, 2 layers, 32 positions, "
        f"{params['text_encoder']:,} parameters; tokenizer {stats['vocab_size']} tokens "
        "(all 256 bytes + `</w>` forms, merges learned on the captions, so any text tokenizes).",
        f"- Scheduler: DDIM, Stable Diffusion's scaled-linear betas, 'trailing' spacing, "
        f"{cfg['prediction_type']} (as SD 2.1).",
        "",
        "## Training",
        f"1. VAE: {cfg['vae_steps']} steps, L2 + L1 reconstruction weighted towards stroke "
        "pixels, light KL.",
        f"2. Text encoder: {cfg['text_steps']} steps with linear heads predicting the digit, "
        "stroke and background a caption names, then frozen (Stable Diffusion freezes its CLIP "
        "text encoder the same way). Trained jointly with the UNet instead, the digit was "
        "learned far more slowly (29% digit accuracy after 3,000 UNet steps).",
        f"3. UNet: {cfg['unet_steps']} steps of {cfg['prediction_type']} denoising on cached "
        f"latents; the first {cfg['shape_first_fraction']:.0%} on white-on-black digits only "
        "(shapes before colours), then all 730 combinations; EMA weights.",
        "",
        *config_section(cfg),
        "## Wall time",
        f"Total {times['total_s']:.0f} s on a 2-core CPU "
        f"(torch {stats['torch']}, {stats['threads']} thread(s)): VAE {times['vae_s']:.0f} s, "
        f"text encoder {times['text_encoder_s']:.0f} s, UNet {times['unet_s']:.0f} s, "
        f"judge {times['judge_s']:.0f} s, "
        f"quality measurement and sample grid {times['eval_s']:.0f} s. Other jobs sharing the "
        "cores make it slower.",
        "",
        *files_and_rebuild(
            out,
            stats["content_hash"],
            f"python scripts/build_embedded_backbone.py --out assets/tiny-sd --seed {cfg['seed']} "
            f"--steps {cfg['unet_steps']} --threads {cfg['threads']}",
            "Same seed, same torch version and thread count => the same weights (every random "
            "draw comes from seeded generators; the build is single-process on CPU).",
        ),
    ]
    (out / "README.md").write_text("\n".join(lines))
