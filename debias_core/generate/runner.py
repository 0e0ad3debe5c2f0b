"""Run generation as a persisted job: plan units, skip finished ones, save each unit atomically."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import asdict, replace

from debias_core.generate.base import GENERATORS, GenerateConfig
from debias_core.jobs.base import JOB_KINDS, JobContext
from debias_core.models.cache import cached_backbone  # pristine models only (see models.cache)
from debias_core.store import SampleFilter, Store


def target_groups(store: Store, config: GenerateConfig) -> list[tuple[int, int]]:
    """The requested groups, or every (class, context) pair; unknown groups are an error."""
    n_classes, n_attrs = len(store.class_names), len(store.attr_names)
    every = list(itertools.product(range(n_classes), range(n_attrs)))
    if not config.groups:
        return every
    bad = [g for g in config.groups if tuple(g) not in every]
    if bad:
        raise ValueError(
            f"groups {bad} are not in this project ({n_classes} classes x {n_attrs} contexts)"
        )
    return [tuple(g) for g in config.groups]


def check_generate(store: Store, params: dict) -> GenerateConfig:
    """Validate job params before anything is queued: config fields, method and groups."""
    fields = {k: v for k, v in params.items() if k != "dtype"}
    try:
        config = GenerateConfig(**fields)
    except TypeError as exc:
        raise ValueError(f"bad generation parameters: {exc}") from None
    GENERATORS.get(config.method)
    target_groups(store, config)
    job_artifacts(store, config)
    return config


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


@JOB_KINDS.register("generate")
def generate_job(ctx: JobContext, params: dict) -> dict:
    """Job body: params are GenerateConfig fields (plus an optional `dtype`)."""
    dtype = params.get("dtype", "float32")
    config = check_generate(ctx.store, params)
    generator = GENERATORS.get(config.method)
    units = generator.plan(ctx.store.meta(), config, target_groups(ctx.store, config))
    ctx.set_units_total(len(units))
    todo = [u for u in units if not ctx.unit_done(u.key)]
    ctx.progress(1 - len(todo) / max(len(units), 1), f"loading backbone {config.backbone}")
    backbone = cached_backbone(config.backbone, ctx.device, dtype)
    artifacts = job_artifacts(ctx.store, config)
    for unit in todo:
        with personalization(ctx.store, backbone, artifacts):
            images = generator.render(backbone, unit, config)
        images = [with_artifacts(image, artifacts) for image in images]
        ctx.store.add_generated_unit(ctx.job_id, unit.key, images)
        done = ctx.store.units_done(ctx.job_id)
        ctx.progress(
            done / len(units), f"group (y={unit.y}, a={unit.a}): {done}/{len(units)} batches"
        )
    n = ctx.store.count_samples(SampleFilter(job_id=ctx.job_id))
    return {"message": f"{n} images generated", "images": n}


def build_balanced_set(
    store: Store,
    backbone_spec: str = "embedded",
    per_group: int = 16,
    seed: int = 0,
    steps: int = 20,
    guidance: float = 4.0,
    device: str = "cpu",
    method: str = "txt2img",
    progress=None,
    groups=(),
    batch_size: int = 8,
) -> list[int]:
    """Generate `per_group` images for every group, in this thread, as a persisted job.

    Returns the new sample ids. Raises if the job fails (e.g. a missing checkpoint).
    """
    from debias_core.jobs.local import run_job

    config = GenerateConfig(
        method=method,
        backbone=backbone_spec,
        groups=tuple(groups),
        per_group=per_group,
        seed=seed,
        steps=steps,
        guidance=guidance,
        batch_size=batch_size,
    )
    check_generate(store, asdict(config))
    cached_backbone(backbone_spec, device)  # a missing checkpoint fails here, before any job
    job_id = store.create_job("generate", asdict(config))
    if progress is not None:
        _watch_progress(store, job_id, progress)
    status = run_job(store, job_id, device)
    job = store.get_job(job_id)
    if status != "done":
        raise RuntimeError(f"generation job {job_id} {status}: {job.error or job.message}")
    return [s.id for s in store.list_samples(SampleFilter(job_id=job_id))]


generate_job.validate = check_generate


def _watch_progress(store: Store, job_id: int, progress) -> None:
    """Mirror a job's persisted progress to a callback (CLI output) from a daemon thread."""
    import threading
    import time

    def poll() -> None:
        last = None
        while True:
            job = store.get_job(job_id)
            if (job.progress, job.message) != last:
                last = (job.progress, job.message)
                progress(job.progress, job.message)
            if job.finished or job.status == "interrupted":
                return
            time.sleep(0.5)

    threading.Thread(target=poll, daemon=True).start()
