"""CE + SupCon (Clustered DreamBooth, seed A.1): L = beta * CE + (1 - beta) * SupCon.

SupCon follows the seed's eq. 3 on L2-normalised embeddings of the penultimate features: for
each anchor j, the mean over its same-class positives p (j itself excluded) of
-log(exp(z_j.z_p / tau) / sum over other-class negatives n of exp(z_j.z_n / tau)), averaged over
the anchors that have both positives and negatives (the seed sums over the batch; the mean keeps
the scale independent of batch size). Params: `beta` (0.5: the seed's value; 1 = CE only),
`temperature` (1.0, the seed's value), `proj_dim` (32: a 2-layer projection head trained with the
model, as in Khosla et al.; 0 = the normalised penultimate features themselves).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from debias_core.train.base import TRAIN_METHODS, TrainContext
from debias_core.train.common import OBJECTIVES, Objective, param, real_data_method
from debias_core.train.tensors import Tensors


def supcon_loss(z: torch.Tensor, y: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The seed's eq. 3 on embeddings `z` (normalised here), averaged over valid anchors."""
    z = F.normalize(z, dim=1)
    sim = z @ z.T / temperature
    same = y[:, None] == y[None, :]
    pos = same & ~torch.eye(len(y), dtype=torch.bool, device=y.device)
    neg = ~same
    # a large finite fill (not -inf) keeps gradients finite for anchors without negatives
    log_denominator = torch.logsumexp(sim.masked_fill(~neg, -1e9), dim=1, keepdim=True)
    log_ratio = (sim - log_denominator).masked_fill(~pos, 0.0)
    per_anchor = -log_ratio.sum(1) / pos.sum(1).clamp_min(1)
    valid = pos.any(1) & neg.any(1)
    return per_anchor[valid].mean() if valid.any() else sim.sum() * 0.0


def projection_head(feature_dim: int, proj_dim: int) -> nn.Module:
    if proj_dim <= 0:
        return nn.Identity()
    return nn.Sequential(
        nn.Linear(feature_dim, feature_dim), nn.ReLU(), nn.Linear(feature_dim, proj_dim)
    )


@OBJECTIVES.register("supcon")
def supcon_objective(ctx: TrainContext, data: Tensors, model: nn.Module) -> Objective:
    beta = float(param(ctx, "beta", 0.5))
    tau = float(param(ctx, "temperature", 1.0))
    proj = projection_head(model.feature_dim, int(param(ctx, "proj_dim", 32)))

    def loss(logits, features, batch, idx):
        ce = F.cross_entropy(logits, batch.y)
        return beta * ce + (1.0 - beta) * supcon_loss(proj(features), batch.y, tau)

    return Objective(loss_fn=loss, extra=proj)


supcon = TRAIN_METHODS.register("supcon")(real_data_method("supcon"))
