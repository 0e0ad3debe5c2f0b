"""2-D projections of feature spaces (one file per method, registered in PROJECTIONS)."""

from debias_core.analysis.projection import pca, umap  # noqa: F401  (register "pca", "umap")
from debias_core.analysis.projection.base import (
    PROJECTIONS,
    ProjectionConfig,
    Projector,
    build_params,
)

__all__ = ["PROJECTIONS", "ProjectionConfig", "Projector", "build_params"]
