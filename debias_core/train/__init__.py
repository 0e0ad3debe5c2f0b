"""Training methods (one file each, registered in TRAIN_METHODS) and the run orchestration.

Importing the method modules fills the registries (TRAIN_METHODS, and the OBJECTIVES /
PROCEDURES that `ffr` composes); nothing else happens at import.
"""

from debias_core.train import (  # noqa: F401  (each registers its method)
    augment_aux,
    augment_uniform,
    class_balanced,
    dbb_retrain,
    dfr,
    erm,
    ffr,
    ffr_llr,
    gce,
    groupdro,
    jtt,
    ml_class_balancing,
    ml_remove_images,
    ml_remove_labels,
    ml_standard,
    ml_weighted,
    resample,
    reweight,
    supcon,
)
from debias_core.train.base import TRAIN_METHODS, TrainConfig

__all__ = ["TRAIN_METHODS", "TrainConfig"]
