"""Scorers, one file each (registered in SCORERS on import)."""

from debias_core.verify.scorers import (
    clip_centroid,
    clip_label,
    ig_in_mask,
    judge,
    label_presence,
    segmentation_check,
    softmax_shift,
)

__all__ = [
    "clip_centroid",
    "clip_label",
    "ig_in_mask",
    "judge",
    "label_presence",
    "segmentation_check",
    "softmax_shift",
]
