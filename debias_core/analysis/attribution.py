"""Integrated Gradients for (sample, run), mask overlays and thumbnails, all cached in the project.

Everything here returns file paths inside the project (content-addressed or keyed by the sample's
sha256), so the UI hands paths to the browser and never pushes pixel arrays.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from debias_core.store import Sample, Store, files
from debias_core.store.images import open_rgb
from debias_core.store.paths import is_inside

THUMBS = "thumbs"


@dataclass(frozen=True)
class Attribution:
    """One Integrated Gradients map, stored as an overlay PNG and as an `ig:<run>` score."""

    sample_id: int
    run_id: int
    overlay_path: str  # relative to the project root
    mask_fraction: float | None  # share of |attribution| inside the sample's mask
    target: int
    probability: float  # the run's softmax probability of `target`
    cached: bool


def scorer_name(run_id: int) -> str:
    return f"ig:{int(run_id)}"


# -- pixels ------------------------------------------------------------------------------------
def _upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Integer nearest-neighbour upscale so tiny images stay crisp at display size."""
    factor = max(1, size // max(image.shape[:2]))
    return image.repeat(factor, 0).repeat(factor, 1) if factor > 1 else image


def _fit_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask).astype(bool)
    if mask.shape == shape:
        return mask
    pil = Image.fromarray(mask.astype(np.uint8) * 255).resize(shape[::-1], Image.NEAREST)
    return np.asarray(pil) > 127


def overlay_mask(
    image: np.ndarray, mask: np.ndarray, color=(0, 220, 255), alpha: float = 0.45
) -> np.ndarray:
    """Tint the masked pixels and draw the mask's outline in solid colour (uint8 HxWx3)."""
    image = np.asarray(image, dtype=np.uint8)[..., :3]
    mask = _fit_mask(mask, image.shape[:2])
    out = image.astype(np.float32)
    tint = np.asarray(color, np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * tint
    inner = mask.copy()  # erode by one pixel (4-neighbourhood); the difference is the outline
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    out[mask & ~inner] = tint
    return out.round().astype(np.uint8)


def heat_colors(t: np.ndarray) -> np.ndarray:
    """A black-red-yellow-white ramp for values in [0, 1] (no matplotlib import needed)."""
    t = np.clip(t, 0, 1)[..., None]
    ramp = np.concatenate([3 * t, 3 * t - 1, 3 * t - 2], axis=-1)
    return (np.clip(ramp, 0, 1) * 255).astype(np.uint8)


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.85) -> np.ndarray:
    """Blend a heat map (any non-negative HxW array) over a dimmed grey copy of the image.

    The scale tops out at the 99th percentile, so a few extreme pixels do not wash out the rest.
    """
    image = np.asarray(image, dtype=np.uint8)[..., :3]
    top = float(np.percentile(heat, 99)) if heat.size else 0.0
    t = np.clip(heat / top, 0, 1) if top > 0 else np.zeros_like(heat, dtype=np.float32)
    grey = 0.45 * image.astype(np.float32).mean(-1, keepdims=True).repeat(3, -1)
    weight = alpha * np.sqrt(t)[..., None]  # faint attributions stay visible
    blend = (1 - weight) * grey + weight * heat_colors(t)
    return blend.round().astype(np.uint8)


def mask_fraction(heat: np.ndarray, mask: np.ndarray) -> float:
    """Share of the total attribution mass that falls inside the mask (0 when there is none)."""
    total = float(heat.sum())
    return float(heat[_fit_mask(mask, heat.shape)].sum()) / total if total > 0 else 0.0


# -- cached files ------------------------------------------------------------------------------
def _write_png(target: Path, pixels: np.ndarray | Image.Image) -> Path:
    """Write atomically (temp name + rename), so a reader never sees half a file.

    The temp name is per thread: two requests making the same thumbnail must not share it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    pil = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    pil.save(tmp, format="PNG")
    os.replace(tmp, target)
    return target


def _pixels(store: Store, sample: Sample) -> np.ndarray:
    return np.asarray(open_rgb(store.sample_path(sample)))


def thumbnail_path(store: Store, sample: Sample, size: int = 96) -> Path:
    """A PNG of at most `size` px a side (small images are upscaled by a whole factor).

    Made on first request under <project>/thumbs/<size>/, keyed by the sample's sha256.
    """
    target = store.root / THUMBS / str(size) / sample.sha256[:2] / f"{sample.sha256}.png"
    if target.exists():
        return target
    pil = open_rgb(store.sample_path(sample))
    if max(pil.size) > size:
        pil.thumbnail((size, size), Image.LANCZOS)
        return _write_png(target, pil)
    return _write_png(target, _upscale(np.asarray(pil), size))


def sample_mask(store: Store, sample: Sample) -> np.ndarray | None:
    """The sample's own mask, else its recipe's mask, as a bool array; None if it has neither."""
    rows = store.masks_for(sample.id)
    if not rows and sample.recipe_id is not None:
        mask_id = store.get_recipe(sample.recipe_id).mask_id
        rows = [store.get_mask(mask_id)] if mask_id is not None else []
    if not rows:
        return None
    with Image.open(store.resolve(rows[0]["path"], f"mask {rows[0]['id']}")) as im:
        return np.asarray(im.convert("L")) > 127


def mask_overlay_path(store: Store, sample: Sample, size: int = 192) -> Path | None:
    """The mask overlay of a sample at display size, cached under thumbs/; None without a mask."""
    target = store.root / THUMBS / "mask" / str(size) / f"{sample.sha256}-{sample.id}.png"
    if target.exists():
        return target
    mask = sample_mask(store, sample)
    if mask is None:
        return None
    return _write_png(target, _upscale(overlay_mask(_pixels(store, sample), mask), size))


# -- Integrated Gradients ----------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _run_model(root: str, run_id: int, device: str):
    """A finished run's classifier, loaded once per process (its weights never change)."""
    from debias_core.train.run import load_run_model

    return load_run_model(Store.open(Path(root)), run_id, device)


def cached_attribution(store: Store, sample_id: int, run_id: int) -> Attribution | None:
    score = store.scores_for(sample_id).get(scorer_name(run_id))
    overlay = "" if score is None else str(score["details"].get("overlay_path", ""))
    if not is_inside(overlay) or not (store.root / overlay).is_file():
        return None  # none cached (or a row pointing elsewhere): computed afresh
    details, value = score["details"], score["value"]
    fraction = None if value is None or math.isnan(value) else float(value)
    return Attribution(
        sample_id,
        int(run_id),
        details["overlay_path"],
        fraction,
        int(details["target"]),
        float(details["probability"]),
        cached=True,
    )


def attribute(
    store: Store,
    sample_id: int,
    run_id: int,
    device: str = "cpu",
    n_steps: int = 32,
    display_size: int = 192,
) -> Attribution:
    """Integrated Gradients of the sample's own class for a run's classifier, cached in the store.

    The baseline is a black image: the embedded datasets draw on black, so attribution measures
    what the drawn pixels contribute. The score value is the share of attribution mass inside the
    sample's mask (NaN, stored as NULL, when the sample has no mask).
    """
    sample = store.get_sample(sample_id)  # KeyError for an unknown id, before any work
    run = store.get_run(run_id)
    if run.status != "done":
        raise ValueError(f"run {run_id} is {run.status}; attributions need a finished run")
    hit = cached_attribution(store, sample_id, run_id)
    if hit is not None:
        return hit
    import torch
    from captum.attr import IntegratedGradients

    from debias_core.train.tensors import MEAN, STD

    model, config = _run_model(str(store.root), int(run_id), device)
    size = config.image_size
    pixels = _pixels(store, sample)
    if pixels.shape[:2] != (size, size):
        pixels = np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR))
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float().div(255)
    x = ((x - MEAN) / STD).to(device)  # the same normalisation the run was trained with
    with torch.no_grad():
        probability = float(model(x).softmax(1)[0, sample.y])
    black = ((0 - MEAN) / STD).expand_as(x).to(device)
    attr = IntegratedGradients(model).attribute(
        x, baselines=black, target=int(sample.y), n_steps=n_steps
    )
    heat = attr.detach().abs().sum(1)[0].cpu().numpy()
    mask = sample_mask(store, sample)
    fraction = mask_fraction(heat, mask) if mask is not None else None
    rel, _ = files.put_image(store.root, _upscale(heatmap_overlay(pixels, heat), display_size))
    details = {"overlay_path": rel, "target": int(sample.y), "probability": probability}
    value = fraction if fraction is not None else float("nan")
    store.add_scores(scorer_name(run_id), {sample_id: value}, run_id, {sample_id: details})
    return Attribution(sample_id, int(run_id), rel, fraction, int(sample.y), probability, False)


# -- IG from the source image (DBB Eq. 4-5 as a picture) ----------------------------------------
def source_attribution_path(store: Store, sample: Sample, run_id: int, size: int = 192) -> Path:
    """Where the map of (sample, run) is cached; it exists once `source_attribution` ran."""
    name = f"{sample.sha256}-{sample.id}.png"
    return store.root / THUMBS / "ig-source" / str(int(run_id)) / str(size) / name


def source_attribution(
    store: Store, sample_id: int, run_id: int, device: str = "cpu", n_steps: int = 32,
    display: int = 192,
) -> Path:  # fmt: skip
    """|Integrated Gradients| of softmax[y] along the path from the source image x (the baseline)
    to the generated x', overlaid on x': where the edit moved the classifier towards the sample's
    class. The `ig-in-mask` score is this map's signed sum inside the mask. Cached on disk.
    """
    sample = store.get_sample(sample_id)
    if sample.parent_id is None:
        raise ValueError(f"sample {sample_id} has no source image: IG from a source needs one")
    run = store.get_run(run_id)
    if run.status != "done":
        raise ValueError(f"run {run_id} is {run.status}; attributions need a finished run")
    target = source_attribution_path(store, sample, run_id, display)
    if target.exists():
        return target
    import torch
    from captum.attr import IntegratedGradients

    from debias_core.train.tensors import MEAN, STD

    model, config = _run_model(str(store.root), int(run_id), device)

    def tensor(s: Sample):
        pixels = _pixels(store, s)
        if pixels.shape[:2] != (config.image_size,) * 2:
            shape = (config.image_size, config.image_size)
            pixels = np.asarray(Image.fromarray(pixels).resize(shape, Image.BILINEAR))
        x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float().div(255)
        return ((x - MEAN) / STD).to(device), pixels

    x_new, shown = tensor(sample)
    x_src, _ = tensor(store.get_sample(sample.parent_id))
    softmax = lambda x: model(x).softmax(1)  # noqa: E731 (DBB attributes the probability)
    attr = IntegratedGradients(softmax).attribute(
        x_new, baselines=x_src, target=int(sample.y), n_steps=n_steps
    )
    heat = attr.detach().sum(1)[0].abs().cpu().numpy()
    return _write_png(target, _upscale(heatmap_overlay(shown, heat), display))
