"""UMAP to 2-D (umap-learn). Always run as a background job: numba compiles for 30-45 s in a
new process before the first fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debias_core.analysis.projection.base import PROJECTIONS
from debias_core.params import bounded

METRICS = ("cosine", "euclidean")


@dataclass(frozen=True)
class UmapParams:
    n_neighbors: int = 15
    min_dist: float = bounded(0.1, 0.0, 1.0)
    metric: str = "cosine"

    def check_inputs(self) -> None:
        if not isinstance(self.n_neighbors, int) or not 2 <= self.n_neighbors <= 200:
            raise ValueError(f"n_neighbors must be an integer in 2-200, got {self.n_neighbors!r}")
        if not 0.0 <= float(self.min_dist) <= 1.0:
            raise ValueError(f"min_dist must be in [0, 1], got {self.min_dist!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")


@PROJECTIONS.register("umap")
class Umap:
    Params = UmapParams

    @staticmethod
    def fit_transform(features: np.ndarray, params: UmapParams, seed: int) -> np.ndarray:
        import warnings

        import umap

        x = np.asarray(features, np.float32)
        if len(x) <= params.n_neighbors:  # UMAP needs more points than neighbours
            raise ValueError(
                f"UMAP needs more than n_neighbors={params.n_neighbors} samples, got {len(x)}"
            )
        reducer = umap.UMAP(
            n_neighbors=params.n_neighbors,
            min_dist=float(params.min_dist),
            metric=params.metric,
            random_state=seed,  # deterministic (and single-threaded) for a fixed seed
            n_components=2,
        )
        with warnings.catch_warnings():  # "n_jobs overridden by random_state": wanted here
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            return np.asarray(reducer.fit_transform(x), np.float32)
