"""Generated samples made by hand (copies of real images with chosen labels and parents)."""

from __future__ import annotations

import numpy as np

from debias_core.store import GeneratedImage, Recipe, SampleFilter, Store


def _recipe(seed: int = 0) -> Recipe:
    return Recipe(method="test", backbone_id="none", backbone_hash="", seed=seed)


def add_generated(store: Store, pairs) -> list[int]:
    """Generated samples copying real pixels: (pixels from id, parent id, y, a) per sample."""
    images = [
        GeneratedImage(np.asarray(store.sample_image(src)), y, a, _recipe(k), parent_id=parent)
        for k, (src, parent, y, a) in enumerate(pairs)
    ]
    return store.add_generated_unit(None, None, images)


def train_ids(store: Store, y: int, a: int) -> list[int]:
    return store.sample_ids(SampleFilter(source="real", split="train", y=y, a=a))
