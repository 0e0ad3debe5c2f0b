"""`segmentation-check`: does a segmenter still find the sample's class in the generated image?

value = the segmenter's confidence for the prompt (the class name by default) on the generated
image, 0 when it finds nothing. details: the mask's area and, when the source image has a mask
from the same segmenter, the IoU of the two (how much the object moved). The mask found is
stored with its source. DecoupleGen keeps an image only if its object is still the source's
class; DBB's pruning relies on the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from debias_core.store.verify import ReadGroup
from debias_core.verify.base import SCORERS, ScoreBatch
from debias_core.verify.masks import load_segmenter, segment_rows, segmenter_params
from debias_core.verify.resources import fit_mask, source_mask


@dataclass(frozen=True)
class SegmentationCheckParams:
    segmenter: str = "grounded-sam"
    prompt: str = "{class}"
    segmenter_params: dict[str, Any] = field(default_factory=dict)

    def check_inputs(self) -> None:
        segmenter_params(self.segmenter, self.segmenter_params)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    b = fit_mask(b, a.shape[0]) if a.shape != b.shape else b
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


@SCORERS.register("segmentation-check")
class SegmentationCheck:
    default_params = SegmentationCheckParams()

    @staticmethod
    def check(store, params: SegmentationCheckParams) -> None:
        from debias_core.models.segmenters import SEGMENTERS

        raw = segmenter_params(params.segmenter, params.segmenter_params)
        SEGMENTERS.get(params.segmenter).check(raw)

    @staticmethod
    def score(store, samples, params: SegmentationCheckParams, device: str = "cpu") -> ScoreBatch:
        if not samples:
            return ScoreBatch("segmentation-check", {}, {})
        raw = segmenter_params(params.segmenter, params.segmenter_params)
        segmenter = load_segmenter(params.segmenter, raw, device)
        rows = {r.sample_id: r for r in segment_rows(store, segmenter, samples, params.prompt)}
        values, details = {}, {}
        for sample in samples:
            row = rows.get(sample.id)
            values[sample.id] = float(row.params["score"]) if row else 0.0
            info: dict = {"found": row is not None}
            if row is not None:
                info["area"] = float(row.mask.mean())
                reference = source_mask(store, sample, params.segmenter)
                if reference is not None:
                    info["iou_with_source"] = iou(row.mask, reference)
            details[sample.id] = info
        groups = {}
        if "{class}" in params.prompt:  # a class check: found = the recorded class is there
            groups = {
                s.id: ReadGroup(s.y if s.id in rows else None, None, s.id in rows) for s in samples
            }
        masks = tuple(rows.values())
        return ScoreBatch("segmentation-check", values, details, masks=masks, read_groups=groups)
