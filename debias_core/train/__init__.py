"""Training methods (one file each, registered in TRAIN_METHODS) and the run orchestration."""

from debias_core.train import erm  # noqa: F401  (registers the method)
from debias_core.train.base import TRAIN_METHODS, TrainConfig

__all__ = ["TRAIN_METHODS", "TrainConfig"]
