"""`dbb`: DBB's pruning rule (seed 003, Algorithm 1 line 11): keep x' iff psi < Psi_i and
rho > P, i.e. softmax-shift > 0 and ig-in-mask > P. A sample either scorer could not score (no
source image or no mask) goes to a person."""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.params import bounded
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse, missing
from debias_core.verify.scorers.ig_in_mask import IgInMaskParams
from debias_core.verify.scorers.softmax_shift import SoftmaxShiftParams


@dataclass(frozen=True)
class DbbParams:
    run: int | None = None  # the ERM classifier f
    # P: the least attribution inside the mask towards the new class
    min_ig: float = bounded(0.0, -1e6, 1e6)
    segmenter: str = "dataset"  # the source's mask when the recipe names none
    n_steps: int = bounded(32, limit="steps")  # Integrated Gradients steps

    def check_inputs(self) -> None:
        if self.n_steps < 2:
            raise ValueError("n_steps must be >= 2")


@POLICIES.register("dbb")
class DbbPolicy:
    default_params = DbbParams()

    @staticmethod
    def scorers(params: DbbParams) -> list[ScorerUse]:
        return [
            ScorerUse("softmax-shift", SoftmaxShiftParams(params.run)),
            ScorerUse("ig-in-mask", IgInMaskParams(params.run, params.segmenter, params.n_steps)),
        ]

    @staticmethod
    def decide(sample, scores, params: DbbParams) -> PolicyVerdict:
        lacking = missing(["softmax-shift", "ig-in-mask"], scores)
        if lacking:
            return PolicyVerdict("needs-review", f"not scored by {', '.join(lacking)}")
        shift, rho = scores["softmax-shift"]["value"], scores["ig-in-mask"]["value"]
        reason = (
            f"softmax-shift {shift:+.3f} (keep > 0), "
            f"ig-in-mask {rho:+.3f} (keep > {params.min_ig:g})"
        )
        keep = shift > 0 and rho > params.min_ig
        return PolicyVerdict("accept" if keep else "reject", reason)
