"""`clip-centroid` (Clustered DreamBooth, seed 002 Section 3.3): CLIP-Centroid(I, z^g), the cosine
similarity of a generated image's CLIP embedding to the centroid of its group's real train images'
CLIP embeddings (z^g = the mean of the L2-normalised embeddings of group g).

A group with fewer than `min_samples` real train images has no usable centroid (the paper's
minority groups at bias 0.999, Section A.5): its samples are not scored, and the `clip-top-m`
policy then ranks them by CLIP-Label alone (alpha = 1), as the paper does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from debias_core.store import SampleFilter
from debias_core.verify.base import SCORERS, ScoreBatch
from debias_core.verify.resources import check_clip, clip_image_embeddings
from debias_core.verify.scorers.clip_label import CLIP_HELP


@dataclass(frozen=True)
class ClipCentroidParams:
    clip: str = field(default="embedded", metadata={"help": CLIP_HELP})
    min_samples: int = field(
        default=5, metadata={"help": "least real train images a group needs for a centroid"}
    )

    def check_inputs(self) -> None:
        if self.min_samples < 1:
            raise ValueError("min_samples must be >= 1")


def group_train_ids(store, y: int, a: int) -> tuple[int, ...]:
    return tuple(store.sample_ids(SampleFilter(source="real", split="train", y=y, a=a)))


@functools.lru_cache(maxsize=256)
def _centroid(root: str, spec: str, device: str, weights: str, ids: tuple[int, ...]) -> np.ndarray:
    """Cached per (project, weights, member ids): every chunk of a verify job reuses it."""
    from debias_core.models.clip import cached_clip
    from debias_core.store import Store

    embeds = clip_image_embeddings(Store.open(Path(root)), cached_clip(spec, device), ids)
    return embeds.mean(axis=0)


def group_centroid(store, clip, y: int, a: int, device: str = "cpu") -> tuple[np.ndarray, int]:
    """(mean of the normalised embeddings of group (y, a)'s real train images, their count)."""
    ids = group_train_ids(store, y, a)
    if not ids:
        return np.zeros(clip.dim, np.float32), 0
    return _centroid(str(store.root), clip.spec, str(device), clip.content_hash, ids), len(ids)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


@SCORERS.register("clip-centroid")
class ClipCentroid:
    default_params = ClipCentroidParams()

    @staticmethod
    def check(store, params: ClipCentroidParams) -> None:
        check_clip(params.clip)

    @staticmethod
    def score(store, samples, params: ClipCentroidParams, device: str = "cpu") -> ScoreBatch:
        from debias_core.models.clip import cached_clip

        if not samples:
            return ScoreBatch("clip-centroid", {}, {})
        clip = cached_clip(params.clip, device)
        centroids = {
            g: group_centroid(store, clip, *g, device=device) for g in {(s.y, s.a) for s in samples}
        }
        scored = [s for s in samples if centroids[(s.y, s.a)][1] >= params.min_samples]
        images = clip_image_embeddings(store, clip, [s.id for s in scored])
        values, details = {}, {}
        for k, sample in enumerate(scored):
            centroid, n = centroids[(sample.y, sample.a)]
            values[sample.id] = cosine(images[k], centroid)
            details[sample.id] = {"group_size": n, "clip": clip.spec, "hash": clip.content_hash}
        return ScoreBatch("clip-centroid", values, details)
