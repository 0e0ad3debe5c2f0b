"""Build the embedded tiny CLIP (assets/tiny-clip) from a seed, and measure it for its card.

A transformers `CLIPModel` (a small ViT and a small text transformer) with the embedded diffusion
model's CLIP-layout tokenizer (the same BPE, trained on the same captions), trained contrastively
on renders of Colored Digits *world-pool* digits in every digit x stroke x background combination.
Zero-shot accuracy is measured on real renders of *task-pool* digits, which it never saw.

    python scripts/build_embedded_clip.py --out assets/tiny-clip --seed 0
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script
from debias_core.data.colored_digits import load_pools, render
from debias_core.models.clip_bpe import train_clip_bpe, write_clip_tokenizer
from debias_core.models.embedded_world import (
    BACKGROUNDS,
    PARTIAL_TEMPLATES,
    STROKES,
    all_combos,
    caption_corpus,
    full_caption,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_outputs import elapsed_log, save_build  # noqa: E402
from embedded_training import WorldSampler, _cosine  # noqa: E402

MAX_TOKENS = 32  # as the embedded diffusion model's text encoder
# The zero-shot prompts, one family per attribute (each is a training caption template too).
DIGIT_PROMPT, STROKE_PROMPT, BACKGROUND_PROMPT = (
    "a photo of digit {d}",
    "{s} stroke",
    ("on a {b} background"),
)


@dataclass(frozen=True)
class ClipBuildConfig:
    """Everything that determines the built weights (plus how they are measured)."""

    seed: int = 0
    threads: int = 1  # part of the recipe (float sums differ by thread count); 2 stall when shared
    steps: int = 4000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.05
    full_fraction: float = 0.5  # captions naming all three attributes; the rest name one or two
    digit_first_fraction: float = 0.375  # first steps: digit-only captions (see `train`)
    digit_caption_fraction: float = 0.1  # after the digit-first steps: digit-only captions
    noise: float = 6.0  # std (0-255 scale) of pixel noise, as generated images carry
    rotate: float = 0.0  # max degrees of a random rotation (augmentation; see random_affine)
    rescale: float = 0.0  # max relative change of size (augmentation)
    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 3
    text_hidden: int = 32
    text_layers: int = 2
    projection_dim: int = 64


# -- captions and targets ------------------------------------------------------------------------
def caption_for(combo: tuple[int, str, str], u: float, k: int, full_fraction: float):
    """A caption of the combo (full, or one of the partial templates) and what it names.

    The named attributes are (digit, stroke index, background index), -1 where the caption is
    silent; a caption is a positive for every image that agrees with all it names.
    """
    digit, stroke, background = combo
    text = (
        full_caption(digit, stroke, background)
        if u < full_fraction
        else PARTIAL_TEMPLATES[k % len(PARTIAL_TEMPLATES)].format(d=digit, s=stroke, b=background)
    )
    named = (
        digit if f"digit {digit}" in text else -1,
        list(STROKES).index(stroke) if f"{stroke} stroke" in text else -1,
        list(BACKGROUNDS).index(background) if f"{background} background" in text else -1,
    )
    return text, named


def combo_attributes(combo: tuple[int, str, str]) -> tuple[int, int, int]:
    digit, stroke, background = combo
    return digit, list(STROKES).index(stroke), list(BACKGROUNDS).index(background)


def positives(image_attrs: torch.Tensor, named: torch.Tensor) -> torch.Tensor:
    """(B images, B captions) bool: caption j agrees with everything it names about image i."""
    agree = (named[None, :, :] == -1) | (named[None, :, :] == image_attrs[:, None, :])
    return agree.all(dim=-1)


def multi_positive_loss(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric cross-entropy with every agreeing pair as a target (spread evenly).

    With partial captions ("red stroke") a batch holds many true pairs besides the diagonal;
    treating them as negatives would teach the model to tell apart what the text cannot.
    """
    pos = pos.float()
    image_to_text = -(pos / pos.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(pos.T / pos.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2


# -- model ---------------------------------------------------------------------------------------
def make_clip(tokenizer, cfg: ClipBuildConfig):
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": cfg.text_hidden,
            "intermediate_size": 4 * cfg.text_hidden,
            "num_hidden_layers": cfg.text_layers,
            "num_attention_heads": 4,
            "max_position_embeddings": MAX_TOKENS,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "image_size": cfg.image_size,
            "patch_size": cfg.patch_size,
            "hidden_size": cfg.vision_hidden,
            "intermediate_size": 4 * cfg.vision_hidden,
            "num_hidden_layers": cfg.vision_layers,
            "num_attention_heads": 4,
        },
        projection_dim=cfg.projection_dim,
    )
    return CLIPModel(config)


def image_processor(cfg: ClipBuildConfig):
    """Rescale to [0, 1] then (x - 0.5) / 0.5: exactly the [-1, 1] pixels the sampler renders."""
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"shortest_edge": cfg.image_size},
        crop_size={"height": cfg.image_size, "width": cfg.image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )


# -- training ------------------------------------------------------------------------------------
def random_affine(pixels: torch.Tensor, gen: torch.Generator, rotate: float, rescale: float):
    """Rotate by up to +-`rotate` degrees and rescale by up to +-`rescale` (border colour fills).

    Writers differ in slant and size; a ViT, unlike a CNN, has no built-in tolerance for it.
    """
    if not rotate and not rescale:
        return pixels
    n = len(pixels)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * np.radians(rotate)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * rescale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)],
        1,
    )
    grid = torch.nn.functional.affine_grid(theta, list(pixels.shape), align_corners=False)
    return torch.nn.functional.grid_sample(
        pixels, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


class CaptionBank:
    """Every training caption tokenized once (the corpus is finite): a step indexes rows."""

    def __init__(self, tokenizer) -> None:
        texts = caption_corpus()
        self.row = {text: i for i, text in enumerate(texts)}
        self.ids = tokenizer(texts, padding=True, return_tensors="pt").input_ids  # EOS-padded

    def tokens(self, texts) -> torch.Tensor:
        return self.ids[[self.row[t] for t in texts]]


def train(model, tokenizer, cfg: ClipBuildConfig, log, probe=None) -> list[float]:
    """Contrastive training on fresh world-pool renders each step; returns the loss curve.

    The first `digit_first_fraction` of the steps use digit-only captions: trained on the full
    caption mix from the start, colours were read at 97-100% but the digit of held-out renders
    at 89% (3,000 steps), and it fell from 93% to 87% whenever colour captions came in after a
    digit-only stage. A few digit-only captions kept in the later mix (`digit_caption_fraction`)
    hold it: 95.5% at 3,500 of 4,000 steps, colours 99.8% / 100% (held-out renders; trials in
    bench/RESULTS.md). More of them (20-35%) held the digit but slowed the colours.
    `probe(step)` (optional) runs every 500 steps, e.g. to measure accuracy during a trial.
    """
    sampler = WorldSampler(cfg.seed)
    bank = CaptionBank(tokenizer)
    gen = torch.Generator().manual_seed(cfg.seed + 5)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = _cosine(opt, cfg.warmup, cfg.steps)
    curve, running = [], 0.0
    for step in range(cfg.steps):
        model.train()
        digit_first = step < cfg.digit_first_fraction * cfg.steps
        pixels, picks = sampler.render(cfg.batch_size)
        pixels = random_affine(pixels, gen, cfg.rotate, cfg.rescale)
        pixels = (pixels + cfg.noise / 127.5 * torch.randn(pixels.shape, generator=gen)).clamp(
            -1, 1
        )
        u = torch.rand(len(picks), generator=gen).tolist()
        k = torch.randint(0, len(PARTIAL_TEMPLATES), (len(picks),), generator=gen).tolist()
        if digit_first:
            k = [0] * len(picks)  # template 0 names the digit alone
            u = [1.0] * len(picks)
        else:
            v = torch.rand(len(picks), generator=gen).tolist()
            k = [0 if v[i] < cfg.digit_caption_fraction else k[i] for i in range(len(picks))]
            u = [1.0 if v[i] < cfg.digit_caption_fraction else u[i] for i in range(len(picks))]
        texts, named = zip(
            *(
                caption_for(sampler.combos[p], u[i], k[i], cfg.full_fraction)
                for i, p in enumerate(picks)
            ),
            strict=True,
        )
        out = model(input_ids=bank.tokens(texts), pixel_values=pixels)
        combo_attrs = torch.tensor([combo_attributes(sampler.combos[p]) for p in picks])
        loss = multi_positive_loss(
            out.logits_per_image, positives(combo_attrs, torch.tensor(named))
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():  # CLIP clamps its temperature at 100
            model.logit_scale.clamp_(0, float(np.log(100)))
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 50 == 0 or step == cfg.steps - 1:
            curve.append(round(running, 4))
        if step % 250 == 0 or step == cfg.steps - 1:
            log(f"step {step}/{cfg.steps} loss {running:.4f} scale {model.logit_scale.exp():.1f}")
        if probe is not None and step % 500 == 499:
            model.eval()
            with torch.no_grad():
                probe(step + 1)
    model.eval().requires_grad_(False)
    return curve


# -- measuring -----------------------------------------------------------------------------------
def heldout_renders(seed: int) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Every task-pool digit (never trained on), rendered in a random combination, shifted."""
    _, task = load_pools(seed)
    rng = np.random.default_rng(seed + 7)
    combos = all_combos()
    images, truth = [], []
    for digit8, digit in zip(task.images, task.digits, strict=True):
        options = [c for c in combos if c[0] == digit]
        _, stroke, background = options[rng.integers(len(options))]
        shift = (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
        images.append(render(digit8, STROKES[stroke], BACKGROUNDS[background], shift)[0])
        truth.append((int(digit), stroke, background))
    return np.stack(images), truth


def measure_zero_shot(
    clip, images: np.ndarray, truth: list[tuple[int, str, str]], digit_only: bool = False
) -> dict:
    """Zero-shot accuracy per attribute (one prompt family each), and over all 730 captions."""
    from debias_core.models.clip import zero_shot_from_embeddings

    image_embeds = clip.image_embeddings(images)

    def accuracy(prompts: list[str], labels: list, truth_labels: list) -> float:
        result = zero_shot_from_embeddings(
            image_embeds, clip.text_embeddings(prompts), clip.logit_scale
        )
        predicted = [labels[i] for i in result.predictions]
        return float(np.mean([p == t for p, t in zip(predicted, truth_labels, strict=True)]))

    digits = [DIGIT_PROMPT.format(d=d) for d in range(10)]
    digit = accuracy(digits, list(range(10)), [t[0] for t in truth])
    if digit_only:
        return {"n": len(images), "digit": digit}
    combos = all_combos()
    return {
        "n": len(images),
        "digit": digit,
        "stroke": accuracy(
            [STROKE_PROMPT.format(s=s) for s in STROKES], list(STROKES), [t[1] for t in truth]
        ),
        "background": accuracy(
            [BACKGROUND_PROMPT.format(b=b) for b in BACKGROUNDS],
            list(BACKGROUNDS),
            [t[2] for t in truth],
        ),
        "all_three_730_way": accuracy([full_caption(*c) for c in combos], combos, truth),
    }


def build(out: Path, cfg: ClipBuildConfig) -> dict:
    """Train, save and measure; returns the numbers for the card."""
    from transformers import CLIPTokenizer

    from debias_core.models.clip import Clip, load_clip

    start, load_at_start = time.time(), _load_average()
    log = elapsed_log(start)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # weight initialisation
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = train_clip_bpe(caption_corpus())
    write_clip_tokenizer(vocab, merges, out, MAX_TOKENS)
    tokenizer = CLIPTokenizer.from_pretrained(out, local_files_only=True)
    model = make_clip(tokenizer, cfg)
    log(f"tokenizer {len(tokenizer)} tokens; {sum(p.numel() for p in model.parameters()):,} params")
    images, truth = heldout_renders(cfg.seed)
    live = Clip(model, tokenizer, image_processor(cfg), "training", "", torch.device("cpu"))
    digit_curve = []

    def probe(step: int) -> None:  # digit accuracy on 300 held-out renders, for the card
        acc = measure_zero_shot(live, images[:300], truth[:300], digit_only=True)["digit"]
        digit_curve.append((step, round(acc, 4)))
        log(f"step {step}: zero-shot digit {acc:.1%} (300 held-out renders)")

    t0 = time.time()
    curve = train(model, tokenizer, cfg, log, probe)
    train_s = time.time() - t0
    model.save_pretrained(out, safe_serialization=True)
    image_processor(cfg).save_pretrained(out)
    log(f"saved {out}")
    t0 = time.time()
    clip = load_clip(str(out))  # measure the shipped files through the loader users call
    zero_shot = measure_zero_shot(clip, images, truth)
    eval_s = time.time() - t0
    log(f"zero-shot on {zero_shot['n']} held-out renders: {zero_shot}")
    return {
        "config": asdict(cfg),
        "zero_shot_heldout": zero_shot,
        "digit_curve": digit_curve,
        "loss_curve_every_50": curve,
        "times_s": {
            "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1),
            "total_s": round(time.time() - start, 1),
        },
        "params": {
            "vision": sum(p.numel() for p in model.vision_model.parameters()),
            "text": sum(p.numel() for p in model.text_model.parameters()),
            "total": sum(p.numel() for p in model.parameters()),
        },
        "vocab_size": len(tokenizer),
        "content_hash": clip.content_hash,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": {"start": load_at_start, "end": _load_average()},
    }


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (the build shares its cores with other work)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    from embedded_clip_card import write_card  # next to this file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/tiny-clip"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=ClipBuildConfig.steps)
    parser.add_argument("--threads", type=int, default=ClipBuildConfig.threads)
    args = parser.parse_args(argv)
    cfg = ClipBuildConfig(seed=args.seed, steps=args.steps, threads=args.threads)
    stats = build(args.out, cfg)
    z = stats["zero_shot_heldout"]
    save_build(args.out, stats, write_card, {k: z[k] for k in ("digit", "stroke", "background")})


if __name__ == "__main__":
    main()
