"""Run generation as a persisted job: plan units lazily, skip finished ones, save each atomically.

The job kind itself is registered in `debias_core/jobs/kinds.py`; this module holds its body,
its validation (config fields, method, groups, job-size limits) and `run_generation`, the
in-this-thread entry point the CLI and the benchmarks use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from dataclasses import asdict, dataclass, replace

from debias_core.generate.base import GENERATORS, GenerateConfig, steps_of
from debias_core.limits import JobLimits
from debias_core.models.cache import cached_backbone  # pristine models only (see models.cache)
from debias_core.params import config_from
from debias_core.store import GeneratedImage, SampleFilter, Store

DTYPES = ("float32", "float16", "bfloat16")


def target_groups(store: Store, config: GenerateConfig) -> list[tuple[int, int]]:
    """The requested groups, or every (class, context) pair; unknown groups are an error."""
    n_classes, n_attrs = len(store.class_names), len(store.attr_names)
    if not config.groups:
        return list(itertools.product(range(n_classes), range(n_attrs)))
    bad = [list(g) for g in config.groups if not (g[0] < n_classes and g[1] < n_attrs)]
    if bad:
        raise ValueError(
            f"groups {bad} are not in this project ({n_classes} classes x {n_attrs} contexts)"
        )
    return list(config.groups)


def check_generate(store: Store, params: dict) -> GenerateConfig:
    """Validate job params before anything is queued: config fields, method, its parameters and
    what it needs (runs, masks, checkpoints), and groups."""
    config = config_from(GenerateConfig, params, "generation", drop=("dtype",))
    GENERATORS.get(config.method).check(store, config)
    if params.get("dtype", "float32") not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {params.get('dtype')!r}")
    target_groups(store, config)
    job_artifacts(store, config)
    return config


def inherit_context(store: Store, image: GeneratedImage) -> GeneratedImage:
    """A method that uses no group labels leaves `a` unset; the sample then records the context
    of the sample its meta names as `context_sample` (else its parent's). This is bookkeeping
    for tables and verification after the method ran, never an input of the method."""
    if image.a is not None:
        return image
    source = image.meta.get("context_sample", image.parent_id)
    if source is None:
        raise ValueError("a generated image without a context needs a source sample")
    meta = dict(image.meta, context_from=int(source))
    return dataclasses.replace(image, a=store.get_sample(source).a, meta=meta)


def job_artifacts(store: Store, config: GenerateConfig) -> list:
    """The learned artifacts `params["artifacts"]` names (ids), checked against their files."""
    ids = config.params.get("artifacts", [])
    if not isinstance(ids, list | tuple) or not all(str(i).isdigit() for i in ids):
        raise ValueError(f"params artifacts must be a list of artifact ids, got {ids!r}")
    return [store.verified_artifact(int(i)) for i in ids]


def personalization(store: Store, backbone, artifacts: list):
    """`backbone.personalized(...)` with these artifacts' tokens and LoRAs (a no-op if none)."""
    if not artifacts:
        return contextlib.nullcontext(backbone)
    tokens = [store.artifact_path(a) for a in artifacts if a.kind == "token"]
    loras = [store.artifact_path(a) for a in artifacts if a.kind == "lora"]
    return backbone.personalized(tokens=tokens, adapters=loras)


def with_artifacts(image, artifacts: list):
    """Name the artifacts (id + content hash) in a generated image's recipe."""
    if not artifacts:
        return image
    tokens = [a.ref() for a in artifacts if a.kind == "token"]
    loras = [a.ref() for a in artifacts if a.kind == "lora"]
    recipe = replace(
        image.recipe,
        tokens={**image.recipe.tokens, "artifacts": tokens},
        adapters={**image.recipe.adapters, "artifacts": loras},
    )
    return replace(image, recipe=recipe)


def check_size(store: Store, config: GenerateConfig, limits: JobLimits) -> None:
    """Refuse a job over the limits before it is queued (the limit is named in the message)."""
    limits.check("per_group", config.per_group, "images per group")
    limits.check("steps", steps_of(GENERATORS.get(config.method), config), "steps")
    limits.check("batch_size", config.batch_size, "batch size")
    n_groups = len(config.groups) or len(store.class_names) * len(store.attr_names)
    limits.check("groups", n_groups, "target groups")


def canonical_generate_params(store: Store, params: dict, limits: JobLimits) -> dict:
    """Validated params with every default filled in: equal work gives equal params."""
    config = check_generate(store, params)
    check_size(store, config, limits)
    return asdict(config) | {"dtype": params.get("dtype", "float32")}


def run_generate_job(ctx, params: dict) -> dict:
    """Job body (ctx is a jobs.JobContext): render the units not done yet, one unit at a time.

    The plan is a lazy Sequence, so a huge job costs nothing to plan, and a cancel is seen
    while finished units are being skipped as well as between rendered units.
    """
    config = check_generate(ctx.store, params)
    generator = GENERATORS.get(config.method)
    units = generator.plan(ctx.store, config, target_groups(ctx.store, config))
    total = len(units)
    ctx.set_units_total(total)
    artifacts = job_artifacts(ctx.store, config)
    backbone = None
    for unit in ctx.pending(units, key=lambda u: u.key):
        if backbone is None:  # only once there is something to render
            ctx.progress(ctx.store.units_done(ctx.job_id) / max(total, 1), "loading backbone")
            backbone = cached_backbone(config.backbone, ctx.device, params.get("dtype", "float32"))
        with personalization(ctx.store, backbone, artifacts):
            images = generator.render(backbone, unit, config, ctx.store)
        images = [with_artifacts(inherit_context(ctx.store, im), artifacts) for im in images]
        ctx.store.add_generated_unit(ctx.job_id, unit.key, images)
        done = ctx.store.units_done(ctx.job_id)
        ctx.progress(done / total, f"{unit.key}: {done}/{total} batches")
    n = ctx.store.count_samples(SampleFilter(job_id=ctx.job_id))
    return {"message": f"{n} images generated", "images": n}


@dataclass(frozen=True)
class GenerationRun:
    """What `run_generation` did: the job, whether it was new / resumed / already finished."""

    job_id: int
    action: str  # "created" | "resumed" | "finished"
    sample_ids: list[int]
    note: str


def run_generation(
    store: Store,
    config: GenerateConfig,
    device: str = "cpu",
    dtype: str = "float32",
    limits: JobLimits | None = None,
    progress=None,
) -> GenerationRun:
    """Generate in this thread as a persisted job, never duplicating an equivalent job.

    An interrupted equivalent job is resumed; a finished one is returned as it is. A missing
    checkpoint fails before any job row is written. Raises if the job fails or is cancelled.
    """
    from debias_core.jobs import run_job, submit_job, watch_progress
    from debias_core.jobs.submit import canonical_params

    params = asdict(config) | {"dtype": dtype}
    limits = limits or JobLimits.from_env()
    canonical = canonical_params(store, "generate", params, limits)
    twin = store.equivalent_job("generate", canonical, ["done"])
    if twin is None:
        cached_backbone(config.backbone, device, dtype)  # a missing checkpoint fails here
    submission = submit_job(store, "generate", canonical, limits)
    job_id = submission.job_id
    if submission.runnable:
        if progress is not None:
            watch_progress(store, job_id, progress)
        status = run_job(store, job_id, device)
        if status != "done":
            job = store.get_job(job_id)
            raise RuntimeError(f"generation job {job_id} {status}: {job.error or job.message}")
    ids = [s.id for s in store.list_samples(SampleFilter(job_id=job_id))]
    return GenerationRun(job_id, submission.action, ids, submission.describe())


def build_balanced_set(
    store: Store,
    backbone_spec: str = "embedded",
    per_group: int = 16,
    seed: int = 0,
    steps: int | None = None,
    guidance: float = 4.0,
    device: str = "cpu",
    method: str = "txt2img",
    progress=None,
    groups=(),
    batch_size: int = 8,
    params: dict | None = None,
) -> list[int]:
    """Generate `per_group` images for every group, in this thread, as a persisted job.

    Returns the job's sample ids. Raises if the job fails (e.g. a missing checkpoint).
    """
    config = GenerateConfig(
        method=method,
        backbone=backbone_spec,
        groups=tuple(groups),
        per_group=per_group,
        seed=seed,
        steps=steps,
        guidance=guidance,
        batch_size=batch_size,
        params=dict(params or {}),
    )
    return run_generation(store, config, device, progress=progress).sample_ids
