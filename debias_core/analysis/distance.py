"""Distances between image sets in a feature space (how close is generated to real?).

The Fréchet distance is torchmetrics' own computation (its FID metric accepts a custom feature
module); here the "feature module" passes precomputed features through, so any extractor of
`analysis.features` can define the space.
"""

from __future__ import annotations

import numpy as np
import torch


class _Precomputed(torch.nn.Module):
    """Hands torchmetrics features that were already extracted."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with one D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"each set needs >= 2 samples, got {len(a)} and {len(b)}")
    metric = FrechetInceptionDistance(feature=_Precomputed(a.shape[1]), reset_real_features=True)
    metric.set_dtype(torch.float64)
    metric.update(torch.from_numpy(a), real=True)
    metric.update(torch.from_numpy(b), real=False)
    return float(metric.compute())
