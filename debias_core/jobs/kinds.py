"""The job kinds the app and CLI can launch; each calls one core function.

Every kind registers here, in one place. Heavy imports happen inside the functions, so importing
this module (and listing or resuming jobs from the CLI) stays cheap.

Each kind names the resource it holds while running (`resource`, see jobs.lanes): the local
executor runs one job per resource at a time, so e.g. training runs while images generate.
"""

from __future__ import annotations

from dataclasses import asdict

from debias_core.jobs.base import JOB_KINDS, JobContext
from debias_core.limits import JobLimits
from debias_core.params import config_from

# Resource lanes. The diffusion lane also holds the jobs that score or mask generated images:
# they follow a generation and read what it writes, so they queue behind it.
DIFFUSION, CLASSIFIER, FEATURES = "diffusion", "classifier", "features"


@JOB_KINDS.register("generate")
def generate_job(ctx: JobContext, params: dict) -> dict:
    """Generate images per group; params are GenerateConfig fields (plus an optional dtype).
    Jobs the method needs first (a personalization, masks) run or are reused here."""
    from debias_core.generate.runner import run_generate_job
    from debias_core.jobs.prerequisites import run_prerequisites

    return run_generate_job(ctx, run_prerequisites(ctx, params))


def check_generate(store, params: dict, limits: JobLimits) -> dict:
    from debias_core.generate.runner import canonical_generate_params
    from debias_core.jobs.prerequisites import check_prerequisites

    canonical = canonical_generate_params(store, params, limits)
    check_prerequisites(store, canonical, limits)
    return canonical


generate_job.validate = check_generate
generate_job.idempotent = True  # fixed seeds: the same params give the same images
generate_job.resource = DIFFUSION
generate_job.fans_out = True  # units drawn through ctx.map_units: the ray executor's actors


@JOB_KINDS.register("personalize")
def personalize_job(ctx: JobContext, params: dict) -> dict:
    """Learn tokens / LoRAs for concepts; params are PersonalizeConfig fields (plus a dtype)."""
    from debias_core.personalize.runner import run_personalize_job

    return run_personalize_job(ctx, params)


def check_personalize(store, params: dict, limits: JobLimits) -> dict:
    from debias_core.personalize.runner import canonical_personalize_params

    return canonical_personalize_params(store, params, limits)


personalize_job.validate = check_personalize
personalize_job.idempotent = True  # seeded: the same params and sources learn the same files
personalize_job.resource = DIFFUSION
personalize_job.fans_out = True  # units trained through ctx.map_units


@JOB_KINDS.register("segment")
def segment_job(ctx: JobContext, params: dict) -> dict:
    """Masks for samples from a segmenter; params are SegmentConfig fields."""
    from debias_core.verify.masks import run_segment_job

    return run_segment_job(ctx, params)


def check_segment(store, params: dict, limits: JobLimits) -> dict:
    from debias_core.verify.masks import canonical_segment_params

    return canonical_segment_params(store, params)


segment_job.validate = check_segment
segment_job.resource = DIFFUSION


@JOB_KINDS.register("verify")
def verify_job(ctx: JobContext, params: dict) -> dict:
    """Score generated samples and record a policy's verdicts; params are VerifyConfig fields."""
    from debias_core.verify.runner import run_verify_job

    return run_verify_job(ctx, params)


def check_verify(store, params: dict, limits: JobLimits) -> dict:
    from debias_core.verify.runner import canonical_verify_params

    return canonical_verify_params(store, params, limits)


verify_job.validate = check_verify
verify_job.resource = DIFFUSION


@JOB_KINDS.register("train")
def train_job(ctx: JobContext, params: dict) -> dict:
    """Train + evaluate one method; params are TrainConfig fields."""
    from debias_core.train.run import run_training

    result = run_training(
        ctx.store, train_config(ctx.store, params), ctx.device, ctx.progress, ctx.job_id
    )
    return {
        "run_id": result.run_id,
        "message": train_message(result)
        + (f"; {result.set_aside} generated samples set aside" if result.set_aside else ""),
        "set_aside": result.set_aside,
    }


def train_message(result) -> str:
    """'run 3: test worst-group 12.0%, average 80.0%' (multi-label: mAPs first)."""
    parts = []
    ml = result.multilabel
    if ml is not None:
        parts.append(
            ", ".join(
                f"{name} {'-' if value is None else f'{value:.1%}'}"
                for name, value in (
                    ("exclusive mAP", ml.exclusive_map),
                    ("co-occur mAP", ml.cooccur_map),
                    ("all mAP", ml.all_map),
                )
            )
        )
    r = result.report
    if r is not None:
        parts.append(f"worst-group {r.worst_group_accuracy:.1%}, average {r.average_accuracy:.1%}")
    return f"run {result.run_id}: test " + "; ".join(parts)


def train_config(store, params: dict):
    """Validate training params: config fields and the method name."""
    from debias_core.models.classifiers import CLASSIFIERS
    from debias_core.train import TRAIN_METHODS, TrainConfig
    from debias_core.train.run import check_method_fits, check_synthetic

    config = config_from(TrainConfig, params, "training")
    TRAIN_METHODS.get(config.method)
    CLASSIFIERS.get(config.arch)  # unknown -> ValueError listing the valid classifiers
    check_method_fits(store, config)
    check_synthetic(store, config)
    return config


def check_train(store, params: dict, limits: JobLimits | None = None) -> dict:
    # Not idempotent: the same config retrains on whatever the project holds now (e.g. newly
    # accepted samples), so a finished twin does not stand in for a new run.
    return asdict(train_config(store, params))


train_job.validate = check_train
train_job.resource = CLASSIFIER  # its own seeded torch RNG; generation uses explicit generators


@JOB_KINDS.register("embed")
def embed_job(ctx: JobContext, params: dict) -> dict:
    """Embed the samples that have no cached vector in a feature space; params: EmbedConfig."""
    from debias_core.analysis.embeddings import check_embed, embed_missing

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


def canonical_embed_params(store, params: dict, limits: JobLimits | None = None) -> dict:
    # Not idempotent: the same params embed whatever samples are new since the last run.
    from debias_core.analysis.embeddings import check_embed

    return asdict(check_embed(store, params))


embed_job.validate = canonical_embed_params
embed_job.resource = FEATURES


@JOB_KINDS.register("umap")
def umap_job(ctx: JobContext, params: dict) -> dict:
    """Embed what is missing, then a UMAP of every sample (reused if this exact one is stored).

    Params: ProjectionConfig fields without `method`.
    """
    from debias_core.analysis.embeddings import project

    config = umap_config(ctx.store, params)
    result = project(ctx.store, config, ctx.device, ctx.progress, ctx.job_id)
    p = result.projection
    done = "reused" if result.reused else f"computed in {p.seconds:.1f} s"
    return {
        "message": f"UMAP of {len(p.ids)} samples ({p.features}) {done}",
        "projection_id": p.id,
        "reused": result.reused,
    }


def umap_config(store, params: dict):
    from debias_core.analysis.embeddings import check_projection

    if "method" in params:
        raise ValueError("a umap job takes ProjectionConfig fields without 'method'")
    return check_projection(store, {**params, "method": "umap"})


def canonical_umap_params(store, params: dict, limits: JobLimits | None = None) -> dict:
    fields = asdict(umap_config(store, params))
    fields.pop("method")
    return fields


umap_job.validate = canonical_umap_params
umap_job.resource = FEATURES


@JOB_KINDS.register("bias-pairs")
def bias_pairs_job(ctx: JobContext, params: dict) -> dict:
    """Train (or reuse) the standard multi-label classifier and keep the top-K (b, c) pairs by
    bias score (Singh et al.); params are BiasPairsConfig fields."""
    from debias_core.train.bias_pairs import measure_biased_pairs

    config = bias_pairs_config(ctx.store, params)
    run_id, pairs = measure_biased_pairs(ctx.store, config, ctx.device, ctx.progress, ctx.job_id)
    names = ctx.store.label_names()
    shown = ", ".join(f"({names[p.b]}, {names[p.c]}) {p.bias_score:.2f}" for p in pairs[:5])
    return {
        "message": f"{len(pairs)} biased pairs from run {run_id}: {shown}"
        + (" ..." if len(pairs) > 5 else ""),
        "run_id": run_id,
        "pairs": [[p.b, p.c, p.bias_score] for p in pairs],
    }


def bias_pairs_config(store, params: dict):
    from debias_core.train.bias_pairs import BiasPairsConfig, check_bias_pairs

    return check_bias_pairs(store, config_from(BiasPairsConfig, params, "bias-pairs"))


def check_bias_pairs_params(store, params: dict, limits: JobLimits | None = None) -> dict:
    # Not idempotent: a new measurement trains on whatever the project holds now.
    return asdict(bias_pairs_config(store, params))


bias_pairs_job.validate = check_bias_pairs_params
bias_pairs_job.resource = CLASSIFIER


@JOB_KINDS.register("compare")
def compare_job(ctx: JobContext, params: dict) -> dict:
    """A baseline next to a generated-data pipeline (generate, then train both per seed), each
    step its own job; params are ComparisonConfig fields."""
    from debias_core.jobs.comparison import run_comparison_job

    return run_comparison_job(ctx, params)


def check_compare(store, params: dict, limits: JobLimits | None = None) -> dict:
    from debias_core.jobs.comparison import check_comparison

    return check_comparison(store, params, limits)


compare_job.validate = check_compare
# It generates first and its steps would fight a generation over the backbone, so it queues in
# the diffusion lane; its training steps run inside it (a Train-tab job still runs beside it).
compare_job.resource = DIFFUSION
