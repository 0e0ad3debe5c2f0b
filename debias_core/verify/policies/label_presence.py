"""`label-presence`: DecoupleGen's verification of its multi-label edits (seed 000 section
4.1.2): accept an image when its object b is found and its old context c is not; reject it
otherwise. Only accepted images count in training, as in the paper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from debias_core.params import bounded
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse, missing
from debias_core.verify.scorers.label_presence import LabelPresenceParams


@dataclass(frozen=True)
class LabelPresencePolicyParams:
    reader: str = "auto"
    weights: str = ""
    segmenter_params: dict[str, Any] = field(default_factory=dict)
    found_at: float = bounded(0.5, 0.0, 1.0, help="a label counts as found at this confidence")

    def scorer_params(self) -> LabelPresenceParams:
        return LabelPresenceParams(self.reader, self.weights, dict(self.segmenter_params))

    def check_inputs(self) -> None:
        self.scorer_params().check_inputs()


def verdict(details: dict, found_at: float) -> PolicyVerdict:
    b_found, c_found = details["p_b"] >= found_at, details["p_c"] >= found_at
    reason = (
        f"{details['b']} p={details['p_b']:.2f} ({'found' if b_found else 'not found'}), "
        f"{details['c']} p={details['p_c']:.2f} ({'found' if c_found else 'not found'})"
    )
    return PolicyVerdict("accept" if b_found and not c_found else "reject", reason)


@POLICIES.register("label-presence")
class LabelPresencePolicy:
    default_params = LabelPresencePolicyParams()

    @staticmethod
    def scorers(params: LabelPresencePolicyParams) -> list[ScorerUse]:
        return [ScorerUse("label-presence", params.scorer_params())]

    @staticmethod
    def decide(sample, scores, params: LabelPresencePolicyParams) -> PolicyVerdict:
        if missing(["label-presence"], scores):
            return PolicyVerdict("needs-review", "no edited (b, c) pair to check")
        return verdict(scores["label-presence"]["details"], params.found_at)
