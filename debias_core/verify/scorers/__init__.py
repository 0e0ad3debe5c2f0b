"""Scorers, one file each (registered in SCORERS on import)."""

from debias_core.verify.scorers import ig_in_mask, judge, segmentation_check, softmax_shift

__all__ = ["ig_in_mask", "judge", "segmentation_check", "softmax_shift"]
