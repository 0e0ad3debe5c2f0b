"""What the embedded backbone knows (every digit x stroke x background) and how well it draws it.

The captions here are the embedded model's language: "a photo of digit 3, red stroke, on a blue
background". Partial captions (digit only, colours only) and empty ones (for classifier-free
guidance) are mixed into training so partial prompts work too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from debias_core.data.colored_digits import BLACK, PALETTE, WHITE
from debias_core.models.digit_judge import DigitJudge, judge

STROKES: dict[str, tuple[int, int, int]] = {**PALETTE, "white": WHITE}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {**PALETTE, "black": BLACK}
EMPTY_FRACTION = 0.1
FULL_FRACTION = 0.6
PARTIAL_TEMPLATES = (
    "a photo of digit {d}",
    "a photo of digit {d}, {s} stroke",
    "a photo of digit {d} on a {b} background",
    "{s} stroke",
    "{s} stroke, on a {b} background",
    "on a {b} background",
)


def all_combos() -> list[tuple[int, str, str]]:
    """Every (digit, stroke, background) with stroke != background: 10 x 73 = 730."""
    return [(d, s, b) for d in range(10) for s in STROKES for b in BACKGROUNDS if s != b]


def full_caption(digit: int, stroke: str, background: str) -> str:
    return f"a photo of digit {digit}, {stroke} stroke, on a {background} background"


def training_caption(digit: int, stroke: str, background: str, u: float, k: int) -> str:
    """The caption for a training image, from a uniform draw `u` and a template draw `k`."""
    if u < EMPTY_FRACTION:
        return ""
    if u < EMPTY_FRACTION + FULL_FRACTION:
        return full_caption(digit, stroke, background)
    template = PARTIAL_TEMPLATES[k % len(PARTIAL_TEMPLATES)]
    return template.format(d=digit, s=stroke, b=background)


def caption_corpus() -> list[str]:
    """Every caption the model can see in training (the tokenizer is trained on these)."""
    out = {full_caption(*c) for c in all_combos()}
    for d, s, b in all_combos():
        out.update(t.format(d=d, s=s, b=b) for t in PARTIAL_TEMPLATES)
    return sorted(out)


@dataclass
class QualityReport:
    """How often generations match their prompt, per attribute, as judged independently."""

    n: int
    digit_accuracy: float
    stroke_accuracy: float
    background_accuracy: float
    all_three_accuracy: float
    settings: dict = field(default_factory=dict)
    worst_combos: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def generate(
    backbone, prompts: list[str], *, seed: int, steps: int = 20, guidance: float = 4.0
) -> np.ndarray:
    """uint8 images (N, H, W, 3) for prompts with DDIM, seeded by one CPU generator."""
    pipe = backbone.txt2img_pipeline()
    out = pipe(
        prompts,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="np",
    )
    return (out.images * 255).round().clip(0, 255).astype(np.uint8)


def measure_quality(
    backbone,
    digit_judge: DigitJudge,
    combos: list[tuple[int, str, str]],
    *,
    seed: int = 0,
    steps: int = 20,
    guidance: float = 4.0,
    batch_size: int = 73,
    progress=print,
) -> QualityReport:
    """Generate one image per combo and judge its digit, stroke and background colour."""
    hits = np.zeros((len(combos), 3), bool)
    for start in range(0, len(combos), batch_size):
        chunk = combos[start : start + batch_size]
        prompts = [full_caption(*c) for c in chunk]
        images = generate(backbone, prompts, seed=seed + start, steps=steps, guidance=guidance)
        verdict = judge(digit_judge, images)
        for k, (d, s, b) in enumerate(chunk):
            row = (verdict.digits[k] == d, verdict.strokes[k] == s, verdict.backgrounds[k] == b)
            hits[start + k] = row
        progress(
            f"  judged {start + len(chunk)}/{len(combos)}: digit / stroke / background "
            f"{hits[: start + len(chunk)].mean(0).round(3)}"
        )
    misses = [
        {"combo": list(c), "digit_ok": bool(h[0]), "stroke_ok": bool(h[1]), "bg_ok": bool(h[2])}
        for c, h in zip(combos, hits, strict=True)
        if not h.all()
    ]
    return QualityReport(
        n=len(combos),
        digit_accuracy=float(hits[:, 0].mean()),
        stroke_accuracy=float(hits[:, 1].mean()),
        background_accuracy=float(hits[:, 2].mean()),
        all_three_accuracy=float(hits.all(axis=1).mean()),
        settings={"seed": seed, "steps": steps, "guidance": guidance, "scheduler": "DDIM"},
        worst_combos=misses[:50],
    )
