"""`dbb`: DBB's pruning rule (seed 003, Algorithm 1 line 11): keep x' iff psi < Psi_i and
rho > P, i.e. softmax-shift > 0 and ig-in-mask > P. A sample either scorer could not score (no
source image or no mask) goes to a person.

P is `min_ig` for every class, or, with `calibrate` = q in (0, 1), calibrated per target class as
the paper does (Section 5, "determined using IG scores from a subset of generated samples"): the
q-quantile of the ig-in-mask scores of that class's samples in the verification. It is a ranking
policy (`decide_all`): the verify job scores every sample, then decides."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from debias_core.params import bounded
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse, missing
from debias_core.verify.scorers.ig_in_mask import IgInMaskParams
from debias_core.verify.scorers.softmax_shift import SoftmaxShiftParams


@dataclass(frozen=True)
class DbbParams:
    run: int | None = None  # the ERM classifier f
    # P: the least attribution inside the mask towards the new class. The paper's P (0.3 / 1 / 2)
    # is on the logit scale (ig_output=logit), calibrated per class (calibrate)
    min_ig: float = bounded(0.0, -1e6, 1e6, paper="0.3 / 1 / 2 on the logit")
    segmenter: str = "dataset"  # the source's mask when the recipe names none
    n_steps: int = bounded(32, limit="steps")  # Integrated Gradients steps
    # IG of the softmax (default: P = 0 tuned on the demo) or of the logit (the paper's Eq. 4,
    # where its P = 0.3 / 1 / 2 live; a softmax IG sums to at most 1)
    ig_output: str = field(default="softmax", metadata={"paper": "logit"})
    # q: P per target class = q-quantile of its rho (0: min_ig for all)
    calibrate: float = bounded(0.0, 0.0, 1.0)

    def check_inputs(self) -> None:
        if self.n_steps < 2:
            raise ValueError("n_steps must be >= 2")
        if not 0.0 <= self.calibrate < 1.0:
            raise ValueError("calibrate must be in [0, 1) (0: the fixed min_ig)")
        IgInMaskParams(output=self.ig_output).check_inputs()


@POLICIES.register("dbb")
class DbbPolicy:
    default_params = DbbParams()

    @staticmethod
    def scorers(params: DbbParams) -> list[ScorerUse]:
        return [
            ScorerUse("softmax-shift", SoftmaxShiftParams(params.run)),
            ScorerUse(
                "ig-in-mask",
                IgInMaskParams(params.run, params.segmenter, params.n_steps, params.ig_output),
            ),
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

    @staticmethod
    def decide_all(samples, scores_by_sample, params: DbbParams) -> dict[int, PolicyVerdict]:
        thresholds = calibrated_thresholds(samples, scores_by_sample, params)
        return {
            s.id: DbbPolicy.decide(
                s,
                scores_by_sample.get(s.id, {}),
                replace(params, min_ig=thresholds.get(s.y, params.min_ig)),
            )
            for s in samples
        }


def calibrated_thresholds(samples, scores_by_sample, params: DbbParams) -> dict[int, float]:
    """{target class: P}, the `calibrate`-quantile of its ig-in-mask scores ({} when off)."""
    if not params.calibrate:
        return {}
    by_class: dict[int, list[float]] = defaultdict(list)
    for sample in samples:
        score = scores_by_sample.get(sample.id, {}).get("ig-in-mask")
        if score is not None:
            by_class[sample.y].append(score["value"])
    return {y: float(np.quantile(v, params.calibrate)) for y, v in by_class.items()}
