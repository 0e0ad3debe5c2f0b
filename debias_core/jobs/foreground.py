"""Run one job of a kind in this thread, for the CLI, scripts and benches.

Each entry point validates its config, submits it as a persisted job (an equivalent interrupted
job resumes, a finished idempotent one stands) and runs it here through `run_now`. They live in
the jobs layer, above the stages whose job bodies they run, so no stage imports the executor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from debias_core.devices import check_device
from debias_core.jobs.base import WATCHER_JOIN_S, watch_progress
from debias_core.jobs.local import JobFailed, run_job
from debias_core.jobs.submit import canonical_params, submit_job
from debias_core.limits import JobLimits
from debias_core.store import SampleFilter, Store
from debias_core.store.records import Job


@dataclass(frozen=True)
class Ran:
    """A job run in this thread: its final row, and what submitting it did."""

    job: Job
    action: str  # "created" | "resumed" | "finished"
    note: str  # what submitting said, e.g. "resuming generate job 3, ... (2/5 units done)"


def run_now(
    store: Store,
    kind: str,
    params: dict,
    device: str = "cpu",
    progress=None,
    limits: JobLimits | None = None,
) -> Ran:
    """Submit one job and run it in this thread.

    Submission never duplicates: an equivalent interrupted job is resumed, and for an idempotent
    kind a finished one stands. `progress(fraction, message)` mirrors the persisted progress.
    Raises JobFailed when the job does not end 'done' (resume it to continue).
    """
    check_device(device)  # a job is never queued for a device this machine lacks
    submission = submit_job(store, kind, params, limits or JobLimits.from_env())
    job_id = submission.job_id
    if submission.runnable:
        watcher = watch_progress(store, job_id, progress) if progress is not None else None
        status = run_job(store, job_id, device)
        if watcher is not None:
            watcher.join(WATCHER_JOIN_S)
        if status != "done":
            job = store.get_job(job_id)
            raise JobFailed(f"{kind} job {job_id} {status}: {job.error or job.message}")
    return Ran(store.get_job(job_id), submission.action, submission.describe())


@dataclass(frozen=True)
class GenerationRun:
    """What `run_generation` did: the job, whether it was new / resumed / already finished."""

    job_id: int
    action: str  # "created" | "resumed" | "finished"
    sample_ids: list[int]
    note: str


def run_generation(
    store: Store,
    config,
    device: str = "cpu",
    dtype: str = "float32",
    limits: JobLimits | None = None,
    progress=None,
) -> GenerationRun:
    """Generate (a `GenerateConfig`) as a persisted job, never duplicating an equivalent job.

    A missing checkpoint fails before any job row is written. Raises JobFailed if the job fails
    or is cancelled.
    """
    from debias_core.generate.runner import ensure_backbone

    limits = limits or JobLimits.from_env()
    canonical = canonical_params(store, "generate", asdict(config) | {"dtype": dtype}, limits)
    if store.equivalent_job("generate", canonical, ["done"]) is None:
        ensure_backbone(config, device, dtype)
    ran = run_now(store, "generate", canonical, device, progress, limits)
    ids = [s.id for s in store.list_samples(SampleFilter(job_id=ran.job.id))]
    return GenerationRun(ran.job.id, ran.action, ids, ran.note)


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
    """Generate `per_group` images for every group (or `groups`); the job's sample ids."""
    from debias_core.generate.base import GenerateConfig

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


def run_personalization(
    store: Store,
    params: dict,
    device: str = "cpu",
    progress=None,
    limits: JobLimits | None = None,
) -> int:
    """Learn tokens / LoRAs (PersonalizeConfig fields) as a persisted job; its id."""
    return run_now(store, "personalize", params, device, progress, limits).job.id


def run_verify(store: Store, device: str = "cpu", progress=None, **params) -> dict:
    """Score generated samples and record a policy's verdicts (VerifyConfig fields); the
    job's result."""
    from debias_core.verify.runner import check_verify

    config = check_verify(store, params)
    return run_now(store, "verify", asdict(config), device, progress).job.result


def run_segment(store: Store, device: str = "cpu", progress=None, **params) -> dict:
    """Masks from a segmenter (SegmentConfig fields); the job's result."""
    from debias_core.verify.masks import check_segment

    config = check_segment(store, params)
    return run_now(store, "segment", asdict(config), device, progress).job.result


def run_bias_pairs(store: Store, device: str = "cpu", progress=None, **params) -> dict:
    """Measure the biased pairs (BiasPairsConfig fields) as a job; the job's result."""
    from debias_core.jobs.kinds import check_bias_pairs_params

    return run_now(
        store, "bias-pairs", check_bias_pairs_params(store, params), device, progress
    ).job.result
