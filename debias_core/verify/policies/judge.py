"""`judge`: Colored Digits images judged by the embedded digit judge.

Accept when the judge reads the class digit with probability >= accept_at and the context check
passes; reject when the digit probability is below reject_below or the context check fails;
anything between goes to a person. The context check (`context`):
- `recorded`: the colour read is the sample's recorded context (methods that target a group);
- `conflicting`: the colour read is not the class's bias-aligned one, i.e. the image is a
  bias-conflicting sample of its class, whichever context it shows (DiffInject does not choose
  the context, so its recorded one is a guess);
- `any`: no context check.
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.params import bounded
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse, missing
from debias_core.verify.scorers.judge import JudgeParams

CONTEXT_CHECKS = ("recorded", "conflicting", "any")


@dataclass(frozen=True)
class JudgePolicyParams:
    accept_at: float = bounded(0.8, 0.0, 1.0)
    reject_below: float = bounded(0.2, 0.0, 1.0)
    context: str = "recorded"
    weights: str = ""

    def check_inputs(self) -> None:
        if not 0.0 <= self.reject_below <= self.accept_at <= 1.0:
            raise ValueError("need 0 <= reject_below <= accept_at <= 1")
        if self.context not in CONTEXT_CHECKS:
            raise ValueError(f"context must be one of {CONTEXT_CHECKS}, got {self.context!r}")


def context_passes(details: dict, check: str) -> bool:
    if check == "recorded":
        return bool(details["context_ok"])
    if check == "conflicting":
        return bool(details["conflicting"])
    return True


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
            f"background {details['background']}; context check {params.context}"
        )
        if p < params.reject_below or not context_passes(details, params.context):
            return PolicyVerdict("reject", reason)
        if p >= params.accept_at:
            return PolicyVerdict("accept", reason)
        return PolicyVerdict("needs-review", reason)
