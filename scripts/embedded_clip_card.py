"""Write the model card (README.md) of the embedded tiny CLIP from the build's measured numbers."""

from __future__ import annotations

from pathlib import Path

from embedded_card import (  # next to this file: the backbone's card shares these parts
    config_section,
    files_and_rebuild,
)


def write_card(out: Path, stats: dict) -> None:
    """README.md: what the model is, how it was trained, what it scores, how to rebuild it."""
    out = Path(out)
    z, cfg, times, params = (
        stats["zero_shot_heldout"],
        stats["config"],
        stats["times_s"],
        stats["params"],
    )
    load = stats.get("load_average")
    load_text = (
        f" The machine was shared: 1-minute load average {load['start'][0]} at the start and "
        f"{load['end'][0]} at the end (2 cores)."
        if load
        else ""
    )
    curve = ", ".join(f"{step}: {acc:.1%}" for step, acc in stats.get("digit_curve", []))
    lines = [
        "# tiny-clip: the embedded image-text model",
        "",
        "A transformers `CLIPModel` (a small ViT and a small text transformer) trained from "
        "scratch by `scripts/build_embedded_clip.py` with CLIP's contrastive objective on renders "
        "of Colored Digits *world-pool* digits (sklearn digits split by seed; the task pool is "
        "never seen), captioned with the embedded diffusion model's language and tokenizer "
        "(the same CLIP-layout BPE, learned on the same captions). It stands in for OpenAI's CLIP "
        "on the demo: embeddings for the Embeddings tab and distances, CLIP-Label / CLIP-Centroid "
        "scores, clusters.",
        "",
        "```python",
        "from debias_core.models.clip import load_clip",
        'clip = load_clip("embedded")  # offline, CPU, float32; "vit-b-32" for OpenAI\'s',
        'clip.zero_shot(images, ["a photo of digit 3", "a photo of digit 8"])',
        "```",
        "",
        "## Zero-shot accuracy on held-out real renders",
        f"{z['n']} renders of task-pool digits (never trained on), each in a random "
        "(stroke, background) pair of the 730 combinations, shifted by up to 2 px; one prompt "
        "per class, the prediction is the most similar prompt:",
        "",
        "| attribute | prompts | accuracy | goal |",
        "|---|---|---|---|",
        f"| digit | `a photo of digit {{d}}` (10) | {z['digit']:.1%} | >= 95% |",
        f"| stroke colour | `{{s}} stroke` (9) | {z['stroke']:.1%} | >= 95% |",
        f"| background colour | `on a {{b}} background` (9) | {z['background']:.1%} | >= 95% |",
        f"| all three | the 730 full captions | {z['all_three_730_way']:.1%} | |",
        "",
        f"Digit accuracy during training (steps: accuracy): {curve}." if curve else "",
        "",
        "## Training",
        "- Captions: the full caption (`a photo of digit 3, red stroke, on a blue background`) "
        f"for {cfg['full_fraction']:.0%} of images, else one of the embedded model's partial "
        "templates. A partial caption is true of many images in a batch, so the loss is CLIP's "
        "symmetric cross-entropy with every agreeing (image, caption) pair as a target, spread "
        "evenly; counting those as negatives would teach the model to separate what the text "
        "does not.",
        f"- The first {cfg['digit_first_fraction']:.1%} of steps use digit-only captions "
        "(`a photo of digit 3`): colours are learned in a few hundred steps, the digit's shape "
        f"is not. After them, {cfg['digit_caption_fraction']:.0%} of captions stay digit-only, "
        "which keeps the digit from being forgotten while the colours are learned (without "
        "them it fell from 93% to 87-89%; trials in `bench/RESULTS.md`).",
        f"- Images: fresh renders every step (random digit, combination and shift), plus pixel "
        f"noise of std {cfg['noise']} (0-255 scale), as generated images carry.",
        f"- AdamW lr {cfg['lr']}, warm-up {cfg['warmup']} steps then cosine, batch "
        f"{cfg['batch_size']}, {cfg['steps']} steps; CLIP's learned temperature (clamped at 100).",
        "",
        "## Architecture",
        f"- Vision: ViT, {cfg['image_size']}x{cfg['image_size']} input, patch {cfg['patch_size']}, "
        f"hidden {cfg['vision_hidden']}, {cfg['vision_layers']} layers, {params['vision']:,} "
        "parameters.",
        f"- Text: hidden {cfg['text_hidden']}, {cfg['text_layers']} layers, 32 positions, "
        f"{params['text']:,} parameters; tokenizer {stats['vocab_size']} tokens.",
        f"- Projection {cfg['projection_dim']}-d; {params['total']:,} parameters in all.",
        "- Image processor: resize / crop to the input size, then (x - 0.5) / 0.5.",
        "",
        *config_section(cfg),
        "## Wall time",
        f"Total {times['total_s']:.0f} s on a 2-core CPU (torch {stats['torch']}, "
        f"{stats['threads']} thread(s)): training {times['train_s']:.0f} s "
        f"({times['train_s'] / cfg['steps']:.2f} s a step), measuring {times['eval_s']:.0f} s."
        f"{load_text}",
        "",
        *files_and_rebuild(
            out,
            stats["content_hash"],
            f"python scripts/build_embedded_clip.py --out assets/tiny-clip --seed {cfg['seed']} "
            f"--steps {cfg['steps']} --threads {cfg['threads']}",
            "Same seed, torch version and thread count => the same weights (every random draw "
            "comes from seeded generators; single process, CPU).",
        ),
    ]
    (out / "README.md").write_text("\n".join(line for line in lines if line is not None))
