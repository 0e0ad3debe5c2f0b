"""`softmax-shift` (DBB Eq. 3): how far below its class mean the source class's softmax fell.

For a generated x' made from a source x of class i: value = Psi_i - psi, with psi =
softmax(f(x'))[i] and Psi_i the mean of softmax(f(x))[i] over the class-i train samples. A
positive value is DBB's keep condition psi < Psi_i: the edit moved the classifier off the source
class. Samples without a source image are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.verify.base import SCORERS, ScoreBatch
from debias_core.verify.resources import (
    check_run,
    class_mean_softmax,
    classifier,
    pixels,
    probabilities,
)


@dataclass(frozen=True)
class SoftmaxShiftParams:
    run: int | None = None  # the ERM classifier run f

    def check_inputs(self) -> None:
        pass


@SCORERS.register("softmax-shift")
class SoftmaxShift:
    default_params = SoftmaxShiftParams()

    @staticmethod
    def check(store, params: SoftmaxShiftParams) -> None:
        check_run(store, params.run, "softmax-shift")

    @staticmethod
    def score(store, samples, params: SoftmaxShiftParams, device: str = "cpu") -> ScoreBatch:
        sourced = [s for s in samples if s.parent_id is not None]
        values, details = {}, {}
        if sourced:
            model, config = classifier(store, params.run, device)
            psi_mean = class_mean_softmax(store, params.run, device)
            source_class = [store.get_sample(s.parent_id).y for s in sourced]
            probs = probabilities(model, pixels(store, [s.id for s in sourced], config.image_size))
            for k, (sample, i) in enumerate(zip(sourced, source_class, strict=True)):
                psi = float(probs[k, i])
                values[sample.id] = float(psi_mean[i]) - psi
                details[sample.id] = {"source_class": i, "psi": psi, "Psi": float(psi_mean[i])}
        return ScoreBatch("softmax-shift", values, details, params.run)
