"""Feature extractors (one file each, registered in FEATURES) and batched sample features."""

from debias_core.analysis.features import clip, run  # noqa: F401  (register "clip", "run")
from debias_core.analysis.features.base import (
    FEATURES,
    FeatureExtractor,
    get_extractor,
    parse_spec,
    read_images,
    sample_features,
)

__all__ = [
    "FEATURES",
    "FeatureExtractor",
    "get_extractor",
    "parse_spec",
    "read_images",
    "sample_features",
]
