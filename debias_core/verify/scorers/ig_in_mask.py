"""`ig-in-mask` (DBB Eq. 4-5): Integrated Gradients from the source x to the generated x', for
the generated sample's class j, summed over the mask of the source's causal part.

rho = sum_k M_k * IG_k, IG_k = (x'_k - x_k) * integral of d f_j / d x_k along x -> x'
(captum, with the source image as the baseline). By completeness the sum over all pixels is
f_j(x') - f_j(x); rho is the part of that change made inside the mask. f_j is, by `output`:
- `softmax` (the default, tuned on the demo): the class probability, so |rho| <= 1;
- `logit`: the class's raw prediction score, the paper's f_{i'} in Eq. 4, on the scale of its
  thresholds (P = 0.3 / 1 / 2 cannot be reached on the softmax). The mask is the
recipe's (a method that inpainted under a mask records it) or the source's own from `segmenter`.
Samples without a source image or a mask are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from debias_core.params import bounded
from debias_core.verify.base import SCORERS, ScoreBatch
from debias_core.verify.resources import check_run, classifier, fit_mask, pixels, source_mask


@dataclass(frozen=True)
class IgInMaskParams:
    run: int | None = None  # the ERM classifier run f
    segmenter: str = "dataset"  # where the source's mask comes from without a recipe mask
    n_steps: int = bounded(32, limit="steps")
    output: str = "softmax"  # softmax | logit (Eq. 4's prediction score f_{i'})

    def check_inputs(self) -> None:
        if self.n_steps < 2:
            raise ValueError("n_steps must be >= 2")
        if self.output not in IG_OUTPUTS:
            raise ValueError(f"output must be one of {list(IG_OUTPUTS)}, got {self.output!r}")


IG_OUTPUTS = ("softmax", "logit")


def integrated_gradients(
    model, source, target, classes, n_steps: int, output: str = "softmax"
) -> torch.Tensor:
    """(N, 3, H, W) IG of the class's softmax (or logit) from `source` (baseline) to `target`."""
    from captum.attr import IntegratedGradients

    forward = (lambda x: model(x).softmax(1)) if output == "softmax" else model
    return IntegratedGradients(forward).attribute(
        target, baselines=source, target=list(classes), n_steps=n_steps
    )


@SCORERS.register("ig-in-mask")
class IgInMask:
    default_params = IgInMaskParams()

    @staticmethod
    def check(store, params: IgInMaskParams) -> None:
        check_run(store, params.run, "ig-in-mask")
        if not store.generated_with_source_masks(params.segmenter):
            raise ValueError(
                f"ig-in-mask needs masks of the generated samples' source images, and none has "
                f"one from segmenter {params.segmenter!r}: make them with `python -m debias_core "
                f"masks DIR --segmenter {params.segmenter}` (or choose --param segmenter=...)"
            )

    @staticmethod
    def score(store, samples, params: IgInMaskParams, device: str = "cpu") -> ScoreBatch:
        usable = []
        for sample in samples:
            mask = source_mask(store, sample, params.segmenter)
            if mask is not None:
                usable.append((sample, mask))
        values, details = {}, {}
        if usable:
            model, config = classifier(store, params.run, device)
            size = config.image_size
            target = pixels(store, [s.id for s, _ in usable], size).to(device)
            source = pixels(store, [s.parent_id for s, _ in usable], size).to(device)
            classes = [s.y for s, _ in usable]
            attr = integrated_gradients(
                model, source, target, classes, params.n_steps, params.output
            )
            attr = attr.detach().sum(1).cpu().numpy()  # over colour channels
            for k, (sample, mask) in enumerate(usable):
                inside = fit_mask(mask, size)
                values[sample.id] = float(attr[k][inside].sum())
                details[sample.id] = {
                    "total": float(attr[k].sum()),
                    "mask_fraction": float(inside.mean()),
                    "target_class": int(sample.y),
                    "output": params.output,
                }
        return ScoreBatch("ig-in-mask", values, details, params.run)


def ig_map(store, sample, run: int, n_steps: int = 32, device: str = "cpu") -> np.ndarray:
    """The (H, W) IG map of one sample (for evidence panels)."""
    model, config = classifier(store, run, device)
    target = pixels(store, [sample.id], config.image_size)
    source = pixels(store, [sample.parent_id], config.image_size)
    attr = integrated_gradients(model, source, target, [sample.y], n_steps)
    return attr.detach().sum(1)[0].cpu().numpy()
