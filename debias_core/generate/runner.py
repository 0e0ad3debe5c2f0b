"""Run generation as a persisted job: plan units, skip finished ones, save each unit atomically."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import asdict

import torch

from debias_core.generate.base import GENERATORS, GenerateConfig
from debias_core.jobs.base import JOB_KINDS, JobContext
from debias_core.store import GeneratedImage, SampleFilter, Store


@functools.lru_cache(maxsize=2)
def cached_backbone(spec: str, device: str = "cpu", dtype: str = "float32"):
    """Load a backbone once per process (models load on first use, not at start-up)."""
    from debias_core.models.backbone import load_backbone

    return load_backbone(spec, device, getattr(torch, dtype))


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
    """Validate job params before anything is queued: config fields, method, its parameters and
    what it needs (runs, masks, checkpoints), and groups."""
    fields = {k: v for k, v in params.items() if k != "dtype"}
    try:
        config = GenerateConfig(**fields)
    except TypeError as exc:
        raise ValueError(f"bad generation parameters: {exc}") from None
    GENERATORS.get(config.method).check(store, config)
    target_groups(store, config)
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


@JOB_KINDS.register("generate")
def generate_job(ctx: JobContext, params: dict) -> dict:
    """Job body: params are GenerateConfig fields (plus an optional `dtype`)."""
    dtype = params.get("dtype", "float32")
    config = check_generate(ctx.store, params)
    generator = GENERATORS.get(config.method)
    units = generator.plan(ctx.store, config, target_groups(ctx.store, config))
    ctx.set_units_total(len(units))
    todo = [u for u in units if not ctx.unit_done(u.key)]
    ctx.progress(1 - len(todo) / max(len(units), 1), f"loading backbone {config.backbone}")
    backbone = cached_backbone(config.backbone, ctx.device, dtype)
    for unit in todo:
        images = generator.render(backbone, unit, config, ctx.store)
        images = [inherit_context(ctx.store, image) for image in images]
        ctx.store.add_generated_unit(ctx.job_id, unit.key, images)
        done = ctx.store.units_done(ctx.job_id)
        ctx.progress(done / len(units), f"{unit.key}: {done}/{len(units)} batches")
    n = ctx.store.count_samples(SampleFilter(job_id=ctx.job_id))
    return {"message": f"{n} images generated", "images": n}


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

    Returns the new sample ids. Raises if the job fails (e.g. a missing checkpoint).
    """
    from debias_core.jobs.local import run_now

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
    check_generate(store, asdict(config))
    cached_backbone(backbone_spec, device)  # a missing checkpoint fails here, before any job
    job = run_now(store, "generate", asdict(config), device, progress)
    return [s.id for s in store.list_samples(SampleFilter(job_id=job.id))]


generate_job.validate = check_generate
