"""A concept's training data: cached VAE latent distributions, token masks and sample weights.

Images are encoded once; every step then draws latents from the cached distribution with the
concept's own generator, which is what `vae.encode(...).latent_dist.sample()` would do each step,
without re-running the VAE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from debias_core.personalize.base import REST, Concept


def mask_sources() -> list[str]:
    """Where object masks can come from: the segmenter registry (`dataset` = the dataset's own
    exact masks; a text-prompted segmenter's masks once a `masks` job stored them)."""
    from debias_core.models.segmenters import SEGMENTERS

    return SEGMENTERS.names()


@dataclass
class ConceptData:
    """Per-sample tensors of one concept (instance samples first, then prior samples)."""

    mean: torch.Tensor  # (N, C, h, w) scaled latent means
    std: torch.Tensor  # (N, C, h, w) scaled latent standard deviations
    masks: dict[str, torch.Tensor]  # token -> (N, 1, H, W) in [0, 1], image resolution
    prior: torch.Tensor  # (N,) bool: a prior-preservation sample
    weight: torch.Tensor  # (N,) loss weight

    @property
    def instances(self) -> torch.Tensor:
        return torch.nonzero(~self.prior).flatten()

    @property
    def priors(self) -> torch.Tensor:
        return torch.nonzero(self.prior).flatten()


def _fit(image: Image.Image, size: int, resample) -> Image.Image:
    """Centre-crop to a square and resize to `size`."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    return image if image.size == (size, size) else image.resize((size, size), resample)


def read_pixels(store, sample_ids: Sequence[int], size: int) -> np.ndarray:
    """uint8 (N, size, size, 3) images of the samples."""
    out = []
    for sample_id in sample_ids:
        with Image.open(store.sample_path(store.get_sample(sample_id))) as im:
            out.append(np.asarray(_fit(im.convert("RGB"), size, Image.BICUBIC)))
    return np.stack(out)


def read_masks(store, sample_ids: Sequence[int], size: int, source: str = "dataset") -> np.ndarray:
    """float32 (N, size, size) foreground masks in [0, 1] from a masks source.

    `dataset`: the exact masks the dataset ships (Colored Digits); another segmenter's name: the
    newest mask it stored for the sample (e.g. GroundingDINO + SAM prompted with the class).
    """
    out = []
    for sample_id in sample_ids:
        path = mask_path(store, sample_id, source)
        with Image.open(store.resolve(path, f"the {source} mask of sample {sample_id}")) as im:
            mask = _fit(im.convert("L"), size, Image.BILINEAR)
        out.append(np.asarray(mask, np.float32) / 255.0)
    return np.stack(out)


def mask_path(store, sample_id: int, source: str) -> str:
    """The stored mask file of a sample from `source`; a clear error when there is none."""
    if source not in mask_sources():
        raise ValueError(f"unknown masks source {source!r}; valid: {mask_sources()}")
    if source == "dataset":
        rows = [r for r in store.masks_for(sample_id) if r["kind"] == "exact"]
        if not rows:
            raise ValueError(
                f"sample {sample_id} has no dataset mask; this project's dataset ships none: "
                "make masks with `python -m debias_core masks DIR --segmenter grounded-sam` and "
                "pass --param masks=grounded-sam"
            )
        return rows[0]["path"]
    row = store.find_mask(sample_id, segmenter=source)
    if row is None:
        raise ValueError(
            f"sample {sample_id} has no {source} mask: run `python -m debias_core masks DIR "
            f"--segmenter {source} --prompt '{{class}}'` first"
        )
    return row["path"]


def label_mask_path(store, sample_id: int, label: str, source: str) -> str:
    """The stored mask of one label of a sample (prompt = the label's name) from `source`."""
    if source not in mask_sources():
        raise ValueError(f"unknown masks source {source!r}; valid: {mask_sources()}")
    row = store.find_mask(sample_id, segmenter=source, prompt=label)
    if row is None:
        how = (
            "the dataset ships no mask of it"
            if source == "dataset"
            else f"run `python -m debias_core masks DIR --segmenter {source} --prompt '{label}'`"
        )
        raise ValueError(f"sample {sample_id} has no {source} mask of {label!r}: {how}")
    return row["path"]


def read_label_masks(
    store, sample_id: int, labels: Sequence[str], size: int, source: str
) -> dict[str, np.ndarray]:
    """float32 (size, size) masks in [0, 1] of the named labels of one sample."""
    out = {}
    for label in labels:
        path = label_mask_path(store, sample_id, label, source)
        with Image.open(store.resolve(path, f"the {source} mask of {label!r}")) as im:
            out[label] = np.asarray(_fit(im.convert("L"), size, Image.BILINEAR), np.float32) / 255
    return out


def per_label_token_masks(concept: Concept, masks: dict[str, np.ndarray]) -> dict:
    """Each token's (1, 1, H, W) mask when tokens name their masks: a label token its label's,
    the background token everything outside all of them (seed 000: "everything else")."""
    owned = [masks[t.mask] for t in concept.tokens if t.mask and t.mask != REST]
    union = np.max(np.stack(owned), axis=0) if owned else 0.0
    out = {}
    for t in concept.tokens:
        mask = 1.0 - union if t.mask == REST else masks[t.mask]
        out[t.name] = torch.from_numpy(np.asarray(mask, np.float32))[None, None]
    return out


def to_unit_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0


@torch.no_grad()
def encode_distribution(backbone, pixels: torch.Tensor, batch_size: int = 32):
    """(scaled mean, scaled std) of the VAE's latent distribution, computed in batches."""
    scale = backbone.vae.config.scaling_factor
    means, stds = [], []
    for start in range(0, len(pixels), batch_size):
        chunk = pixels[start : start + batch_size].to(backbone.device, backbone.dtype)
        dist = backbone.vae.encode(chunk).latent_dist
        means.append(dist.mean.float() * scale)
        stds.append(dist.std.float() * scale)
    return torch.cat(means), torch.cat(stds)


def token_masks(concept: Concept, foreground: np.ndarray | None) -> dict[str, torch.Tensor]:
    """Each token's mask: objects (and concept tokens) get the foreground, contexts the rest."""
    if foreground is None:
        return {}
    fg = torch.from_numpy(foreground)[:, None]
    return {t.name: (1.0 - fg) if t.role == "context" else fg for t in concept.tokens}


def load_concept_data(
    store,
    backbone,
    concept: Concept,
    masks: str | None = None,
    prior_images: np.ndarray | None = None,
    prior_weight: float = 1.0,
) -> ConceptData:
    """Encode a concept's images (and prior images), and read its masks when asked."""
    size = backbone.image_size
    pixels = read_pixels(store, concept.sample_ids, size)
    if masks and any(t.mask for t in concept.tokens):  # one image, a mask per token
        if len(concept.sample_ids) != 1 or prior_images is not None:
            raise ValueError("per-label token masks need a concept of one image and no priors")
        names = [t.mask for t in concept.tokens if t.mask and t.mask != REST]
        token_mask = per_label_token_masks(
            concept, read_label_masks(store, concept.sample_ids[0], names, size, masks)
        )
        mean, std = encode_distribution(backbone, to_unit_range(pixels))
        flags = torch.zeros(1, dtype=torch.bool)
        return ConceptData(mean.cpu(), std.cpu(), token_mask, flags, torch.ones(1))
    foreground = read_masks(store, concept.sample_ids, size, masks) if masks else None
    n_prior = 0 if prior_images is None else len(prior_images)
    if n_prior:
        pixels = np.concatenate([pixels, prior_images])
        if foreground is not None:  # prior samples are never masked: the whole image counts
            ones = np.ones((n_prior, size, size), np.float32)
            foreground = np.concatenate([foreground, ones])
    mean, std = encode_distribution(backbone, to_unit_range(pixels))
    prior = torch.zeros(len(pixels), dtype=torch.bool)
    prior[len(concept.sample_ids) :] = True
    weight = torch.where(prior, torch.tensor(float(prior_weight)), torch.tensor(1.0))
    return ConceptData(mean.cpu(), std.cpu(), token_masks(concept, foreground), prior, weight)


def downsample(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 1, H, W) soft masks to `size` by area averaging."""
    return F.interpolate(mask, size=size, mode="area")
