"""Segmenters: masks of the part of an image a text prompt names (one file each, registered).

- `dataset`: the exact masks a dataset ships (Colored Digits' foreground), already in the store.
- `grounded-sam`: GroundingDINO (text -> boxes) + SAM (boxes -> masks), the LangSAM recipe with
  transformers' own classes; real checkpoints from local files only.
"""

from debias_core.models.segmenters import dataset, grounded_sam  # noqa: F401  (registers them)
from debias_core.models.segmenters.base import SEGMENTERS, Segment, Segmenter

__all__ = ["SEGMENTERS", "Segment", "Segmenter"]
