"""Colored Digits as a multi-label dataset: the embedded stand-in for COCO-Stuff.

Each image holds one object (a white digit) and one context (a coloured box behind it), inside a
black frame that is neither: the background. Its label set is {digit, colour} in one label space
(labels 0..D-1 are the digits, D..D+P-1 the colours), as COCO-Stuff puts things and stuff in one.
Every image has three exact masks: the digit, the context box without the digit, and the frame
(everything else), so a per-image personalizer can learn [v_b], [v_c] and [v_bg].

The bias is contextual, as in Singh et al. (CVPR 2020): for each chosen pair (digit b, colour c)
a share `bias_ratio` of b's train images has context c (the rest spread over the other colours);
the other digits see every colour equally often, so colour c also appears without b. Val and test
draw every held-out digit in every colour, so each biased b appears with and without its c.

The world / task split and the train / val / test draw are those of `colored_digits`: no task
digit is one the embedded models learned, and the frame-less renders they learned (white digit on
a full colour, or on black) are what a removal ("digit b on black") or a replacement draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from debias_core.data.base import DATASETS, DatasetImport, MaskFile, SampleRecord
from debias_core.data.colored_digits import (
    BLACK,
    IMAGE_SIZE,
    NOISE_SIGMA,
    PALETTE,
    STYLES,
    WHITE,
    ColoredDigitsConfig,
    DigitPool,
    digit_alpha,
    lff_attr_counts,
    sample_meta,
    split_task_pool,
    styled_alpha,
)
from debias_core.data.world_split import world_seed
from debias_core.params import bounded, check_values
from debias_core.store.labels import LabelName

DATASET = "colored-digits-multilabel"
FRAME = 4  # px of black background around the context box
BACKGROUND_LABEL = "background"  # the name of the frame's mask (no label of its own)


@dataclass(frozen=True)
class MultiLabelDigitsConfig:
    """Everything that determines the dataset; same config => byte-identical files.

    `biased_digits` are the digits b that co-occur with a colour c; the k-th of them gets the
    k-th colour of `palette` (so the default pairs are (0, red), (1, green), ... (4, magenta)).
    """

    bias_ratio: float = bounded(
        0.95, 0.0, 1.0, help="share of a biased digit's train images in its context colour"
    )
    biased_digits: tuple[int, ...] = (0, 1, 2, 3, 4)
    palette: tuple[str, ...] = tuple(PALETTE)
    classes: tuple[int, ...] = tuple(range(10))
    world_fraction: float = bounded(0.3, 0.0, 1.0)
    val_fraction: float = bounded(0.2, 0.0, 1.0)
    test_fraction: float = bounded(0.2, 0.0, 1.0)
    train_per_class: int = bounded(500, 1, 100_000, limit="per_group")
    seed: int = 0
    style: str = "plain"

    def __post_init__(self) -> None:
        check_values(self)
        self.split_config()  # the shared checks (palette, classes, fractions, seed, style)
        if not 0.0 < self.bias_ratio <= 1.0:
            raise ValueError(f"bias_ratio must be in (0, 1], got {self.bias_ratio}")
        unknown = [d for d in self.biased_digits if d not in self.classes]
        if unknown:
            raise ValueError(f"biased_digits {unknown} are not among classes {self.classes}")
        if len(set(self.biased_digits)) != len(self.biased_digits):
            raise ValueError(f"biased_digits repeat: {self.biased_digits}")
        if len(self.biased_digits) > len(self.palette):
            raise ValueError(
                f"{len(self.biased_digits)} biased digits need as many colours; the palette "
                f"has {len(self.palette)}"
            )
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")

    def split_config(self) -> ColoredDigitsConfig:
        """The single-label config with the same split: the task pool is drawn the same way."""
        return ColoredDigitsConfig(
            bias_ratio=max(self.bias_ratio, 1e-6),
            palette=self.palette,
            classes=self.classes,
            world_fraction=self.world_fraction,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            train_per_class=self.train_per_class,
            seed=self.seed,
            style=self.style,
        )

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def context_of(self, class_index: int) -> int | None:
        """The colour index a class co-occurs with in train, or None for an unbiased class."""
        digit = self.classes[class_index]
        if digit not in self.biased_digits:
            return None
        return self.biased_digits.index(digit)

    def pairs(self) -> list[tuple[int, int]]:
        """The designed (b, c) pairs in label space (c is offset by the number of classes)."""
        out = []
        for y in range(self.n_classes):
            c = self.context_of(y)
            if c is not None:
                out.append((y, self.n_classes + c))
        return out

    def label_names(self) -> list[str]:
        return [f"digit {d}" for d in self.classes] + list(self.palette)


@dataclass(frozen=True)
class Drawn:
    """One rendered image with its three masks, labels and provenance."""

    image: np.ndarray
    digit_mask: np.ndarray
    context_mask: np.ndarray
    background_mask: np.ndarray
    y: int
    a: int
    split: str
    source_index: int
    shift: tuple[int, int]


def context_box() -> np.ndarray:
    """The context's region: everything inside the black frame."""
    box = np.zeros((IMAGE_SIZE, IMAGE_SIZE), bool)
    box[FRAME : IMAGE_SIZE - FRAME, FRAME : IMAGE_SIZE - FRAME] = True
    return box


def draw(
    digit8: np.ndarray,
    colour: str,
    shift: tuple[int, int],
    style: str = "plain",
    noise_seed: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A white digit over a colour box in a black frame: (RGB, digit, context, background)."""
    alpha = styled_alpha(digit_alpha(digit8, shift), style)[..., None]
    box = context_box()
    behind = np.where(box[..., None], PALETTE[colour], BLACK).astype(np.float32)
    rgb = alpha * np.asarray(WHITE, np.float32) + (1 - alpha) * behind
    if style == "noisy":
        rgb = rgb + np.random.default_rng(noise_seed).normal(0.0, NOISE_SIGMA, rgb.shape)
    image = np.round(np.clip(rgb, 0, 255)).astype(np.uint8)
    digit = alpha[..., 0] >= 0.5
    return image, digit, box & ~digit, ~box & ~digit


def train_colours(config: MultiLabelDigitsConfig, class_index: int) -> list[int]:
    """Colour index of each train image of a class, in a fixed order."""
    n, n_colours = config.train_per_class, len(config.palette)
    context = config.context_of(class_index)
    if context is None:  # unbiased: every colour equally often (remainders to the first ones)
        counts = lff_attr_counts(n, n_colours, 0, 1.0 / n_colours)
    else:
        counts = lff_attr_counts(n, n_colours, context, config.bias_ratio)
    return [a for a, k in enumerate(counts) for _ in range(k)]


def _train(config, task: DigitPool, train_idx, rng) -> list[Drawn]:
    out = []
    for y, digit in enumerate(config.classes):
        pool = [i for i in train_idx if task.digits[i] == digit]
        for a in train_colours(config, y):
            i = int(rng.choice(pool))
            shift = (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
            out.append(_drawn(config, task, i, y, a, "train", shift))
    return out


def _balanced(config, task: DigitPool, idx, split: str) -> list[Drawn]:
    """Every held-out digit in every colour: each b with and without its context."""
    y_of = {d: k for k, d in enumerate(config.classes)}
    return [
        _drawn(config, task, i, y_of[int(task.digits[i])], a, split, (0, 0))
        for i in idx
        for a in range(len(config.palette))
    ]


def _drawn(config, task, i, y, a, split, shift) -> Drawn:
    source = int(task.source_index[i])
    noise_seed = [config.seed, 17, source, a, shift[0] + 2, shift[1] + 2, len(split)]
    image, digit, context, background = draw(
        task.images[i], config.palette[a], shift, config.style, noise_seed
    )
    return Drawn(image, digit, context, background, y, a, split, source, shift)


def render_multilabel(config: MultiLabelDigitsConfig) -> list[Drawn]:
    """All images, in a deterministic order (train, then val, then test)."""
    task, rng, splits = split_task_pool(config.split_config())
    drawn = _train(config, task, sorted(splits["train"]), rng)
    drawn += _balanced(config, task, sorted(splits["val"]), "val")
    drawn += _balanced(config, task, sorted(splits["test"]), "test")
    return drawn


def _save_mask(mask: np.ndarray, path: Path) -> Path:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    return path


def write_multilabel(config: MultiLabelDigitsConfig, out_dir: Path) -> DatasetImport:
    """Render to PNGs (images + three masks each) under `out_dir` and return the records."""
    out_dir = Path(out_dir)
    for sub in ("images", "masks"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    names = config.label_names()
    records = []
    for k, s in enumerate(render_multilabel(config)):
        stem = f"{s.split}_{k:05d}"
        Image.fromarray(s.image).save(out_dir / "images" / f"{stem}.png", optimize=False)
        digit = _save_mask(s.digit_mask, out_dir / "masks" / f"{stem}_digit.png")
        context = _save_mask(s.context_mask, out_dir / "masks" / f"{stem}_context.png")
        frame = _save_mask(s.background_mask, out_dir / "masks" / f"{stem}_background.png")
        context_label = config.n_classes + s.a
        meta = sample_meta(config, s)
        records.append(
            SampleRecord(
                out_dir / "images" / f"{stem}.png",
                s.y,
                s.a,
                s.split,
                meta,
                labels=(s.y, context_label),
                mask_path=digit,
                object_masks=(
                    MaskFile(names[s.y], digit, s.y),
                    MaskFile(names[context_label], context, context_label),
                    MaskFile(BACKGROUND_LABEL, frame, None),
                ),
            )
        )
    return DatasetImport(
        name=DATASET,
        records=records,
        class_names=names[: config.n_classes],
        attr_names=list(config.palette),
        root=out_dir,
        params={
            "world_seed": world_seed(),
            "bias_ratio": config.bias_ratio,
            "style": config.style,
            "designed_pairs": [list(p) for p in config.pairs()],
        },
        labels=label_space(names, config.n_classes),
    )


def label_space(names: list[str], n_classes: int) -> tuple[LabelName, ...]:
    """Digits are things of supercategory 'digit', colours stuff of 'colour': a colour's
    semantic siblings (DecoupleGen's replacements) are the other colours."""
    return tuple(
        LabelName(k, name, "digit", "thing")
        if k < n_classes
        else LabelName(k, name, "colour", "stuff")
        for k, name in enumerate(names)
    )


@DATASETS.register(DATASET)
def colored_digits_multilabel(root: Path, **options) -> DatasetImport:
    """Adapter entry point: render into `root` (options are MultiLabelDigitsConfig fields)."""
    return write_multilabel(MultiLabelDigitsConfig(**options), root)


colored_digits_multilabel.options_type = MultiLabelDigitsConfig
colored_digits_multilabel.spurious_site = lambda params: "background"  # see data/sites.py
