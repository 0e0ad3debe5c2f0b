"""The job kinds the app and CLI can launch; each calls one core function.

Heavy imports happen inside the job functions, so importing this module stays cheap.
"""

from __future__ import annotations

from debias_core.generate import runner  # noqa: F401  (registers the "generate" job kind)
from debias_core.jobs.base import JOB_KINDS, JobContext


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


@JOB_KINDS.register("embed")
def embed_job(ctx: JobContext, params: dict) -> dict:
    """Embed the samples that have no cached vector in a feature space; params: EmbedConfig."""
    from debias_core.analysis.embeddings import embed_missing

    config = check_embed(ctx.store, params)

    def plan(batches: int) -> None:  # a resumed job keeps the units it finished before
        ctx.set_units_total(ctx.store.units_done(ctx.job_id) + batches)

    result = embed_missing(ctx.store, config, ctx.device, ctx.progress, ctx.job_id, on_plan=plan)
    return {
        "message": f"{result.new} new samples embedded with {result.features} "
        f"({result.total} in this space)",
        "new": result.new,
        "total": result.total,
        "features": result.features,
    }


def check_embed(store, params: dict):
    from debias_core.analysis.embeddings import check_embed as check

    return check(store, params)


embed_job.validate = check_embed


@JOB_KINDS.register("umap")
def umap_job(ctx: JobContext, params: dict) -> dict:
    """Embed what is missing, then a UMAP of every sample (reused if this exact one is stored).

    Params: ProjectionConfig fields without `method`.
    """
    from debias_core.analysis.embeddings import project

    result = project(ctx.store, check_umap(ctx.store, params), ctx.device, ctx.progress, ctx.job_id)
    p = result.projection
    done = "reused" if result.reused else f"computed in {p.seconds:.1f} s"
    return {
        "message": f"UMAP of {len(p.ids)} samples ({p.features}) {done}",
        "projection_id": p.id,
        "reused": result.reused,
    }


def check_umap(store, params: dict):
    from debias_core.analysis.embeddings import check_projection

    if "method" in params:
        raise ValueError("a umap job takes ProjectionConfig fields without 'method'")
    return check_projection(store, {**params, "method": "umap"})


umap_job.validate = check_umap
