"""`segmentation`: accept when a segmenter finds the sample's class with confidence >= accept_at,
reject below reject_below, a person decides in between (DecoupleGen's verification step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from debias_core.params import bounded
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse, missing
from debias_core.verify.scorers.segmentation_check import SegmentationCheckParams


@dataclass(frozen=True)
class SegmentationPolicyParams:
    segmenter: str = "grounded-sam"
    prompt: str = "{class}"
    segmenter_params: dict[str, Any] = field(default_factory=dict)
    accept_at: float = bounded(0.5, 0.0, 1.0)
    reject_below: float = bounded(0.2, 0.0, 1.0)

    def check_inputs(self) -> None:
        if not 0.0 <= self.reject_below <= self.accept_at <= 1.0:
            raise ValueError("need 0 <= reject_below <= accept_at <= 1")
        SegmentationCheckParams(self.segmenter, self.prompt, self.segmenter_params).check_inputs()


@POLICIES.register("segmentation")
class SegmentationPolicy:
    default_params = SegmentationPolicyParams()

    @staticmethod
    def scorers(params: SegmentationPolicyParams) -> list[ScorerUse]:
        check = SegmentationCheckParams(params.segmenter, params.prompt, params.segmenter_params)
        return [ScorerUse("segmentation-check", check)]

    @staticmethod
    def decide(sample, scores, params: SegmentationPolicyParams) -> PolicyVerdict:
        if missing(["segmentation-check"], scores):
            return PolicyVerdict("needs-review", "not scored by segmentation-check")
        value = scores["segmentation-check"]["value"]
        reason = f"segmenter confidence {value:.2f} for the class prompt"
        if value >= params.accept_at:
            return PolicyVerdict("accept", reason)
        if value < params.reject_below:
            return PolicyVerdict("reject", reason)
        return PolicyVerdict("needs-review", reason)
