"""`judge`: Colored Digits images judged by the embedded digit judge.

Accept when the judge reads the class digit with probability >= accept_at and the spurious colour
is the sample's context; reject when the digit probability is below reject_below or the context
is wrong (with require_context); anything between goes to a person.
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse, missing
from debias_core.verify.scorers.judge import JudgeParams


@dataclass(frozen=True)
class JudgePolicyParams:
    accept_at: float = 0.8
    reject_below: float = 0.2
    require_context: bool = True
    weights: str = ""

    def check_inputs(self) -> None:
        if not 0.0 <= self.reject_below <= self.accept_at <= 1.0:
            raise ValueError("need 0 <= reject_below <= accept_at <= 1")


@POLICIES.register("judge")
class JudgePolicy:
    default_params = JudgePolicyParams()

    @staticmethod
    def scorers(params: JudgePolicyParams) -> list[ScorerUse]:
        return [ScorerUse("judge", JudgeParams(params.weights))]

    @staticmethod
    def decide(sample, scores, params: JudgePolicyParams) -> PolicyVerdict:
        if missing(["judge"], scores):
            return PolicyVerdict("needs-review", "not scored by judge")
        p, details = scores["judge"]["value"], scores["judge"]["details"]
        reason = (
            f"digit p={p:.2f} (reads {details['digit']}), stroke {details['stroke']}, "
            f"background {details['background']}"
        )
        if p < params.reject_below or (params.require_context and not details["context_ok"]):
            return PolicyVerdict("reject", reason)
        if p >= params.accept_at:
            return PolicyVerdict("accept", reason)
        return PolicyVerdict("needs-review", reason)
