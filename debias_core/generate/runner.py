"""Run generation as a persisted job: plan units lazily, skip finished ones, save each atomically.

The job kind itself is registered in `debias_core/jobs/kinds.py`, and `run_generation` (run one
in this thread, for the CLI and the benches) is in `debias_core/jobs/foreground.py`; this module
holds the job's body and its validation (config fields, method, groups, job-size limits).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from dataclasses import asdict, dataclass, replace

from debias_core.generate.base import (
    GENERATORS,
    RUNNER_PARAMS,
    GenerateConfig,
    check_no_groups,
    method_params,
    steps_of,
)
from debias_core.generate.sites import site_plan
from debias_core.limits import JobLimits
from debias_core.models.cache import cached_backbone  # pristine models only (see models.cache)
from debias_core.paper_defaults import with_family_defaults
from debias_core.params import check_limits, config_from
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


def check_generate(store: Store, params: dict, limits: JobLimits | None = None) -> GenerateConfig:
    """Validate job params before anything is queued: config fields, sizes (within `limits`
    first, before a method plans anything), method, its parameters and what it needs (runs,
    masks, checkpoints), and groups."""
    config = config_from(GenerateConfig, params, "generation", drop=("dtype",))
    site_plan(store, config)  # the method's assumption on where the attribute lies
    generator = GENERATORS.get(config.method)
    check_no_groups(config.method, generator, config.groups)
    # the paper's values are the defaults on Stable Diffusion (debias_core/paper_defaults.py)
    kind = type(generator.default_params)
    config = replace(config, params=with_family_defaults(kind, config.params, config.backbone))
    if limits is not None:
        check_limits(config, limits)  # per_group, steps, batch_size
        check_limits(method_params(generator, config), limits)  # the method's own sizes
    generator.check(store, config)
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


def personalization(store: Store, backbone, artifacts: list, lora_weight: float = 1.0):
    """`backbone.personalized(...)` with these artifacts' tokens and LoRAs (a no-op if none),
    every LoRA at `lora_weight` (1: as trained; a recipe names its weight in `adapters`)."""
    if not artifacts:
        return contextlib.nullcontext(backbone)
    tokens = [store.artifact_path(a) for a in artifacts if a.kind == "token"]
    loras = [store.artifact_path(a) for a in artifacts if a.kind == "lora"]
    weights = [float(lora_weight)] * len(loras) if loras and lora_weight != 1.0 else None
    return backbone.personalized(tokens=tokens, adapters=loras, adapter_weights=weights)


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
    """Refuse a job over the limits before it is queued (the limit is named in the message);
    the fields that declare a limit were checked by `check_generate`."""
    limits.check("steps", steps_of(GENERATORS.get(config.method), config), "steps")
    n_groups = len(config.groups) or len(store.class_names) * len(store.attr_names)
    limits.check("groups", n_groups, "target groups")


def canonical_generate_params(store: Store, params: dict, limits: JobLimits) -> dict:
    """Validated params with every default filled in: equal work gives equal params."""
    config = check_generate(store, params, limits)
    check_size(store, config, limits)
    # the method's defaults written out: a job made before a default changed is not equal work
    own = asdict(method_params(GENERATORS.get(config.method), config))
    runner = {k: v for k, v in config.params.items() if k in RUNNER_PARAMS}
    config = replace(config, params=own | runner)
    return asdict(config) | {"dtype": params.get("dtype", "float32")}


@dataclass(frozen=True)
class RenderUnits:
    """The drawing of one work unit, apart from saving it (a jobs.UnitWork): picklable, so a
    Ray actor can draw units with the project open there for reading (source pixels, masks,
    artifact files) while the driver alone writes."""

    config: GenerateConfig
    dtype: str
    artifacts: tuple = ()

    @property
    def backbone(self) -> tuple[str, str]:
        return self.config.backbone, self.dtype

    def __call__(self, store: Store, device: str, unit, live=None) -> list[GeneratedImage]:
        backbone = cached_backbone(self.config.backbone, device, self.dtype)
        with personalization(store, backbone, list(self.artifacts)):
            return GENERATORS.get(self.config.method).render(backbone, unit, self.config, store)


def run_generate_job(ctx, params: dict) -> dict:
    """Job body (ctx is a jobs.JobContext): render the units not done yet, save each as it comes.

    The plan is a lazy Sequence, so a huge job costs nothing to plan, and a cancel is seen
    while finished units are being skipped as well as between rendered units. The executor's
    unit runner draws the units (here, or on Ray actors); only this function writes them.
    """
    config = check_generate(ctx.store, params)
    generator = GENERATORS.get(config.method)
    units = generator.plan(ctx.store, config, target_groups(ctx.store, config))
    total = len(units)
    ctx.set_units_total(total)
    artifacts = job_artifacts(ctx.store, config)
    work = RenderUnits(config, params.get("dtype", "float32"), tuple(artifacts))
    pending = announce_start(ctx, ctx.pending(units, key=lambda u: u.key), total)
    for unit, images in ctx.map_units(work, pending):
        images = [with_artifacts(inherit_context(ctx.store, im), artifacts) for im in images]
        ctx.store.add_generated_unit(ctx.job_id, unit.key, images)
        done = ctx.store.units_done(ctx.job_id)
        ctx.progress(done / total, f"{unit.key}: {done}/{total} batches")
    n = ctx.store.count_samples(SampleFilter(job_id=ctx.job_id))
    return {"message": f"{n} images generated", "images": n}


def announce_start(ctx, pending, total: int):
    """The pending units, saying "loading backbone" once there is a first one to draw."""
    for index, unit in enumerate(pending):
        if index == 0:
            done = ctx.store.units_done(ctx.job_id)
            ctx.progress(done / max(total, 1), f"loading backbone ({ctx.units.label})")
        yield unit


def ensure_backbone(config: GenerateConfig, device: str, dtype: str) -> None:
    """Load (and cache) the backbone now, so a missing checkpoint fails before a job is queued
    and the job finds it loaded."""
    cached_backbone(config.backbone, device, dtype)
