"""PCA to 2-D: instant, deterministic, linear; the view shown before UMAP is ready."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debias_core.analysis.projection.base import PROJECTIONS


@dataclass(frozen=True)
class PcaParams:
    whiten: bool = False

    def check_inputs(self) -> None:
        if not isinstance(self.whiten, bool):
            raise ValueError(f"whiten must be true or false, got {self.whiten!r}")


@PROJECTIONS.register("pca")
class Pca:
    Params = PcaParams

    @staticmethod
    def fit_transform(features: np.ndarray, params: PcaParams, seed: int) -> np.ndarray:
        from sklearn.decomposition import PCA

        x = np.asarray(features, np.float64)
        if len(x) < 2:
            return np.zeros((len(x), 2), np.float32)
        n = min(2, x.shape[1], len(x))
        xy = PCA(n, whiten=params.whiten, svd_solver="full", random_state=seed).fit_transform(x)
        if n < 2:  # a 1-D space (or a single distinct point): pad the second axis with zeros
            xy = np.pad(xy, ((0, 0), (0, 2 - n)))
        return _fix_signs(xy).astype(np.float32)


def _fix_signs(xy: np.ndarray) -> np.ndarray:
    """PCA axes have arbitrary signs; pin them (largest |coordinate| positive) for stable views."""
    rows = np.abs(xy).argmax(axis=0)
    return xy * np.where(xy[rows, range(xy.shape[1])] < 0, -1.0, 1.0)
