"""The feature-extractor seam: image features for embeddings views, clustering and distances.

An extractor is named by a spec string, `name` or `name:argument` (`clip`, `run:12`). Factories
register in `FEATURES` under `name` and get the argument; each extractor reports a `model_id`
(a content hash of its weights) so anything cached from its features can be keyed by it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from debias_core.registry import Registry
from debias_core.store import Store
from debias_core.store.images import open_rgb


class FeatureExtractor(Protocol):
    """Turns RGB images into one feature vector each."""

    spec: str

    def model_id(self) -> str:
        """A content hash of the weights: features from different weights never mix."""
        ...

    def embed(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N, H, W, 3) -> float32 features (N, D)."""
        ...


ExtractorFactory = Callable[[Store, str, str], FeatureExtractor]  # (store, argument, device)
FEATURES: Registry[ExtractorFactory] = Registry("feature extractor")


def parse_spec(spec: str) -> tuple[str, str]:
    """'run:12' -> ('run', '12'); 'clip' -> ('clip', '')."""
    name, _, argument = str(spec).strip().partition(":")
    return name, argument


def get_extractor(store: Store, spec: str, device: str = "cpu") -> FeatureExtractor:
    """The extractor a spec names; an unknown name raises ValueError listing the valid ones."""
    name, argument = parse_spec(spec)
    return FEATURES.get(name)(store, argument, device)


def read_images(store: Store, sample_ids: Sequence[int], size: int | None = None) -> np.ndarray:
    """The samples' pixels as uint8 (N, H, W, 3), resized to `size` when given."""
    images = []
    for sample_id in sample_ids:
        im = open_rgb(store.sample_path(store.get_sample(sample_id)))  # 16-bit: scaled
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        images.append(np.asarray(im))
    return np.stack(images) if images else np.empty((0, size or 0, size or 0, 3), np.uint8)


def input_size(extractor: FeatureExtractor) -> int | None:
    """The square size an extractor wants its images at (None: as stored, all one size)."""
    return getattr(extractor, "image_size", None)


def sample_features(
    store: Store,
    spec: str,
    sample_ids: Sequence[int],
    device: str = "cpu",
    batch_size: int = 256,
    progress: Callable[[float, str], None] | None = None,
) -> np.ndarray:
    """Features (N, D) of the given samples, in their order, computed in batches."""
    extractor = get_extractor(store, spec, device)
    ids = list(sample_ids)
    parts = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        parts.append(extractor.embed(read_images(store, chunk, input_size(extractor))))
        if progress is not None:
            progress(min(start + batch_size, len(ids)) / len(ids), f"features {spec}")
    return np.concatenate(parts) if parts else np.empty((0, 0), np.float32)
