"""Colored Digits: the embedded biased dataset, built from scikit-learn's 8x8 digits.

A class `y` is a digit; the spurious attribute `a` is a colour, painted either on the background
(the default, Waterbirds-like context bias) or on the stroke. In the train split a fraction
`bias_ratio` of each class has its aligned colour (colour index = class index modulo the palette),
counted as LfF's Colored MNIST counts it: `bias_ratio` is 1 - rho of LfF / DiffInject, so their
rho = 1% of bias-conflicting samples is `bias_ratio=0.99`;
val and test render every held-out source digit in every colour, so they are balanced over groups.

The 1,797 source digits are split once into a *world pool* (for training the embedded generative
model, CLIP and judge: the stand-in for web-scale pretraining) and a *task pool* (the biased
dataset). No source digit is in both: the split is the one the embedded models were built on
(their cards' seed, `world_split.world_seed`), and the dataset `seed` only draws which task-pool
digits are train, val and test and how they are rendered.

`style` changes how the *task pool* is drawn, never the world pool, so the embedded generative
model (trained on world-pool renders) has not seen it: `thick` (strokes dilated by one pixel),
`slant` (sheared by 0.35), `noisy` (Gaussian pixel noise, sigma 24, seeded per sample). It makes a
benchmark where personalizing on the user's images matters, as it does with real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from debias_core.data.base import DATASETS, DatasetImport, SampleRecord
from debias_core.data.world_split import BUILD_WORLD_FRACTION, world_seed

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 25, 25),
    "green": (30, 190, 40),
    "blue": (40, 70, 235),
    "yellow": (240, 220, 30),
    "magenta": (225, 40, 210),
    "cyan": (30, 215, 225),
    "orange": (245, 135, 20),
    "purple": (130, 50, 200),
}
# The neutral colours used for the non-spurious part of the image (and known to the world model).
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
IMAGE_SIZE = 32
STYLES = ("plain", "thick", "slant", "noisy")
SLANT = 0.35  # horizontal shear per row
NOISE_SIGMA = 24.0


@dataclass(frozen=True)
class ColoredDigitsConfig:
    """Everything that determines the dataset; same config => byte-identical files."""

    bias_ratio: float = 0.99
    spurious: str = "background"  # "background" or "stroke"
    palette: tuple[str, ...] = tuple(PALETTE)
    classes: tuple[int, ...] = tuple(range(10))
    world_fraction: float = 0.3
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    train_per_class: int = 500
    seed: int = 0
    style: str = "plain"  # how the task pool is drawn (STYLES); the world pool stays plain

    def __post_init__(self) -> None:
        if not 0.0 < self.bias_ratio <= 1.0:
            raise ValueError(f"bias_ratio must be in (0, 1], got {self.bias_ratio}")
        if self.spurious not in ("background", "stroke"):
            raise ValueError(f"spurious must be 'background' or 'stroke', got {self.spurious!r}")
        unknown = [c for c in self.palette if c not in PALETTE]
        if unknown or len(self.palette) < 2:
            raise ValueError(f"palette needs >= 2 of {list(PALETTE)}; unknown: {unknown}")
        if not self.classes or any(not 0 <= c <= 9 for c in self.classes):
            raise ValueError(f"classes must be digits 0-9, got {self.classes}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes repeat: {self.classes}")
        if not BUILD_WORLD_FRACTION <= self.world_fraction < 1.0:
            # a smaller world would hand digits the embedded models learned to the task pool
            raise ValueError(
                f"world_fraction must be in [{BUILD_WORLD_FRACTION}, 1): the embedded models were "
                f"trained on a world pool of {BUILD_WORLD_FRACTION}"
            )
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be < 1")
        if self.train_per_class < 1:
            raise ValueError("train_per_class must be >= 1")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")


@dataclass(frozen=True)
class DigitPool:
    """Source digits: 8x8 intensities in [0, 1] and their digit labels, with sklearn indices."""

    images: np.ndarray  # (N, 8, 8) float32
    digits: np.ndarray  # (N,) int64
    source_index: np.ndarray  # (N,) int64, index into sklearn's load_digits
    meta: dict = field(default_factory=dict)


def load_pools(seed: int = 0, world_fraction: float = 0.3) -> tuple[DigitPool, DigitPool]:
    """Split sklearn's digits into (world pool, task pool), stratified by digit and seeded."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    digits = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    world_idx, task_idx = [], []
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(digits == d))
        n_world = int(round(world_fraction * len(idx)))
        world_idx.extend(idx[:n_world])
        task_idx.extend(idx[n_world:])
    world, task = np.sort(world_idx), np.sort(task_idx)
    return (
        DigitPool(images[world], digits[world], world),
        DigitPool(images[task], digits[task], task),
    )


def digit_alpha(digit8: np.ndarray, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Upsample an 8x8 digit to a 32x32 coverage map in [0, 1] (bicubic, so strokes are smooth)."""
    inner = IMAGE_SIZE - 8  # leave a 4 px margin so a shift never cuts the digit
    img = Image.fromarray((digit8 * 255).astype(np.uint8)).resize((inner, inner), Image.BICUBIC)
    alpha = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    top, left = 4 + shift[0], 4 + shift[1]
    alpha[top : top + inner, left : left + inner] = np.asarray(img, np.float32) / 255.0
    return np.clip(alpha, 0.0, 1.0)


def render(
    digit8: np.ndarray,
    stroke: tuple[int, int, int],
    background: tuple[int, int, int],
    shift: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, np.ndarray]:
    """Paint one digit: returns (RGB uint8 image 32x32x3, exact foreground mask 32x32 bool)."""
    alpha = digit_alpha(digit8, shift)[..., None]
    rgb = alpha * np.asarray(stroke, np.float32) + (1 - alpha) * np.asarray(background, np.float32)
    return np.round(rgb).astype(np.uint8), alpha[..., 0] >= 0.5


def colours_for(config: ColoredDigitsConfig, colour: str) -> tuple[tuple, tuple]:
    """(stroke, background) RGB for a sample whose spurious colour is `colour`."""
    if config.spurious == "background":
        return WHITE, PALETTE[colour]
    return PALETTE[colour], BLACK


def aligned_attr(config: ColoredDigitsConfig, class_index: int) -> int:
    """The colour index each class is biased towards in the train split."""
    return class_index % len(config.palette)


def _split_task_pool(config: ColoredDigitsConfig, task: DigitPool, rng) -> dict[str, list[int]]:
    """Assign task-pool digits to train / val / test, stratified by digit."""
    splits: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for d in config.classes:
        idx = rng.permutation(np.flatnonzero(task.digits == d))
        n_val = int(round(config.val_fraction * len(idx)))
        n_test = int(round(config.test_fraction * len(idx)))
        splits["val"].extend(idx[:n_val])
        splits["test"].extend(idx[n_val : n_val + n_test])
        splits["train"].extend(idx[n_val + n_test :])
    return splits


@dataclass(frozen=True)
class RenderedSample:
    """A rendered sample before it is written: pixels, mask, labels and provenance."""

    image: np.ndarray
    mask: np.ndarray
    y: int
    a: int
    split: str
    source_index: int
    shift: tuple[int, int]


def lff_attr_counts(n: int, n_attrs: int, aligned: int, bias_ratio: float) -> list[int]:
    """How many of `n` train samples of a class get each attribute, as LfF's Colored MNIST does.

    LfF (`make_attr_labels`) gives the aligned attribute a share `bias_ratio` and the others
    (1 - bias_ratio) / (K - 1) each, then rounds the cumulative counts, not each share: at
    0.995 and 500 per class a class gets 2 or 3 conflicting samples depending on where its
    aligned colour sits, where rounding 0.005 x 500 = 2.5000000000000004 alone always gives 3.
    """
    share = np.full(n_attrs, (1.0 - bias_ratio) / (n_attrs - 1))
    share[aligned] = bias_ratio
    milestones = np.round(n * np.cumsum(share))
    return np.diff(milestones, prepend=0.0).astype(int).tolist()


def conflict_count(config: ColoredDigitsConfig, aligned: int) -> int:
    """Bias-conflicting train samples of a class whose aligned colour index is `aligned`."""
    n = config.train_per_class
    counts = lff_attr_counts(n, len(config.palette), aligned, config.bias_ratio)
    return n - counts[aligned]


def _train_samples(config, task, train_idx, rng) -> list[RenderedSample]:
    n_colours = len(config.palette)
    out = []
    for y, digit in enumerate(config.classes):
        pool = [i for i in train_idx if task.digits[i] == digit]
        aligned = aligned_attr(config, y)
        n_conflict = conflict_count(config, aligned)
        others = [c for c in range(n_colours) if c != aligned]
        attrs = [aligned] * (config.train_per_class - n_conflict)
        attrs += [others[k % len(others)] for k in range(n_conflict)]
        for a in attrs:
            i = int(rng.choice(pool))
            shift = (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
            stroke, bg = colours_for(config, config.palette[a])
            image, mask = render(task.images[i], stroke, bg, shift)
            out.append(RenderedSample(image, mask, y, a, "train", int(task.source_index[i]), shift))
    return out


def _balanced_samples(config, task, idx, split) -> list[RenderedSample]:
    """Every held-out digit in every colour: balanced groups, counterfactual pairs by design."""
    y_of = {d: k for k, d in enumerate(config.classes)}
    out = []
    for i in idx:
        for a, colour in enumerate(config.palette):
            stroke, bg = colours_for(config, colour)
            image, mask = render(task.images[i], stroke, bg)
            y = y_of[int(task.digits[i])]
            out.append(RenderedSample(image, mask, y, a, split, int(task.source_index[i]), (0, 0)))
    return out


def styled_alpha(alpha: np.ndarray, style: str) -> np.ndarray:
    """The coverage map drawn in a style: dilated (thick) or sheared (slant)."""
    from scipy import ndimage

    if style == "thick":
        return ndimage.grey_dilation(alpha, size=(3, 3))
    if style == "slant":
        centre = (alpha.shape[0] - 1) / 2
        matrix = np.array([[1.0, 0.0], [SLANT, 1.0]])  # input col = col + SLANT * (row - centre)
        return np.clip(
            ndimage.affine_transform(alpha, matrix, offset=(0.0, -SLANT * centre), order=1), 0, 1
        )
    return alpha


def restyle(
    sample: RenderedSample, config: ColoredDigitsConfig, digit8: np.ndarray, index: int
) -> RenderedSample:
    """Draw a sample again in the config's style (same digit, colours, shift, labels)."""
    if config.style == "plain":
        return sample
    alpha = styled_alpha(digit_alpha(digit8, sample.shift), config.style)
    stroke, bg = colours_for(config, config.palette[sample.a])
    a = alpha[..., None]
    rgb = a * np.asarray(stroke, np.float32) + (1 - a) * np.asarray(bg, np.float32)
    if config.style == "noisy":
        rng = np.random.default_rng([config.seed, 11, index])
        rgb = rgb + rng.normal(0.0, NOISE_SIGMA, rgb.shape)
    image = np.round(np.clip(rgb, 0, 255)).astype(np.uint8)
    return replace(sample, image=image, mask=alpha >= 0.5)


def render_dataset(config: ColoredDigitsConfig) -> list[RenderedSample]:
    """All samples of the dataset, in a deterministic order.

    The task pool is the digits outside the embedded models' world pool (its seed read from
    their cards, `world_split.world_seed`); `config.seed` draws only the train / val / test split
    and the rendering. At seed 0 this is the split the dataset always had.
    """
    task, rng, splits = split_task_pool(config)
    samples = _train_samples(config, task, sorted(splits["train"]), rng)
    samples += _balanced_samples(config, task, sorted(splits["val"]), "val")
    samples += _balanced_samples(config, task, sorted(splits["test"]), "test")
    digit_of = dict(zip(task.source_index.tolist(), task.images, strict=True))
    return [restyle(s, config, digit_of[s.source_index], k) for k, s in enumerate(samples)]


def split_task_pool(config: ColoredDigitsConfig) -> tuple[DigitPool, np.random.Generator, dict]:
    """The task pool's digits of `config.classes`, split into train / val / test, and the
    generator that then draws the rendering (one draw order for both Colored Digits datasets)."""
    _, task = load_pools(world_seed(), config.world_fraction)
    keep = np.isin(task.digits, config.classes)
    task = DigitPool(task.images[keep], task.digits[keep], task.source_index[keep])
    rng = np.random.default_rng(config.seed + 1)
    return task, rng, _split_task_pool(config, task, rng)


def sample_meta(config, s) -> dict:
    """What a rendered sample records about itself (both Colored Digits datasets)."""
    return {
        "source_index": s.source_index,
        "digit": config.classes[s.y],
        "colour": config.palette[s.a],
        "shift": list(s.shift),
    }


def write_dataset(config: ColoredDigitsConfig, out_dir: Path) -> DatasetImport:
    """Render the dataset to PNG files (+ mask PNGs) under `out_dir` and return its records."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    records = []
    for k, s in enumerate(render_dataset(config)):
        name = f"{s.split}_{k:05d}.png"
        # PNG without metadata chunks: the bytes depend on the pixels alone (reproducible files).
        Image.fromarray(s.image).save(out_dir / "images" / name, optimize=False)
        Image.fromarray(s.mask.astype(np.uint8) * 255).save(out_dir / "masks" / name)
        meta = sample_meta(config, s)
        records.append(
            SampleRecord(
                out_dir / "images" / name,
                s.y,
                s.a,
                s.split,
                meta,
                mask_path=out_dir / "masks" / name,
            )
        )
    return DatasetImport(
        name="colored-digits",
        records=records,
        class_names=[f"digit {d}" for d in config.classes],
        attr_names=list(config.palette),
        root=out_dir,
        params={
            "world_seed": world_seed(),  # lets an opened project tell whether its split can leak
            "spurious": config.spurious,
            "bias_ratio": config.bias_ratio,
            "style": config.style,
        },
    )


@DATASETS.register("colored-digits")
def colored_digits(root: Path, **options) -> DatasetImport:
    """Adapter entry point: render into `root` (options are ColoredDigitsConfig fields)."""
    return write_dataset(ColoredDigitsConfig(**options), root)


colored_digits.options_type = ColoredDigitsConfig  # what load_dataset type-checks options with


def _spurious_site(params: dict) -> str:
    """A stroke colour lies on the object (the digit's mask); a background colour outside it."""
    return "object" if params.get("spurious") == "stroke" else "background"


colored_digits.spurious_site = _spurious_site  # see data/sites.py
