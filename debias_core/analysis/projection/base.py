"""The 2-D projection seam: methods (PCA, UMAP) turn (N, D) features into (N, 2) coordinates.

Each method is one file registered in PROJECTIONS, with a frozen parameter dataclass (defaults and
`check_inputs`); the seed is an explicit argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np

from debias_core.registry import Registry


class Projector(Protocol):
    """A 2-D projection method."""

    Params: type  # its frozen parameter dataclass

    def fit_transform(self, features: np.ndarray, params: Any, seed: int) -> np.ndarray:
        """(N, D) float features -> (N, 2) float32 coordinates."""
        ...


PROJECTIONS: Registry[Projector] = Registry("projection method")


def build_params(method: str, values: dict | None) -> Any:
    """The method's parameter dataclass from a dict; unknown keys are a clear error."""
    params_cls = PROJECTIONS.get(method).Params
    values = dict(values or {})
    known = {f.name for f in fields(params_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {method} parameters {unknown}; valid: {sorted(known)}")
    params = params_cls(**values)
    params.check_inputs()
    return params


@dataclass(frozen=True)
class ProjectionConfig:
    """Which space to project, by which method, with what parameters and seed."""

    features: str = "clip"
    method: str = "pca"
    seed: int = 0
    params: dict = field(default_factory=dict)

    def check_inputs(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        build_params(self.method, self.params)
