"""One guard for every training loop: a NaN or infinite loss stops the run with a clear failure
(the job ends "failed" with this message) instead of saving NaN weights as "done"."""

from __future__ import annotations

import torch

HINT = "lower the learning rate(s) or check the inputs"


class NonFiniteLoss(RuntimeError):
    """A training loss became NaN or infinite."""


def require_finite(loss: torch.Tensor, where: str) -> None:
    """Raise NonFiniteLoss naming `where` (e.g. "epoch 3") if any value of `loss` is not finite."""
    if not bool(torch.isfinite(loss).all()):
        values = [float(v) for v in loss.detach().flatten()[:4].cpu()]
        raise NonFiniteLoss(f"training stopped at {where}: the loss is {values}; {HINT}")
