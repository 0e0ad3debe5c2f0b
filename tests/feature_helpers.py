"""A test feature extractor (mean and spread of each colour channel), registered once."""

from __future__ import annotations

import numpy as np

from debias_core.analysis.features import FEATURES

EMBED_CALLS: list[int] = []


class MeanColour:
    """6 numbers per image; counts its calls and can request a cancel mid-job (tests)."""

    spec = "test-colour"
    image_size = None

    def __init__(self, store) -> None:
        self.store = store

    def model_id(self) -> str:
        return "colour-v1"

    def embed(self, images: np.ndarray) -> np.ndarray:
        EMBED_CALLS.append(len(images))
        stop = getattr(self.store, "cancel_after", None)
        if stop is not None and len(EMBED_CALLS) == stop:  # ask to stop mid-job
            self.store.request_cancel(self.store.running_job)
        return mean_colour(images)


def mean_colour(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images).reshape(len(images), -1, 3).astype(np.float32) / 255
    return np.concatenate([x.mean(1), x.std(1)], axis=1)


if "test-colour" not in FEATURES:
    FEATURES.register("test-colour")(lambda store, argument, device="cpu": MeanColour(store))
