"""The job kinds the app and CLI can launch; each calls one core function.

Heavy imports happen inside the job functions, so importing this module stays cheap.
"""

from __future__ import annotations

from debias_core.generate import runner  # noqa: F401  (registers the "generate" job kind)
from debias_core.jobs.base import JOB_KINDS, JobContext
from debias_core.verify import masks  # noqa: F401  ("segment", "verify")


@JOB_KINDS.register("train")
def train_job(ctx: JobContext, params: dict) -> dict:
    """Train + evaluate one method; params are TrainConfig fields."""
    from debias_core.train.run import run_training

    result = run_training(
        ctx.store, check_train(ctx.store, params), ctx.device, ctx.progress, ctx.job_id
    )
    r = result.report
    return {
        "run_id": result.run_id,
        "message": f"run {result.run_id}: test worst-group {r.worst_group_accuracy:.1%}, "
        f"average {r.average_accuracy:.1%}",
    }


def check_train(store, params: dict):
    """Validate training params before queuing: config fields and the method name."""
    from debias_core.train import TRAIN_METHODS, TrainConfig

    try:
        config = TrainConfig(**params)
    except TypeError as exc:
        raise ValueError(f"bad training parameters: {exc}") from None
    TRAIN_METHODS.get(config.method)
    return config


train_job.validate = check_train
