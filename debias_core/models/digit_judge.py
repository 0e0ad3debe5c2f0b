"""An independent judge of Colored Digits images: which digit, which stroke and background colour.

The digit comes from a small CNN trained on *real* renders of world-pool digits; the colours come
from pixel statistics (background = median of the border, stroke = mean of the pixels far from
the background, each snapped to the nearest named colour). The CNN sees a colour-free "ink map"
(distance from the background colour), so its verdict does not depend on the colours at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from debias_core.data.colored_digits import BLACK, PALETTE, WHITE, DigitPool, digit_alpha, render

JUDGE_COLOURS: dict[str, tuple[int, int, int]] = {**PALETTE, "white": WHITE, "black": BLACK}
BORDER = 2  # px; the renderer keeps a 4 px margin and shifts by at most 2, so this stays clear
# The stroke colour is read from its core (ink >= 0.8 of the peak): with a 0.5 cut the anti-aliased
# edge pixels pull the mean towards the background, which misreads 7% of *real* renders (magenta
# on green reads purple); from 0.75 up real renders read 100% right (measured by the build).
CORE = 0.8


@dataclass(frozen=True)
class Judgement:
    """Per-image readings; colours are names from JUDGE_COLOURS."""

    digits: list[int]
    strokes: list[str]
    backgrounds: list[str]


def _nearest_colour(rgb: np.ndarray) -> list[str]:
    names = list(JUDGE_COLOURS)
    table = np.asarray([JUDGE_COLOURS[n] for n in names], np.float32)
    dist = np.linalg.norm(rgb[:, None, :] - table[None], axis=-1)
    return [names[i] for i in dist.argmin(axis=1)]


def _border_pixels(images: np.ndarray) -> np.ndarray:
    """(N, P, 3) pixels of the outer BORDER-pixel ring."""
    b = BORDER
    top, bottom = (
        images[:, :b].reshape(len(images), -1, 3),
        images[:, -b:].reshape(len(images), -1, 3),
    )
    left, right = (
        images[:, b:-b, :b].reshape(len(images), -1, 3),
        images[:, b:-b, -b:].reshape(len(images), -1, 3),
    )
    return np.concatenate([top, bottom, left, right], axis=1)


def background_rgb(images: np.ndarray) -> np.ndarray:
    """(N, 3) median border colour of uint8 images (N, H, W, 3)."""
    return np.median(_border_pixels(images.astype(np.float32)), axis=1)


def ink_map(images: np.ndarray) -> np.ndarray:
    """(N, H, W) distance of each pixel from the background colour, scaled to max 1 per image."""
    pix = images.astype(np.float32)
    dist = np.linalg.norm(pix - background_rgb(images)[:, None, None, :], axis=-1)
    peak = dist.reshape(len(dist), -1).max(axis=1)
    return dist / np.maximum(peak, 1e-6)[:, None, None]


def read_colours(images: np.ndarray, core: float = CORE) -> tuple[list[str], list[str]]:
    """(stroke names, background names) of uint8 images (N, H, W, 3)."""
    pix = images.astype(np.float32)
    bg = background_rgb(images)
    ink = ink_map(images)
    far = ink > core
    counts = np.maximum(far.sum(axis=(1, 2)), 1)[:, None]
    stroke = (pix * far[..., None]).sum(axis=(1, 2)) / counts
    stroke = np.where(far.any(axis=(1, 2))[:, None], stroke, bg)
    return _nearest_colour(stroke), _nearest_colour(bg)


class DigitJudge(nn.Module):
    """A ~60k-parameter CNN over 32x32 ink maps -> 10 digit logits."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(1, 16), block(16, 32), block(32, 64), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(64 * 4 * 4, 48), nn.ReLU())
        self.out = nn.Linear(48, 10)

    def forward(self, ink: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.features(ink)))

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> list[int]:
        """Digit of each uint8 image (N, 32, 32, 3)."""
        self.eval()
        ink = torch.from_numpy(ink_map(images)).float()[:, None]
        return self(ink).argmax(dim=1).tolist()


def judge(model: DigitJudge, images: np.ndarray) -> Judgement:
    """Digit, stroke colour and background colour of each uint8 image (N, 32, 32, 3)."""
    strokes, backgrounds = read_colours(images)
    return Judgement(model.predict(images), strokes, backgrounds)


def alpha_bank(pool: DigitPool) -> torch.Tensor:
    """(N, 32, 32) unshifted coverage maps; a shift is a torch.roll (the 4 px margin is empty)."""
    return torch.from_numpy(np.stack([digit_alpha(d) for d in pool.images]))


def paint(alpha: torch.Tensor, stroke: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Render like `colored_digits.render`: alpha (B, H, W), RGB (B, 3) -> uint8 (B, H, W, 3)."""
    a = alpha[..., None]
    rgb = a * stroke[:, None, None, :] + (1 - a) * background[:, None, None, :]
    return rgb.round().clamp(0, 255).to(torch.uint8)


def random_shift(alpha: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Roll each map by an independent (dy, dx) in [-max_shift, max_shift]."""
    shifts = torch.randint(-max_shift, max_shift + 1, (len(alpha), 2), generator=gen)
    return torch.stack(
        [
            torch.roll(a, (int(dy), int(dx)), (0, 1))
            for a, (dy, dx) in zip(alpha, shifts, strict=True)
        ]
    )


def _random_colours(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random stroke / background RGB pairs with enough contrast to be a visible digit."""
    stroke = torch.rand(n, 3, generator=gen) * 255
    background = torch.rand(n, 3, generator=gen) * 255
    weak = (stroke - background).norm(dim=1) < 90
    background[weak] = 255 - stroke[weak]
    return stroke, background


def _ink_batch(alpha: torch.Tensor, gen: torch.Generator, noise: float) -> torch.Tensor:
    stroke, background = _random_colours(len(alpha), gen)
    images = paint(alpha, stroke, background).float()
    images = images + noise * torch.randn(images.shape, generator=gen)  # mimic generation noise
    images = images.clamp(0, 255).round().to(torch.uint8).numpy()
    return torch.from_numpy(ink_map(images)).float()[:, None]


def train_digit_judge(
    world: DigitPool, *, seed: int = 0, steps: int = 1500, batch_size: int = 128
) -> DigitJudge:
    """Train the judge on world-pool digits with random colours, shifts (+-3 px) and noise."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    bank, labels = alpha_bank(world), torch.from_numpy(world.digits)
    model = DigitJudge()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(bank), (batch_size,), generator=gen)
        ink = _ink_batch(random_shift(bank[idx], 3, gen), gen, noise=6.0)
        loss = nn.functional.cross_entropy(model(ink), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def judge_heldout(model: DigitJudge, pool: DigitPool, *, seed: int = 1) -> dict[str, float]:
    """The judge's own accuracy on real renders of `pool` in random named colours (s != b)."""
    rng = np.random.default_rng(seed)
    names = list(JUDGE_COLOURS)
    images, strokes, backgrounds = [], [], []
    for digit8 in pool.images:
        s, b = (names[k] for k in rng.choice(len(names), size=2, replace=False))
        shift = (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
        images.append(render(digit8, JUDGE_COLOURS[s], JUDGE_COLOURS[b], shift)[0])
        strokes.append(s)
        backgrounds.append(b)
    verdict = judge(model, np.stack(images))
    return {
        "n": len(images),
        "digit": float(np.mean(np.asarray(verdict.digits) == pool.digits)),
        "stroke": float(np.mean(np.asarray(verdict.strokes) == np.asarray(strokes))),
        "background": float(np.mean(np.asarray(verdict.backgrounds) == np.asarray(backgrounds))),
    }


def save_digit_judge(model: DigitJudge, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def load_digit_judge(path: Path) -> DigitJudge:
    from safetensors.torch import load_file

    model = DigitJudge()
    model.load_state_dict(load_file(str(path)))
    return model.eval()
