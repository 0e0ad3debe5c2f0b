"""The standard multi-label classifier: BCE with logits over every label (Singh et al.'s
"standard", and the classifier whose bias scores pick the biased pairs)."""

from __future__ import annotations

from debias_core.train.base import TRAIN_METHODS
from debias_core.train.multilabel import LabelLoss, multilabel_method

STANDARD = "multilabel-bce"

multilabel_bce = TRAIN_METHODS.register(STANDARD)(
    multilabel_method(
        STANDARD,
        lambda ctx, targets: LabelLoss.standard(targets),
        "BCE with logits over every label, every image weighted the same.",
    )
)
