"""`dataset`: the exact masks a dataset ships (Colored Digits' digit foreground), as stored at
import. The prompt is not used: a dataset mask is of the dataset's own object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from debias_core.models.segmenters.base import SEGMENTERS, Segment


@dataclass(frozen=True)
class DatasetMaskParams:
    """No parameters."""

    def check_inputs(self) -> None:
        pass


class DatasetMasks:
    name = "dataset"
    model_hash = None

    def segment(self, store, sample_ids: Sequence[int], prompts: Sequence[str]):
        out = []
        for sid in sample_ids:
            row = store.find_mask(sid, segmenter="dataset")
            out.append(None if row is None else Segment(store.mask_pixels(row["id"]), 1.0))
        return out


@SEGMENTERS.register("dataset")
class DatasetKind:
    default_params = DatasetMaskParams()

    @staticmethod
    def check(params) -> None:
        pass

    @staticmethod
    def load(params, device: str = "cpu") -> DatasetMasks:
        return DatasetMasks()
