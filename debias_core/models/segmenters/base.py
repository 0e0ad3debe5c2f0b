"""The segmenter seam: a result type, the Protocol and the registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from debias_core.registry import Registry


@dataclass(frozen=True)
class Segment:
    """A mask of one image (H, W bool) with the segmenter's confidence and the boxes it used."""

    mask: np.ndarray
    score: float
    boxes: list[list[float]] = field(default_factory=list)


class Segmenter(Protocol):
    """A loaded segmenter. `model_hash` identifies its weights (None: no model)."""

    name: str
    model_hash: str | None

    def segment(
        self, store, sample_ids: Sequence[int], prompts: Sequence[str]
    ) -> list[Segment | None]:
        """One result per sample (None: nothing found / no mask for that sample)."""
        ...


class SegmenterKind(Protocol):
    """What the registry holds: defaults, a prerequisite check, and a loader."""

    default_params: Any

    def check(self, params) -> None:
        """Raise (CheckpointMissing, ValueError) before any job is queued."""
        ...

    def load(self, params, device: str = "cpu") -> Segmenter: ...


SEGMENTERS: Registry[SegmenterKind] = Registry("segmenter")
